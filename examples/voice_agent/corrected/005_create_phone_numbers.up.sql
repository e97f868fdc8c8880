-- 005_create_phone_numbers.up.sql (corrected)
-- Changes from the guide: PRIMARY KEY (tenant_id, id); RLS ENABLEd and
-- FORCEd; NULLIF in the policy and WITH CHECK on writes; IF NOT EXISTS; the
-- redundant idx_phone_numbers_tenant_id (covered by the primary key) is
-- dropped. The guide's UNIQUE (tenant_id, phone_number) was already scoped.

CREATE TABLE IF NOT EXISTS phone_numbers (
  id UUID NOT NULL DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

  -- Number details
  phone_number VARCHAR(50) NOT NULL,
  provider VARCHAR(50) DEFAULT 'custom',
  number_type VARCHAR(50) DEFAULT 'local',

  -- Capabilities
  capabilities JSONB DEFAULT '["voice"]',

  -- Status
  is_active BOOLEAN DEFAULT true,

  -- Additional data
  metadata JSONB DEFAULT '{}',

  -- Timestamps
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW(),

  -- Constraints
  CONSTRAINT phone_numbers_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT phone_numbers_tenant_number_key UNIQUE (tenant_id, phone_number)
);

-- Indexes
CREATE INDEX IF NOT EXISTS idx_phone_numbers_provider ON phone_numbers(tenant_id, provider);
CREATE INDEX IF NOT EXISTS idx_phone_numbers_is_active ON phone_numbers(tenant_id, is_active);
CREATE INDEX IF NOT EXISTS idx_phone_numbers_capabilities ON phone_numbers USING GIN (capabilities);

-- Row Level Security
ALTER TABLE phone_numbers ENABLE ROW LEVEL SECURITY;
ALTER TABLE phone_numbers FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_phone_numbers
ON phone_numbers
USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
