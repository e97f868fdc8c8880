-- 007_add_tenant_id_to_caches.down.sql (corrected)
-- Undoes 007 completely: both caches are back to their baseline shape.

-- Employees cache
DROP POLICY IF EXISTS tenant_isolation_employees_cache ON employees_cache;
ALTER TABLE employees_cache NO FORCE ROW LEVEL SECURITY;
ALTER TABLE employees_cache DISABLE ROW LEVEL SECURITY;
DROP INDEX IF EXISTS idx_employees_cache_tenant_id;
ALTER TABLE employees_cache DROP CONSTRAINT IF EXISTS employees_cache_tenant_id_fkey;
ALTER TABLE employees_cache DROP COLUMN IF EXISTS tenant_id;

-- Company search cache
DROP POLICY IF EXISTS tenant_isolation_company_search_cache ON company_search_cache;
ALTER TABLE company_search_cache NO FORCE ROW LEVEL SECURITY;
ALTER TABLE company_search_cache DISABLE ROW LEVEL SECURITY;
DROP INDEX IF EXISTS idx_company_search_cache_tenant_id;
ALTER TABLE company_search_cache DROP CONSTRAINT IF EXISTS company_search_cache_tenant_id_fkey;
ALTER TABLE company_search_cache DROP COLUMN IF EXISTS tenant_id;
