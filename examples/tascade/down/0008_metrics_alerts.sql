-- Reverts 0008_metrics_alerts.sql.
DROP TABLE IF EXISTS metrics_alert;
DROP FUNCTION IF EXISTS metrics_alert_touch();
DROP TYPE IF EXISTS metrics_alert_severity;
