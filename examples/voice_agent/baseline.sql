-- baseline.sql: the schema as it stood BEFORE the voice agent migrations.
--
-- Three pre-existing tables with no notion of tenants, each holding a few
-- legacy rows. Every value is a literal (no random(), no now() in the rows)
-- so that two databases built from this file hold identical data.
-- Core PostgreSQL only (gen_random_uuid() is core since PostgreSQL 13).

CREATE TABLE leads (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  email VARCHAR(255),
  phone VARCHAR(50),
  company VARCHAR(255),
  title VARCHAR(255),
  source VARCHAR(50) DEFAULT 'manual',
  status VARCHAR(50) DEFAULT 'new',
  notes TEXT,
  created_at TIMESTAMP DEFAULT NOW(),
  updated_at TIMESTAMP DEFAULT NOW()
);

CREATE INDEX idx_leads_email ON leads(email);
CREATE INDEX idx_leads_company ON leads(company);

CREATE TABLE company_search_cache (
  id BIGSERIAL PRIMARY KEY,
  query TEXT NOT NULL,
  result JSONB NOT NULL DEFAULT '{}',
  result_count INTEGER NOT NULL DEFAULT 0,
  fetched_at TIMESTAMP NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMP
);

CREATE INDEX idx_company_search_cache_query ON company_search_cache(query);

CREATE TABLE employees_cache (
  id BIGSERIAL PRIMARY KEY,
  company_domain VARCHAR(255) NOT NULL,
  payload JSONB NOT NULL DEFAULT '[]',
  employee_count INTEGER NOT NULL DEFAULT 0,
  fetched_at TIMESTAMP NOT NULL DEFAULT NOW()
);

CREATE INDEX idx_employees_cache_company_domain ON employees_cache(company_domain);

-- Legacy rows ---------------------------------------------------------------

INSERT INTO leads (id, name, email, phone, company, title, source, status, notes, created_at, updated_at) VALUES
  ('3f1c7a52-8d1e-4b6a-9c01-000000000001', 'Ada Moreau',      'ada.moreau@northwind.example',   '+1-415-555-0101', 'Northwind Traders', 'Head of Operations', 'webinar',  'qualified', 'Asked for a pricing call.',           '2024-01-08 09:15:00', '2024-01-09 10:00:00'),
  ('3f1c7a52-8d1e-4b6a-9c01-000000000002', 'Bram Kowalski',   'bram@contoso.example',           '+1-212-555-0142', 'Contoso Ltd',       'CTO',                'manual',   'new',       NULL,                                  '2024-01-11 14:02:00', '2024-01-11 14:02:00'),
  ('3f1c7a52-8d1e-4b6a-9c01-000000000003', 'Chiara Rossi',    'c.rossi@fabrikam.example',       '+39-02-5550-1234','Fabrikam Inc',      'Procurement Lead',   'referral', 'contacted', 'Referred by Bram.',                   '2024-01-15 08:45:00', '2024-01-16 11:30:00'),
  ('3f1c7a52-8d1e-4b6a-9c01-000000000004', 'Dmitri Volkov',   'dvolkov@tailspin.example',       '+44-20-5550-0199','Tailspin Toys',     'VP Sales',           'webinar',  'new',       NULL,                                  '2024-01-22 16:20:00', '2024-01-22 16:20:00'),
  ('3f1c7a52-8d1e-4b6a-9c01-000000000005', 'Esi Mensah',      'esi.mensah@wingtip.example',     '+233-30-555-0107','Wingtip Partners',  'Founder',            'manual',   'qualified', 'Wants a demo of outbound calling.',   '2024-02-02 10:05:00', '2024-02-05 09:00:00'),
  ('3f1c7a52-8d1e-4b6a-9c01-000000000006', 'Farid Haddad',    'farid@adatum.example',           '+971-4-555-0166', 'Adatum Corp',       'IT Manager',         'import',   'lost',      'Chose a competitor.',                 '2024-02-09 13:40:00', '2024-03-01 08:00:00'),
  ('3f1c7a52-8d1e-4b6a-9c01-000000000007', 'Greta Lindqvist', 'greta.lindqvist@litware.example','+46-8-555-0123',  'Litware',           'COO',                'import',   'new',       NULL,                                  '2024-02-14 07:55:00', '2024-02-14 07:55:00'),
  ('3f1c7a52-8d1e-4b6a-9c01-000000000008', 'Hiro Tanaka',     NULL,                             '+81-3-5550-0178', 'Proseware',         NULL,                 'manual',   'contacted', 'Phone only, no email on file.',       '2024-02-20 02:30:00', '2024-02-21 03:10:00');

INSERT INTO company_search_cache (query, result, result_count, fetched_at, expires_at) VALUES
  ('northwind traders', '{"companies": [{"name": "Northwind Traders", "domain": "northwind.example"}]}', 1, '2024-01-08 09:16:00', '2024-01-15 09:16:00'),
  ('contoso',           '{"companies": [{"name": "Contoso Ltd", "domain": "contoso.example"}, {"name": "Contoso Pharma", "domain": "contosopharma.example"}]}', 2, '2024-01-11 14:03:00', '2024-01-18 14:03:00'),
  ('fabrikam',          '{"companies": [{"name": "Fabrikam Inc", "domain": "fabrikam.example"}]}', 1, '2024-01-15 08:46:00', '2024-01-22 08:46:00'),
  ('tailspin toys',     '{"companies": [{"name": "Tailspin Toys", "domain": "tailspin.example"}]}', 1, '2024-01-22 16:21:00', '2024-01-29 16:21:00'),
  ('logistics berlin',  '{"companies": []}', 0, '2024-02-01 12:00:00', '2024-02-08 12:00:00'),
  ('adatum',            '{"companies": [{"name": "Adatum Corp", "domain": "adatum.example"}]}', 1, '2024-02-09 13:41:00', '2024-02-16 13:41:00');

INSERT INTO employees_cache (company_domain, payload, employee_count, fetched_at) VALUES
  ('northwind.example', '[{"name": "Ada Moreau", "title": "Head of Operations"}, {"name": "Luis Ortega", "title": "Buyer"}]', 2, '2024-01-08 09:20:00'),
  ('contoso.example',   '[{"name": "Bram Kowalski", "title": "CTO"}]', 1, '2024-01-11 14:05:00'),
  ('fabrikam.example',  '[{"name": "Chiara Rossi", "title": "Procurement Lead"}, {"name": "Marta Silva", "title": "CFO"}, {"name": "Tom Becker", "title": "Engineer"}]', 3, '2024-01-15 08:50:00'),
  ('tailspin.example',  '[]', 0, '2024-01-22 16:25:00'),
  ('adatum.example',    '[{"name": "Farid Haddad", "title": "IT Manager"}]', 1, '2024-02-09 13:45:00');
