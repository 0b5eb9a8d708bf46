DROP INDEX idx_invoices_user;
