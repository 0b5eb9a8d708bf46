"""What each key of the runbook spec means, with an example value: the descriptions of the JSON
Schema and the text of docs/spec-reference.md. Keys come from the models; a key without an entry
here (or an entry without a key) fails the reference's generation."""

from __future__ import annotations

KEYS: dict[str, dict[str, tuple[str, str]]] = {
    "Runbook": {
        "system": ("the deployed system's name, in every report", "tascade"),
        "release": ("the release being deployed, in every report", '"P5.M3"'),
        "runbook": ("the runbook document the gates automate, and its steps",
                    '{title: "Tascade P5.M3 deployment", steps: {"7": Post-deployment checks}}'),
        "targets": ("the places gates run against, by name (`--target NAME`)",
                    "{rehearsal: {kind: ephemeral}, prod: {kind: live, dsn_env: DATABASE_URL}}"),
        "migrations": ("where the system's migrations and down scripts are",
                       "{dir: migrations, down_dir: down, baseline: 0004_links.sql}"),
        "schema": ("the schema objects the release adds: each one a gate, present after the "
                   "release and gone after its rollback", "{tables: [metrics_alert]}"),
        "databases": ("a system with several databases: each one's migrations and schema by key "
                      "(instead of top-level `migrations` and `schema`), rehearsed in this order",
                      "{content: {migrations: {dir: content/migrations}}, users: {links: "
                      "[content]}}"),
        "secrets": ("env variables whose values are masked in every output (every `*_env` "
                    "named in the spec is masked too)", "[TASCADE_API_KEY]"),
        "gates": ("runbook step and severity of the gates whose names match, later rules win",
                  '[{match: "test_index[*]", step: "7", severity: advisory}]'),
        "ticket": ("the Jira server `--attach-to-ticket` uploads the reports to",
                   "{url: https://jira.example.com, token_env: JIRA_TOKEN}"),
        "health": ("HTTP requests the service must answer, one gate each",
                   "[{get: /health, body: {status: ok}, within: 2s}]"),
        "smoke": ("smoke flows by name: requests, SQL and metric steps in order, one gate each",
                  "{refund_path: {steps: [{post: /jobs, status: 202}]}}"),
        "metrics": ("the service's Prometheus exposition, scraped once per run",
                    "{lint: true, present: {http_requests_total: {type: counter}}}"),
        "prometheus": ("PromQL thresholds by name, on the target's `prometheus_url`",
                       '{error_rate: {query: "sum(rate(errors_total[5m]))", expect: "< 0.01"}}'),
        "env": ("environment variables the deployment needs or must not have (values never "
                "shown)", "{required: [DATABASE_URL]}"),
        "logs": ("where the service's logs come from and which patterns they must (not) show",
                 '{file: "{log_file}", absent: [" ERROR "]}'),
        "tools": ("tools that must be on PATH of the target's host, with a minimum version",
                  '{psql: ">=15", kubectl: ">=1.28"}'),
        "tools_on": ("more tools by target name, needed on that target's host only (added to "
                     "`tools`)", '{prod: {kubectl: ">=1.28", helm: ">=3.12"}}'),
        "grafana": ("Grafana dashboards and alert rules to check, offline and through the API",
                    "{dashboards: [grafana/dashboard.json], datasource: prometheus-main}"),
        "custom_gates": ("folders or files of your own gates, relative to the spec: collected "
                         "with the built-in gates when pytest is given no paths", "[gates]"),
        "rehearsal": ("how `--target=rehearsal` rehearses the release: batch, stairs, baseline "
                      "data, measured locks, squawk (docs/rehearsal.md)",
                      "{mode: both, data: {rows: 300}}"),
    },
    "RehearsalSpec": {
        "mode": ("`batch` (up all, down all, up all), `stairs` (up, down, up per migration) or "
                 "`both`", "both"),
        "data": ("rows the baseline tables hold before the release is applied", "{rows: 1000}"),
        "locks": ("how the locks each release migration takes on baseline tables weigh",
                  "{severity: blocker}"),
        "squawk": ("squawk's static lint of the release's files, one gate per finding",
                   "{exclude: [prefer-robust-stmts]}"),
    },
    "Data": {
        "rows": ("generated rows per baseline table still empty after the seeds (0: none)", "1000"),
        "seed": ("the team's own seed SQL (run by psql) or pg_dump archives, relative to the spec",
                 "[seed/customers.sql]"),
    },
    "Locks": {
        "severity": ("how a flagged lock or rewrite weighs", "blocker"),
        "catalog_only": ("a blocking lock held while no rows were read or written: `flag` it, or "
                         "`pass` (listed in the evidence only)", "pass"),
    },
    "Squawk": {
        "enabled": ("whether squawk lints the release's files", "true"),
        "exclude": ("squawk rules left out", "[prefer-robust-stmts, prefer-bigint-over-int]"),
        "include": ("only these squawk rules (empty: all)", "[require-concurrent-index-creation]"),
        "severity": ("how a finding weighs", "advisory"),
    },
    "RunbookSource": {
        "title": ("the runbook's title", '"Tascade P5.M3: deployment and rollback runbook"'),
        "steps": ("the runbook's steps, id to title; reports show each with its gates",
                  '{"4.4": "Verify migrations applied", "9": Rollback rehearsal}'),
        "manual": ("the steps no gate automates, id to the reason they stay manual; "
                   "docs/seeds.md shows each", '{"1.2": "video call active"}'),
    },
    "EphemeralTarget": {
        "kind": ("a throwaway PostgreSQL the suite starts and removes", "ephemeral"),
        "provider": ("where the throwaway server comes from (`--db-provider` overrides it); "
                     "unset means `auto`", "embedded"),
        "image": ("the image of the `testcontainers` provider (`--postgres-image` overrides it)",
                  "postgres:16"),
        "dsn_env": ("for the `dsn` provider: the env variable with the server's DSN (default "
                    "`DEPLOY_GATES_SERVER_DSN`)", "CI_POSTGRES_DSN"),
        "start": ("the service under test, booted against the throwaway database",
                  '{command: ["{python}", -m, myservice, --dsn, "{dsn}", --port, "{port}"]}'),
        "version_from": ("a live target whose PostgreSQL major version the rehearsal uses",
                         "prod"),
    },
    "ServiceStart": {
        "command": ("the command, run in the spec's folder; `{dsn}` (with `databases:` the "
                    "first; `{dsn.<key>}` each), `{port}`, `{log_file}`, `{python}` (the "
                    "interpreter running the suite) and `{token}` (a random token of this run, "
                    "masked in every output) are filled in, others refused",
                    '["{python}", -m, myservice, --dsn, "{dsn}", --port, "{port}"]'),
        "env": ("env variables added to the suite's environment for the command, with the "
                "same placeholders; a flow's `auth_env` is read from them",
                '{LOG_FILE: "{log_file}", API_KEY: "{token}"}'),
        "ready": ("the path polled until it answers 2xx", "/health"),
        "timeout": ("how long the service may take to become ready", "30s"),
    },
    "LiveDatabase": {
        "dsn_env": ("the env variable that holds this database's DSN", "USERS_URL"),
    },
    "Database": {
        "name": ("what a psql `\\c` calls the database (default: its key)", "postgres"),
        "migrations": ("where this database's migrations and down scripts are",
                       "{dir: users/migrations, down_dir: users/down}"),
        "schema": ("the schema objects the release adds to this database",
                   "{triggers: [users.trg_user_sync]}"),
        "links": ("the other databases it reaches with dblink, each a dblink_fdw foreign server "
                  "named by its key", "[content]"),
    },
    "LiveTarget": {
        "kind": ("a running deployment: its gates only read", "live"),
        "dsn_env": ("the env variable that holds the database's DSN (never the DSN itself)",
                    "TASCADE_DATABASE_URL"),
        "databases": ("of a system with several databases: each database's DSN variable, by "
                      "the spec's database key (instead of `dsn_env`)",
                      "{content: {dsn_env: CONTENT_URL}, users: {dsn_env: USERS_URL}}"),
        "protected": ("changing it also needs `DEPLOY_GATES_CONFIRM_PROTECTED=<target>`", "true"),
        "statement_timeout_ms": ("the statement timeout of every gate's database session",
                                 "5000"),
        "lock_timeout_ms": ("how long a gate's statement may wait for a lock before it fails "
                            "(it never queues behind production for longer)", "1000"),
        "base_url": ("where the service answers HTTP", "https://router.staging.example.com"),
        "prometheus_url": ("the Prometheus the `prometheus` gates query",
                           "https://prometheus.example.com"),
        "prometheus_token_env": ("the env variable with a bearer token for Prometheus",
                                 "PROMETHEUS_TOKEN"),
        "grafana_url": ("the Grafana the `grafana` gates query", "https://grafana.example.com"),
        "grafana_token_env": ("the env variable with a Grafana service account token",
                              "GRAFANA_TOKEN"),
        "host": ("the testinfra host spec of the tool gates (default `local://`, the runner)",
                 "ssh://deploy@app1"),
    },
    "Migrations": {
        "dir": ("the folder of migrations, relative to the spec, laid out as `layout` says",
                "migrations"),
        "layout": ("how the migrations are laid out: numbered, golang-migrate, dbmate, flyway, "
                   "sqitch or liquibase-sql (unset: detected)", "golang-migrate"),
        "allow_duplicate_versions": ("apply files that share a version in full file name order, "
                                     "each an advisory gate (default: refused)", "false"),
        "executor": ("what runs the scripts: `builtin` (statement by statement) or `psql` "
                     "(the real client, with meta-commands)", "psql"),
        "single_transaction": ("with `executor: psql`, each script in one transaction with its "
                               "ledger entry; `false` runs it as `psql -f` does", "true"),
        "down_dir": ("the folder of down scripts, one per release migration, same file name",
                     "down"),
        "baseline": ("the newest migration deployed before this release; the release is the "
                     "files after it (unset: every file)", "0004_gate_candidate_link.sql"),
        "ledger": ("the table that records applied migrations", "{table: schema_migrations}"),
    },
    "Ledger": {
        "format": ("the ledger's shape: deploy-gates, plain, golang-migrate, dbmate, flyway, "
                   "sqitch or liquibase (unset: the layout's tool)", "plain"),
        "table": ("the ledger table (`schema.table` for another schema)", "schema_migrations"),
        "version_column": ("the column that holds the migration's file name", "version"),
        "success_column": ("the column that says whether it succeeded; `null` when there is "
                           "none", "success"),
    },
    "Schema": {
        "tables": ("tables the release adds", "[metrics_summary, audit.events]"),
        "columns": ("columns by table; each `name: type`, `{type, not_null}` or `null` (any)",
                    "{jobs: {retry_count: {type: integer, not_null: true}, note: text}}"),
        "views": ("views the release adds", "[v_active_jobs]"),
        "empty_views": ("views that must exist and return no rows", "[v_user_sync_missing]"),
        "indexes": ("indexes the release adds", "[idx_jobs_created_at]"),
        "triggers": ("triggers, as `table.trigger`", "[metrics_alert.trg_metrics_alert_touch]"),
        "functions": ("functions the release adds", "[metrics_alert_touch]"),
        "extensions": ("extensions the release needs", "[citext]"),
        "enums": ("enum types and their labels, in order", "{alert_severity: [info, critical]}"),
        "materialized_views": ("materialized views the release adds", "[mv_daily_metrics]"),
        "sequences": ("sequences the release adds", "[invoice_number_seq]"),
        "constraints": ("table constraints by table and name; `null` checks only the name",
                        "{invoices: {invoices_customer_fk: {foreign_key: [customer_id], "
                        "references: customers}}}"),
        "grants": ("privileges roles must hold", "[{role: reporting, privilege: SELECT, "
                   '"on": invoices}]'),
        "policies": ("row-level security policies by table and name; `null` checks only the "
                     "name", "{invoices: {tenant_isolation: {command: select}}}"),
        "row_level_security": ("tables that must have row-level security enabled",
                               "[invoices]"),
    },
    "IndexSpec": {
        "on": ("the table the index is on", "jobs"),
        "columns": ("its key columns or expressions, in order", "[status, created_at]"),
        "unique": ("whether it must be unique", "true"),
        "where": ("the predicate of a partial index", "status = 'queued'"),
        "method": ("its access method", "btree"),
    },
    "ConstraintSpec": {
        "primary_key": ("a primary key on these columns", "[id]"),
        "unique": ("a unique constraint on these columns", "[email]"),
        "foreign_key": ("a foreign key from these columns (with `references`)", "[customer_id]"),
        "references": ("the table a foreign key references", "customers"),
        "referenced_columns": ("the referenced columns (default: its primary key)", "[id]"),
        "on_delete": ("the foreign key's ON DELETE action", "cascade"),
        "on_update": ("the foreign key's ON UPDATE action", "no action"),
        "check": ("a CHECK constraint's expression, compared by meaning", "amount >= 0"),
    },
    "GrantSpec": {
        "role": ("the role that holds the privilege", "reporting"),
        "privilege": ("one privilege or a list", "[SELECT, INSERT]"),
        "on": ("the table, view, materialized view or sequence", "invoices"),
    },
    "PolicySpec": {
        "command": ("the command the policy applies to", "select"),
        "permissive": ("permissive (`true`) or restrictive (`false`)", "true"),
        "roles": ("the roles it applies to", "[app]"),
        "using": ("its USING expression, compared by meaning",
                  "tenant_id = current_setting('app.tenant')::int"),
        "with_check": ("its WITH CHECK expression, compared by meaning", "tenant_id > 0"),
    },
    "Column": {
        "type": ("the column's type, as PostgreSQL or its aliases spell it", "timestamptz"),
        "not_null": ("whether it must be NOT NULL (`true`) or nullable (`false`)", "true"),
        "default": ("its default expression, compared by meaning", "now()"),
    },
    "GateRule": {
        "match": ("a glob on the gate's test name", '"test_column[*]"'),
        "severity": ("`blocker` fails the verdict, `advisory` is only listed", "advisory"),
        "step": ("the runbook step the gates automate (a key of `runbook.steps`)", '"7"'),
    },
    "Ticket": {
        "url": ("the Jira server", "https://jira.example.com"),
        "token_env": ("the env variable with the API token", "JIRA_TOKEN"),
        "user_env": ("the env variable with the user name, for basic auth", "JIRA_USER"),
    },
    "Request": {
        "get": ("GET this path (or absolute URL); exactly one method key per request",
                "/health"),
        "post": ("POST to this path", "/jobs"),
        "put": ("PUT this path", '"/users/{user_id}"'),
        "patch": ("PATCH this path", '"/users/{user_id}"'),
        "delete": ("DELETE this path", '"/jobs/{job_id}"'),
        "head": ("HEAD this path", "/health"),
        "name": ("the gate's id instead of `GET /path`", "health"),
        "headers": ("request headers", '{Authorization: "Bearer {token}"}'),
        "query": ("query string parameters", "{limit: \"10\"}"),
        "json": ("a JSON body to send", "{model: test, simulate_failure: true}"),
        "auth_env": ("send `Authorization: Bearer <value of this env variable>`",
                     "TASCADE_API_KEY"),
        "status": ("the expected status, or a list of them", "[200, 404]"),
        "body": ("a subset the JSON answer must contain: nested or dotted keys; literals, "
                 '`not_null`, `null` or comparisons like `"> 0"`',
                 "{status: ok, services.database: up}"),
        "expect_headers": ("headers the answer must have, with these values",
                           '{X-API-Version: "1.0"}'),
        "within": ("latency budget", "200ms"),
        "timeout": ("deadline of the whole exchange: connect, TLS, request, answer and "
                    "redirects", "30s"),
        "max_bytes": ("the largest answer body read; a longer one fails the step", "10MiB"),
        "follow_redirects": ("which redirects are followed (each one is in the evidence)",
                             "same-origin"),
        "save": ("values to keep for later steps, by name: a dotted or `$.` path in the answer",
                 '{job_id: "$.job_id"}'),
        "public": ("saved values that may be shown (saved values are secret otherwise)",
                   "[job_id]"),
    },
    "SqlStep": {
        "sql": ("a query on the target's database (read-only on live targets); saved values "
                "as `%(name)s`", '"SELECT count(*) AS n FROM jobs WHERE id = %(job_id)s"'),
        "database": ("of a system with several databases, the key of the one to query (unset: "
                     "the first)", "users"),
        "expect": ("what the first row's columns must be", '{n: 1, finished_at: not_null}'),
        "within": ("poll until it matches, for at most this long (0: once)", "30s"),
        "every": ("how often to poll", "1s"),
        "save": ("columns of the matching row to keep for later steps, by name",
                 "{project_id: id}"),
        "public": ("saved values that may be shown (saved values are secret otherwise)",
                   "[project_id]"),
    },
    "MetricStep": {
        "metric": ("a series of the service's /metrics", "router_refund_retries_total"),
        "expect": ("it must have risen since the flow began", "increased"),
        "labels": ("only series with these label values", "{route: /jobs}"),
        "within": ("how long it may take to rise", "5s"),
    },
    "Flow": {
        "steps": ("requests, `sql` and `metric` steps, run in order", "[{get: /health}]"),
        "finally": ("steps that run whatever happened in `steps`",
                    '[{delete: "/jobs/{job_id}", status: [204, 404]}]'),
        "destructive": ("the flow writes: skipped on live targets unless allowed; `false` for a "
                        "read-only flow", "false"),
    },
    "Metrics": {
        "path": ("the path (or absolute URL) of the exposition", "/metrics"),
        "lint": ("one more gate: `promtool check metrics`' rules", "true"),
        "timeout": ("deadline of the scrape, the whole answer included", "30s"),
        "max_bytes": ("the largest exposition read; a longer one fails the metric gates",
                      "16MiB"),
        "present": ("metrics that must be exposed, each with optional checks (or `null`)",
                    "{router_refund_retries_total: {type: counter, min: 0}}"),
    },
    "MetricSpec": {
        "type": ("the metric's type", "counter"),
        "min": ("every sample at least this", "0"),
        "max": ("every sample at most this", "1"),
        "labels": ("labels every series must carry", "[route, status]"),
    },
    "PromQuery": {
        "query": ("PromQL, evaluated through `GET /api/v1/query`",
                  'sum(rate(http_requests_total{status=~"5.."}[5m]))'),
        "expect": ("what every series' value must satisfy", '"< 0.001"'),
        "within": ("poll until it holds, for at most this long (0: once)", "5m"),
        "every": ("how often to poll", "30s"),
        "no_data": ("what an empty answer means", "inconclusive"),
        "timeout": ("deadline of one query, the whole answer included", "30s"),
        "max_bytes": ("the largest answer read", "10MiB"),
    },
    "EnvManifest": {
        "required": ("variables that must be set and not blank, on every target",
                     "[DATABASE_URL]"),
        "required_on": ("variables required on some targets, by target",
                        "{prod: [TASCADE_API_KEY]}"),
        "forbidden_on": ("values a variable must not have, by target",
                         '{prod: {AUTH_DISABLED: "1"}}'),
        "source_on": ("where each target's environment is read (default: the runner's own)",
                      "{prod: {command: [kubectl, exec, deploy/api, --, env]}}"),
    },
    "EnvSource": {
        "runner": ("the environment of the process running the gates", "true"),
        "host": ("the shell environment of the target's testinfra host", "true"),
        "process": ("the environment of the host's process of this name", "router-api"),
        "pidfile": ("the environment of the host's process whose pid this file holds",
                    "/run/router-api.pid"),
        "command": ("a command printing `NAME=value` lines",
                    "[kubectl, exec, deploy/api, --, env]"),
        "secret": ("a command printing a Kubernetes secret as JSON (its keys are the variables)",
                   "[kubectl, get, secret, api-env, -o, json]"),
        "timeout": ("how long the command may run", "30s"),
    },
    "Logs": {
        "command": ("a command whose output is the log, run in the spec's folder; `{target}` and "
                    "`{log_file}` are filled in", "[kubectl, logs, deploy/router-api]"),
        "file": ("a log file, relative to the spec; `{log_file}` is the log of the service an "
                 "ephemeral target starts", '"{log_file}"'),
        "tail_lines": ("how many of the last lines are read", "10000"),
        "timeout": ("how long the command may run", "30s"),
        "max_bytes": ("the most log bytes read (the newest)", "16MiB"),
        "match_timeout": ("CPU time all patterns together may take over the log", "5s"),
        "absent": ("regular expressions no line may match", '[" ERROR "]'),
        "present": ("regular expressions some line must match", "[trace_id]"),
    },
    "Grafana": {
        "dashboards": ("dashboard JSON files, relative to the spec",
                       "[grafana/refund_dashboard.json]"),
        "alert_rules": ("alert rule JSON files, relative to the spec",
                        "[grafana/alert_rule.json]"),
        "datasource": ("the datasource uid every query must use", "prometheus-router"),
    },
}
