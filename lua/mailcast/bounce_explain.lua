-- mailcast.bounce.explain: what an SMTP reply (or a bounce's diagnostic)
-- means in plain words, whether it is hard, and what the sender should do.
-- The reason comes from the classifier; the code and the enhanced status
-- are read as RFC 5321 4.2 and RFC 3463 (with the IANA registry) define
-- them.
local M = {}

-- RFC 5321 4.2.2 and 4.2.3, RFC 7504 (521, 556).
local CODES = {
  [421] = "the server is closing the connection: service not available for now",
  [450] = "mailbox unavailable for now (busy, or refused by a temporary policy)",
  [451] = "aborted: a local error in processing",
  [452] = "insufficient system storage for now",
  [455] = "the server cannot take the parameters for now",
  [500] = "syntax error: command not recognised",
  [501] = "syntax error in the parameters",
  [502] = "command not implemented",
  [503] = "bad sequence of commands",
  [504] = "command parameter not implemented",
  [521] = "this host accepts no mail",
  [550] = "requested action not taken: mailbox unavailable (not found, no access, or refused by policy)",
  [551] = "the user is not local",
  [552] = "exceeded storage allocation",
  [553] = "mailbox name not allowed (bad syntax)",
  [554] = "transaction failed (a refusal without a more specific code)",
  [555] = "MAIL FROM or RCPT TO parameters not recognised",
  [556] = "the domain accepts no mail",
}

-- RFC 3463 section 3 and the IANA registry of enhanced status codes.
local SUBJECTS = {
  [0] = "other or undefined status", [1] = "addressing", [2] = "the mailbox",
  [3] = "the mail system", [4] = "network and routing", [5] = "the mail delivery protocol",
  [6] = "message content or media", [7] = "security or policy",
}
local DETAILS = {
  ["1.0"] = "other address status", ["1.1"] = "bad destination mailbox address",
  ["1.2"] = "bad destination system address", ["1.3"] = "bad destination mailbox address syntax",
  ["1.4"] = "destination mailbox address ambiguous", ["1.5"] = "destination address valid",
  ["1.6"] = "destination mailbox has moved, no forwarding address",
  ["1.7"] = "bad sender's mailbox address syntax", ["1.8"] = "bad sender's system address",
  ["1.10"] = "the recipient's domain has a null MX",
  ["2.0"] = "other or undefined mailbox status", ["2.1"] = "mailbox disabled, not accepting messages",
  ["2.2"] = "mailbox full", ["2.3"] = "message length exceeds administrative limit",
  ["2.4"] = "mailing list expansion problem",
  ["3.0"] = "other or undefined mail system status", ["3.1"] = "mail system full",
  ["3.2"] = "system not accepting network messages", ["3.3"] = "system not capable of selected features",
  ["3.4"] = "message too big for system", ["3.5"] = "system incorrectly configured",
  ["4.0"] = "other or undefined network or routing status", ["4.1"] = "no answer from host",
  ["4.2"] = "bad connection", ["4.3"] = "directory server failure", ["4.4"] = "unable to route",
  ["4.5"] = "mail system congestion", ["4.6"] = "routing loop detected", ["4.7"] = "delivery time expired",
  ["5.0"] = "other or undefined protocol status", ["5.1"] = "invalid command",
  ["5.2"] = "syntax error", ["5.3"] = "too many recipients", ["5.4"] = "invalid command arguments",
  ["5.5"] = "wrong protocol version",
  ["6.0"] = "other or undefined media error", ["6.1"] = "media not supported",
  ["6.2"] = "conversion required and prohibited", ["6.3"] = "conversion required but not supported",
  ["6.4"] = "conversion with loss performed", ["6.5"] = "conversion failed",
  ["7.0"] = "other or undefined security status", ["7.1"] = "delivery not authorized, message refused",
  ["7.2"] = "mailing list expansion prohibited", ["7.3"] = "security conversion required but not possible",
  ["7.4"] = "security features not supported", ["7.5"] = "cryptographic failure",
  ["7.6"] = "cryptographic algorithm not supported", ["7.7"] = "message integrity failure",
  ["7.8"] = "authentication credentials invalid", ["7.9"] = "authentication mechanism is too weak",
  ["7.10"] = "encryption needed", ["7.11"] = "encryption required for requested authentication mechanism",
  ["7.13"] = "user account disabled", ["7.17"] = "mailbox owner has changed",
  ["7.18"] = "domain owner has changed", ["7.20"] = "no passing DKIM signature found",
  ["7.21"] = "no acceptable DKIM signature found", ["7.22"] = "no valid author-matched DKIM signature found",
  ["7.23"] = "SPF validation failed", ["7.24"] = "SPF validation error",
  ["7.25"] = "reverse DNS validation failed", ["7.26"] = "multiple authentication checks failed",
  ["7.27"] = "the sender's domain has a null MX", ["7.28"] = "mail flood detected",
  ["7.29"] = "ARC validation failure", ["7.30"] = "REQUIRETLS support required",
}

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
  if not status then return nil end
  local class, subject, detail = status:match("^(%d)%.(%d+)%.(%d+)$")
  if not class then return nil end
  local kind = class == "2" and "success" or class == "4" and "temporary failure" or "permanent failure"
  local what = DETAILS[subject .. "." .. detail] or SUBJECTS[tonumber(subject)] or "an unregistered status"
  return kind .. ": " .. what
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
    code = code, code_meaning = code and CODES[code], status = status,
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
