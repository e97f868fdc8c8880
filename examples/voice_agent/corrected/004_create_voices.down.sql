-- 004_create_voices.down.sql (corrected)

DROP POLICY IF EXISTS tenant_isolation_voices ON voices;
DROP TABLE IF EXISTS voices;
