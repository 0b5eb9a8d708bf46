CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_invoices_user ON invoices (user_id);
