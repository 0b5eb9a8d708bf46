-- Search with filters: region and deadline.
CREATE INDEX idx_grants_region_deadline ON granter.grants (region, deadline);
