-- migrate:up transaction:false
CREATE INDEX CONCURRENTLY idx_invoices_user ON invoices (user_id);

-- migrate:down
DROP INDEX idx_invoices_user;
