-- Reverts 20260127000100_grants.sql.
DROP TABLE IF EXISTS granter.grants;
