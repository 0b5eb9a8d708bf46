-- Incremental metrics jobs: checkpoints, state transition counters and job runs.
CREATE TABLE metrics_job_checkpoint (
    job_name text PRIMARY KEY,
    last_event_id bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE metrics_state_transition_counter (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    from_state text NOT NULL,
    to_state text NOT NULL,
    transitions bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, from_state, to_state)
);

CREATE TABLE metrics_job_run (
    id bigserial PRIMARY KEY,
    job_name text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    events_processed integer NOT NULL DEFAULT 0,
    error text
);
