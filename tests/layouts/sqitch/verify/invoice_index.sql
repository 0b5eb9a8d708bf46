-- Verify shop:invoice_index on pg

SELECT 1/count(*) FROM pg_indexes WHERE indexname = 'idx_invoices_user';
