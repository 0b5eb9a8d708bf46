-- The router's job table as it was before the refund release.
CREATE SCHEMA IF NOT EXISTS router;
CREATE TABLE router.jobs (
    job_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    model text NOT NULL,
    status text NOT NULL DEFAULT 'queued',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    refund_tx_signature text
);
