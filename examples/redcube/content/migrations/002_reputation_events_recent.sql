-- The runbook's monitoring query counts the last hour of reputation events.
CREATE INDEX idx_reputation_events_created_at ON reputation_events (created_at);
