-- 008_backfill_default_tenant.up.sql (as written)
-- The guide's "Step 5: Migrate Existing Data (if any)", made runnable: the
-- guide inserts the tenant, asks you to "Note this ID" and paste it over
-- '<default-tenant-id>'. Here the default tenant gets a fixed id instead, so
-- the file runs unattended and every rehearsal produces the same data.
-- Otherwise unchanged: the columns are filled but stay nullable, and the
-- cache tables still have no RLS.

-- Create a default tenant for existing data
INSERT INTO tenants (id, name, plan) VALUES ('de7a0175-0000-4000-8000-000000000000', 'Default Tenant', 'enterprise');

-- Update existing records with tenant_id
UPDATE leads SET tenant_id = 'de7a0175-0000-4000-8000-000000000000' WHERE tenant_id IS NULL;
UPDATE company_search_cache SET tenant_id = 'de7a0175-0000-4000-8000-000000000000' WHERE tenant_id IS NULL;
UPDATE employees_cache SET tenant_id = 'de7a0175-0000-4000-8000-000000000000' WHERE tenant_id IS NULL;
