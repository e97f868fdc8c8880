-- 003_create_voice_agents.down.sql (corrected)
-- Dropping the table drops its policy, indexes, constraints and its serial
-- sequence.

DROP POLICY IF EXISTS tenant_isolation_voice_agents ON voice_agents;
DROP TABLE IF EXISTS voice_agents;
