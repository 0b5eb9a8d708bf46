"""What SQL a runbook spec may run against a target: exactly one query that only reads, checked
with PostgreSQL's own parser (pglast) before anything is sent.

The rules are an allow-list: one SELECT (or VALUES, or TABLE, or WITH whose queries are all
SELECTs), with no row locks (FOR UPDATE/SHARE), no INTO, and calls only to the functions listed
below, from pg_catalog; anything else is refused. The functions are PostgreSQL built-ins that read
and compute and cannot write, lock, sleep, signal or reach outside the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

FUNCTIONS = {
    "aggregates and window functions": (
        "count sum avg min max bool_and bool_or every array_agg string_agg json_agg jsonb_agg "
        "json_object_agg jsonb_object_agg percentile_cont percentile_disc mode stddev "
        "stddev_pop stddev_samp variance var_pop var_samp corr row_number rank dense_rank "
        "percent_rank cume_dist ntile lag lead first_value last_value nth_value"
    ),
    "strings": (
        "length char_length character_length octet_length bit_length lower upper initcap "
        "btrim ltrim rtrim substr substring left right replace reverse "
        "concat concat_ws split_part strpos position starts_with format quote_ident "
        "quote_literal quote_nullable md5 encode decode to_hex translate regexp_replace "
        "regexp_match regexp_matches regexp_like regexp_count regexp_substr "
        "regexp_split_to_array string_to_array array_to_string overlay normalize "
        "is_normalized similar_to_escape"
    ),
    "numbers": (
        "abs ceil ceiling floor round trunc mod div power sqrt cbrt exp ln log log10 sign "
        "width_bucket num_nulls num_nonnulls"
    ),
    "dates and times": (
        "now current_timestamp statement_timestamp transaction_timestamp clock_timestamp "
        "date_trunc date_part extract date_bin age to_char to_date to_timestamp to_number "
        "make_date make_time make_timestamp make_timestamptz make_interval justify_days "
        "justify_hours justify_interval isfinite timezone overlaps"
    ),
    "JSON": (
        "to_json to_jsonb row_to_json array_to_json json_build_object jsonb_build_object "
        "json_build_array jsonb_build_array json_array_length jsonb_array_length json_typeof "
        "jsonb_typeof json_extract_path json_extract_path_text jsonb_extract_path "
        "jsonb_extract_path_text json_array_elements jsonb_array_elements "
        "json_array_elements_text jsonb_array_elements_text json_each jsonb_each "
        "json_each_text jsonb_each_text json_object_keys jsonb_object_keys jsonb_strip_nulls "
        "jsonb_path_exists jsonb_path_match jsonb_path_query jsonb_path_query_first "
        "jsonb_path_query_array"
    ),
    "arrays, sets, enums": (
        "array_length array_lower array_upper array_ndims array_dims cardinality "
        "array_position array_positions array_remove array_append array_prepend array_cat "
        "unnest generate_series generate_subscripts enum_range enum_first enum_last"
    ),
    "names and types": (
        "current_database current_schema system_user pg_collation_for to_regclass to_regtype "
        "to_regproc format_type pg_typeof"
    ),
}
"""The functions spec SQL may call, by kind: PostgreSQL built-ins that read and compute."""
ALLOWED_FUNCTIONS = frozenset(" ".join(FUNCTIONS.values()).split())
STATEMENT_RULE = "spec SQL is exactly one read-only query (SELECT, VALUES, or WITH ... SELECT)"
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[sbt]")
"""psycopg's parameter placeholders, which PostgreSQL's parser reads as ``$1``."""


@lru_cache(maxsize=4096)
def refusal(sql: str) -> str | None:
    """Why ``sql`` may not run as spec SQL, in one line; None when it is one read-only query."""
    from pglast import parse_sql
    from pglast.parser import ParseError, split

    text = PLACEHOLDER.sub("$1", sql).replace("%%", "%")
    try:
        statements = parse_sql(text)
    except ParseError as exc:
        return f"not valid SQL: {exc}"
    kinds = [_first_word(part) for part in split(text)]
    if len(statements) != 1:
        count = f"{len(statements)} statements ({', '.join(kinds)})"
        return f"{count} are not allowed: {STATEMENT_RULE}"
    if type(statements[0].stmt).__name__ != "SelectStmt":
        return f"{kinds[0]} is not allowed: {STATEMENT_RULE}"
    calls: dict[str, int] = {}
    for node in _nodes(statements[0].stmt):
        problem = _problem(node)
        if problem:
            return problem
        if type(node).__name__ == "FuncCall" and not _allowed(node):
            name = ".".join(part.sval.lower() for part in node.funcname) + "()"
            calls[name] = min(calls.get(name, node.location), node.location)
    if calls:
        names = ", ".join(sorted(calls, key=calls.__getitem__))
        return (f"{names} {'is' if len(calls) == 1 else 'are'} not allowed: spec SQL calls only "
                "the functions listed in docs/gates-running.md (SQL on live targets)")
    return None


@lru_cache(maxsize=256)
def reads_only(sql: str) -> bool:
    """True when ``sql`` is one statement that only reads: a query as spec SQL must be (no
    data-modifying WITH, no INTO, no row locks), whatever functions it calls, or a SHOW."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(sql)
    except ParseError:
        return False
    if len(statements) != 1:
        return False
    kind = type(statements[0].stmt).__name__
    return kind == "VariableShowStmt" or (
        kind == "SelectStmt" and not any(map(_problem, _nodes(statements[0].stmt)))
    )


def _problem(node: Any) -> str | None:
    """What in this node writes or locks."""
    kind = type(node).__name__
    if kind == "SelectStmt" and node.lockingClause:
        strength = _strength(node.lockingClause[0])
        return f"SELECT ... FOR {strength} is not allowed: spec SQL may not lock rows"
    if kind == "SelectStmt" and node.intoClause:
        return "SELECT ... INTO is not allowed: spec SQL may not create tables"
    if kind.endswith("Stmt") and kind != "SelectStmt":
        verb = kind.removesuffix("Stmt").upper()
        return f"{verb} inside the query is not allowed: every WITH query must be a SELECT"
    return None


def _allowed(call: Any) -> bool:
    """A call of a listed function, unqualified or from pg_catalog."""
    names = [part.sval.lower() for part in call.funcname]
    return names[-1] in ALLOWED_FUNCTIONS and names[:-1] in ([], ["pg_catalog"])


def _first_word(statement: str) -> str:
    match = re.match(r"\W*(\w+)", statement)
    return match.group(1).upper() if match else statement


def _strength(clause: Any) -> str:
    """``UPDATE``, ``NO KEY UPDATE``, ``SHARE`` or ``KEY SHARE``."""
    return clause.strength.name.removeprefix("LCS_FOR").replace("NOKEY", "NO KEY ").replace(
        "KEYSHARE", "KEY SHARE"
    )


def _nodes(root: Any) -> Iterator[Any]:
    """Every node of a pglast tree."""
    from pglast import ast

    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, ast.Node):
            yield item
            stack.extend(getattr(item, slot) for slot in item)
