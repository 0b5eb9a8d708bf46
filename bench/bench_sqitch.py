"""The example release's rehearsal (up, verify, down, verify gone, up) with deploy-gates, against
Debian's sqitch doing deploy --verify, revert and deploy --verify of the same changes."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_rehearsal import rehearsal_with_pytest  # noqa: E402
from benchlib import Paired, interleaved, psql_clients, timed  # noqa: E402

from deploy_gates.fixtures.ephemeral import start_server  # noqa: E402
from deploy_gates.fixtures.ephemeral.local import find_bin_dir  # noqa: E402
from deploy_gates.migrate import Migration, up  # noqa: E402
from deploy_gates.rollback import backup, down, restore  # noqa: E402
from deploy_gates.spec.runbook import Runbook, load_runbook  # noqa: E402
from deploy_gates.verify.catalog import Catalog, diff, snapshot  # noqa: E402
from deploy_gates.verify.expectations import Expected, expected_objects, normalize_type  # noqa: E402
from deploy_gates.verify.rehearsal import release_expectations  # noqa: E402
from deploy_gates.verify.release import split_at_baseline  # noqa: E402

EXAMPLE = ROOT / "examples" / "tascade"
SQITCH_TIMEOUT_S = 120
PLANNED = "2026-11-23T00:00:00Z deploy-gates bench <bench@localhost>"
SQITCH_ENV = {"SQITCH_FULLNAME": "deploy-gates bench", "SQITCH_EMAIL": "bench@localhost"}
CREATED = re.compile(
    r"^\s*(?:CREATE\s+(TABLE|TYPE)\s+(\w+)|ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+))",
    re.IGNORECASE | re.MULTILINE,
)
"""What a baseline change creates: the spec names only the release's objects, and the baseline
has no down scripts."""
SQITCH_STEPS = ("server start", "deploy --verify", "revert --to baseline",
                "deploy --verify again", "server stop")


def exists(relation: str, where: str) -> str:
    """A verify statement: a division by zero unless a row of ``relation`` matches."""
    return f"SELECT 1/count(*) FROM {relation} WHERE {where};"


def column_check(table: str, name: str, type_: str | None, not_null: bool | None) -> str:
    where = f"attrelid = 'public.{table}'::regclass AND attname = '{name}' AND NOT attisdropped"
    if type_ is not None:
        where += f" AND format_type(atttypid, atttypmod) = '{normalize_type(type_)}'"
    if not_null is not None:
        where += f" AND {'' if not_null else 'NOT '}attnotnull"
    return exists("pg_attribute", where)


def spec_check(item: Expected) -> str:
    """What the suite's gate for ``item`` proves, as one statement of a sqitch verify script."""
    if item.kind == "table":
        return exists("pg_tables", f"schemaname = 'public' AND tablename = '{item.name}'")
    if item.kind == "column":
        table, name = item.name.split(".")
        spec = item.column
        return column_check(table, name, spec and spec.type, spec and spec.not_null)
    if item.kind == "index":
        return exists("pg_indexes", f"schemaname = 'public' AND indexname = '{item.name}'")
    if item.kind == "trigger":
        table, name = item.name.split(".")
        return exists("pg_trigger", f"tgrelid = 'public.{table}'::regclass AND tgname = '{name}'")
    if item.kind == "function":
        return exists("pg_proc", f"proname = '{item.name}'")
    if item.kind == "enum":
        return (f"SELECT 1/(string_agg(enumlabel, ',' ORDER BY enumsortorder) = "
                f"'{','.join(item.labels)}')::int FROM pg_enum "
                f"WHERE enumtypid = 'public.{item.name}'::regtype;")
    raise ValueError(f"no sqitch verify statement for a {item.kind}")


def created_checks(text: str) -> list[str]:
    """Verify statements for the tables, types and added columns of a baseline change."""
    checks = []
    for kind, name, table, column in CREATED.findall(text):
        if kind.upper() == "TABLE":
            checks.append(exists("pg_tables", f"schemaname = 'public' AND tablename = '{name}'"))
        elif kind:
            checks.append(exists("pg_type", f"typname = '{name}'"))
        else:
            checks.append(column_check(table, column, None, None))
    return checks


def created_revert(text: str) -> str:
    """A revert script for a baseline change (which has no down script): what it created,
    dropped in reverse order."""
    drops = [f"DROP {kind.upper()} {name} CASCADE;" if kind
             else f"ALTER TABLE {table} DROP COLUMN {column};"
             for kind, name, table, column in reversed(CREATED.findall(text))]
    return "BEGIN;\n" + "\n".join(drops) + "\nCOMMIT;"


def owner(item: Expected, release: list[Migration]) -> Migration:
    """The release change that creates ``item``: the first whose SQL names its object."""
    word = item.name.split(".")[-1 if item.kind == "trigger" else 0]
    pattern = re.compile(rf"\b{re.escape(word)}\b")
    return next((f for f in release if pattern.search(f.path.read_text())), release[-1])


def verify_scripts(runbook: Runbook) -> dict[str, list[str]]:
    """Each change's verify statements: the spec's schema section for the release's changes,
    the created objects for the baseline's."""
    baseline, release = split_at_baseline(runbook)
    checks = {f.path.stem: created_checks(f.path.read_text()) for f in baseline}
    checks |= {f.path.stem: [] for f in release}
    for item in expected_objects(runbook.expected):
        checks[owner(item, release).path.stem].append(spec_check(item))
    return checks


def write_change(project: Path, file: Migration, revert: str, verify: list[str]) -> None:
    """deploy/ (in a transaction unless the file says no-transaction), revert/ and verify/."""
    text = file.path.read_text()
    deploy = f"BEGIN;\n{text}\nCOMMIT;\n" if file.transactional else text
    for folder, body in (("deploy", deploy), ("revert", revert), ("verify", "\n".join(verify))):
        (project / folder / f"{file.path.stem}.sql").write_text(body + "\n")


def sqitch_project(project: Path, runbook: Runbook, psql: str) -> None:
    """``sqitch init`` with ``psql`` as client, and one change per migration file, in order."""
    sqitch(project, "init", "tascade", "--engine", "pg", "--client", psql)
    baseline, release = split_at_baseline(runbook)
    checks = verify_scripts(runbook)
    plan, previous = [], None
    for file in baseline + release:
        down_script = runbook.migrations.down_dir / file.name
        revert = (f"BEGIN;\n{down_script.read_text()}\nCOMMIT;" if down_script.is_file()
                  else created_revert(file.path.read_text()))
        write_change(project, file, revert, checks[file.path.stem])
        requires = f" [{previous}]" if previous else ""
        plan.append(f"{file.path.stem}{requires} {PLANNED} # {file.name}")
        previous = file.path.stem
    with (project / "sqitch.plan").open("a") as handle:
        handle.write("\n".join(plan) + "\n")


def sqitch(project: Path, *args: str) -> None:
    subprocess.run(["sqitch", *args], cwd=project, env={**os.environ, **SQITCH_ENV},
                   check=True, capture_output=True, text=True, timeout=SQITCH_TIMEOUT_S)


def target_uri(dsn: str) -> str:
    """``db:pg://user@127.0.0.1:port/db`` of a ``local`` provider's database."""
    params = conninfo_to_dict(dsn)
    return f"db:pg://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"


def sqitch_rehearsal(project: Path, baseline: str, times: dict[str, list[float]]) -> None:
    """A local server started, deploy --verify, revert to the baseline, deploy --verify, the
    server stopped; each step timed."""
    server = timed(times, "server start", lambda: start_server("local"))
    try:
        uri = target_uri(server.create_database("sqitch"))
        for name, args in (("deploy --verify", ["deploy", "--verify", uri]),
                           ("revert --to baseline", ["revert", "-y", "--to", baseline, uri]),
                           ("deploy --verify again", ["deploy", "--verify", uri])):
            timed(times, name, partial(sqitch, project, *args))
    finally:
        timed(times, "server stop", server.stop)


def schema(dsn: str, runbook: Runbook) -> Catalog:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=SQITCH_TIMEOUT_S) as conn:
        return snapshot(conn, runbook)


def prove(expected: list[Expected], catalog: Catalog, *, present: bool) -> None:
    """Every expected object (and ledger entry) present, or every one gone."""
    problems = [e.problem_if_missing(catalog) if present else e.problem_if_present(catalog)
                for e in expected]
    if any(problems):
        raise RuntimeError("; ".join(p for p in problems if p))


def same(before: dict[str, str], after: dict[str, str]) -> None:
    if changes := diff(before, after):
        raise RuntimeError("schema differs from the baseline: " + "; ".join(changes))


def rehearsal_in_process(runbook: Runbook, folder: Path) -> None:
    """The suite's rehearsal steps called in this process, on an embedded server started and
    stopped here: baseline, backup, up, present, down, gone and baseline schema back, up,
    present, backup restored to the baseline schema. No pytest, no reports or logs."""
    baseline, release = split_at_baseline(runbook)
    ledger, down_dir = runbook.migrations.ledger, runbook.migrations.down_dir
    expected = release_expectations(runbook)
    server = start_server("embedded")
    try:
        dsn = server.create_database("rehearsal")
        up(dsn, baseline, ledger=ledger)
        before = schema(dsn, runbook).fingerprint()
        dump = backup(dsn, folder / "baseline.dump").path
        up(dsn, baseline + release, ledger=ledger)
        prove(expected, schema(dsn, runbook), present=True)
        down(dsn, baseline + release, down_dir, to=baseline[-1].name, ledger=ledger)
        after = schema(dsn, runbook)
        prove(expected, after, present=False)
        same(before, after.fingerprint())
        up(dsn, baseline + release, ledger=ledger)
        prove(expected, schema(dsn, runbook), present=True)
        restored = server.create_database("restored")
        restore(dump, restored)
        same(before, schema(restored, runbook).fingerprint())
    finally:
        server.stop()


def report(paired: Paired, steps: dict[str, list[float]], clients: list[str]) -> None:
    """Every side's median, runs and paired ratio to the suite; sqitch's steps; sqitch / suite."""
    print(paired.report("suite embedded"))
    for client in clients:
        name = f"sqitch with {client}"
        print(f"{name}: paired ratio sqitch / suite {paired.ratio(name, 'suite embedded'):.2f}x, "
              f"sqitch / in-process {paired.ratio(name, 'in-process'):.2f}x")
        for step in SQITCH_STEPS:
            print(f"  {step:<22}: {statistics.median(steps[f'{client} {step}']):5.2f} s (median)")


def sides(runbook: Runbook, folder: Path, projects: dict[str, Path],
          steps: dict[str, list[float]]) -> dict[str, Callable[[], object]]:
    """Each side, by name: the suite on both providers, the steps in-process, sqitch per client
    (its steps' seconds added to ``steps``)."""
    reports = folder / "reports"
    baseline = split_at_baseline(runbook)[0][-1].path.stem

    def sqitch(client: str, project: Path) -> None:
        seen: dict[str, list[float]] = {}
        sqitch_rehearsal(project, baseline, seen)
        for step, seconds in seen.items():
            steps.setdefault(f"{client} {step}", []).extend(seconds)

    return {
        "suite embedded": partial(rehearsal_with_pytest, reports),
        "suite local": partial(rehearsal_with_pytest, reports, "--db-provider=local"),
        "in-process": partial(rehearsal_in_process, runbook, folder),
        **{f"sqitch with {client}": partial(sqitch, client, project)
           for client, project in projects.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("sqitch") is None or find_bin_dir() is None:
        raise SystemExit("needs sqitch and Debian's PostgreSQL server (apt-get install sqitch "
                         "postgresql)")

    runbook = load_runbook(EXAMPLE / "runbook.yaml")
    baseline, release = split_at_baseline(runbook)
    clients = psql_clients()
    with tempfile.TemporaryDirectory() as folder:
        projects = {client: Path(folder) / f"sqitch-{i}" for i, client in enumerate(clients)}
        for client, project in projects.items():
            project.mkdir()
            sqitch_project(project, runbook, clients[client])
        checks = sum(len(c) for c in verify_scripts(runbook).values())
        print(f"example: {len(baseline)} baseline and {len(release)} release migrations; sqitch "
              f"project of {len(baseline + release)} changes, {checks} verify statements",
              flush=True)
        steps: dict[str, list[float]] = {}
        paired = interleaved(sides(runbook, Path(folder), projects, steps), args.runs)
    report(paired, steps, list(clients))


if __name__ == "__main__":
    main()
