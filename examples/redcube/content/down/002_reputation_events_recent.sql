DROP INDEX IF EXISTS idx_reputation_events_created_at;
