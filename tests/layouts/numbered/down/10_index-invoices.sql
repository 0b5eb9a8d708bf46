DROP INDEX IF EXISTS idx_invoices_user;
