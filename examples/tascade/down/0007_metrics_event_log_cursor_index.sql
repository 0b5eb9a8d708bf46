-- Reverts 0007_metrics_event_log_cursor_index.sql.
DROP INDEX IF EXISTS idx_event_log_project_cursor;
