"""What a statement is, read with PostgreSQL's own parser (pglast): the tables it names, and the
safer form of a statement that takes a blocking lock, where one is known."""

from __future__ import annotations

from deploy_gates.migrate.layouts.numbered import NO_TRANSACTION_MARKER as NO_TRANSACTION
from deploy_gates.verify.catalog import qualified

BACKFILL = ("commit the schema change on its own, then change the rows in batches, each in its "
            "own transaction")
NOT_VALID = ("ADD CONSTRAINT ... NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later "
             "transaction (it takes SHARE UPDATE EXCLUSIVE, which lets reads and writes go on)")


def _parse(text: str) -> object | None:
    """The first statement's parse tree, or None when pglast cannot parse it."""
    import pglast  # imported here: only the rehearsal's lock gates need the parser

    try:
        return pglast.parse_sql(text)[0].stmt
    except pglast.parser.ParseError:
        return None


def tables_named(text: str) -> list[str]:
    """The relations a statement names, schema-qualified (``public`` when it names none)."""
    from pglast.parser import ParseError
    from pglast.visitors import referenced_relations

    try:
        return sorted(qualified(name) for name in referenced_relations(text))
    except ParseError:
        return []


def safer_form(text: str, *, rewrite: bool) -> str | None:
    """The safer way to do what ``text`` does without blocking a busy table, or None."""
    from pglast import ast, enums

    stmt = _parse(text)
    if isinstance(stmt, ast.IndexStmt) and not stmt.concurrent:
        unique = "UNIQUE " if stmt.unique else ""
        return f"CREATE {unique}INDEX CONCURRENTLY, in a file marked {NO_TRANSACTION}"
    if isinstance(stmt, ast.DropStmt) and stmt.removeType == enums.ObjectType.OBJECT_INDEX:
        return f"DROP INDEX CONCURRENTLY, in a file marked {NO_TRANSACTION}"
    if isinstance(stmt, ast.ReindexStmt):
        return f"REINDEX ... CONCURRENTLY, in a file marked {NO_TRANSACTION}"
    if isinstance(stmt, ast.UpdateStmt | ast.DeleteStmt | ast.InsertStmt):
        return BACKFILL
    if isinstance(stmt, ast.AlterTableStmt):
        for cmd in stmt.cmds or ():
            advice = _alter_advice(cmd, rewrite=rewrite)
            if advice:
                return advice
    return None


def _alter_advice(cmd: object, *, rewrite: bool) -> str | None:
    from pglast import ast, enums

    kind, definition = cmd.subtype, cmd.def_
    types = enums.AlterTableType
    constraint = enums.ConstrType
    if kind == types.AT_AddConstraint and isinstance(definition, ast.Constraint):
        if definition.contype in (constraint.CONSTR_CHECK, constraint.CONSTR_FOREIGN):
            return None if definition.skip_validation else NOT_VALID
        if definition.contype in (constraint.CONSTR_PRIMARY, constraint.CONSTR_UNIQUE):
            return ("CREATE UNIQUE INDEX CONCURRENTLY (no-transaction file), then ADD CONSTRAINT "
                    "... USING INDEX")
    if kind == types.AT_SetNotNull:
        return ("ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then "
                "SET NOT NULL: it uses the validated constraint instead of a scan")
    if kind == types.AT_AlterColumnType:
        return ("add a new column, backfill it in batches, then switch reads and writes to it "
                "(or change to a type that needs no rewrite)")
    if kind == types.AT_AddColumn and isinstance(definition, ast.ColumnDef):
        kinds = {c.contype for c in definition.constraints or ()}
        if constraint.CONSTR_FOREIGN in kinds:
            return "add the column without REFERENCES, then a FOREIGN KEY constraint: " + NOT_VALID
        if rewrite:
            return ("add the column without a default (or with a constant one), then fill it in "
                    "batches")
    return None
