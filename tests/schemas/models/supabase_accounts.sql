-- supabase_accounts: basejump-style accounts + account_user, membership model.
-- The context names a user (the JWT's sub, read by auth.uid()); account_user decides which
-- accounts that user reaches. Policies go through STABLE SECURITY DEFINER helpers that answer
-- only about the calling user (the documented way to avoid recursive policies on account_user).
-- A personal account's id equals its owner's user id (as basejump does).
-- Placeholders: {database}, {owner}, {app}.

GRANT CREATE ON DATABASE {database} TO {owner};
GRANT CREATE ON SCHEMA public TO {owner};
SET ROLE {owner};

-- A stand-in for Supabase's auth schema: the claims document in request.jwt.claims.
CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA auth TO {app};
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE);  -- never granted to the app

CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT NULLIF(current_setting('request.jwt.claims', true), '')::jsonb
$$;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT NULLIF(NULLIF(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '')::uuid
$$;

CREATE TABLE public.accounts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  primary_owner_user_id uuid NOT NULL REFERENCES auth.users (id),
  name text NOT NULL,
  slug text UNIQUE,
  personal_account boolean NOT NULL DEFAULT false
);

CREATE TABLE public.account_user (
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  account_id uuid NOT NULL REFERENCES public.accounts (id) ON DELETE CASCADE,
  account_role text NOT NULL DEFAULT 'member' CHECK (account_role IN ('owner', 'member')),
  PRIMARY KEY (account_id, user_id)
);
CREATE INDEX account_user_user_id ON public.account_user (user_id);

-- The calling user's accounts, optionally only those where it holds a role.
CREATE FUNCTION public.get_accounts_with_role(passed_in_role text DEFAULT NULL) RETURNS SETOF uuid
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT au.account_id
  FROM public.account_user au
  WHERE au.user_id = auth.uid()
    AND (passed_in_role IS NULL OR au.account_role = passed_in_role)
$$;

-- Does the calling user belong to this account (with this role)?
CREATE FUNCTION public.has_role_on_account(check_account_id uuid, passed_in_role text DEFAULT NULL) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (
    SELECT 1 FROM public.account_user au
    WHERE au.user_id = auth.uid()
      AND au.account_id = check_account_id
      AND (passed_in_role IS NULL OR au.account_role = passed_in_role)
  )
$$;
REVOKE EXECUTE ON FUNCTION public.get_accounts_with_role(text), public.has_role_on_account(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.get_accounts_with_role(text), public.has_role_on_account(uuid, text) TO {app};

-- The accounts a user belongs to, and their members; only owners manage memberships.
-- RLS is enabled, not forced: the owner role (which owns the helpers) reads account_user
-- without recursion; the application role owns nothing.
ALTER TABLE public.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY accounts_select ON public.accounts FOR SELECT
  USING (id IN (SELECT public.get_accounts_with_role()));
CREATE POLICY accounts_update ON public.accounts FOR UPDATE
  USING (public.has_role_on_account(id, 'owner'))
  WITH CHECK (public.has_role_on_account(id, 'owner'));

ALTER TABLE public.account_user ENABLE ROW LEVEL SECURITY;
CREATE POLICY account_user_select ON public.account_user FOR SELECT
  USING (user_id = auth.uid() OR public.has_role_on_account(account_id));
CREATE POLICY account_user_insert ON public.account_user FOR INSERT
  WITH CHECK (public.has_role_on_account(account_id, 'owner'));
CREATE POLICY account_user_delete ON public.account_user FOR DELETE
  USING (public.has_role_on_account(account_id, 'owner'));

-- Tenant tables.
CREATE TABLE public.projects (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  account_id uuid NOT NULL REFERENCES public.accounts (id),
  name text NOT NULL,
  PRIMARY KEY (account_id, id)
);
ALTER TABLE public.projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY projects_members ON public.projects
  USING (account_id IN (SELECT public.get_accounts_with_role()))
  WITH CHECK (account_id IN (SELECT public.get_accounts_with_role()));

CREATE TABLE public.invoices (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  account_id uuid NOT NULL REFERENCES public.accounts (id),
  project_id uuid NOT NULL,
  amount_cents bigint NOT NULL CHECK (amount_cents >= 0),
  PRIMARY KEY (account_id, id),
  FOREIGN KEY (account_id, project_id) REFERENCES public.projects (account_id, id)
);
CREATE INDEX invoices_project ON public.invoices (account_id, project_id);
ALTER TABLE public.invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY invoices_read ON public.invoices FOR SELECT
  USING (public.has_role_on_account(account_id));
CREATE POLICY invoices_write ON public.invoices FOR INSERT
  WITH CHECK (public.has_role_on_account(account_id, 'owner'));
CREATE POLICY invoices_change ON public.invoices FOR UPDATE
  USING (public.has_role_on_account(account_id, 'owner'))
  WITH CHECK (public.has_role_on_account(account_id, 'owner'));
CREATE POLICY invoices_remove ON public.invoices FOR DELETE
  USING (public.has_role_on_account(account_id, 'owner'));

-- A per-user table, as the starters have: fenced to the calling user, with no tenant column.
CREATE TABLE public.profiles (
  id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
  display_name text NOT NULL
);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY profiles_own ON public.profiles FOR ALL
  USING (id = (SELECT auth.uid())) WITH CHECK (id = (SELECT auth.uid()));
GRANT SELECT, INSERT, UPDATE ON public.profiles TO {app};

GRANT SELECT, UPDATE ON public.accounts TO {app};
GRANT SELECT, INSERT, DELETE ON public.account_user TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON public.projects, public.invoices TO {app};

-- Data: user 1 owns personal account P1 (id = user 1's id) and is a member of team Q;
-- user 2 owns team Q; user 3 owns personal account P3 only; user 4 owns team R only.
INSERT INTO auth.users (id, email) VALUES
  ('00000000-0000-0000-0000-000000000001', 'one@example.test'),
  ('00000000-0000-0000-0000-000000000002', 'two@example.test'),
  ('00000000-0000-0000-0000-000000000003', 'three@example.test'),
  ('00000000-0000-0000-0000-000000000004', 'four@example.test');
INSERT INTO public.accounts (id, primary_owner_user_id, name, slug, personal_account) VALUES
  ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000001', 'One', NULL, true),
  ('00000000-0000-0000-0000-0000000000aa', '00000000-0000-0000-0000-000000000002', 'Team Q', 'team-q', false),
  ('00000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-000000000003', 'Three', NULL, true),
  ('00000000-0000-0000-0000-0000000000bb', '00000000-0000-0000-0000-000000000004', 'Team R', 'team-r', false);
INSERT INTO public.account_user (user_id, account_id, account_role) VALUES
  ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000001', 'owner'),
  ('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-0000000000aa', 'member'),
  ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-0000000000aa', 'owner'),
  ('00000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-000000000003', 'owner'),
  ('00000000-0000-0000-0000-000000000004', '00000000-0000-0000-0000-0000000000bb', 'owner');
-- P1's rows first: a probe that takes "the first tenant with rows" takes the personal account.
INSERT INTO public.projects (id, account_id, name)
  SELECT gen_random_uuid(), a.id, a.name || ' project ' || g
  FROM public.accounts a, generate_series(1, 3) g
  ORDER BY a.personal_account DESC, a.id;
INSERT INTO public.invoices (account_id, project_id, amount_cents)
  SELECT p.account_id, p.id, 1000 FROM public.projects p;
-- Forced once the rows are in (the owner loads them without a tenant context).
ALTER TABLE public.projects FORCE ROW LEVEL SECURITY;
ALTER TABLE public.invoices FORCE ROW LEVEL SECURITY;
RESET ROLE;
INSERT INTO public.profiles (id, display_name) SELECT id, email FROM auth.users;
