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
        "grafana": ("Grafana dashboards and alert rules to check, offline and through the API",
                    "{dashboards: [grafana/dashboard.json], datasource: prometheus-main}"),
        "custom_gates": ("folders or files of your own gates, relative to the spec: collected "
                         "with the built-in gates when pytest is given no paths", "[gates]"),
    },
    "RunbookSource": {
        "title": ("the runbook's title", '"Tascade P5.M3: deployment and rollback runbook"'),
        "steps": ("the runbook's steps, id to title; reports show each with its gates",
                  '{"4.4": "Verify migrations applied", "9": Rollback rehearsal}'),
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
        "command": ("the command, run in the spec's folder; `{dsn}`, `{port}`, `{log_file}` "
                    "and `{python}` (the interpreter running the suite) are filled in",
                    '["{python}", -m, myservice, --dsn, "{dsn}", --port, "{port}"]'),
        "env": ("env variables added to the suite's environment for the command, with the "
                "same placeholders", '{LOG_FILE: "{log_file}", APP_ENV: rehearsal}'),
        "ready": ("the path polled until it answers 2xx", "/health"),
        "timeout": ("how long the service may take to become ready", "30s"),
    },
    "LiveTarget": {
        "kind": ("a running deployment: its gates only read", "live"),
        "dsn_env": ("the env variable that holds the database's DSN (never the DSN itself)",
                    "TASCADE_DATABASE_URL"),
        "protected": ("changing it also needs `DEPLOY_GATES_CONFIRM_PROTECTED=<target>`", "true"),
        "statement_timeout_ms": ("the statement timeout of every gate's database session",
                                 "5000"),
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
        "dir": ("the folder of `<digits>_<name>.sql` migrations, relative to the spec",
                "migrations"),
        "down_dir": ("the folder of down scripts, one per release migration, same file name",
                     "down"),
        "baseline": ("the newest migration deployed before this release; the release is the "
                     "files after it (unset: every file)", "0004_gate_candidate_link.sql"),
        "ledger": ("the table that records applied migrations", "{table: schema_migrations}"),
    },
    "Ledger": {
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
    },
    "Column": {
        "type": ("the column's type, as PostgreSQL or its aliases spell it", "timestamptz"),
        "not_null": ("whether it must be NOT NULL (`true`) or nullable (`false`)", "true"),
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
        "timeout": ("read timeout of the call", "30s"),
        "save": ("values to keep for later steps, by name: a dotted or `$.` path in the answer",
                 '{job_id: "$.job_id"}'),
    },
    "SqlStep": {
        "sql": ("a query on the target's database (read-only on live targets); saved values "
                "as `%(name)s`", '"SELECT count(*) AS n FROM jobs WHERE id = %(job_id)s"'),
        "expect": ("what the first row's columns must be", '{n: 1, finished_at: not_null}'),
        "within": ("poll until it matches, for at most this long (0: once)", "30s"),
        "every": ("how often to poll", "1s"),
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
    },
    "EnvManifest": {
        "required": ("variables that must be set and not blank, on every target",
                     "[DATABASE_URL]"),
        "required_on": ("variables required on some targets, by target",
                        "{prod: [TASCADE_API_KEY]}"),
        "forbidden_on": ("values a variable must not have, by target",
                         '{prod: {AUTH_DISABLED: "1"}}'),
    },
    "Logs": {
        "command": ("a command whose output is the log, run in the spec's folder; `{target}` and "
                    "`{log_file}` are filled in", "[kubectl, logs, deploy/router-api]"),
        "file": ("a log file, relative to the spec; `{log_file}` is the log of the service an "
                 "ephemeral target starts", '"{log_file}"'),
        "tail_lines": ("how many of the last lines are read", "10000"),
        "timeout": ("how long the command may run", "30s"),
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
