-- 007_add_tenant_id_to_caches.up.sql (as written)
-- Verbatim from seed/schema-migration-guide.md, "Tables to Create" section 7. Add tenant_id to Cache Tables (if not exists).
-- Defects are kept on purpose: tenantaudit is meant to find them.

-- Company search cache
ALTER TABLE company_search_cache 
ADD COLUMN IF NOT EXISTS tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE;

CREATE INDEX IF NOT EXISTS idx_company_search_cache_tenant_id 
ON company_search_cache(tenant_id);

-- Employees cache
ALTER TABLE employees_cache 
ADD COLUMN IF NOT EXISTS tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE;

CREATE INDEX IF NOT EXISTS idx_employees_cache_tenant_id 
ON employees_cache(tenant_id);
