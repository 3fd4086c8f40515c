-- mailcast.bounce.explain: what an SMTP reply (or a bounce's diagnostic)
-- means in plain words, whether it is hard, and what the sender should do.
-- The reason comes from the classifier; the code and the enhanced status
-- are read as mailcast.smtp_codes says.
local codes = require "mailcast.smtp_codes"

local M = {}

-- What the sender should do, by reason; soft for a temporary failure of a
-- hard reason, which proves nothing about the address yet.
local ADVICE = {
  user_unknown = "Remove the address: the mailbox does not exist. If it was collected recently, check it for a typo.",
  mailbox_disabled = "Remove the address: the account is closed, disabled or moved.",
  host_unknown = "Remove the address: its domain does not exist or takes no mail. Check the domain for a typo.",
  mailbox_full = "Keep the address and retry later. A mailbox full for weeks is probably abandoned: suppress it after repeated failures.",
  blocked = "Keep the recipient: the receiver refuses you, not them. Check your sending IP and domain against the block lists the reply names, your SPF, DKIM and DMARC, and the receiver's postmaster pages; ask to be delisted.",
  spam = "Keep the recipient, and do not resend the same message at once: review the content, links and the list's consent.",
  policy = "Fix what the reply names in your sending setup (SPF, DKIM, DMARC, relaying, the sender address); the recipient is not at fault.",
  rate_limited = "Slow down: fewer connections and messages per hour to this domain, then retry later.",
  message_too_big = "Send a smaller message: link to large files instead of attaching them.",
  expired = "The sending MTA gave up after retrying; the address may be fine. Try again in a later campaign, and suppress it only after repeated expiries.",
  network = "A connection or TLS problem: retry later; check that both sides agree on TLS.",
  system_error = "The receiver's own trouble: retry later.",
  content_rejected = "Remove what the receiver refuses (a virus, a forbidden attachment type, malformed headers) and resend.",
  unknown = "No rule recognised this reply: read it, and add a rule (mailcast.bounce.rules) if it comes back often.",
}
local SOFT_ADVICE = "A temporary failure: retry. If the receiver keeps saying so after the retries, treat the address as bad."


local function code_and_status(reply)
  -- A report's Diagnostic-Code keeps its type: "smtp; 550 5.1.1 ...".
  local text = (reply.text or ""):gsub("^%s*%a[%w%-]*;%s*", "", 1)
  local code = reply.code or tonumber(text:match("^%s*([245]%d%d)[%s%-]"))
  local status = reply.enhanced or text:match("^%s*[245]%d%d[%s%-]+([245]%.%d%d?%d?%.%d%d?%d?)%f[^%d.]")
    or text:match("^%s*([245]%.%d%d?%d?%.%d%d?%d?)%f[^%d.]")
  return math.tointeger(code), status
end


local function status_meaning(status)
  local class = (status or ""):match("^(%d)%.%d+%.%d+$")
  if not class then return nil end
  local kind = class == "2" and "success" or class == "4" and "temporary failure" or "permanent failure"
  return kind .. ": " .. codes.status(status)
end


--- explain(reply, classify) -> {reason=, summary=, hard=, permanent=,
-- code=, code_meaning=, status=, status_meaning=, advice=, rule=}
-- reply: {code=, enhanced=, text=}; classify the classifier to use.
function M.explain(reply, classify)
  local c = classify(reply)
  local code, status = code_and_status(reply)
  local advice = ADVICE[c.reason] or ADVICE.unknown
  if c.hard == false and not c.permanent and (c.reason == "user_unknown" or c.reason == "mailbox_disabled"
      or c.reason == "host_unknown") then
    advice = SOFT_ADVICE
  end
  return {
    reason = c.reason, summary = c.summary, hard = c.hard, permanent = c.permanent, rule = c.rule,
    code = code, code_meaning = code and codes.code(code), status = status,
    status_meaning = status_meaning(status), advice = advice,
  }
end


--- text(e, reply_text) -> the explanation as lines for people.
function M.text(e, reply_text)
  local lines = { "reply:    " .. reply_text }
  lines[#lines + 1] = string.format("means:    %s (%s)", e.summary, e.reason)
  if e.code then
    lines[#lines + 1] = string.format("code:     %d, %s", e.code, e.code_meaning or "not a code RFC 5321 defines")
  end
  if e.status then
    lines[#lines + 1] = string.format("status:   %s, %s", e.status, e.status_meaning or "not a status RFC 3463 defines")
  end
  local kind
  if e.hard then
    kind = "hard: a permanent failure that says the address is bad; it is suppressed"
  elseif e.permanent then
    kind = "soft: permanent for this message, but it says nothing against the address; it is not suppressed"
  else
    kind = "soft: temporary; the message is retried"
  end
  lines[#lines + 1] = "verdict:  " .. kind
  lines[#lines + 1] = "do:       " .. e.advice
  lines[#lines + 1] = "decided:  " .. e.rule
  return table.concat(lines, "\n") .. "\n"
end

return M
