-- 008_backfill_default_tenant.down.sql (corrected)
-- Nothing to undo: 008 up is a no-op (the backfill is undone by dropping the
-- columns in 007/006 down, the default tenant by dropping tenants in 001 down).
SELECT 1; -- deliberately a no-op
