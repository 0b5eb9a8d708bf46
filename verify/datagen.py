"""Rows for the baseline tables, so that the release meets data the way production's does.

Set-based: one ``INSERT ... SELECT ... FROM generate_series`` per table, parents before children.
Values follow each column's type; a column with a default gets it (unless it is part of a unique
key); nullable columns hold NULL in every tenth row; values of columns outside unique keys repeat
(every third of the rows), as real data does; enums, booleans and ``CHECK (x IN (...))`` lists
cycle through their values; foreign keys point at the parent's rows; other CHECK constraints
filter the rows that break them, and ``ON CONFLICT DO NOTHING`` drops rows a unique key refuses.
A table the generator cannot fill is reported with the reason, never left silently empty.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

import psycopg

from deploy_gates.verify.catalog import NOT_FROM_EXTENSION, USER_SCHEMAS
from deploy_gates.verify.tabledata import quote_ident, quote_literal, quote_table

NULL_EVERY = 10
REPEAT_SHARE = 3
CATALOG = f"""
SELECT c.oid, n.nspname || '.' || c.relname,
  (SELECT json_agg(json_build_object(
       'name', a.attname, 'num', a.attnum, 'type', format_type(a.atttypid, a.atttypmod),
       'typname', coalesce(bt.typname, t.typname), 'typtype', coalesce(bt.typtype, t.typtype),
       'typmod', CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       'elem', et.typname, 'not_null', a.attnotnull, 'default', pg_get_expr(d.adbin, d.adrelid),
       'auto', a.attidentity <> '' OR a.attgenerated <> ''
               OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE 'nextval(%',
       'labels', (SELECT count(*) FROM pg_enum e WHERE e.enumtypid = coalesce(bt.oid, t.oid)))
     ORDER BY a.attnum)
   FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
   LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd'
   LEFT JOIN pg_type et ON et.oid = coalesce(bt.typelem, t.typelem)
        AND coalesce(bt.typcategory, t.typcategory) = 'A'
   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT json_agg(json_build_object('type', k.contype, 'cols', k.conkey,
       'ref', k.confrelid::bigint, 'refcols', k.confkey, 'def', pg_get_constraintdef(k.oid),
       'expr', pg_get_expr(k.conbin, k.conrelid)) ORDER BY k.conname)
   FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u', 'f', 'c')),
  (SELECT json_agg(x.indkey::int2[]) FROM pg_index x
   WHERE x.indrelid = c.oid AND x.indisunique AND x.indpred IS NULL
     AND NOT 0 = ANY (x.indkey::int2[]))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {USER_SCHEMAS}
  AND {NOT_FROM_EXTENSION.format(oid="c.oid")}
ORDER BY 2"""
IN_LIST = re.compile(
    r"^CHECK \(\(\(?(\"?[\w$]+\"?)\)?(?:::[\w ]+)? = ANY "
    r"\(\(?(ARRAY\[.*\])(?:\)::[\w ]+\[\])?\)\)\)$"
)
NUMERIC_TYPES = {
    "int2": "({v} % 32767)", "int4": "{v}", "int8": "{v}", "oid": "{v}",
    "float4": "({v} * 1.5)", "float8": "({v} * 1.5)", "money": "({v} * 1.5)::numeric",
}
OTHER_TYPES = {
    "uuid": "md5({key} || {v})::uuid",
    "bool": "({v} % 2 = 0)",
    "date": "(date '2024-01-01' + ({v} % 3650)::int)",
    "timestamp": "(timestamp '2024-01-01 00:00:00' + {v} * interval '1 minute')",
    "timestamptz": "(timestamptz '2024-01-01 00:00:00+00' + {v} * interval '1 minute')",
    "time": "(time '00:00' + ({v} % 86400) * interval '1 second')",
    "timetz": "(timetz '00:00+00' + ({v} % 86400) * interval '1 second')",
    "interval": "({v} * interval '1 minute')",
    "json": "json_build_object('n', {v})",
    "jsonb": "jsonb_build_object('n', {v})",
    "bytea": "convert_to({key} || {v}, 'UTF8')",
    "inet": "('10.' || ({v} / 65536 % 256) || '.' || ({v} / 256 % 256) || '.' || ({v} % 256))",
    "cidr": "('10.' || ({v} / 65536 % 256) || '.' || ({v} / 256 % 256) || '.' || ({v} % 256))",
}
TEXT_TYPES = {"text", "varchar", "bpchar", "name", "citext"}


@dataclass(frozen=True)
class Column:
    """A column as the generator sees it."""

    name: str
    num: int
    type: str
    typname: str
    typtype: str
    typmod: int
    elem: str | None
    not_null: bool
    default: str | None
    auto: bool
    labels: int


@dataclass(frozen=True)
class Table:
    """A baseline table: its columns, keys, foreign keys and CHECK constraints."""

    oid: int
    name: str
    columns: list[Column]
    unique_keys: list[tuple[int, ...]]
    foreign_keys: list[dict]
    checks: list[dict]

    def column(self, num: int) -> Column:
        return next(c for c in self.columns if c.num == num)


@dataclass
class Filled:
    """What one table holds after the fill, and how it got it."""

    table: str
    rows: int
    how: str
    reason: str | None = None
    ms: float = 0.0

    def describe(self) -> str:
        if self.how == "generated":
            return f"{self.table}: {self.rows} rows generated ({self.ms:.0f} ms)"
        if self.how == "kept":
            return f"{self.table}: {self.rows} rows from the baseline migrations or seed, kept"
        return f"{self.table}: left empty: {self.reason}"


@dataclass
class DataReport:
    """The baseline's tables (name -> columns) and what each holds."""

    tables: dict[str, list[str]] = field(default_factory=dict)
    filled: dict[str, Filled] = field(default_factory=dict)
    ms: float = 0.0

    @property
    def empty(self) -> list[Filled]:
        """Tables left without rows, with the reason."""
        return [f for f in self.filled.values() if f.rows == 0]

    def rows(self, table: str) -> int:
        found = self.filled.get(table)
        return found.rows if found else 0


def read_tables(conn: psycopg.Connection, ignore: frozenset[str]) -> list[Table]:
    """The user tables of ``conn``'s database (partitions through their parent), minus
    ``ignore``."""
    tables = []
    for oid, name, columns, constraints, unique_indexes in conn.execute(CATALOG).fetchall():
        if name in ignore:
            continue
        constraints = constraints or []
        keys = [tuple(k["cols"]) for k in constraints if k["type"] in ("p", "u")]
        keys += [tuple(cols) for cols in unique_indexes or [] if tuple(cols) not in keys]
        tables.append(Table(
            oid, name, [Column(**c) for c in columns or []], keys,
            [k for k in constraints if k["type"] == "f"],
            [k for k in constraints if k["type"] == "c"],
        ))
    return tables


def fill(conn: psycopg.Connection, tables: list[Table], rows: int) -> DataReport:
    """Give every empty table ``rows`` generated rows, parents first; tables that already hold
    rows keep them. ``conn`` must be in autocommit mode: each table is one statement."""
    start = time.monotonic()
    by_oid = {t.oid: t for t in tables}
    report = DataReport(tables={t.name: [c.name for c in t.columns] for t in tables})
    existing = _row_counts(conn, tables)
    for table in _parents_first(tables):
        if existing[table.name]:
            report.filled[table.name] = Filled(table.name, existing[table.name], "kept")
            continue
        if rows == 0:
            report.filled[table.name] = Filled(table.name, 0, "empty", "rehearsal.data.rows is 0")
            continue
        started = time.monotonic()
        try:
            statement = insert_sql(table, rows, by_oid, report)
            count = conn.execute(statement).rowcount
        except Unfillable as exc:
            report.filled[table.name] = Filled(table.name, 0, "empty", str(exc))
            continue
        except psycopg.Error as exc:
            message = exc.diag.message_primary or str(exc).strip().splitlines()[0]
            report.filled[table.name] = Filled(table.name, 0, "empty", f"PostgreSQL: {message}")
            continue
        ms = (time.monotonic() - started) * 1000
        reason = None if count else "every generated row broke a CHECK constraint or unique key"
        report.filled[table.name] = Filled(
            table.name, count, "generated" if count else "empty", reason, ms
        )
    report.ms = (time.monotonic() - start) * 1000
    return report


class Unfillable(Exception):
    """The generator has no way to fill a table; the message says why."""


def insert_sql(table: Table, rows: int, tables: dict[int, Table], report: DataReport) -> str:
    """The one ``INSERT ... SELECT`` that fills ``table`` with up to ``rows`` rows."""
    exprs: dict[int, str] = {}
    joins: list[str] = []
    strides = _strides(table, tables, report)
    for index, fk in enumerate(table.foreign_keys):
        joins += _foreign_key(table, index, fk, tables, report, strides, exprs)
    in_lists = _in_lists(table)
    for column in table.columns:
        if column.num not in exprs:
            expr = _column_value(table, column, rows, strides, in_lists.get(column.num))
            if expr is not None:
                exprs[column.num] = expr
    columns = [c for c in table.columns if c.num in exprs]
    if not columns:
        return f"INSERT INTO {quote_table(table.name)} SELECT FROM generate_series(0, {rows - 1})"
    names = ", ".join(quote_ident(c.name) for c in columns)
    select = ", ".join(f"{exprs[c.num]} AS {quote_ident(c.name)}" for c in columns)
    checks = [k["expr"] for k in table.checks if k["expr"] and set(k["cols"] or []) <= set(exprs)]
    where = f" WHERE {' AND '.join(f'({c}) IS NOT FALSE' for c in checks)}" if checks else ""
    return (
        f"INSERT INTO {quote_table(table.name)} ({names}) SELECT {names} FROM (SELECT {select} "
        f"FROM generate_series(0, {rows - 1}) AS g{''.join(joins)}) AS r{where} "
        "ON CONFLICT DO NOTHING"
    )


def _column_value(
    table: Table, column: Column, rows: int, strides: dict[int, tuple], in_list: str | None
) -> str | None:
    """The value of ``column`` in row ``g``; None leaves it to its default (or NULL)."""
    in_key = any(column.num in key for key in table.unique_keys)
    if column.auto or (column.default is not None and not in_key):
        return None
    if in_list:
        pick = f"1 + {_stride_expr(strides[column.num])} % cardinality({in_list})"
        expr = f"(({in_list})[{pick}])::{column.type}"
    else:
        v = "g" if in_key else f"(g % {max(1, rows // REPEAT_SHARE)})"
        expr = value_sql(column, table.name, v, strides.get(column.num))
    if expr is None:
        if column.not_null and column.default is None:
            raise Unfillable(f"no generator for column {column.name} of type {column.type}")
        return None
    if column.not_null:
        return expr
    return f"CASE WHEN g % {NULL_EVERY} = {NULL_EVERY - 1} THEN NULL ELSE {expr} END"


def value_sql(
    column: Column, table: str, v: str, categorical: tuple[int, int] | None
) -> str | None:
    """A value of ``column``'s type for row number ``v`` (SQL), or None when the type has no
    generator; ``categorical`` is the (stride, count) of an enum or boolean column."""
    if column.typtype == "e" and column.labels:
        index = _stride_expr(categorical) if categorical else v
        return f"(enum_range(NULL::{column.type}))[1 + {index} % {column.labels}]"
    if column.typname == "bool" and categorical:
        return f"({_stride_expr(categorical)} % 2 = 0)"
    if column.elem:
        element = _scalar(column.elem, column.name, table, v, -1)
        return f"ARRAY[{element}]::{column.type}" if element else None
    scalar = _scalar(column.typname, column.name, table, v, column.typmod)
    return f"({scalar})::{column.type}" if scalar else None


def _scalar(typname: str, name: str, table: str, v: str, typmod: int) -> str | None:
    if typname in NUMERIC_TYPES:
        return NUMERIC_TYPES[typname].replace("{v}", v)
    if typname == "numeric":
        if typmod < 4:
            return f"({v} + 0.25)"
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        return f"({v} % {10 ** (precision - scale)} + {'0.5' if scale else '0'})"
    if typname in TEXT_TYPES:
        return f"({quote_literal(_text_prefix(name, typmod))} || {v})"
    if typname in OTHER_TYPES:
        key = quote_literal(f"{table}.{name}.")
        return OTHER_TYPES[typname].replace("{key}", key).replace("{v}", v)
    return None


def _text_prefix(name: str, typmod: int) -> str:
    """``title-`` unless the column is too short for it: then the number alone."""
    if typmod < 4:
        return f"{name}-"
    width = typmod - 4
    return f"{name}-" if width >= len(name) + 8 else ""


def _strides(table: Table, tables: dict[int, Table], report: DataReport) -> dict[int, tuple]:
    """Columns whose values come from a short list (foreign keys, enums, booleans, IN lists),
    each with (stride, count): value number ``(g / stride) % count``. The ones in unique keys
    stay unique together across ``count1 * count2 ...`` rows."""
    counts: dict[int, int] = {}
    for fk in table.foreign_keys:
        parent = tables.get(fk["ref"])
        size = report.rows(parent.name) if parent and parent.oid != table.oid else 0
        for num in fk["cols"]:
            counts.setdefault(num, max(size, 1))
    for column in table.columns:
        if column.typtype == "e" and column.labels:
            counts.setdefault(column.num, column.labels)
        elif column.typname == "bool":
            counts.setdefault(column.num, 2)
    for num, values in _in_lists(table).items():
        counts.setdefault(num, max(values.count("::"), 1))
    strides, stride = {}, 1
    for num in dict.fromkeys(n for key in table.unique_keys for n in key if n in counts):
        strides[num] = (stride, counts[num])
        stride *= counts[num]
    return {num: strides.get(num, (1, count)) for num, count in counts.items()}


def _stride_expr(stride: tuple[int, int]) -> str:
    step, count = stride
    return f"(g / {step}) % {count}" if step > 1 else f"g % {count}"


def _in_lists(table: Table) -> dict[int, str]:
    """Columns constrained by ``CHECK (col IN (...))``: the ARRAY of their allowed values."""
    found = {}
    for check in table.checks:
        match = IN_LIST.match(check["def"] or "")
        if match and len(check["cols"] or []) == 1:
            found[check["cols"][0]] = match.group(2)
    return found


def _foreign_key(
    table: Table, index: int, fk: dict, tables: dict[int, Table], report: DataReport,
    strides: dict[int, tuple], exprs: dict[int, str],
) -> list[str]:
    """The values of a foreign key's columns (into ``exprs``): a parent row picked by row
    number, through the join it returns (none when the columns stay NULL)."""
    parent = tables.get(fk["ref"])
    columns = [table.column(num) for num in fk["cols"]]
    required = any(c.not_null for c in columns)
    problem = (
        "its foreign key references a table outside the user schemas" if parent is None
        else f"its NOT NULL foreign key references {table.name} itself"
        if parent.oid == table.oid
        else f"it references {parent.name}, which has no rows" if not report.rows(parent.name)
        else None
    )
    if problem and required:
        raise Unfillable(problem)
    if problem:
        for column in columns:
            exprs.setdefault(column.num, f"NULL::{column.type}")
        return []
    alias = f"fk{index}"
    refs = [parent.column(num).name for num in fk["refcols"]]
    listed = ", ".join(quote_ident(r) for r in refs)
    pick = _stride_expr(strides[fk["cols"][0]])
    for column, ref in zip(columns, refs, strict=True):
        value = f"{alias}.{quote_ident(ref)}"
        if not column.not_null:
            value = f"CASE WHEN g % {NULL_EVERY} = {NULL_EVERY - 1} THEN NULL ELSE {value} END"
        exprs.setdefault(column.num, value)
    join = "JOIN" if required else "LEFT JOIN"
    return [
        f" {join} (SELECT {listed}, row_number() OVER () - 1 AS rn FROM "
        f"{quote_table(parent.name)}) AS {alias} ON {alias}.rn = {pick}"
    ]


def _row_counts(conn: psycopg.Connection, tables: list[Table]) -> dict[str, int]:
    """Rows each table already holds (from baseline migrations or seed files)."""
    if not tables:
        return {}
    query = " UNION ALL ".join(
        f"SELECT {i}, count(*) FROM {quote_table(t.name)}" for i, t in enumerate(tables)
    )
    counts = dict(conn.execute(query).fetchall())
    return {t.name: counts[i] for i, t in enumerate(tables)}


def _parents_first(tables: list[Table]) -> list[Table]:
    """Tables ordered so that every table comes after the tables it references (cycles are
    broken in name order: the nullable side of a cycle gets NULLs)."""
    by_oid = {t.oid: t for t in tables}
    graph = {
        t.oid: {fk["ref"] for fk in t.foreign_keys if fk["ref"] in by_oid and fk["ref"] != t.oid}
        for t in tables
    }
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError:
        order = _break_cycles(graph)
    return [by_oid[oid] for oid in order]


def _break_cycles(graph: dict[int, set[int]]) -> list[int]:
    done: list[int] = []
    remaining = dict(graph)
    while remaining:
        ready = sorted(oid for oid, deps in remaining.items() if deps <= set(done))
        pick = ready[0] if ready else min(remaining)
        done.append(pick)
        remaining.pop(pick)
    return done
