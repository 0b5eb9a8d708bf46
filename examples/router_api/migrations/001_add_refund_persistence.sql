-- Refund retries and alerts are persisted on the job (seed runbook step II.1).
ALTER TABLE router.jobs ADD COLUMN refund_retry_count integer NOT NULL DEFAULT 0;
ALTER TABLE router.jobs ADD COLUMN refund_last_attempt_at timestamptz;
ALTER TABLE router.jobs ADD COLUMN refund_alert_count integer NOT NULL DEFAULT 0;
ALTER TABLE router.jobs ADD COLUMN refund_last_alert_at timestamptz;
CREATE INDEX idx_refund_alert_at ON router.jobs (refund_last_alert_at);
CREATE INDEX idx_refund_retry_count ON router.jobs (refund_retry_count);
