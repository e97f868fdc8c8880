-- microservice: one database per service, the tenants kept by another service. No tenants
-- table here: tenant_id is a plain uuid column (no foreign key possible), and the policies
-- compare it with the setting app.tenant_id. The service's migrations run as the owner role.
-- Placeholders: {database}, {owner}, {app}.

GRANT CREATE ON DATABASE {database} TO {owner};
SET ROLE {owner};
CREATE SCHEMA billing;
GRANT USAGE ON SCHEMA billing TO {app};

CREATE TABLE billing.invoices (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  number text NOT NULL,
  issued_on date NOT NULL DEFAULT current_date,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, number)
);
CREATE TABLE billing.invoice_lines (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  invoice_id uuid NOT NULL,
  amount_cents bigint NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, invoice_id) REFERENCES billing.invoices (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX invoice_lines_invoice ON billing.invoice_lines (tenant_id, invoice_id);

ALTER TABLE billing.invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON billing.invoices
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
ALTER TABLE billing.invoice_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON billing.invoice_lines
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON billing.invoices, billing.invoice_lines TO {app};

INSERT INTO billing.invoices (tenant_id, number) VALUES
  ('00000000-0000-0000-0000-00000000000a', 'A-1'), ('00000000-0000-0000-0000-00000000000a', 'A-2'),
  ('00000000-0000-0000-0000-00000000000b', 'B-1'), ('00000000-0000-0000-0000-00000000000b', 'B-2');
INSERT INTO billing.invoice_lines (tenant_id, invoice_id, amount_cents)
  SELECT i.tenant_id, i.id, 500 FROM billing.invoices i, generate_series(1, 2);
RESET ROLE;
