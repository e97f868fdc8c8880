-- 006_add_tenant_id_to_leads.down.sql (corrected)
-- Undoes 006 completely: leads is back to its baseline shape, with RLS off.

ALTER TABLE voice_calls DROP CONSTRAINT IF EXISTS voice_calls_tenant_id_lead_id_fkey;

DROP POLICY IF EXISTS tenant_isolation_leads ON leads;
ALTER TABLE leads NO FORCE ROW LEVEL SECURITY;
ALTER TABLE leads DISABLE ROW LEVEL SECURITY;

ALTER TABLE leads DROP CONSTRAINT IF EXISTS leads_tenant_id_id_key;
ALTER TABLE leads DROP CONSTRAINT IF EXISTS leads_tenant_id_fkey;
ALTER TABLE leads DROP COLUMN IF EXISTS tenant_id;
