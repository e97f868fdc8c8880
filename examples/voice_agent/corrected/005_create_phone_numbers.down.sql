-- 005_create_phone_numbers.down.sql (corrected)

DROP POLICY IF EXISTS tenant_isolation_phone_numbers ON phone_numbers;
DROP TABLE IF EXISTS phone_numbers;
