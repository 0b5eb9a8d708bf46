-- Reverts 20260127000200_grants_search_index.sql.
DROP INDEX IF EXISTS granter.idx_grants_region_deadline;
