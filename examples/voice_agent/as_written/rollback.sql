-- rollback.sql (as written)
-- Verbatim from seed/schema-migration-guide.md, "Rollback Plan".
-- Defective on purpose: it keeps the tenant_id columns, their foreign keys and
-- indexes on leads and both caches, keeps the tenants table and its indexes
-- (so 001 fails when re-applied: idx_tenants_name has no IF NOT EXISTS), and
-- leaves RLS enabled on leads with its only policy dropped.

-- Remove RLS policies
DROP POLICY IF EXISTS tenant_isolation_voice_calls ON voice_calls;
DROP POLICY IF EXISTS tenant_isolation_voice_agents ON voice_agents;
DROP POLICY IF EXISTS tenant_isolation_voices ON voices;
DROP POLICY IF EXISTS tenant_isolation_phone_numbers ON phone_numbers;
DROP POLICY IF EXISTS tenant_isolation_leads ON leads;

-- Drop tables
DROP TABLE IF EXISTS phone_numbers CASCADE;
DROP TABLE IF EXISTS voice_calls CASCADE;
DROP TABLE IF EXISTS voice_agents CASCADE;
DROP TABLE IF EXISTS voices CASCADE;
-- Note: Don't drop tenants, leads, or cache tables as they're shared
