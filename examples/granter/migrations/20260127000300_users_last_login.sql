-- When a user last logged in.
ALTER TABLE granter.users ADD COLUMN last_login_at timestamptz;
