-- 004_create_voices.up.sql (as written)
-- Verbatim from seed/schema-migration-guide.md, "Tables to Create" section 4. Voices Table.
-- Defects are kept on purpose: tenantaudit is meant to find them.

CREATE TABLE voices (
  id VARCHAR(255) PRIMARY KEY,
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  
  -- Voice details
  voice_name VARCHAR(255) NOT NULL,
  description TEXT,
  voice_sample_url TEXT,
  
  -- Provider info
  provider VARCHAR(50) DEFAULT 'custom',
  language VARCHAR(10) DEFAULT 'en',
  gender VARCHAR(20) DEFAULT 'neutral',
  
  -- Status
  is_active BOOLEAN DEFAULT true,
  
  -- Additional data
  metadata JSONB DEFAULT '{}',
  
  -- Timestamps
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW(),
  
  -- Constraints
  CONSTRAINT voices_tenant_id_key UNIQUE (tenant_id, id)
);

-- Indexes
CREATE INDEX idx_voices_tenant_id ON voices(tenant_id);
CREATE INDEX idx_voices_language ON voices(tenant_id, language);
CREATE INDEX idx_voices_provider ON voices(tenant_id, provider);
CREATE INDEX idx_voices_is_active ON voices(tenant_id, is_active);

-- Row Level Security
ALTER TABLE voices ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_voices
ON voices
USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
