-- Hole: the helper every policy calls forgets to check the calling user. It returns every
-- account that has an owner or member, so each signed-in user reaches every account's rows.
SET ROLE {owner};
CREATE OR REPLACE FUNCTION public.get_accounts_with_role(passed_in_role text DEFAULT NULL) RETURNS SETOF uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT au.account_id
  FROM public.account_user au
  WHERE passed_in_role IS NULL OR au.account_role = passed_in_role
$$;
RESET ROLE;
