-- Argo CD custom health check for gitsync.dev GitSync (also fits GitConnection and SyncSecret,
-- which report the same kstatus conditions without spec.suspend).
--
-- Install: argocd-cm, key resource.customizations.health.gitsync.dev_GitSync (see README.md).
-- Argo CD runs it with the live object as `obj`; it returns {status = ..., message = ...}.
--
--   Suspended    spec.suspend is true, or Ready=False with reason Suspended
--   Progressing  no status yet, metadata.generation not observed yet, Reconciling=True
--                (a full sync runs, or a failure that may go away is being retried), or a
--                pull request is being applied (status.pullRequests[].state "applying")
--   Degraded     Stalled=True (a person must act), Ready=False for another reason, or
--                spec.bidirectional.enabled while Bidirectional=False for a reason other than
--                NotRunning (pull requests are not planned: no GitConnection, a provider or
--                credentials that cannot reach the forge's API)
--   Healthy      Ready=True for the current generation
-- Messages come from the deciding condition: "<reason>: <message>".

local hs = {}

local function find_condition(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local reason = c.reason or ""
  local message = c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  elseif message ~= "" then
    return message
  elseif reason ~= "" then
    return reason
  end
  return fallback
end

local status = obj.status
local conditions = status and status.conditions or nil
local ready = find_condition(conditions, "Ready")

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = describe(ready ~= nil and ready.reason == "Suspended" and ready or nil,
    "Syncing is suspended (spec.suspend is true)")
  return hs
end

if status == nil or conditions == nil or #conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = obj.metadata and obj.metadata.generation or nil
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local stalled = find_condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if ready ~= nil and ready.status == "False" and ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = describe(ready, "Suspended")
  return hs
end

local reconciling = find_condition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

-- An apply writes to the workspace until it ends; a resumed one too.
local applying = {}
if type(status.pullRequests) == "table" then
  for _, pr in ipairs(status.pullRequests) do
    if pr.state == "applying" then
      applying[#applying + 1] = pr
    end
  end
end
if #applying > 0 then
  local numbers = {}
  for i, pr in ipairs(applying) do
    numbers[i] = "#" .. tostring(pr.number)
  end
  hs.status = "Progressing"
  hs.message = "Applying pull request " .. table.concat(numbers, ", ")
  if #applying == 1 and applying[1].message ~= nil and applying[1].message ~= "" then
    hs.message = hs.message .. ": " .. applying[1].message
  end
  return hs
end

if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = describe(ready, "Waiting for the Ready condition")
  return hs
end

-- Asked to plan pull requests but cannot: Ready stays True (reason SyncedOneWay), as the
-- forward sync works, but half of what the GitSync was asked for does not happen.
local bidirectional = find_condition(conditions, "Bidirectional")
if obj.spec ~= nil and type(obj.spec.bidirectional) == "table" and obj.spec.bidirectional.enabled == true
    and bidirectional ~= nil and bidirectional.status == "False" and bidirectional.reason ~= "NotRunning" then
  hs.status = "Degraded"
  hs.message = describe(bidirectional, "Pull requests are not planned")
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Degraded"
hs.message = describe(ready, "Not ready")
return hs
