-- 008_backfill_default_tenant.down.sql (as written)
-- The guide has no rollback for Step 5; this simply reverses it. Order
-- matters: the tenant_id foreign keys are ON DELETE CASCADE, so deleting the
-- default tenant first would delete the legacy rows with it.

UPDATE leads SET tenant_id = NULL WHERE tenant_id = 'de7a0175-0000-4000-8000-000000000000';
UPDATE company_search_cache SET tenant_id = NULL WHERE tenant_id = 'de7a0175-0000-4000-8000-000000000000';
UPDATE employees_cache SET tenant_id = NULL WHERE tenant_id = 'de7a0175-0000-4000-8000-000000000000';

DELETE FROM tenants WHERE id = 'de7a0175-0000-4000-8000-000000000000';
