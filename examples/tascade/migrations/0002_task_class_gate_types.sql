-- Task classes and gate types.
CREATE TYPE task_class AS ENUM ('feature', 'bug', 'chore', 'gate');
ALTER TABLE tasks ADD COLUMN task_class task_class NOT NULL DEFAULT 'feature';
ALTER TABLE tasks ADD COLUMN gate_type text;
