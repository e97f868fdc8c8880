-- Hole: a table added later without row level security, granted like the others.
SET ROLE {owner};
CREATE TABLE billing.payments (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  invoice_id uuid NOT NULL,
  amount_cents bigint NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, invoice_id) REFERENCES billing.invoices (tenant_id, id)
);
CREATE INDEX payments_invoice ON billing.payments (tenant_id, invoice_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON billing.payments TO {app};
INSERT INTO billing.payments (tenant_id, invoice_id, amount_cents)
  SELECT i.tenant_id, i.id, 1000 FROM billing.invoices i;
RESET ROLE;
