"""A release that replaces an object the baseline had (CREATE OR REPLACE FUNCTION, a re-created
view): after rollback it must be the baseline's again, not gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbtools import write
from tests.gaterun import gates, summary

SPEC = """\
system: orders
release: "2"
targets:
  rehearsal: {kind: ephemeral, provider: embedded}
migrations: {dir: migrations, down_dir: down, baseline: 001_base.sql}
schema:
  tables: [refunds]
  views: [big_orders]
  functions: [order_total]
"""
BASE = """CREATE TABLE orders (id int PRIMARY KEY, total int NOT NULL);
CREATE FUNCTION order_total(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE VIEW big_orders AS SELECT id FROM orders WHERE total > 100;
"""
RELEASE = """CREATE OR REPLACE FUNCTION order_total(int) RETURNS int LANGUAGE sql AS 'SELECT 2';
DROP VIEW big_orders;
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 1000;
CREATE TABLE refunds (id int PRIMARY KEY, order_id int REFERENCES orders);
"""
DOWN = """DROP TABLE refunds;
DROP VIEW big_orders;
CREATE VIEW big_orders AS SELECT id FROM orders WHERE total > 100;
CREATE OR REPLACE FUNCTION order_total(int) RETURNS int LANGUAGE sql AS 'SELECT 1';
"""


def release(root: Path, down: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "runbook.yaml").write_text(SPEC)
    write(root / "migrations", {"001_base.sql": BASE, "002_release.sql": RELEASE})
    write(root / "down", {"002_release.sql": down})
    return root


def test_replaced_objects_restored_by_the_rollback_pass(pytester: pytest.Pytester, tmp_path: Path) -> None:
    result = gates(pytester, release(tmp_path / "r", DOWN), "--target=rehearsal")
    assert result.ret == 0, result.stdout.str()[-3000:]
    outcomes = summary(tmp_path / "r")
    assert outcomes["test_absent_after_down[function:order_total]"]["outcome"] == "passed"
    assert outcomes["test_absent_after_down[view:big_orders]"]["outcome"] == "passed"


def test_a_replaced_object_left_as_the_release_made_it_is_named(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    down = DOWN.replace("AS 'SELECT 1'", "AS 'SELECT 2'").replace("total > 100", "total > 1000")
    gates(pytester, release(tmp_path / "r", down), "--target=rehearsal")
    outcomes = summary(tmp_path / "r")
    assert outcomes["test_absent_after_down[function:order_total]"]["message"] == (
        "expected function order_total restored to its baseline definition after rollback; "
        "found: changed: function public.order_total(integer)")
    assert outcomes["test_absent_after_down[view:big_orders]"]["message"] == (
        "expected view big_orders restored to its baseline definition after rollback; "
        "found: changed: view public.big_orders")
    assert outcomes["test_absent_after_down[table:refunds]"]["outcome"] == "passed"


def test_a_replaced_object_dropped_by_the_rollback_is_named(pytester: pytest.Pytester, tmp_path: Path) -> None:
    down = DOWN.replace("CREATE OR REPLACE FUNCTION order_total(int) RETURNS int LANGUAGE sql AS 'SELECT 1';",
                        "DROP FUNCTION order_total(int);")
    gates(pytester, release(tmp_path / "r", down), "--target=rehearsal")
    assert summary(tmp_path / "r")["test_absent_after_down[function:order_total]"]["message"] == (
        "expected function order_total restored to its baseline definition after rollback; "
        "found: missing: function public.order_total(integer)")
