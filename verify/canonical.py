"""Definitions as PostgreSQL means them, not as it happens to print them: parsed with PostgreSQL's
own parser (pglast) and printed again, after rewriting what a dump and restore respells.

The one respelling handled: a cast of an array constructor to an array type,
``(ARRAY['a'::varchar, 'b'::varchar])::text[]``, which ``pg_restore`` brings back as the array of
each element cast, ``ARRAY[('a'::varchar)::text, ('b'::varchar)::text]`` (a ``varchar ... IN
(...)`` CHECK constraint or view filter prints so). Both mean the same array, and are printed the
same. Anything else stays as PostgreSQL prints it, so a real change is still a difference."""

from __future__ import annotations

from functools import lru_cache

MARK = "ARRAY["
"""Only a definition with an array constructor is parsed: the rest are compared as printed."""


@lru_cache(maxsize=4096)
def _printed(statement: str) -> str:
    from pglast import ast, parse_sql
    from pglast.parser import ParseError
    from pglast.stream import RawStream
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

    try:
        tree = parse_sql(statement)
    except ParseError:
        return statement
    ArrayCasts()(tree)
    return RawStream()(tree)


def canonical(definition: str | None, template: str) -> str | None:
    """``definition`` (put in ``template``'s ``{}`` to make a statement) printed canonically."""
    if definition is None or MARK not in definition:
        return definition
    return _printed(template.format(definition))
