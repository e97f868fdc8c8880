-- 003_create_voice_agents.up.sql (corrected)
-- Changes from the guide: PRIMARY KEY (tenant_id, id) (id is still a serial,
-- so it stays unique on its own too); RLS ENABLEd and FORCEd; NULLIF in the
-- policy and WITH CHECK on writes; IF NOT EXISTS; the redundant
-- idx_voice_agents_tenant_id and idx_voice_agents_name (covered by the primary
-- key and the (tenant_id, agent_name) unique key) are dropped.

CREATE TABLE IF NOT EXISTS voice_agents (
  id SERIAL,
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

  -- Agent details
  agent_name VARCHAR(255) NOT NULL,
  agent_language VARCHAR(10) DEFAULT 'en',
  voice_id VARCHAR(255),

  -- Status
  is_active BOOLEAN DEFAULT true,

  -- Additional data
  metadata JSONB DEFAULT '{}',

  -- Timestamps
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW(),

  -- Constraints
  CONSTRAINT voice_agents_pkey PRIMARY KEY (tenant_id, id),
  CONSTRAINT voice_agents_tenant_name_key UNIQUE (tenant_id, agent_name)
);

-- Indexes
CREATE INDEX IF NOT EXISTS idx_voice_agents_is_active ON voice_agents(tenant_id, is_active);

-- Row Level Security
ALTER TABLE voice_agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE voice_agents FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_voice_agents
ON voice_agents
USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
