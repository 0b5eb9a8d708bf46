-- Revert shop:invoice_index from pg

DROP INDEX idx_invoices_user;
