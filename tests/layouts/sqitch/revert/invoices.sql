-- Revert shop:invoices from pg

BEGIN;

DROP TABLE invoices;

COMMIT;
