-- 008_backfill_default_tenant.up.sql (corrected)
-- Intentionally empty. The guide backfills here, after 006 and 007 have
-- already shipped nullable tenant_id columns. In the corrected variant the
-- default tenant is created in 001 and each table is backfilled inside its own
-- migration (006, 007) before SET NOT NULL, so no migration ever leaves a
-- tenant column nullable. The file is kept so both variants have the same
-- eight steps.
SELECT 1; -- deliberately a no-op
