-- Argo CD health check for argoproj.io/Application (Lua 5.1), for the app-of-apps in app-of-apps.yaml.
-- Argo CD 1.8 stopped assessing the health of Application resources, so a parent Application no longer
-- waits for a child Application of one sync wave to become Healthy before it syncs the next wave. This
-- script restores it: a child Application's health is the health Argo CD computed for its own resources.
--   Progressing  no health reported yet
--   otherwise    the child's status.health.status (Healthy, Progressing, Degraded, Suspended, Missing)
local hs = {status = "Progressing", message = ""}
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
