-- role_per_tenant: the tenant is the database role. One LOGIN-less role per tenant, each a
-- member of the application role (so it has the application's privileges); the application
-- connects and runs SET ROLE <tenant's role>. tenants.db_user names each tenant's role.
-- Every tenant table has a permissive USING (true) beside a RESTRICTIVE fence on current_user.
-- Placeholders: {database}, {owner}, {app}, {tenant_a}, {tenant_b} (roles) and
-- {tenant_a_literal}, {tenant_b_literal} (the same names as string literals).

GRANT {app} TO {tenant_a};
GRANT {app} TO {tenant_b};
GRANT CREATE ON SCHEMA public TO {owner};
SET ROLE {owner};

CREATE TABLE public.tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  db_user name NOT NULL UNIQUE,
  name text NOT NULL
);
-- A tenant's role sees its own tenants row only.
ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_tenant ON public.tenants FOR SELECT USING (db_user = current_user);

CREATE TABLE public.customers (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES public.tenants (id),
  email text NOT NULL,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email)
);
CREATE TABLE public.orders (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES public.tenants (id),
  customer_id uuid NOT NULL,
  total numeric(12, 2) NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES public.customers (tenant_id, id)
);
CREATE INDEX orders_customer ON public.orders (tenant_id, customer_id);

ALTER TABLE public.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY allow_all ON public.customers USING (true) WITH CHECK (true);
CREATE POLICY tenant_fence ON public.customers AS RESTRICTIVE
  USING (tenant_id = (SELECT t.id FROM public.tenants t WHERE t.db_user = current_user))
  WITH CHECK (tenant_id = (SELECT t.id FROM public.tenants t WHERE t.db_user = current_user));

ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY allow_all ON public.orders USING (true) WITH CHECK (true);
CREATE POLICY tenant_fence ON public.orders AS RESTRICTIVE
  USING (tenant_id = (SELECT t.id FROM public.tenants t WHERE t.db_user = current_user))
  WITH CHECK (tenant_id = (SELECT t.id FROM public.tenants t WHERE t.db_user = current_user));

GRANT SELECT ON public.tenants TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON public.customers, public.orders TO {app};

INSERT INTO public.tenants (id, db_user, name) VALUES
  ('00000000-0000-0000-0000-00000000000a', {tenant_a_literal}, 'Tenant A'),
  ('00000000-0000-0000-0000-00000000000b', {tenant_b_literal}, 'Tenant B');
INSERT INTO public.customers (tenant_id, email)
  SELECT t.id, t.name || g || '@example.test' FROM public.tenants t, generate_series(1, 3) g;
INSERT INTO public.orders (tenant_id, customer_id, total)
  SELECT c.tenant_id, c.id, 42 FROM public.customers c;
RESET ROLE;
