-- Reverts 0005_metrics_read_model.sql.
DROP TABLE IF EXISTS metrics_drilldown;
DROP TABLE IF EXISTS metrics_breakdown_point;
DROP TABLE IF EXISTS metrics_trend_point;
DROP TABLE IF EXISTS metrics_summary;
