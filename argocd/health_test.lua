-- Tests for health.lua, the Argo CD health check of gitsync.dev objects.
-- Run: lua argocd/health_test.lua (Lua 5.1 to 5.4; Argo CD itself embeds gopher-lua, a Lua 5.1).
-- tests/deploy_manifests.rs runs it with whichever interpreter is installed.

local dir = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local check, err = loadfile(dir .. "/health.lua")
if check == nil then
  io.stderr:write("cannot load health.lua: " .. tostring(err) .. "\n")
  os.exit(1)
end

-- Argo CD hands the script the live object as the global `obj`.
local function health(object)
  obj = object
  local hs = check()
  obj = nil
  return hs
end

local function condition(type_, status, reason, message)
  return {
    type = type_,
    status = status,
    reason = reason,
    message = message,
    lastTransitionTime = "2026-05-01T12:00:00Z",
    observedGeneration = 3,
  }
end

local function gitsync(spec_extra, status)
  local spec = {
    repository = { url = "ssh://git@github.com/acme/segment-config.git", branch = "main" },
    workspace = { endpoint = "us", tokenSecretRef = { name = "segment-workspace", key = "token" } },
    interval = "1m",
    suspend = false,
  }
  for k, v in pairs(spec_extra or {}) do
    spec[k] = v
  end
  return {
    apiVersion = "gitsync.dev/v1alpha1",
    kind = "GitSync",
    metadata = { name = "segment-production", namespace = "segment", generation = 3 },
    spec = spec,
    status = status,
  }
end

local synced = condition("Ready", "True", "Synced", "Up to date with main")

local cases = {
  {
    name = "no status yet",
    obj = gitsync(nil, nil),
    status = "Progressing",
    message = "Waiting for the operator to report a status",
  },
  {
    name = "status without conditions",
    obj = gitsync(nil, { conditions = {} }),
    status = "Progressing",
  },
  {
    name = "ready for the current generation",
    obj = gitsync(nil, {
      observedGeneration = 3,
      lastSyncTime = "2026-05-01T12:00:00Z",
      lastCommit = "4f1c2d3e4f1c2d3e4f1c2d3e4f1c2d3e4f1c2d3e",
      conditions = { synced },
    }),
    status = "Healthy",
    message = "Synced: Up to date with main",
  },
  {
    name = "ready, but for an older generation",
    obj = gitsync(nil, { observedGeneration = 2, conditions = { synced } }),
    status = "Progressing",
    message = "Waiting for the operator to observe generation 3",
  },
  {
    name = "ready, generation never observed",
    obj = gitsync(nil, { conditions = { synced } }),
    status = "Progressing",
  },
  {
    name = "full sync running",
    obj = gitsync(nil, {
      observedGeneration = 3,
      conditions = {
        condition("Ready", "False", "FullSyncRunning", "Full sync of the workspace"),
        condition("Reconciling", "True", "FullSyncRunning", "Full sync of the workspace"),
      },
    }),
    status = "Progressing",
    message = "FullSyncRunning: Full sync of the workspace",
  },
  {
    name = "transient failure being retried",
    obj = gitsync(nil, {
      observedGeneration = 3,
      conditions = {
        condition("Ready", "False", "RemoteKeptMoving", "the branch kept moving; retrying"),
        condition("Reconciling", "True", "RemoteKeptMoving", "the branch kept moving; retrying"),
      },
    }),
    status = "Progressing",
    message = "RemoteKeptMoving: the branch kept moving; retrying",
  },
  {
    name = "stalled: authentication failed",
    obj = gitsync(nil, {
      observedGeneration = 3,
      conditions = {
        condition("Ready", "False", "AuthenticationFailed", "the remote refused the deploy key"),
        condition("Stalled", "True", "AuthenticationFailed", "the remote refused the deploy key"),
      },
    }),
    status = "Degraded",
    message = "AuthenticationFailed: the remote refused the deploy key",
  },
  {
    name = "not ready for another reason, not stalled",
    obj = gitsync(nil, {
      observedGeneration = 3,
      conditions = { condition("Ready", "False", "SecretNotFound", "Secret segment-workspace not found") },
    }),
    status = "Degraded",
    message = "SecretNotFound: Secret segment-workspace not found",
  },
  {
    name = "spec.suspend, status not updated yet",
    obj = gitsync({ suspend = true }, { observedGeneration = 2, conditions = { synced } }),
    status = "Suspended",
    message = "Syncing is suspended (spec.suspend is true)",
  },
  {
    name = "spec.suspend, reported",
    obj = gitsync({ suspend = true }, {
      observedGeneration = 3,
      conditions = { condition("Ready", "False", "Suspended", "Syncing is suspended (spec.suspend is true)") },
    }),
    status = "Suspended",
    message = "Suspended: Syncing is suspended (spec.suspend is true)",
  },
  {
    name = "reason Suspended without spec.suspend",
    obj = gitsync(nil, {
      observedGeneration = 3,
      conditions = { condition("Ready", "False", "Suspended", "Syncing is suspended") },
    }),
    status = "Suspended",
    message = "Suspended: Syncing is suspended",
  },
  {
    name = "ready unknown",
    obj = gitsync(nil, {
      observedGeneration = 3,
      conditions = { condition("Ready", "Unknown", "Starting", "") },
    }),
    status = "Progressing",
    message = "Starting",
  },
  {
    name = "conditions without Ready",
    obj = gitsync(nil, { observedGeneration = 3, conditions = { condition("Other", "True", "X", "y") } }),
    status = "Progressing",
    message = "Waiting for the Ready condition",
  },
  {
    name = "stalled wins over a stale Ready=True",
    obj = gitsync(nil, {
      observedGeneration = 3,
      conditions = { synced, condition("Stalled", "True", "NoWriteAccess", "the deploy key is read-only") },
    }),
    status = "Degraded",
    message = "NoWriteAccess: the deploy key is read-only",
  },
  {
    name = "planning pull requests",
    obj = gitsync({ bidirectional = { enabled = true } }, {
      observedGeneration = 3,
      conditions = {
        synced,
        condition("Bidirectional", "True", "PlanningPullRequests", "pull requests into the branch are planned"),
      },
      pullRequests = {
        { number = 7, head = "4f1c2d3e", state = "planned", changes = "+1 ~0 -0" },
        { number = 9, head = "5a6b7c8d", state = "applied" },
      },
      openPlans = 1,
    }),
    status = "Healthy",
    message = "Synced: Up to date with main",
  },
  {
    name = "a pull request being applied",
    obj = gitsync({ bidirectional = { enabled = true } }, {
      observedGeneration = 3,
      conditions = {
        synced,
        condition("Bidirectional", "True", "PlanningPullRequests", "pull requests into the branch are planned"),
      },
      pullRequests = {
        { number = 7, head = "4f1c2d3e", state = "planned" },
        { number = 12, head = "9e8d7c6b", state = "applying", message = "applying the plan for octocat" },
      },
    }),
    status = "Progressing",
    message = "Applying pull request #12: applying the plan for octocat",
  },
  {
    name = "two pull requests being applied (one resumed after a failover)",
    obj = gitsync({ bidirectional = { enabled = true } }, {
      observedGeneration = 3,
      conditions = { synced },
      pullRequests = {
        { number = 3, head = "1", state = "applying" },
        { number = 4, head = "2", state = "applying" },
      },
    }),
    status = "Progressing",
    message = "Applying pull request #3, #4",
  },
  {
    name = "stalled wins over an apply in progress",
    obj = gitsync({ bidirectional = { enabled = true } }, {
      observedGeneration = 3,
      conditions = {
        condition("Ready", "False", "AuthenticationFailed", "the remote refused the deploy key"),
        condition("Stalled", "True", "AuthenticationFailed", "the remote refused the deploy key"),
      },
      pullRequests = { { number = 12, head = "9e8d7c6b", state = "applying" } },
    }),
    status = "Degraded",
    message = "AuthenticationFailed: the remote refused the deploy key",
  },
  {
    name = "bidirectional enabled but unavailable: synced one way",
    obj = gitsync({ bidirectional = { enabled = true } }, {
      observedGeneration = 3,
      conditions = {
        condition("Ready", "True", "SyncedOneWay",
          "Up to date with main. One way only: pull requests are not planned (see the Bidirectional condition)"),
        condition("Bidirectional", "False", "NoForgeCredentials",
          "the Secret of GitConnection github holds an SSH key, which cannot reach the GitHub API"),
      },
    }),
    status = "Degraded",
    message = "NoForgeCredentials: the Secret of GitConnection github holds an SSH key, which cannot reach the GitHub API",
  },
  {
    name = "bidirectional without a GitConnection",
    obj = gitsync({ bidirectional = { enabled = true } }, {
      observedGeneration = 3,
      conditions = {
        condition("Ready", "True", "SyncedOneWay", "Up to date with main. One way only"),
        condition("Bidirectional", "False", "NoGitConnection", "spec.bidirectional needs spec.connectionRef"),
      },
    }),
    status = "Degraded",
    message = "NoGitConnection: spec.bidirectional needs spec.connectionRef",
  },
  {
    name = "bidirectional not running: Ready decides",
    obj = gitsync({ bidirectional = { enabled = true } }, {
      observedGeneration = 3,
      conditions = {
        condition("Ready", "False", "SecretNotFound", "Secret segment-workspace not found"),
        condition("Stalled", "True", "SecretNotFound", "Secret segment-workspace not found"),
        condition("Bidirectional", "False", "NotRunning", "pull requests are planned only while the GitSync syncs"),
      },
    }),
    status = "Degraded",
    message = "SecretNotFound: Secret segment-workspace not found",
  },
  {
    name = "bidirectional not running while suspended",
    obj = gitsync({ suspend = true, bidirectional = { enabled = true } }, {
      observedGeneration = 3,
      conditions = {
        condition("Ready", "False", "Suspended", "Syncing is suspended (spec.suspend is true)"),
        condition("Bidirectional", "False", "NotRunning", "pull requests are planned only while the GitSync syncs"),
      },
    }),
    status = "Suspended",
  },
  {
    name = "a Bidirectional=False left from before bidirectional was disabled",
    obj = gitsync({ bidirectional = { enabled = false } }, {
      observedGeneration = 3,
      conditions = {
        synced,
        condition("Bidirectional", "False", "NoGitConnection", "spec.bidirectional needs spec.connectionRef"),
      },
    }),
    status = "Healthy",
  },
  {
    name = "GitConnection (no spec.suspend) ready",
    obj = {
      apiVersion = "gitsync.dev/v1alpha1",
      kind = "GitConnection",
      metadata = { name = "github", namespace = "segment", generation = 1 },
      spec = { provider = "github", secretRef = { name = "segment-config-git" } },
      status = {
        observedGeneration = 1,
        authMethod = "ssh",
        conditions = { condition("Ready", "True", "Valid", "SSH key and known_hosts") },
      },
    },
    status = "Healthy",
    message = "Valid: SSH key and known_hosts",
  },
}

local passed, failed = 0, 0
for _, case in ipairs(cases) do
  local ok, hs = pcall(health, case.obj)
  local problem = nil
  if not ok then
    problem = "error: " .. tostring(hs)
  elseif type(hs) ~= "table" then
    problem = "returned " .. type(hs) .. ", not a table"
  elseif hs.status ~= case.status then
    problem = "status " .. tostring(hs.status) .. ", want " .. case.status .. " (message: " .. tostring(hs.message) .. ")"
  elseif case.message ~= nil and hs.message ~= case.message then
    problem = "message " .. string.format("%q", tostring(hs.message)) .. ", want " .. string.format("%q", case.message)
  elseif type(hs.message) ~= "string" or hs.message == "" then
    problem = "no message"
  end
  if problem == nil then
    passed = passed + 1
    print("ok    " .. case.name)
  else
    failed = failed + 1
    print("FAIL  " .. case.name .. ": " .. problem)
  end
end
print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then
  os.exit(1)
end
