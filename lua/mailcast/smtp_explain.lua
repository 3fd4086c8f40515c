-- SMTP replies in plain words (RFC 5321 4.2, RFC 3463 enhanced codes),
-- for the transcript of `mailcast test`: what the server meant by its
-- answer to the command it answered.
local M = {}

-- By the command answered and the reply code.
local AFTER = {
  GREETING = { [220] = "the server is ready for us", [421] = "the server will not talk now: try again later",
               [554] = "the server refuses this connection (often our address is blocked)" },
  EHLO = { [250] = "the server accepts our greeting; the lines list the extensions it offers" },
  HELO = { [250] = "the server accepts our greeting (no extensions)" },
  STARTTLS = { [220] = "the server is ready: TLS is negotiated next, and all that follows is encrypted",
               [454] = "TLS is not available now" },
  AUTH = { [235] = "authentication succeeded", [334] = "the server asks for the next part of the credentials",
           [535] = "authentication failed: the user name or password is wrong",
           [534] = "the server wants a stronger authentication mechanism",
           [538] = "the server wants TLS before authentication" },
  MAIL = { [250] = "the envelope sender is accepted" },
  RCPT = { [250] = "the recipient is accepted", [251] = "the recipient is accepted and will be forwarded",
           [252] = "the server cannot check the recipient but will try to deliver" },
  DATA = { [354] = "send the message now, ended by a line with a single dot" },
  ["."] = { [250] = "the message is accepted: the server is responsible for it now" },
  BDAT = { [250] = "the message is accepted: the server is responsible for it now" },
  RSET = { [250] = "the transaction is reset" },
  QUIT = { [221] = "the server says goodbye and closes the connection" },
}

-- By the reply code alone.
local CODES = {
  [211] = "system status", [214] = "help text", [220] = "the service is ready", [221] = "closing the connection",
  [250] = "done", [421] = "the server is closing the connection: try again later",
  [450] = "the mailbox is not available now (busy, or greylisting): try again later",
  [451] = "the server had a local error: try again later", [452] = "the server is short of storage: try again later",
  [454] = "temporarily unavailable (TLS or authentication)",
  [500] = "the server did not understand the command", [501] = "the command's arguments are wrong",
  [502] = "the command is not implemented", [503] = "commands in the wrong order",
  [504] = "that parameter is not implemented", [521] = "this server accepts no mail",
  [530] = "authentication is required first", [550] = "refused: no such mailbox, or refused by policy",
  [551] = "the user is not local here", [552] = "refused: the message is too big or the mailbox is full",
  [553] = "the mailbox name is not allowed", [554] = "the transaction failed (often a policy or spam refusal)",
  [555] = "a MAIL or RCPT parameter is not recognized",
}

-- Enhanced status codes (RFC 3463, RFC 7372) that say more than the code.
local ENHANCED = {
  ["1.1"] = "the mailbox does not exist", ["1.2"] = "the domain does not exist or accepts no mail",
  ["1.3"] = "the address is not valid", ["1.10"] = "the recipient's domain accepts no mail (null MX)",
  ["2.1"] = "the mailbox is disabled", ["2.2"] = "the mailbox is full", ["2.3"] = "the message is too big for the mailbox",
  ["3.4"] = "the message is too big for the server", ["4.7"] = "delivery took too long",
  ["7.1"] = "refused by the server's policy", ["7.8"] = "the credentials are wrong",
  ["7.0"] = "refused for security or policy reasons", ["7.25"] = "our address has no reverse DNS",
  ["7.26"] = "the message failed authentication (SPF, DKIM, DMARC)", ["7.27"] = "the sender's domain accepts no mail",
  ["7.9"] = "the authentication mechanism is too weak", ["7.11"] = "the server wants TLS",
}

--- explain(code, enhanced, command) -> a sentence. command is the verb
-- the reply answers ("EHLO", "MAIL", "." for the end of data, "GREETING").
function M.explain(code, enhanced, command)
  local by = AFTER[command or ""]
  local text = by and by[code] or CODES[code]
  if not text then
    local class = code // 100
    text = class == 2 and "done" or class == 3 and "go on"
      or class == 4 and "a temporary failure: try again later" or "a permanent failure"
  end
  local detail = enhanced and ENHANCED[enhanced:match("^%d%.(%d+%.%d+)$") or ""]
  if detail and code >= 400 then text = text .. " - " .. detail end
  return text
end

--- command_of(line) -> the verb a client line sends ("MAIL", "." ...)
function M.command_of(line)
  if line == "." then return "." end
  if line:find("^<credentials") then return "AUTH" end   -- an AUTH LOGIN step, hidden
  return (line:match("^(%a+)") or ""):upper()
end

return M
