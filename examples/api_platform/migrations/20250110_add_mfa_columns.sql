-- Multi-factor authentication (applied before this release).
ALTER TABLE platform.users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE platform.users ADD COLUMN mfa_secret text;
