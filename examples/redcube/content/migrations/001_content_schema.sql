-- The content database ("postgres" in the RedCube runbook, seed 004): the service's copy of each
-- registered user, and the reputation events the trending jobs read.
CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text NOT NULL UNIQUE,
    synced_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE reputation_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    kind varchar(32) NOT NULL CHECK (kind IN ('upvote', 'downvote', 'report')),
    created_at timestamptz NOT NULL DEFAULT now()
);
