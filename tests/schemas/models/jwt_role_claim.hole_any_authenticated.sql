-- Hole: a permissive SELECT policy OR-ed with the org fence that only asks whether the caller
-- is signed in. Supabase sets role = authenticated in every signed-in user's JWT, so each user
-- of any org reads every org's files.
SET ROLE {owner};
CREATE POLICY signed_in_read ON public.files FOR SELECT USING (auth.role() = 'authenticated');
RESET ROLE;
