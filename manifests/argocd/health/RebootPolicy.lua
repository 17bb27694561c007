-- Argo CD health of a rollboot.dev RebootPolicy (argocd-cm key resource.customizations.health.rollboot.dev_RebootPolicy).
--   Progressing: the operator has not yet seen this generation, or nodes are rebooting now.
--   Degraded:    the spec is invalid (Ready=False), nodes are selected by two policies of the same priority,
--                or the failure budget is spent (Halted=True: change spec.failureBudget.resetToken).
--   Suspended:   spec.paused.
--   Healthy:     otherwise, including while waiting for a maintenance window (the message says why).
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

local generation = obj.metadata.generation
local observed = nil
if obj.status ~= nil then
  observed = obj.status.observedGeneration
end
if observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the rollboot operator to observe this policy"
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = text(ready, "The policy is invalid")
  return hs
end

local conflict = condition("Conflict")
if is_true(conflict) then
  hs.status = "Degraded"
  hs.message = text(conflict, "Some nodes are selected by another policy of the same priority")
  return hs
end

local halted = condition("Halted")
if is_true(halted) then
  hs.status = "Degraded"
  hs.message = "Halted: " .. text(halted, "the failure budget is spent")
  return hs
end

if obj.spec ~= nil and obj.spec.paused == true then
  hs.status = "Suspended"
  hs.message = "Paused: no new node starts until spec.paused is false"
  return hs
end

local progressing = condition("Progressing")
if is_true(progressing) then
  hs.status = "Progressing"
  hs.message = text(progressing, "Nodes are rebooting")
  return hs
end

hs.status = "Healthy"
local blocked = condition("Blocked")
if is_true(blocked) then
  hs.message = text(blocked, "Waiting")
else
  hs.message = text(progressing, "Idle")
end
return hs
