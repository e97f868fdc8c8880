-- 003_create_voice_agents.up.sql (as written)
-- Verbatim from seed/schema-migration-guide.md, "Tables to Create" section 3. Voice Agents Table.
-- Defects are kept on purpose: tenantaudit is meant to find them.

CREATE TABLE voice_agents (
  id SERIAL PRIMARY KEY,
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
  CONSTRAINT voice_agents_tenant_name_key UNIQUE (tenant_id, agent_name)
);

-- Indexes
CREATE INDEX idx_voice_agents_tenant_id ON voice_agents(tenant_id);
CREATE INDEX idx_voice_agents_name ON voice_agents(tenant_id, agent_name);
CREATE INDEX idx_voice_agents_is_active ON voice_agents(tenant_id, is_active);

-- Row Level Security
ALTER TABLE voice_agents ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_voice_agents
ON voice_agents
USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
