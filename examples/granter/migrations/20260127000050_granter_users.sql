-- Granter before release v2.0.0: the users table the auth service keeps.
CREATE SCHEMA IF NOT EXISTS granter;
CREATE TABLE granter.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL UNIQUE,
    name text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
