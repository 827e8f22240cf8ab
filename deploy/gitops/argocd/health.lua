-- Argo CD health check for ecrprivacy.dev/EcrPrivacyPolicy, GuardrailsWorkspace, ClusterGuardrailsWorkspace and
-- EcrPrivacyException (Lua 5.1, as Argo CD runs it; all four kinds report the same kstatus-style conditions,
-- an exception also `Expired`).
-- It uses only what Argo CD opens for every health script: the base functions and `table`. No `string` or
-- `math` (Argo CD opens those only with resource.customizations.useOpenLibs.<group>_<kind>, which a
-- locked-down Argo CD may not allow), so it needs no useOpenLibs.
-- Maps the operator's kstatus-style status to Argo CD health:
--   Suspended    spec.suspend is true
--   Progressing  no status yet, status for an older generation, Reconciling=True while nothing failed,
--                Ready not yet decided, or work the operator waits on (a repository an exception names
--                that does not exist yet: RepositoryPending)
--   Degraded     Expired=True (an exception that no longer counts), Stalled=True,
--                or Ready=False with a failure reason (credentials, Guardrails errors, drift left
--                uncorrected, ...)
--   Healthy      Ready=True for the current generation (the message carries a policy's compliance counts,
--                or an exception's expiry)
local hs = {}

local function condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local text = c.message
  if text == nil or text == "" then
    text = fallback
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason .. ": " .. text
  end
  return text
end

-- A count as text: tostring renders a whole number without a decimal point (Lua 5.1 and gopher-lua alike).
local function count(n)
  if type(n) ~= "number" then
    return "0"
  end
  return tostring(n)
end

-- Reasons of Ready=False that mean "work in progress", not a failure.
-- InUse: a workspace whose deletion waits for the policies that still use it. RepositoryPending: an exception
-- names a repository that does not exist yet (the policy approves it when it is created).
local progressing_reasons = {
  Progressing = true, Deleting = true, Reconciling = true, InUse = true, RepositoryPending = true
}

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Reconciliation is suspended (spec.suspend)"
  return hs
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = condition(status.conditions, "Ready")
local stalled = condition(status.conditions, "Stalled")
local reconciling = condition(status.conditions, "Reconciling")
local expired = condition(status.conditions, "Expired")

-- An exception past its expiry no longer counts, whatever else its status says (also while it retries,
-- e.g. with its policy gone). A renewed one (a new generation) is Progressing above until the operator saw it.
if expired ~= nil and expired.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(expired, "Expired")
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if ready ~= nil and ready.status == "True" then
  if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
    hs.status = "Progressing"
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
    return hs
  end
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  local compliance = status.compliance
  if compliance ~= nil and compliance.alarm ~= nil then
    hs.message = hs.message .. " (" .. count(compliance.alarm) .. " public repositories in alarm, "
      .. count(compliance.ok) .. " ok)"
  end
  if obj.spec ~= nil and type(obj.spec.expires) == "string" then
    hs.message = hs.message .. " (until " .. obj.spec.expires .. ")"
  end
  return hs
end

if ready ~= nil and ready.status == "False" then
  if ready.reason == "Suspended" then
    hs.status = "Suspended"
    hs.message = describe(ready, "Suspended")
    return hs
  end
  if ready.reason == nil or ready.reason == "" or progressing_reasons[ready.reason] then
    hs.status = "Progressing"
    hs.message = describe(ready, "Reconciling")
    return hs
  end
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(reconciling, "Waiting for the Ready condition")
return hs
