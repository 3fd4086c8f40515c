-- What SMTP replies say, in plain words: the reply codes (RFC 5321
-- 4.2, RFC 7504) and the enhanced status codes (RFC 3463 with the IANA
-- registry, RFC 7372). One table of each, for `mailcast explain`
-- (bounce_explain) and the transcript of `mailcast test` (smtp_explain).
local M = {}

local CODES = {
  [211] = "system status",
  [214] = "help text",
  [220] = "the service is ready",
  [221] = "closing the connection",
  [250] = "done",
  [421] = "the server is closing the connection: try again later",
  [450] = "the mailbox is not available now (busy, or greylisting): try again later",
  [451] = "the server had a local error: try again later",
  [452] = "the server is short of storage: try again later",
  [454] = "temporarily unavailable (TLS or authentication)",
  [455] = "the server cannot take the parameters for now",
  [500] = "the server did not understand the command",
  [501] = "the command's arguments are wrong",
  [502] = "the command is not implemented",
  [503] = "commands in the wrong order",
  [504] = "that parameter is not implemented",
  [521] = "this server accepts no mail",
  [530] = "authentication is required first",
  [550] = "refused: no such mailbox, or refused by policy",
  [551] = "the user is not local here",
  [552] = "refused: the message is too big or the mailbox is full",
  [553] = "the mailbox name is not allowed",
  [554] = "the transaction failed (often a policy or spam refusal)",
  [555] = "a MAIL or RCPT parameter is not recognized",
  [556] = "the domain accepts no mail",
}

-- An enhanced status's subject (its middle number), and subject.detail.
local SUBJECTS = {
  [0] = "other or undefined status", [1] = "addressing", [2] = "the mailbox",
  [3] = "the mail system", [4] = "network and routing", [5] = "the mail delivery protocol",
  [6] = "message content or media", [7] = "security or policy",
}
local DETAILS = {
  ["1.0"] = "other address status",
  ["1.1"] = "the mailbox does not exist",
  ["1.2"] = "the domain does not exist or accepts no mail",
  ["1.3"] = "the address is not valid",
  ["1.4"] = "destination mailbox address ambiguous",
  ["1.5"] = "destination address valid",
  ["1.6"] = "destination mailbox has moved, no forwarding address",
  ["1.7"] = "bad sender's mailbox address syntax",
  ["1.8"] = "bad sender's system address",
  ["1.10"] = "the recipient's domain accepts no mail (null MX)",
  ["2.0"] = "other or undefined mailbox status",
  ["2.1"] = "the mailbox is disabled",
  ["2.2"] = "the mailbox is full",
  ["2.3"] = "the message is too big for the mailbox",
  ["2.4"] = "mailing list expansion problem",
  ["3.0"] = "other or undefined mail system status",
  ["3.1"] = "mail system full",
  ["3.2"] = "system not accepting network messages",
  ["3.3"] = "system not capable of selected features",
  ["3.4"] = "the message is too big for the server",
  ["3.5"] = "system incorrectly configured",
  ["4.0"] = "other or undefined network or routing status",
  ["4.1"] = "no answer from host",
  ["4.2"] = "bad connection",
  ["4.3"] = "directory server failure",
  ["4.4"] = "unable to route",
  ["4.5"] = "mail system congestion",
  ["4.6"] = "routing loop detected",
  ["4.7"] = "delivery took too long",
  ["5.0"] = "other or undefined protocol status",
  ["5.1"] = "invalid command",
  ["5.2"] = "syntax error",
  ["5.3"] = "too many recipients",
  ["5.4"] = "invalid command arguments",
  ["5.5"] = "wrong protocol version",
  ["6.0"] = "other or undefined media error",
  ["6.1"] = "media not supported",
  ["6.2"] = "conversion required and prohibited",
  ["6.3"] = "conversion required but not supported",
  ["6.4"] = "conversion with loss performed",
  ["6.5"] = "conversion failed",
  ["7.0"] = "refused for security or policy reasons",
  ["7.1"] = "refused by the server's policy",
  ["7.2"] = "mailing list expansion prohibited",
  ["7.3"] = "security conversion required but not possible",
  ["7.4"] = "security features not supported",
  ["7.5"] = "cryptographic failure",
  ["7.6"] = "cryptographic algorithm not supported",
  ["7.7"] = "message integrity failure",
  ["7.8"] = "the credentials are wrong",
  ["7.9"] = "the authentication mechanism is too weak",
  ["7.10"] = "encryption needed",
  ["7.11"] = "the server wants TLS",
  ["7.13"] = "user account disabled",
  ["7.17"] = "mailbox owner has changed",
  ["7.18"] = "domain owner has changed",
  ["7.20"] = "no passing DKIM signature found",
  ["7.21"] = "no acceptable DKIM signature found",
  ["7.22"] = "no valid author-matched DKIM signature found",
  ["7.23"] = "SPF validation failed",
  ["7.24"] = "SPF validation error",
  ["7.25"] = "our address has no reverse DNS",
  ["7.26"] = "the message failed authentication (SPF, DKIM, DMARC)",
  ["7.27"] = "the sender's domain accepts no mail",
  ["7.28"] = "mail flood detected",
  ["7.29"] = "ARC validation failure",
  ["7.30"] = "REQUIRETLS support required",
}

--- code(n) -> what reply code n means, or nil when RFC 5321 defines
-- no such code.
function M.code(n)
  return CODES[n]
end

--- status(s) -> what the enhanced status s ("5.1.1") says of its
-- subject and detail (its class aside), or nil when it is no status.
-- A detail the registry does not know is said by its subject.
function M.status(s)
  local subject, detail = (s or ""):match("^%d%.(%d+)%.(%d+)$")
  if not subject then return nil end
  return DETAILS[subject .. "." .. detail] or SUBJECTS[tonumber(subject)] or "an unregistered status"
end

--- detail(s) -> what the registry says of status s's detail, or nil
-- (no subject's words instead: for a sentence that says only what is
-- specific).
function M.detail(s)
  local key = (s or ""):match("^%d%.(%d+%.%d+)$")
  return key and DETAILS[key]
end

return M
