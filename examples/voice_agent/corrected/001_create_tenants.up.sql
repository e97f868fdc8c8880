-- 001_create_tenants.up.sql (corrected)
-- Changes from the guide: IF NOT EXISTS on the indexes (upgrade -> rollback ->
-- upgrade works), NOT NULL on columns that have defaults, and the default
-- tenant for the legacy rows is created here (fixed id, same as the as-written
-- 008) so that 006 and 007 can backfill before they set NOT NULL.
-- tenants is the one global table: it has no tenant_id and no RLS.

CREATE TABLE IF NOT EXISTS tenants (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  plan VARCHAR(50) NOT NULL DEFAULT 'free',
  is_active BOOLEAN NOT NULL DEFAULT true,
  metadata JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMP NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMP NOT NULL DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_tenants_name ON tenants(name);
CREATE INDEX IF NOT EXISTS idx_tenants_plan ON tenants(plan);

-- Default tenant for existing data
INSERT INTO tenants (id, name, plan)
VALUES ('de7a0175-0000-4000-8000-000000000000', 'Default Tenant', 'enterprise')
ON CONFLICT (id) DO NOTHING;
