"""The ``rehearsal:`` section of a runbook spec: how the release is rehearsed on a throwaway
database (batch, stairs or both), the data the baseline holds, and how locks and squawk's
findings weigh."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from deploy_gates.spec.sections import Strict

Severity = Literal["blocker", "advisory"]
Mode = Literal["batch", "stairs", "both"]
MODES: tuple[str, ...] = ("batch", "stairs", "both")
RuleName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]


class Data(Strict):
    """Rows the baseline holds before the release is applied: the team's seed files first (SQL
    run by psql, or a pg_dump archive restored by pg_restore), then ``rows`` generated rows in
    every baseline table still empty (0: none)."""

    rows: Annotated[int, Field(ge=0, le=1_000_000)] = 300
    seed: list[Path] = []


class Locks(Strict):
    """How the measured locks of each release migration weigh."""

    severity: Severity = "advisory"
    catalog_only: Literal["pass", "flag"] = "flag"
    """A blocking lock held while no rows of a baseline table were read or written: ``flag``
    fails the gate like any blocking lock, ``pass`` lists it in the evidence only."""


class Squawk(Strict):
    """squawk's static lint of the release's files: which rules, and how its findings weigh."""

    enabled: bool = True
    exclude: list[RuleName] = []
    include: list[RuleName] = []
    severity: Severity = "advisory"


class RehearsalSpec(Strict):
    """The rehearsal: ``batch`` (up all, down all, up all: what production does), ``stairs``
    (up, down, up one migration at a time, each checked), or ``both``."""

    mode: Mode = "both"
    data: Data = Data()
    locks: Locks = Locks()
    squawk: Squawk = Squawk()
