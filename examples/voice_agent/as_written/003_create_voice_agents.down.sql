-- 003_create_voice_agents.down.sql (as written)
-- This table's lines of the guide's Rollback Plan, verbatim.

DROP POLICY IF EXISTS tenant_isolation_voice_agents ON voice_agents;

DROP TABLE IF EXISTS voice_agents CASCADE;
