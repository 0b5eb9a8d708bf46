-- Verify shop:users on pg

BEGIN;

SELECT id, email, created_at FROM users WHERE false;

ROLLBACK;
