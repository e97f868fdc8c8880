-- 001_create_tenants.down.sql (as written)
-- The guide's Rollback Plan: "Don't drop tenants, leads, or cache tables as
-- they're shared". So the tenants table and idx_tenants_name / idx_tenants_plan
-- stay, and re-applying 001 fails on CREATE INDEX idx_tenants_name.
SELECT 1; -- deliberately a no-op, faithful to the guide
