-- Reverts 0006_metrics_incremental_jobs.sql.
DROP TABLE IF EXISTS metrics_job_run;
DROP TABLE IF EXISTS metrics_state_transition_counter;
DROP TABLE IF EXISTS metrics_job_checkpoint;
