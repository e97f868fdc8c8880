-- Hole: "admins see everything", OR-ed into the notes fence. user_role is the caller's role in
-- the org its token names, not a platform role: an admin of org A reads org B's notes.
SET ROLE {owner};
DROP POLICY org_members ON public.notes;
CREATE POLICY org_members ON public.notes FOR SELECT
  USING (auth.jwt() ->> 'user_role' = 'admin'
         OR (org_id = (auth.jwt() ->> 'org_id')::uuid AND auth.jwt() ->> 'user_role' IN ('member', 'admin')));
RESET ROLE;
