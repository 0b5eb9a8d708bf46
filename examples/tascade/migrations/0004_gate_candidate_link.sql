-- Links between gate tasks and the candidate tasks they judge.
CREATE TABLE gate_candidate_link (
    gate_task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    candidate_task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gate_task_id, candidate_task_id)
);
