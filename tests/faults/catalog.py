"""The fault matrix: each fault injected into the seed system where its runbook says it matters,
the gate meant to catch it and the words its message must hold. Faults that share one run (one
copy of an example, one boot of the sample service, one database) form a group; a group's run
may fail only the gates its faults name (``gate`` and ``related``)."""

from __future__ import annotations

from dataclasses import dataclass, field

Edit = tuple[str, str, str | None]  # file in the example, text to replace, its replacement


@dataclass(frozen=True)
class Fault:
    """One injected fault and how it must be caught."""

    name: str
    gate: str                      # the gate meant for it (a test name, exact)
    message: str                   # words its failure message holds
    related: tuple[str, ...] = ()  # globs of other gates the same fault may fail too


@dataclass(frozen=True)
class Group:
    """Faults caught in one pytest run of a copy of ``examples/<example>``."""

    name: str
    example: str
    faults: tuple[Fault, ...]
    edits: tuple[Edit, ...] = ()
    switches: tuple[str, ...] = ()   # the sample service's runtime faults (--faults)
    target: str = "rehearsal"
    args: tuple[str, ...] = ()       # e.g. -m predeploy
    env: dict[str, str] = field(default_factory=dict)
    keep_lock: bool = False          # keep runbook.lock.json (else the copy has none)
    fake_tools: bool = False         # old tools first on PATH (tests/faults/harness.py)
    live: str | None = None          # a live target's env variable: its database gets the release
    through: str | None = None       # ... migrated through this file only (default: every file)
    live_sql: str = ""               # ... then this SQL, as the database's owner
    traffic: tuple[tuple[str, str], ...] = ()  # requests to the service a real Prometheus scrapes
    release: str | None = None       # a live target answered by the sample service of this release


SYSTEMS = {"router_api": "router-api", "granter": "granter", "tascade": "tascade",
           "api_platform": "api-platform", "redcube": "redcube"}

ROUTER_MIGRATION = "migrations/001_add_refund_persistence.sql"
ROUTER_INDEXES = "migrations/002_refund_indexes.sql"
ROUTER_DOWN = "down/001_add_refund_persistence.sql"
GRANTER_SCRAPER = "migrations/20260127000400_scraper_runs.sql"
PLATFORM_RELEASE = "migrations/20250117_add_webhooks_table.sql"
PLATFORM_DOWN = "down/20250117_add_webhooks_table.sql"
TASCADE_ALERTS = "migrations/0008_metrics_alerts.sql"
REDCUBE_SYNC = "users/migrations/099_user_sync_trigger.sql"
GROUPS: tuple[Group, ...] = (
    # schema objects of the release (step II.1, 2.2, 3.6, 7)
    Group("router-missing-column", "router_api", (
        Fault("missing column", "test_column[router.jobs.refund_alert_count]",
              "expected column router.jobs.refund_alert_count",
              ("test_present_after_*[column:router.jobs.refund_alert_count]", "test_smoke[*]",
               "test_logs_absent[*]")),
    ), edits=((ROUTER_MIGRATION, "ALTER TABLE router.jobs ADD COLUMN refund_alert_count "
               "integer NOT NULL DEFAULT 0;\n", ""),)),
    Group("router-missing-index", "router_api", (
        Fault("missing index", "test_index[router.idx_refund_retry_count]",
              "expected index router.idx_refund_retry_count",
              ("test_present_after_*[index:router.idx_refund_retry_count]",)),
    ), edits=((ROUTER_INDEXES, "CREATE INDEX CONCURRENTLY idx_refund_retry_count ON router.jobs "
               "(refund_retry_count);\n", ""),)),
    Group("granter-wrong-type", "granter", (
        Fault("wrong column type", "test_column[granter.grants.amount]",
              "expected column granter.grants.amount (numeric(12,2) NOT NULL); found: type numeric(14,2)",
              ("test_present_after_*[column:granter.grants.amount]",)),
    ), edits=(("migrations/20260127000100_grants.sql", "amount numeric(12, 2)",
               "amount numeric(14, 2)"),)),
    Group("granter-missing-table", "granter", (
        Fault("missing table", "test_table[granter.scraper_runs]",
              "expected table granter.scraper_runs",
              ("test_present_after_*[table:granter.scraper_runs]",)),
    ), edits=((GRANTER_SCRAPER, "", "-- emptied: the table is never created\nSELECT 1;\n"),)),
    Group("platform-nullable-column", "api_platform", (
        Fault("column not null missing", "test_column[platform.webhooks.events]",
              "expected column platform.webhooks.events (text[] NOT NULL); found: nullable",
              ("test_present_after_*[column:platform.webhooks.events]",)),
    ), edits=((PLATFORM_RELEASE, "events text[] NOT NULL DEFAULT '{}'",
               "events text[] DEFAULT '{}'"),)),
    Group("tascade-missing-trigger", "tascade", (
        Fault("missing trigger", "test_trigger[metrics_alert.trg_metrics_alert_touch]",
              "expected trigger metrics_alert.trg_metrics_alert_touch",
              ("test_present_after_*[trigger:metrics_alert.trg_metrics_alert_touch]",)),
    ), edits=((TASCADE_ALERTS, "CREATE TRIGGER trg_metrics_alert_touch", "CREATE TRIGGER "
               "trg_metrics_alert_touched"),)),
    Group("tascade-enum-value", "tascade", (
        Fault("enum value missing", "test_enum[metrics_alert_severity]",
              "found: info, warning", ("test_present_after_*[enum:metrics_alert_severity]",)),
    ), edits=((TASCADE_ALERTS, "('info', 'warning', 'critical')", "('info', 'warning')"),)),
    # the lock file and the release's drift (steps 3, Checklist 5, 1)
    Group("tascade-checksum-drift", "tascade", (
        Fault("checksum drift", "test_lock_current[runbook.lock.json]",
              "0006_metrics_incremental_jobs.sql"),
    ), edits=(("migrations/0006_metrics_incremental_jobs.sql", "\n", "\n-- edited after review\n"),),
        keep_lock=True),
    # migration lint (predeploy)
    Group("platform-missing-down", "api_platform", (
        Fault("down script missing", "test_down_script[20250117_add_webhooks_table.sql]",
              "expected down script", ("test_migrate_down", "test_*_after_*", "test_schema_*",
                                       "test_backup_restores_baseline", "test_migrate_up_again")),
    ), edits=((PLATFORM_DOWN, "", None),)),
    Group("platform-missing-index", "api_platform", (
        Fault("missing index", "test_index[platform.idx_webhooks_owner]",
              "expected index platform.idx_webhooks_owner",
              ("test_present_after_*[index:platform.idx_webhooks_owner]",)),
    ), edits=((PLATFORM_RELEASE, "CREATE INDEX idx_webhooks_owner ON platform.webhooks (owner_id);\n",
               ""),)),
    Group("granter-missing-column", "granter", (
        Fault("missing column", "test_column[granter.users.last_login_at]",
              "expected column granter.users.last_login_at",
              ("test_present_after_*[column:granter.users.last_login_at]",)),
    ), edits=(("migrations/20260127000300_users_last_login.sql", "", "SELECT 1;\n"),)),
    Group("tascade-missing-function", "tascade", (
        Fault("missing function", "test_function[metrics_alert_touch]",
              "expected function metrics_alert_touch",
              ("test_present_after_*[function:metrics_alert_touch]", "test_schema_restored",
               "test_migrate_up_again", "test_present_after_reapply[*]",
               "test_backup_restores_baseline")),
    ), edits=((TASCADE_ALERTS, "CREATE FUNCTION metrics_alert_touch()",
               "CREATE FUNCTION metrics_alert_touched()"),
              (TASCADE_ALERTS, "EXECUTE FUNCTION metrics_alert_touch()",
               "EXECUTE FUNCTION metrics_alert_touched()"))),
    Group("platform-rollback-leaves", "api_platform", (
        Fault("rollback that leaves a table", "test_absent_after_down[table:platform.webhooks]",
              "platform.webhooks", ("test_absent_after_down[*webhooks*]", "test_schema_restored",
                                    "test_migrate_up_again", "test_present_after_reapply[*]",
                                    "test_backup_restores_baseline")),
    ), edits=((PLATFORM_DOWN, "DROP TABLE IF EXISTS platform.webhooks;", "SELECT 1;"),)),
    # the rollback rehearsal (steps IV.1, Rollback 3-5, R1.3, 8-9)
    Group("granter-rollback-leaves", "granter", (
        Fault("rollback that leaves an object", "test_absent_after_down[table:granter.scraper_runs]",
              "granter.scraper_runs", ("test_absent_after_down[*scraper_runs*]", "test_schema_restored",
                                       "test_migrate_up_again", "test_present_after_reapply[*]",
                                       "test_backup_restores_baseline")),
    ), edits=(("down/20260127000400_scraper_runs.sql", "DROP TABLE IF EXISTS granter.scraper_runs;",
               "SELECT 1;"),)),
    Group("platform-rollback-drops-baseline", "api_platform", (
        Fault("rollback that drops a baseline object", "test_schema_restored",
              "mfa_secret", ("test_data_restored",)),
    ), edits=((PLATFORM_DOWN, "DROP TABLE IF EXISTS platform.webhooks;",
               "DROP TABLE IF EXISTS platform.webhooks;\nALTER TABLE platform.users DROP COLUMN "
               "mfa_secret;"),)),
    Group("router-reapply-fails", "router_api", (
        Fault("re-apply that fails", "test_migrate_up_again", "refund_batch_seq",
              ("test_schema_restored", "test_present_after_reapply[*]",
               "test_backup_restores_baseline")),
    ), edits=((ROUTER_MIGRATION, "ALTER TABLE router.jobs ADD COLUMN refund_retry_count",
               "CREATE SEQUENCE router.refund_batch_seq;\n"
               "ALTER TABLE router.jobs ADD COLUMN refund_retry_count"),)),
    Group("tascade-rollback-leaves-enum", "tascade", (
        Fault("rollback that leaves a type", "test_absent_after_down[enum:metrics_alert_severity]",
              "metrics_alert_severity", ("test_schema_restored", "test_migrate_up_again",
                                         "test_present_after_reapply[*]",
                                         "test_backup_restores_baseline")),
    ), edits=(("down/0008_metrics_alerts.sql", "DROP TYPE IF EXISTS metrics_alert_severity;", ""),)),
    Group("tascade-fails-on-data", "tascade", (
        Fault("a migration that fails on populated tables", "test_migrate_up",
              'column "assignee" of relation "tasks" contains null values', (
                  "test_present_after_*", "test_migrate_*", "test_schema_restored",
                  "test_data_restored", "test_backup_restores_baseline", "test_squawk[*]",
                  "test_table[*]", "test_column[*]", "test_trigger[*]", "test_function[*]",
                  "test_enum[*]", "test_index[*]", "test_applied_through[*]",
                  "test_nothing_pending", "test_locks[*]", "test_smoke[*]", "test_health[*]")),
    ), edits=((TASCADE_ALERTS, "CREATE TABLE metrics_alert (",
               "ALTER TABLE tasks ADD COLUMN assignee text NOT NULL;\nCREATE TABLE metrics_alert ("),)),
    # seed 004: two databases kept in sync by a trigger over dblink (Phase 1's success criteria)
    Group("redcube-sync-missing", "redcube", (
        Fault("a view that returns rows", "test_empty_view[users/v_user_sync_missing]",
              "expected view v_user_sync_missing to return no rows; found: it returns rows",
              ("test_present_after_*[users/empty_view:v_user_sync_missing]", "test_data_restored")),
    ), edits=((REDCUBE_SYNC, "CREATE TRIGGER trg_user_sync",
               "INSERT INTO users (email, password_hash) VALUES ('early@example.com', 'x')\n"
               "    ON CONFLICT (email) DO NOTHING;  -- registered before the trigger exists\n"
               "CREATE TRIGGER trg_user_sync"),)),
    Group("redcube-trigger-disabled", "redcube", (
        Fault("sync trigger disabled", "test_trigger[users/users.trg_user_sync]",
              "expected trigger users.trg_user_sync enabled; found: it is disabled",
              ("test_present_after_*[users/trigger:users.trg_user_sync]",)),
    ), edits=((REDCUBE_SYNC, "    FOR EACH ROW EXECUTE FUNCTION sync_user_to_content();\n",
               "    FOR EACH ROW EXECUTE FUNCTION sync_user_to_content();\n"
               "ALTER TABLE users DISABLE TRIGGER trg_user_sync;\n"),)),
    Group("redcube-missing-index", "redcube", (
        Fault("missing index in the second database",
              "test_index[content/idx_reputation_events_created_at]",
              "expected index idx_reputation_events_created_at",
              ("test_present_after_*[content/index:idx_reputation_events_created_at]",)),
    ), edits=(("content/migrations/002_reputation_events_recent.sql", "", "SELECT 1;\n"),)),
    Group("redcube-sync-broken", "redcube", (
        Fault("registered user not synced", "test_smoke[user_sync]", "step 2 (sql): no row after 5 s"),
    ), switches=("sync_broken",)),
    Group("redcube-untraced-logs", "redcube", (
        Fault("structured log without trace_id",
              'test_logs_absent["msg":"request"(?!.*"trace_id")]', "expected no log line matching",
              ("test_logs_present[trace_id]",)),
    ), switches=("untraced_logs",)),
    Group("redcube-register-500", "redcube", (
        Fault("registration 500", "test_smoke[user_sync]", "status 500",
              ('test_logs_absent["level":"ERROR"]', "test_smoke[registration]")),
    ), switches=("step_500",)),
    # the running service: health, smoke, metrics, logs (sample service fault switches)
    Group("router-metric-and-logs", "router_api", (
        Fault("metric absent", "test_metric[router_refund_retries_total]",
              "router_refund_retries_total", ("test_smoke[refund_path]", "test_grafana_metrics[*]")),
        Fault("forbidden log line", "test_logs_absent[ ERROR ]", "expected no log line matching",
              ("test_logs_absent[*]",)),
    ), switches=("missing_metric", "log_error")),
    Group("router-no-refund", "router_api", (
        Fault("smoke SQL expectation unmet", "test_smoke[refund_path]", "refund_retry_count"),
    ), switches=("no_refund",), edits=(("runbook.yaml", "within: 30s", "within: 3s"),)),
    Group("router-malformed-metrics", "router_api", (
        Fault("malformed exposition", "test_metrics_lint[/metrics]", "/metrics",
              ("test_metric[*]", "test_smoke[refund_path]", "test_grafana_metrics[*]")),
    ), switches=("malformed_metrics",)),
    Group("router-health-503", "router_api", (
        Fault("health 503", "test_health[GET /health]", "status 503",
              ("test_logs_absent[*]",)),
    ), switches=("health_503",)),
    Group("granter-log-error", "granter", (
        Fault("SQL error in the logs", 'test_logs_absent[column ".*" does not exist]',
              "does not exist", ("test_logs_absent[*]",)),
    ), switches=("log_error",)),
    Group("platform-log-error", "api_platform", (
        Fault("forbidden log line", "test_logs_absent[ ERROR ]", "expected no log line matching",),
    ), switches=("log_error",)),
    Group("granter-health-503", "granter", (
        Fault("health 503", "test_health[GET /health]", "503", ("test_smoke[health_flow]",
                                                               "test_smoke[previous_version]",
                                                               "test_logs_absent[*]")),
    ), switches=("health_503",)),
    Group("granter-degraded", "granter", (
        Fault("degraded health JSON", "test_health[GET /health]", "services.database",
              ("test_smoke[health_flow]", "test_smoke[previous_version]")),
    ), switches=("health_degraded",)),
    Group("granter-step-500", "granter", (
        Fault("smoke step 500", "test_smoke[auth_flow]", "status 500",
              ("test_smoke[spot_check]", "test_smoke[previous_version]", "test_logs_absent[*]")),
    ), switches=("step_500",)),
    Group("granter-slow", "granter", (
        Fault("slow endpoint over budget", "test_health[GET /health]", "(budget 1000 ms)"),
    ), switches=("slow",)),
    Group("platform-health-503", "api_platform", (
        Fault("readiness 503", "test_health[GET /health/ready]", "503",
              ("test_health[*]", "test_logs_absent[*]")),
    ), switches=("health_503",)),
    Group("platform-html-health", "api_platform", (
        Fault("health answers HTML", "test_health[GET /v1/health]", "JSON",
              ("test_health[*]",)),
    ), switches=("html_health",)),
    Group("platform-step-500", "api_platform", (
        Fault("registration 500", "test_smoke[registration]", "status 500",
              ("test_smoke[*]", "test_logs_absent[*]")),
    ), switches=("step_500",)),
    Group("tascade-missing-header", "tascade", (
        Fault("missing header", "test_smoke[metrics_endpoints]", "X-API-Version"),
    ), switches=("missing_header",)),
    # what the spec expects of the deployment: assets, metric labels and values, saved tokens
    Group("router-assets", "router_api", (
        Fault("dashboard naming a metric that does not exist",
              "test_grafana_metrics[grafana_refund_dashboard.json]", "router_refund_retry_total"),
        Fault("disabled alert rule", "test_grafana_rule_enabled[grafana_alert_rule.json]",
              "found: isPaused is true"),
        Fault("metric below its minimum", "test_metric[router_refund_alerts_total]", ">= 1"),
    ), edits=(("grafana/grafana_refund_dashboard.json", "sum(router_refund_retries_total{",
               "sum(router_refund_retry_total{"),
              ("grafana/grafana_alert_rule.json", '"isPaused": false', '"isPaused": true'),
              ("runbook.yaml", "router_refund_alerts_total: {type: counter, min: 0}",
               "router_refund_alerts_total: {type: counter, min: 1}"))),
    Group("platform-expectations", "api_platform", (
        Fault("token not returned", "test_smoke[critical_endpoints]", "access_tokn"),
        Fault("metric label missing", "test_metric[http_requests_total]", "tenant"),
    ), edits=(("runbook.yaml", 'body: {token_type: Bearer}, save: {token: "$.access_token"}',
               'body: {token_type: Bearer}, save: {token: "$.access_tokn"}'),
              ("runbook.yaml", "http_requests_total: {type: counter, labels: [system, route, status]}",
               "http_requests_total: {type: counter, labels: [system, route, status, tenant]}"))),
    # predeploy on live targets: the environment manifest and the deploy host's tools
    Group("router-env-missing", "router_api", (
        Fault("env var missing on the target", "test_env_required[SLACK_ALERT_WEBHOOK]",
              "expected SLACK_ALERT_WEBHOOK set; found: not set"),
        Fault("forbidden env value on staging", "test_env_forbidden[ROUTER_AUTH_DISABLED]",
              "expected ROUTER_AUTH_DISABLED not to have its forbidden value on staging"),
    ), edits=(("runbook.yaml", "    staging: {command: [kubectl, exec, deploy/router-api, -n, "
               "staging, --, env]}", "    rehearsal: {command: [env]}"),),  # staging: the runner's
        target="staging", args=("-m", "predeploy", "-k", "test_env"),
        env={"DATABASE_URL": "postgresql://app@db.staging/router", "DISCORD_WORKFLOW_WEBHOOK":
             "https://discord.example/webhook/1", "ROUTER_AUTH_DISABLED": "1"}),
    Group("tascade-env-forbidden", "tascade", (
        Fault("forbidden env value on prod", "test_env_forbidden[TASCADE_AUTH_DISABLED]",
              "expected TASCADE_AUTH_DISABLED not to have its forbidden value on prod"),
    ), target="prod", args=("-m", "predeploy", "-k", "test_env"),
        env={"TASCADE_AUTH_DISABLED": "1", "TASCADE_DATABASE_URL": "postgresql://app@db/tascade",
             "TASCADE_API_KEY": "tk-fault-matrix-key"}),
    Group("platform-tool-too-old", "api_platform", (
        Fault("tool too old", "test_tool[kubectl]", "expected kubectl >= 1.28; found 1.27.3"),
        Fault("tool missing on the deploy host", "test_tool[helm]", "helm is not on PATH"),
    ), target="prod", args=("-m", "predeploy", "-k", "test_tool and (kubectl or helm)"),
        fake_tools=True),
    # the ledger of a live target, read-only (steps 2.2, 3.6): a database the release went to
    Group("granter-not-applied", "granter", (
        Fault("migration not applied", "test_nothing_pending",
              "20260128001000_ia_extractions.sql",
              ("test_applied_through[*]", "test_release_object[*ia_extractions*]")),
    ), target="prod", args=("-m", "postdeploy", "-k", "ledger or applied or nothing or release_object"),
        keep_lock=True, live="GRANTER_DATABASE_URL", through="20260127000400_scraper_runs.sql"),
    Group("platform-failed-ledger-row", "api_platform", (
        Fault("failed ledger row", "test_nothing_failed", "20250117_add_webhooks_table.sql",
              ("test_applied_through[*]",)),
    ), target="prod", args=("-m", "postdeploy", "-k", "ledger or applied or nothing"),
        live="API_PLATFORM_DATABASE_URL",
        live_sql="UPDATE schema_migrations SET success = false "
                 "WHERE version = '20250117_add_webhooks_table.sql'"),
    Group("granter-ledger-drift", "granter", (
        Fault("checksum drift in the ledger", "test_ledger_checksums",
              "20260127000200_grants_search_index.sql"),
    ), target="prod", args=("-m", "postdeploy", "-k", "ledger or applied or nothing"),
        live="GRANTER_DATABASE_URL",
        live_sql="UPDATE schema_migrations SET checksum = md5('other') "
                 "WHERE version = '20260127000200_grants_search_index.sql'"),
    # after a real rollback (Rollback 6): the previous version on the restored database
    Group("granter-previous-version", "granter", (
        Fault("previous version failing smoke after rollback", "test_smoke[previous_version]",
              "status 500"),
    ), switches=("step_500",), target="prod", args=("-m", "postdeploy", "-k", "previous_version"),
        live="GRANTER_DATABASE_URL", through="20260127000050_granter_users.sql", release="1.9.0"),
    # Prometheus thresholds (steps 4.5, Monitoring, III.3.1, When): a real Prometheus scraping the
    # sample service of the live target, after a bounded burst of requests
    Group("granter-prometheus", "granter", (
        Fault("error rate over threshold", "test_prometheus[error_rate]", "< 0.001"),
    ), switches=("step_500",), target="prod", args=("-m", "postdeploy", "-k", "test_prometheus"),
        live="GRANTER_DATABASE_URL",
        traffic=(("POST", "/auth/login"),) * 4 + (("GET", "/health"),) * 2),
    Group("granter-p95", "granter", (
        Fault("p95 over budget", "test_prometheus[p95_latency]", "< 0.2"),
    ), switches=("slow",), target="prod", args=("-m", "postdeploy", "-k", "test_prometheus"),
        live="GRANTER_DATABASE_URL", traffic=(("GET", "/health"),) * 3),
    Group("router-prometheus-no-data", "router_api", (
        Fault("Prometheus no data", "test_prometheus[refund_counter_scraped]", "no data"),
    ), switches=("missing_metric",), target="staging",
        args=("-m", "postdeploy", "-k", "test_prometheus"), live="ROUTER_STAGING_DATABASE_URL",
        edits=(("runbook.yaml", "within: 2m", "within: 2s"), ("runbook.yaml", "every: 10s", "every: 1s")),
        traffic=(("GET", "/health"),) * 3),
    Group("platform-prometheus-rollback", "api_platform", (
        Fault("error rate over the rollback threshold", "test_prometheus[rollback_error_rate]",
              "< 0.05"),
    ), switches=("step_500",), target="prod", args=("-m", "postdeploy", "-k", "test_prometheus"),
        live="API_PLATFORM_DATABASE_URL", traffic=(("POST", "/v1/auth/login"),) * 6),
)
