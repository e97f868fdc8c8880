-- 005_create_phone_numbers.down.sql (as written)
-- This table's lines of the guide's Rollback Plan, verbatim.

DROP POLICY IF EXISTS tenant_isolation_phone_numbers ON phone_numbers;

DROP TABLE IF EXISTS phone_numbers CASCADE;
