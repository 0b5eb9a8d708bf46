-- Reverts 002_refund_indexes.sql (down scripts run in a transaction: no CONCURRENTLY here).
DROP INDEX IF EXISTS router.idx_refund_retry_count;
DROP INDEX IF EXISTS router.idx_refund_alert_at;
