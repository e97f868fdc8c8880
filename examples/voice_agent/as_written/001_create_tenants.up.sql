-- 001_create_tenants.up.sql (as written)
-- Verbatim from seed/schema-migration-guide.md, "Tables to Create" section 1. Tenants Table (if not exists).
-- Defects are kept on purpose: tenantaudit is meant to find them.

CREATE TABLE IF NOT EXISTS tenants (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  plan VARCHAR(50) DEFAULT 'free',
  is_active BOOLEAN DEFAULT true,
  metadata JSONB DEFAULT '{}',
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_tenants_name ON tenants(name);
CREATE INDEX idx_tenants_plan ON tenants(plan);
