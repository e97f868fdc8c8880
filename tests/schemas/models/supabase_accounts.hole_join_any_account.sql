-- Hole: "users may add themselves" -- a second INSERT policy, OR-ed with the owners-only one,
-- that checks the user column only. Any signed-in user can insert a membership row for an
-- account of another tenant and then reads that tenant's rows (a takeover path).
SET ROLE {owner};
CREATE POLICY account_user_join_self ON public.account_user FOR INSERT
  WITH CHECK (user_id = auth.uid());
RESET ROLE;
