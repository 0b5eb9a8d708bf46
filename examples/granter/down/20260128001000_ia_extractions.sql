-- Reverts 20260128001000_ia_extractions.sql.
DROP TABLE IF EXISTS granter.ia_extractions;
