-- Deploy shop:invoice_index to pg
-- requires: invoices

CREATE INDEX CONCURRENTLY idx_invoices_user ON invoices (user_id);
