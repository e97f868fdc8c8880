-- jwt_role_claim: Supabase-style claims, setting model at a JSON path. The fence reads the
-- tenant from the org_id claim and also requires the user_role claim to be member or admin;
-- deleting needs admin. A stand-in auth schema reads request.jwt.claims.
-- Placeholders: {owner}, {app}, {database}.

GRANT CREATE ON DATABASE {database} TO {owner};
GRANT CREATE ON SCHEMA public TO {owner};
SET ROLE {owner};

CREATE SCHEMA auth;
GRANT USAGE ON SCHEMA auth TO {app};
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT NULLIF(current_setting('request.jwt.claims', true), '')::jsonb
$$;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT NULLIF(auth.jwt() ->> 'sub', '')::uuid
$$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT auth.jwt() ->> 'role'
$$;

CREATE TABLE public.orgs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL
);
ALTER TABLE public.orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_org ON public.orgs FOR SELECT USING (id = (auth.jwt() ->> 'org_id')::uuid);

CREATE TABLE public.notes (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.orgs (id),
  author uuid,
  body text NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE TABLE public.files (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.orgs (id),
  note_id uuid,
  path text NOT NULL,
  PRIMARY KEY (org_id, id),
  UNIQUE (org_id, path),
  FOREIGN KEY (org_id, note_id) REFERENCES public.notes (org_id, id)
);
CREATE INDEX files_note ON public.files (org_id, note_id);

ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_members ON public.notes FOR SELECT
  USING (org_id = (auth.jwt() ->> 'org_id')::uuid AND auth.jwt() ->> 'user_role' IN ('member', 'admin'));
CREATE POLICY org_members_insert ON public.notes FOR INSERT
  WITH CHECK (org_id = (auth.jwt() ->> 'org_id')::uuid AND auth.jwt() ->> 'user_role' IN ('member', 'admin'));
CREATE POLICY org_members_update ON public.notes FOR UPDATE
  USING (org_id = (auth.jwt() ->> 'org_id')::uuid AND auth.jwt() ->> 'user_role' IN ('member', 'admin'))
  WITH CHECK (org_id = (auth.jwt() ->> 'org_id')::uuid AND auth.jwt() ->> 'user_role' IN ('member', 'admin'));
CREATE POLICY org_admins_delete ON public.notes FOR DELETE
  USING (org_id = (auth.jwt() ->> 'org_id')::uuid AND auth.jwt() ->> 'user_role' = 'admin');

ALTER TABLE public.files ENABLE ROW LEVEL SECURITY;
CREATE POLICY org_members ON public.files
  USING (org_id = (auth.jwt() ->> 'org_id')::uuid AND auth.jwt() ->> 'user_role' IN ('member', 'admin'))
  WITH CHECK (org_id = (auth.jwt() ->> 'org_id')::uuid AND auth.jwt() ->> 'user_role' IN ('member', 'admin'));

GRANT SELECT ON public.orgs TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON public.notes, public.files TO {app};

INSERT INTO public.orgs (id, name) VALUES
  ('00000000-0000-0000-0000-00000000000a', 'Org A'), ('00000000-0000-0000-0000-00000000000b', 'Org B');
INSERT INTO public.notes (org_id, body)
  SELECT o.id, o.name || ' note ' || g FROM public.orgs o, generate_series(1, 3) g;
INSERT INTO public.files (org_id, note_id, path)
  SELECT n.org_id, n.id, 'files/' || n.id FROM public.notes n;
RESET ROLE;
