-- deploy-gates: no-transaction
CREATE INDEX CONCURRENTLY idx_invoices_user ON invoices (user_id);
