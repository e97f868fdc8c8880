-- 004_create_voices.down.sql (as written)
-- This table's lines of the guide's Rollback Plan, verbatim.

DROP POLICY IF EXISTS tenant_isolation_voices ON voices;

DROP TABLE IF EXISTS voices CASCADE;
