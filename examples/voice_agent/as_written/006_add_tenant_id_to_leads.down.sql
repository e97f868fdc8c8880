-- 006_add_tenant_id_to_leads.down.sql (as written)
-- This table's line of the guide's Rollback Plan, verbatim. Nothing else:
-- leads keeps its tenant_id column, its foreign key to tenants and
-- idx_leads_tenant_id, and RLS stays ENABLED with no policy left, so a
-- non-owner application role sees no leads at all.

DROP POLICY IF EXISTS tenant_isolation_leads ON leads;
