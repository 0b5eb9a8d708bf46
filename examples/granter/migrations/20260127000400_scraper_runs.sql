-- One row per multi-page scraper run.
CREATE TABLE granter.scraper_runs (
    run_id uuid PRIMARY KEY,
    source text NOT NULL,
    status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    pages_scraped integer NOT NULL DEFAULT 0,
    items_found integer NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now()
);
