"""SQL by meaning, not spelling, read with PostgreSQL's own parser (pglast) and written back.

Comparisons (``same_sql``) write both sides in one canonical spelling, with what a dump and
restore respells written one way (see ``respell_array_casts``) and columns of a one-table query
level unqualified, as PostgreSQL 16 and later print views (see ``unqualify_single_sources``).
Fingerprints (``fingerprint_form``) only undo the dump and restore's respelling; anything else
stays as PostgreSQL prints it, so a real change is still a difference."""

from __future__ import annotations

import re
from functools import lru_cache

EXPRESSION_PREFIX = "SELECT "
CONSTRAINT_PREFIX = "ALTER TABLE t ADD "
"""What makes a statement of an expression, and of a constraint (``CHECK (...)``, ``UNIQUE``)."""
ARRAY_MARK = "ARRAY["
"""Only a definition with an array constructor is respelled: the rest are fingerprinted as
printed."""


def fingerprint_form(definition: str | None, template: str) -> str | None:
    """``definition`` (put in ``template``'s ``{}`` to make a statement) with its array casts
    written as ``pg_restore`` writes them."""
    if definition is None or ARRAY_MARK not in definition:
        return definition
    return _respelled(template.format(definition))


@lru_cache(maxsize=4096)
def _respelled(statement: str) -> str:
    from pglast import parse_sql
    from pglast.parser import ParseError
    from pglast.stream import RawStream

    try:
        tree = parse_sql(statement)
    except ParseError:
        return statement
    respell_array_casts(tree)
    return RawStream()(tree)


def same_sql(a: str | None, b: str | None, *, loose: bool = False) -> bool:
    """Whether two expressions (or queries) mean the same.

    Parentheses, blanks, keyword case and how ``pg_restore`` respells an array cast never count.
    ``loose`` also ignores casts of constants
    and reads ``x IN (...)`` as ``x = ANY (ARRAY[...])``, as the server stores it: for what a
    person wrote in the spec (``state = 'open'``) against what the server deparses
    (``(state = 'open'::text)``).
    """
    if a is None or b is None:
        return a is b
    return a == b or canonical(a, loose) == canonical(b, loose)


@lru_cache(maxsize=4096)
def canonical(text: str, loose: bool = False) -> str:
    """``text`` in one spelling; blanks collapsed when the parser cannot read it."""
    from pglast import parse_sql
    from pglast.parser import ParseError
    from pglast.stream import RawStream

    body = text.strip().rstrip(";")
    for prefix in (EXPRESSION_PREFIX, "", CONSTRAINT_PREFIX):
        source = prefix + body
        try:
            tree = parse_sql(source)
        except ParseError:
            continue
        respell_array_casts(tree)
        unqualify_single_sources(tree)
        if loose:
            _loosen(tree)
        return RawStream()(tree).removeprefix(prefix)
    return re.sub(r"\s+", " ", body)


def respell_array_casts(tree: object) -> None:
    """Write a cast of an array constructor to an array type as the array of each element cast,
    in place: ``(ARRAY['a'::varchar, 'b'::varchar])::text[]`` as ``ARRAY[('a'::varchar)::text,
    ('b'::varchar)::text]``, the spelling ``pg_restore`` brings a ``varchar ... IN (...)`` back
    in (in a CHECK constraint, a view, an index predicate or expression, a trigger's WHEN, a
    policy). Both mean the same array."""
    from pglast import ast
    from pglast.visitors import Visitor

    class ArrayCasts(Visitor):
        def visit_TypeCast(self, ancestors: object, node: ast.TypeCast) -> ast.Node | None:
            name = node.typeName
            if not isinstance(node.arg, ast.A_ArrayExpr) or len(name.arrayBounds or ()) != 1:
                return None
            element = ast.TypeName(names=name.names, typmods=name.typmods, typemod=name.typemod)
            return ast.A_ArrayExpr(elements=tuple(
                ast.TypeCast(arg=e, typeName=element) for e in node.arg.elements or ()
            ))

    ArrayCasts()(tree)


def unqualify_single_sources(tree: object) -> None:
    """Write a column of a query level that reads one table without the table's name, in place:
    ``SELECT u.id FROM users u`` as ``SELECT id FROM users u``. PostgreSQL 16 and later print a
    view that way, older servers qualify every column: the same view, printed by two majors.
    Subqueries are levels of their own, so a reference to an outer query stays qualified."""
    from pglast import ast
    from pglast.visitors import Skip, Visitor

    class Strip(Visitor):
        def __init__(self, source: str) -> None:
            self.source = source

        def visit_SubLink(self, ancestors: object, node: ast.SubLink) -> object:
            return Skip

        def visit_ColumnRef(self, ancestors: object, node: ast.ColumnRef) -> ast.Node | None:
            fields = node.fields or ()
            if (len(fields) == 2 and all(isinstance(f, ast.String) for f in fields)
                    and fields[0].sval == self.source):
                return ast.ColumnRef(fields=(fields[1],))
            return None

    class Levels(Visitor):
        def visit_SelectStmt(self, ancestors: object, node: ast.SelectStmt) -> None:
            sources = node.fromClause or ()
            if len(sources) != 1 or not isinstance(sources[0], ast.RangeVar):
                return None
            table = sources[0]
            strip = Strip(table.alias.aliasname if table.alias else table.relname)
            for part in ("targetList", "whereClause", "groupClause", "havingClause",
                         "sortClause"):
                if getattr(node, part) is not None:
                    setattr(node, part, strip(getattr(node, part)))
            return None

    Levels()(tree)


def _loosen(tree: object) -> None:
    """Drop casts of constants and spell ``IN`` lists as ``ANY``/``ALL`` arrays, in place."""
    from pglast import ast, enums
    from pglast.visitors import Visitor

    class Loosen(Visitor):
        def visit_TypeCast(self, ancestors: object, node: ast.TypeCast) -> object:
            return node.arg if isinstance(node.arg, ast.A_Const) else None

        def visit_A_Expr(self, ancestors: object, node: ast.A_Expr) -> object:
            if node.kind != enums.A_Expr_Kind.AEXPR_IN:
                return None
            equal = node.name[0].sval == "="
            kind = enums.A_Expr_Kind.AEXPR_OP_ANY if equal else enums.A_Expr_Kind.AEXPR_OP_ALL
            array = ast.A_ArrayExpr(elements=node.rexpr)
            return ast.A_Expr(kind=kind, name=node.name, lexpr=node.lexpr, rexpr=array)

    Loosen()(tree)
