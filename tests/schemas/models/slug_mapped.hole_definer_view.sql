-- Hole: a view without security_invoker, owned by the tables' owner (who bypasses the
-- tables' RLS, not forced) and without a tenant filter, granted to the application: every
-- tenant's comments through one SELECT.
SET ROLE {owner};
CREATE VIEW public.recent_comments AS
  SELECT c.tenant_id, c.project_id, c.body FROM public.comments c ORDER BY c.id DESC;
GRANT SELECT ON public.recent_comments TO {app};
RESET ROLE;
