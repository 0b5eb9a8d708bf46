-- Metrics read model: summary, trends, breakdowns and drill-down rows.
CREATE TABLE metrics_summary (
    project_id uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    open_tasks integer NOT NULL DEFAULT 0,
    done_tasks integer NOT NULL DEFAULT 0,
    cycle_time_p50_hours numeric(10, 2),
    computed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE metrics_trend_point (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    metric text NOT NULL,
    granularity text NOT NULL CHECK (granularity IN ('day', 'week', 'month')),
    bucket_start date NOT NULL,
    value numeric(14, 4) NOT NULL,
    PRIMARY KEY (project_id, metric, granularity, bucket_start)
);

CREATE TABLE metrics_breakdown_point (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    metric text NOT NULL,
    dimension text NOT NULL,
    dimension_value text NOT NULL,
    value numeric(14, 4) NOT NULL,
    PRIMARY KEY (project_id, metric, dimension, dimension_value)
);

CREATE TABLE metrics_drilldown (
    id bigserial PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    metric text NOT NULL,
    task_id uuid REFERENCES tasks (id) ON DELETE CASCADE,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX idx_metrics_drilldown_project_metric ON metrics_drilldown (project_id, metric);
