-- 007_add_tenant_id_to_caches.down.sql (as written)
-- The guide's Rollback Plan has nothing for migration 7 ("Don't drop ...
-- cache tables as they're shared"): company_search_cache and employees_cache
-- keep their tenant_id columns, foreign keys and indexes.
SELECT 1; -- deliberately a no-op, faithful to the guide
