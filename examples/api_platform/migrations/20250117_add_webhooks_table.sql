-- Webhooks (the release's pending migration, runbook step 3.2): where events are delivered.
CREATE TABLE platform.webhooks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id uuid NOT NULL REFERENCES platform.users (id) ON DELETE CASCADE,
    url text NOT NULL CHECK (url ~ '^https://'),
    events text[] NOT NULL DEFAULT '{}',
    secret_hash text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_webhooks_owner ON platform.webhooks (owner_id);
