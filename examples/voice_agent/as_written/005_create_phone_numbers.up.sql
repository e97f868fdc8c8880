-- 005_create_phone_numbers.up.sql (as written)
-- Verbatim from seed/schema-migration-guide.md, "Tables to Create" section 5. Phone Numbers Table.
-- Defects are kept on purpose: tenantaudit is meant to find them.

CREATE TABLE phone_numbers (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
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
  CONSTRAINT phone_numbers_tenant_number_key UNIQUE (tenant_id, phone_number)
);

-- Indexes
CREATE INDEX idx_phone_numbers_tenant_id ON phone_numbers(tenant_id);
CREATE INDEX idx_phone_numbers_provider ON phone_numbers(tenant_id, provider);
CREATE INDEX idx_phone_numbers_is_active ON phone_numbers(tenant_id, is_active);
CREATE INDEX idx_phone_numbers_capabilities ON phone_numbers USING GIN (capabilities);

-- Row Level Security
ALTER TABLE phone_numbers ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_phone_numbers
ON phone_numbers
USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
