-- 007_add_tenant_id_to_caches.up.sql (corrected)
-- The two cache tables hold tenant data (what a tenant searched for, whose
-- employees it looked up), so they get the same fence as leads: nullable
-- column, backfill to the default tenant, SET NOT NULL, an index leading with
-- tenant_id (on the lookup key, so cache hits stay index scans), RLS ENABLEd
-- and FORCEd, NULLIF policy with WITH CHECK. The guide gave them a nullable
-- column and no RLS at all.

-- Company search cache
ALTER TABLE company_search_cache ADD COLUMN tenant_id UUID;
ALTER TABLE company_search_cache ADD CONSTRAINT company_search_cache_tenant_id_fkey
  FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

UPDATE company_search_cache SET tenant_id = 'de7a0175-0000-4000-8000-000000000000' WHERE tenant_id IS NULL;

ALTER TABLE company_search_cache ALTER COLUMN tenant_id SET NOT NULL;

CREATE INDEX IF NOT EXISTS idx_company_search_cache_tenant_id
ON company_search_cache(tenant_id, query);

ALTER TABLE company_search_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE company_search_cache FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_company_search_cache
ON company_search_cache
USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- Employees cache
ALTER TABLE employees_cache ADD COLUMN tenant_id UUID;
ALTER TABLE employees_cache ADD CONSTRAINT employees_cache_tenant_id_fkey
  FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

UPDATE employees_cache SET tenant_id = 'de7a0175-0000-4000-8000-000000000000' WHERE tenant_id IS NULL;

ALTER TABLE employees_cache ALTER COLUMN tenant_id SET NOT NULL;

CREATE INDEX IF NOT EXISTS idx_employees_cache_tenant_id
ON employees_cache(tenant_id, company_domain);

ALTER TABLE employees_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE employees_cache FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_employees_cache
ON employees_cache
USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
