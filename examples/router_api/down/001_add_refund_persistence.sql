-- Reverts 001_add_refund_persistence.sql.
ALTER TABLE router.jobs DROP COLUMN IF EXISTS refund_last_alert_at;
ALTER TABLE router.jobs DROP COLUMN IF EXISTS refund_alert_count;
ALTER TABLE router.jobs DROP COLUMN IF EXISTS refund_last_attempt_at;
ALTER TABLE router.jobs DROP COLUMN IF EXISTS refund_retry_count;
