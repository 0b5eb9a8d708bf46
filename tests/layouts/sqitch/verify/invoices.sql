-- Verify shop:invoices on pg

BEGIN;

SELECT id, user_id, amount_cents, status FROM invoices WHERE false;

ROLLBACK;
