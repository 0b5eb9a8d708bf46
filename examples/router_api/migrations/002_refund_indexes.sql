-- deploy-gates: no-transaction
-- The refund indexes, built without blocking writes to router.jobs.
CREATE INDEX CONCURRENTLY idx_refund_alert_at ON router.jobs (refund_last_alert_at);
CREATE INDEX CONCURRENTLY idx_refund_retry_count ON router.jobs (refund_retry_count);
