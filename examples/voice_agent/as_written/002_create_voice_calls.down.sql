-- 002_create_voice_calls.down.sql (as written)
-- This table's lines of the guide's Rollback Plan, verbatim.

DROP POLICY IF EXISTS tenant_isolation_voice_calls ON voice_calls;

DROP TABLE IF EXISTS voice_calls CASCADE;
