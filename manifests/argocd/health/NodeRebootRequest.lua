-- Argo CD health of a rollboot.dev NodeRebootRequest (argocd-cm key
-- resource.customizations.health.rollboot.dev_NodeRebootRequest).
--   Progressing: not yet taken up (Pending, or a spec newer than the cycle), or between cordon and uncordon.
--   Suspended:   Waiting for its window, its turn, or the reason in status.message.
--   Degraded:    Failed.
--   Healthy:     Completed, Cancelled (withdrawn), or nothing to do.
local hs = {}
local status = obj.status or {}
local phase = status.phase
local message = status.message

local function say(fallback)
  if message ~= nil and message ~= "" then
    return message
  end
  return fallback
end

local active = {Cordoning = true, Draining = true, Rebooting = true, Verifying = true, Uncordoning = true}
local finished = {Completed = true, Cancelled = true, Failed = true}
local reasons = 0
if obj.spec ~= nil and obj.spec.reasons ~= nil then
  reasons = #obj.spec.reasons
end
local generation = obj.metadata.generation
local observed = status.observedGeneration
local newer = generation ~= nil and observed ~= nil and observed < generation

if phase == nil then
  if reasons == 0 then
    hs.status = "Healthy"
    hs.message = "No reboot required"
  else
    hs.status = "Progressing"
    hs.message = "Waiting for the rollboot operator"
  end
elseif finished[phase] and newer and reasons > 0 then
  hs.status = "Progressing"
  hs.message = "A new reboot is required; waiting for the rollboot operator"
elseif phase == "Completed" then
  hs.status = "Healthy"
  if status.kernel ~= nil then
    hs.message = say("Rebooted: kernel " .. status.kernel)
  else
    hs.message = say("Rebooted")
  end
elseif phase == "Cancelled" then
  hs.status = "Healthy"
  hs.message = say("Withdrawn: no reboot required any more")
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = say("The reboot failed")
elseif phase == "Waiting" then
  hs.status = "Suspended"
  hs.message = say("Waiting for its turn")
elseif active[phase] then
  hs.status = "Progressing"
  hs.message = phase .. ": " .. say("in progress")
else
  hs.status = "Progressing"
  hs.message = say("Waiting for the rollboot operator")
end
return hs
