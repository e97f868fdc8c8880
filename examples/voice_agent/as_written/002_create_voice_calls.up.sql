-- 002_create_voice_calls.up.sql (as written)
-- Verbatim from seed/schema-migration-guide.md, "Tables to Create" section 2. Voice Calls Table.
-- Defects are kept on purpose: tenantaudit is meant to find them.

CREATE TABLE voice_calls (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  
  -- Call details
  voice_id VARCHAR(255),
  agent_id INTEGER,
  from_number VARCHAR(50) NOT NULL,
  to_number VARCHAR(50) NOT NULL,
  status VARCHAR(50) DEFAULT 'calling',
  
  -- Call context
  added_context TEXT,
  lead_id UUID REFERENCES leads(id) ON DELETE SET NULL,
  initiated_by VARCHAR(255),
  
  -- Recording
  recording_url TEXT,
  
  -- Timestamps
  started_at TIMESTAMP DEFAULT NOW(),
  ended_at TIMESTAMP,
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW(),
  
  -- Indexes for tenant isolation
  CONSTRAINT voice_calls_tenant_id_key UNIQUE (tenant_id, id)
);

-- Indexes
CREATE INDEX idx_voice_calls_tenant_id ON voice_calls(tenant_id);
CREATE INDEX idx_voice_calls_lead_id ON voice_calls(lead_id);
CREATE INDEX idx_voice_calls_status ON voice_calls(tenant_id, status);
CREATE INDEX idx_voice_calls_started_at ON voice_calls(tenant_id, started_at DESC);
CREATE INDEX idx_voice_calls_agent_id ON voice_calls(tenant_id, agent_id);

-- Row Level Security (Optional but Recommended)
ALTER TABLE voice_calls ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_voice_calls
ON voice_calls
USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
