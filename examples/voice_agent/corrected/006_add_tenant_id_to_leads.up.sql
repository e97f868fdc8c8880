-- 006_add_tenant_id_to_leads.up.sql (corrected)
-- leads becomes a tenant table, fenced completely in this one migration:
--   1. add tenant_id as a nullable column (existing rows stay valid),
--   2. backfill the legacy rows to the default tenant created in 001
--      (the guide's "Step 5" for leads),
--   3. SET NOT NULL,
--   4. UNIQUE (tenant_id, id): the tenant index, and the target of the
--      composite foreign key from voice_calls,
--   5. voice_calls (tenant_id, lead_id) -> leads (tenant_id, id), so a call
--      can only point at a lead of its own tenant. ON DELETE SET NULL (lead_id)
--      (PostgreSQL 15+) clears only lead_id; a plain ON DELETE SET NULL would
--      also null voice_calls.tenant_id,
--   6. RLS ENABLEd and FORCEd (after the backfill, so the UPDATE is not
--      filtered when the migration runs as the table owner), with a NULLIF
--      policy that also checks writes.

ALTER TABLE leads ADD COLUMN tenant_id UUID;
ALTER TABLE leads ADD CONSTRAINT leads_tenant_id_fkey
  FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE;

UPDATE leads SET tenant_id = 'de7a0175-0000-4000-8000-000000000000' WHERE tenant_id IS NULL;

ALTER TABLE leads ALTER COLUMN tenant_id SET NOT NULL;

ALTER TABLE leads ADD CONSTRAINT leads_tenant_id_id_key UNIQUE (tenant_id, id);

ALTER TABLE voice_calls ADD CONSTRAINT voice_calls_tenant_id_lead_id_fkey
  FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id)
  ON DELETE SET NULL (lead_id);

-- Row Level Security
ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_leads
ON leads
USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
