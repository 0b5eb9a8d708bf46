-- deploy-gates: no-transaction
-- Search with filters: region and deadline, built without blocking writes to granter.grants.
CREATE INDEX CONCURRENTLY idx_grants_region_deadline ON granter.grants (region, deadline);
