-- SMTP replies in plain words (RFC 5321 4.2, RFC 3463 enhanced codes),
-- for the transcript of `mailcast test`: what the server meant by its
-- answer to the command it answered.
local codes = require "mailcast.smtp_codes"

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

--- explain(code, enhanced, command) -> a sentence. command is the verb
-- the reply answers ("EHLO", "MAIL", "." for the end of data, "GREETING").
function M.explain(code, enhanced, command)
  local by = AFTER[command or ""]
  local text = by and by[code] or codes.code(code)
  if not text then
    local class = code // 100
    text = class == 2 and "done" or class == 3 and "go on"
      or class == 4 and "a temporary failure: try again later" or "a permanent failure"
  end
  local detail = codes.detail(enhanced)
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
