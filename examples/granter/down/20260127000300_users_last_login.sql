-- Reverts 20260127000300_users_last_login.sql.
ALTER TABLE granter.users DROP COLUMN IF EXISTS last_login_at;
