-- 001_create_tenants.down.sql (corrected)
-- Runs last in a rollback: by then no table references tenants any more.
-- Dropping the table drops its indexes and the default tenant row.

DROP TABLE IF EXISTS tenants;
