-- 004_create_voices.up.sql (corrected)
-- Changes from the guide:
--   * voices.id is a caller-chosen VARCHAR (a provider's voice id), so it is
--     unique per tenant, not globally: PRIMARY KEY (tenant_id, id). With the
--     guide's global PRIMARY KEY (id), inserting an id another tenant already
--     uses fails, which tells one tenant the other's voice ids.
--   * RLS ENABLEd and FORCEd; NULLIF in the policy and WITH CHECK on writes.
--   * IF NOT EXISTS; the redundant voices_tenant_id_key and
--     idx_voices_tenant_id (covered by the primary key) are dropped.

CREATE TABLE IF NOT EXISTS voices (
  id VARCHAR(255) NOT NULL,
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
  CONSTRAINT voices_pkey PRIMARY KEY (tenant_id, id)
);

-- Indexes
CREATE INDEX IF NOT EXISTS idx_voices_language ON voices(tenant_id, language);
CREATE INDEX IF NOT EXISTS idx_voices_provider ON voices(tenant_id, provider);
CREATE INDEX IF NOT EXISTS idx_voices_is_active ON voices(tenant_id, is_active);

-- Row Level Security
ALTER TABLE voices ENABLE ROW LEVEL SECURITY;
ALTER TABLE voices FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_voices
ON voices
USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
