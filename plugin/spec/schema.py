"""Runbook spec entries for schema objects that have more than a name: index definitions,
constraints, grants and row-level security policies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

IDENTIFIER = r"^[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?$"
"""A name, or ``schema.name``, as the spec writes schema objects."""
Identifier = Annotated[str, Field(min_length=1, pattern=IDENTIFIER)]
CONSTRAINT_TYPES = ("primary_key", "unique", "foreign_key", "check")
ACTIONS = ("no action", "restrict", "cascade", "set null", "set default")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _action(value: Any) -> Any:
    """``set_null``, ``SET NULL`` and ``set null`` are one action."""
    return value.replace("_", " ").lower() if isinstance(value, str) else value


Action = Annotated[Literal[ACTIONS], BeforeValidator(_action)]


class IndexSpec(_Strict):
    """An index as the release defines it; only the keys given are checked."""

    on: Identifier | None = None
    columns: list[str] | None = None
    unique: bool | None = None
    where: str | None = None
    method: str | None = None


class ConstraintSpec(_Strict):
    """A table constraint: exactly one of ``primary_key``, ``unique``, ``foreign_key`` (with
    ``references`` and its actions) or ``check``."""

    primary_key: list[str] | None = None
    unique: list[str] | None = None
    foreign_key: list[str] | None = None
    references: Identifier | None = None
    referenced_columns: list[str] | None = None
    on_delete: Action | None = None
    on_update: Action | None = None
    check: str | None = None

    @model_validator(mode="after")
    def _one_type(self) -> ConstraintSpec:
        given = [name for name in CONSTRAINT_TYPES if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(CONSTRAINT_TYPES)}")
        fk_only = ("references", "referenced_columns", "on_delete", "on_update")
        stray = [key for key in fk_only if getattr(self, key) is not None]
        if stray and given != ["foreign_key"]:
            raise ValueError(f"{', '.join(stray)} belong to a foreign_key constraint")
        if given == ["foreign_key"] and self.references is None:
            raise ValueError("a foreign_key constraint needs references: <table>")
        return self


Privilege = Literal[
    "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "USAGE",
    "MAINTAIN",
]


class GrantSpec(_Strict):
    """A privilege a role holds on a table, view, materialized view or sequence."""

    role: Annotated[str, Field(min_length=1)]
    privilege: Privilege | list[Privilege]
    on: Identifier

    @property
    def privileges(self) -> list[str]:
        return self.privilege if isinstance(self.privilege, list) else [self.privilege]


class PolicySpec(_Strict):
    """A row-level security policy; only the keys given are checked."""

    command: Literal["all", "select", "insert", "update", "delete"] | None = None
    permissive: bool | None = None
    roles: list[str] | None = None
    using: str | None = None
    with_check: str | None = None


def names_to_mapping(value: Any) -> Any:
    """A list of names is a mapping of each name to no detail: ``[a, b]`` -> ``{a: None, ...}``."""
    return dict.fromkeys(value) if isinstance(value, list) else value


class NamesOrMapping:
    """JSON Schema of a mapping that ``names_to_mapping`` also takes as a list of its keys."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        mapping = handler(core_schema)
        names = {"type": "array", "items": {"type": "string", **mapping.get("propertyNames", {})}}
        key = next(iter(mapping.get("patternProperties", {})), None)
        if key is not None:
            names["items"]["pattern"] = key
        return {"anyOf": [mapping, names]}
