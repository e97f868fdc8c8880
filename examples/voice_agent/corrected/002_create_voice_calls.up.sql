-- 002_create_voice_calls.up.sql (corrected)
-- Changes from the guide:
--   * PRIMARY KEY (tenant_id, id): the key leads with tenant_id (it is also the
--     tenant index) and is what other tenant tables would reference.
--   * lead_id has no foreign key yet: leads gets its tenant_id in 006, which
--     then adds FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id),
--     so a call can never point at another tenant's lead.
--   * RLS is ENABLEd and FORCEd; the policy casts through NULLIF (an empty
--     app.tenant_id, e.g. after RESET, means "no tenant": no rows, no error)
--     and pins tenant_id on writes with WITH CHECK.
--   * CREATE ... IF NOT EXISTS; idx_voice_calls_tenant_id is dropped (the
--     primary key covers it) and the lead index leads with tenant_id.

CREATE TABLE IF NOT EXISTS voice_calls (
  id UUID NOT NULL DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,

  -- Call details
  voice_id VARCHAR(255),
  agent_id INTEGER,
  from_number VARCHAR(50) NOT NULL,
  to_number VARCHAR(50) NOT NULL,
  status VARCHAR(50) DEFAULT 'calling',

  -- Call context
  added_context TEXT,
  lead_id UUID,
  initiated_by VARCHAR(255),

  -- Recording
  recording_url TEXT,

  -- Timestamps
  started_at TIMESTAMP DEFAULT NOW(),
  ended_at TIMESTAMP,
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW(),

  CONSTRAINT voice_calls_pkey PRIMARY KEY (tenant_id, id)
);

-- Indexes
CREATE INDEX IF NOT EXISTS idx_voice_calls_lead_id ON voice_calls(tenant_id, lead_id);
CREATE INDEX IF NOT EXISTS idx_voice_calls_status ON voice_calls(tenant_id, status);
CREATE INDEX IF NOT EXISTS idx_voice_calls_started_at ON voice_calls(tenant_id, started_at DESC);
CREATE INDEX IF NOT EXISTS idx_voice_calls_agent_id ON voice_calls(tenant_id, agent_id);

-- Row Level Security
ALTER TABLE voice_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE voice_calls FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation_voice_calls
ON voice_calls
USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
