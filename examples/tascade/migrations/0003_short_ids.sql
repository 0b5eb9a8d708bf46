-- Short, human-friendly identifiers.
ALTER TABLE projects ADD COLUMN short_id text UNIQUE;
ALTER TABLE tasks ADD COLUMN short_id text UNIQUE;
