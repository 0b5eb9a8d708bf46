-- Alerting: alert rows, their severity, and a trigger that keeps updated_at current.
CREATE TYPE metrics_alert_severity AS ENUM ('info', 'warning', 'critical');

CREATE TABLE metrics_alert (
    id bigserial PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    metric text NOT NULL,
    severity metrics_alert_severity NOT NULL DEFAULT 'warning',
    threshold numeric(14, 4) NOT NULL,
    acknowledged boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION metrics_alert_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER trg_metrics_alert_touch BEFORE UPDATE ON metrics_alert
    FOR EACH ROW EXECUTE FUNCTION metrics_alert_touch();
