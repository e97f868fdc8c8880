-- 002_create_voice_calls.down.sql (corrected)
-- Dropping the table drops its policy, indexes and constraints. 006's down
-- has already removed the composite foreign key to leads.

DROP POLICY IF EXISTS tenant_isolation_voice_calls ON voice_calls;
DROP TABLE IF EXISTS voice_calls;
