-- Reverts 20260127000400_scraper_runs.sql.
DROP TABLE IF EXISTS granter.scraper_runs;
