"""Runbook spec loading: valid specs parse; every error names the file, the key path and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_gates.spec.runbook import load_runbook
from deploy_gates.spec.yamlsource import SpecError

HEAD = "system: demo\nrelease: '1'\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runbook.yaml"
    path.write_text(text)
    return path


def test_example_spec_loads_with_paths_resolved() -> None:
    spec = load_runbook(Path("examples/tascade/runbook.yaml"))
    assert spec.system == "tascade"
    assert spec.migrations.dir == Path("examples/tascade/migrations")
    assert spec.migrations.down_dir == Path("examples/tascade/down")
    assert len(spec.expected.tables) == 8
    assert spec.targets["prod"].protected
    assert (spec.rehearsal.mode, spec.rehearsal.data.rows, spec.rehearsal.locks.severity) == (
        "both", 300, "advisory")


def test_rehearsal_section_defaults_and_seed_paths(tmp_path: Path) -> None:
    assert load_runbook(write(tmp_path, HEAD + "targets: {}\n")).rehearsal.mode == "both"
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "rows.sql").write_text("SELECT 1;")
    spec = load_runbook(write(tmp_path, HEAD + "targets: {}\nrehearsal:\n  mode: stairs\n"
                              "  data: {rows: 0, seed: [seed/rows.sql]}\n"))
    assert spec.rehearsal.data.seed == [tmp_path / "seed" / "rows.sql"]
    assert spec.rehearsal.squawk.enabled and spec.rehearsal.locks.catalog_only == "flag"


def test_column_shorthand_is_a_type(tmp_path: Path) -> None:
    spec = load_runbook(write(tmp_path, HEAD + "targets: {}\nschema:\n  columns:\n    jobs:\n"
                              "      a: integer\n      b: {type: text, not_null: true}\n      c:\n"))
    columns = spec.expected.columns["jobs"]
    assert (columns["a"].type, columns["b"].not_null, columns["c"]) == ("integer", True, None)


def test_on_off_yes_and_no_are_words_as_in_yaml_1_2(tmp_path: Path) -> None:
    spec = load_runbook(write(tmp_path, HEAD + "targets: {}\nschema:\n  grants:\n"
                              "    - {role: reporting, privilege: SELECT, on: invoices}\n"
                              "  enums: {switch: [on, off, yes, no]}\n"))
    assert spec.expected.grants[0].on == "invoices"
    assert spec.expected.enums["switch"] == ["on", "off", "yes", "no"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (HEAD + "targets:\n  r:\n    kind: ephemeral\n    kidn: 1\n",
         ":6: targets.r: unknown key 'kidn'"),
        (HEAD + "targets:\n  r:\n    kind: ephemral\n",
         ":5: targets.r.kind: unknown kind 'ephemral'; expected one of 'ephemeral', 'live'"),
        (HEAD + "targets:\n  r:\n    kind: ephemeral\n    provider: dockr\n",
         ":6: targets.r.provider: Input should be 'auto', 'embedded', 'local', 'testcontainers' "
         "or 'dsn'"),
        (HEAD + "targets:\n  prod: {kind: live}\n", ":4: targets.prod: missing required key 'dsn_env'"),
        ("system: demo\ntargets: {}\n", ":1: (top level): missing required key 'release'"),
        (HEAD + "targets: {}\nbogus: 1\n", ":4: (top level): unknown key 'bogus'"),
        (HEAD + "system: again\ntargets: {}\n", ":3: system: duplicate key"),
        (HEAD + "targets: [a\n", ":4: not valid YAML"),
        (HEAD + "targets: {}\nschema:\n  columns:\n    t:\n      a: {typ: int}\n",
         ":7: schema.columns.t.a: unknown key 'typ'"),
        (HEAD + "targets: {}\nschema:\n  tables: [ok, 'bad name']\n",
         ":5: schema.tables.1: String should match pattern"),
        (HEAD + "targets: {s: {kind: live, dsn_env: X}}\nenv:\n  forbidden_on: {prodd: {A: '1'}}\n",
         ":5: env.forbidden_on.prodd: unknown target 'prodd' (targets: s)"),
        (HEAD + "targets: {}\nlogs:\n  file: app.log\n  absent: [' ERROR ', 'col(umn']\n",
         ":6: logs.absent: Value error, 'col(umn' is not a regular expression: missing )"),
        (HEAD + "targets: {}\nprometheus:\n  p95: {query: up, expect: below 3}\n",
         ":5: prometheus.p95.expect: String should match pattern"),
        (HEAD + "targets: {}\nhealth:\n  - {get: /h, headers: {X-Api-Key: abc}}\n",
         ":5: health.0.headers.X-Api-Key: a secret of 3 characters is too short to mask safely "
         "(the minimum is 8)"),
        (HEAD + "targets: {}\nsmoke:\n  f:\n    steps:\n      - post: /login\n"
                "        json: {user: {name: ada, password: pw-1}}\n",
         ":8: smoke.f.steps.0.json.user.password: a secret of 4 characters is too short"),
        (HEAD + "targets: {}\nhealth:\n  - {get: /h, headers: {Authorization: Basic abc}}\n",
         ":5: health.0.headers.Authorization: a secret of 3 characters is too short"),
        (HEAD + "targets:\n  r:\n    kind: ephemeral\n    start: {command: [x], env: {DB_PASSWORD: "
                "short}}\n",
         ":6: targets.r.start.env.DB_PASSWORD: a secret of 5 characters is too short"),
        (HEAD + "targets: {}\nsmoke:\n  f:\n    steps:\n      - {get: /a, save: {id: $.id}, "
                "public: [job]}\n",
         ":7: smoke.f.steps.0: Value error, public: 'job' is not saved by this step (save: id)"),
        (HEAD + "targets: {}\nrehearsal:\n  mode: stair\n",
         ":5: rehearsal.mode: Input should be 'batch', 'stairs' or 'both'"),
        (HEAD + "targets: {}\nrehearsal:\n  data: {rows: -1}\n",
         ":5: rehearsal.data.rows: Input should be greater than or equal to 0"),
        (HEAD + "targets: {}\nrehearsal:\n  locks: {severity: blocking}\n",
         ":5: rehearsal.locks.severity: Input should be 'blocker' or 'advisory'"),
        (HEAD + "targets: {}\nrehearsal:\n  squawk: {exclude: ['Not A Rule']}\n",
         ":5: rehearsal.squawk.exclude.0: String should match pattern"),
        (HEAD + "targets: {}\nrehearsal:\n  data:\n    seed: [seed/nope.sql]\n",
         ":6: rehearsal.data.seed.0: file {base}/seed/nope.sql does not exist"),
        (HEAD + "runbook:\n  title: t\n  steps: {'1': a}\n  manual: {'2': video call active}\n"
                "targets: {}\n",
         ":6: runbook.manual.2: unknown runbook step '2' (known: 1)"),
        (HEAD + "runbook:\n  title: t\n  steps: {'1': a}\n  manual: {'1': ''}\n"
                "targets: {}\n",
         ":6: runbook.manual.1: String should have at least 1 character"),
        ("- just\n- a list\n", ":1: a runbook spec is a mapping"),
        ("", ": runbook spec is empty"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, error: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_runbook(path)
    message = str(info.value)
    assert message.startswith(f"{path}{error.format(base=tmp_path)}"), message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("migrations", "error"),
    [
        ("  dir: nowhere\n", ":5: migrations.dir: folder {base}/nowhere does not exist"),
        ("  dir: m\n  down_dir: d\n", ":6: migrations.down_dir: folder {base}/d does not exist"),
        ("  dir: m\n  baseline: 0009_x.sql\n",
         ":6: migrations.baseline: '0009_x.sql' is not a migration in {base}/m (numbered layout)"),
    ],
)
def test_paths_the_spec_names_must_exist(tmp_path: Path, migrations: str, error: str) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001_a.sql").write_text("SELECT 1;")
    path = write(tmp_path, HEAD + "targets: {}\nmigrations:\n" + migrations)
    with pytest.raises(SpecError) as info:
        load_runbook(path)
    assert str(info.value) == f"{path}{error.format(base=tmp_path)}"


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"missing\.yaml: cannot read runbook spec"):
        load_runbook(tmp_path / "missing.yaml")
