-- Hole: an admin escape hatch OR-ed into the fence through a custom setting. Any session can
-- run set_config('app.is_admin', 'true', false) and then reads every organization's projects.
SET ROLE {owner};
DROP POLICY member_all ON app_public.projects;
CREATE POLICY member_all ON app_public.projects
  USING (
    organization_id IN (SELECT app_public.current_user_member_organization_ids())
    OR COALESCE(NULLIF(current_setting('app.is_admin', true), '')::boolean, false)
  )
  WITH CHECK (organization_id IN (SELECT app_public.current_user_member_organization_ids()));
RESET ROLE;
