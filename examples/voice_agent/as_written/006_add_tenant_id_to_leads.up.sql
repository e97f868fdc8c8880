-- 006_add_tenant_id_to_leads.up.sql (as written)
-- Verbatim from seed/schema-migration-guide.md, "Tables to Create" section 6. Add tenant_id to Leads Table (if not exists).
-- Defects are kept on purpose: tenantaudit is meant to find them.

-- Only if leads table doesn't have tenant_id
ALTER TABLE leads 
ADD COLUMN IF NOT EXISTS tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE;

-- Add index
CREATE INDEX IF NOT EXISTS idx_leads_tenant_id ON leads(tenant_id);

-- Add RLS
ALTER TABLE leads ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_leads
ON leads
USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
