"""Definitions as PostgreSQL means them, not as it happens to print them, for fingerprints:
parsed with PostgreSQL's own parser (pglast) and printed again, after writing what a dump and
restore respells one way (``sqltext.respell_array_casts``: a ``varchar ... IN (...)`` in a CHECK
constraint, a view, an index, a trigger's WHEN or a policy). Anything else stays as PostgreSQL
prints it, so a real change is still a difference."""

from __future__ import annotations

from functools import lru_cache

MARK = "ARRAY["
"""Only a definition with an array constructor is parsed: the rest are compared as printed."""


@lru_cache(maxsize=4096)
def _printed(statement: str) -> str:
    from pglast import parse_sql
    from pglast.parser import ParseError
    from pglast.stream import RawStream

    from deploy_gates.verify.sqltext import respell_array_casts

    try:
        tree = parse_sql(statement)
    except ParseError:
        return statement
    respell_array_casts(tree)
    return RawStream()(tree)


def canonical(definition: str | None, template: str) -> str | None:
    """``definition`` (put in ``template``'s ``{}`` to make a statement) printed canonically."""
    if definition is None or MARK not in definition:
        return definition
    return _printed(template.format(definition))
