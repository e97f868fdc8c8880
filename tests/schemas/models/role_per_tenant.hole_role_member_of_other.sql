-- Hole: tenant A's role is a member of tenant B's role. A session of tenant A can run
-- SET ROLE <tenant B's role>, and current_user -- the whole tenant context -- is then B.
GRANT {tenant_b} TO {tenant_a};
