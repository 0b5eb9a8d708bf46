-- deploy-gates: no-transaction
-- Cursor index for the incremental jobs; built without locking writers out of event_log.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_event_log_project_cursor ON event_log (project_id, id);
