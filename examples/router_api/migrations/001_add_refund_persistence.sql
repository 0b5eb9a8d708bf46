-- Refund retries and alerts are persisted on the job (seed runbook step II.1). Columns with a
-- constant default change the catalog only: no rewrite of router.jobs.
ALTER TABLE router.jobs ADD COLUMN refund_retry_count integer NOT NULL DEFAULT 0;
ALTER TABLE router.jobs ADD COLUMN refund_last_attempt_at timestamptz;
ALTER TABLE router.jobs ADD COLUMN refund_alert_count integer NOT NULL DEFAULT 0;
ALTER TABLE router.jobs ADD COLUMN refund_last_alert_at timestamptz;
