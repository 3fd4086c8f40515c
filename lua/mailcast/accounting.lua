-- The accounting log: JSON lines, one record per SMTP transaction and
-- one per final outcome, like the accounting files MTA operators feed
-- into their tools. Written as the run goes, flushed with every commit of
-- the store, so the log never lags far behind what the store says.
local core = require "mailcast.core"
local jsonl = require "mailcast.jsonl"

local M = {}

local Log = {}
Log.__index = Log

M.TRANSACTION_FIELDS = {
  "time", "type", "campaign", "recipient", "route", "mx", "ip", "tls_version", "tls_cipher",
  "status", "code", "enhanced", "text", "reason", "category", "duration", "attempt",
}
M.OUTCOME_FIELDS = {
  "time", "type", "campaign", "recipient", "state", "code", "enhanced", "text", "reason", "category",
  "attempts",
}

--- open(path) -> log | nil, message. Appends: runs that resume a
-- campaign add to the same file. Records are kept until flush and then
-- written whole in one write on an unbuffered file opened for appending,
-- so the workers of one run (--workers) can share the file without a
-- line of one ever cut into by another.
function M.open(path)
  local f, err = io.open(path, "a")
  if not f then return nil, "accounting log: " .. err end
  f:setvbuf("no")
  return setmetatable({ file = f, path = path, lines = {} }, Log)
end

-- "mx.example.com [192.0.2.1]" as the session names its server.
local function split_server(server)
  if not server then return nil, nil end
  local name, ip = server:match("^(.-)%s*%[(.-)%]$")
  if not name then return server, nil end
  return name ~= "" and name or nil, ip
end

--- log:transaction(campaign, recipient, route, result, rcpt, attempt)
-- result: the scheduler's outcome of the transaction; rcpt: this
-- recipient's reply in it.
function Log:transaction(campaign, recipient, route, result, rcpt, attempt)
  local mx, ip = split_server(result.server)
  local version, cipher
  if result.tls then version, cipher = result.tls:match("^(%S+)%s*(.*)$") end
  local lines = self.lines
  lines[#lines + 1] = jsonl.encode({
    time = jsonl.iso_time(core.time()), type = "transaction", campaign = campaign,
    recipient = recipient, route = route, mx = mx, ip = ip, tls_version = version,
    tls_cipher = cipher ~= "" and cipher or nil, status = rcpt.status, code = rcpt.code,
    enhanced = rcpt.enhanced ~= "" and rcpt.enhanced or nil, text = rcpt.text,
    reason = rcpt.reason, category = rcpt.category, duration = result.duration, attempt = attempt,
  }, M.TRANSACTION_FIELDS)
end

--- log:outcome(campaign, recipient, state, reply, attempts): a final
-- state: delivered, failed, expired (failed after max_age of retries),
-- suppressed or skipped.
function Log:outcome(campaign, recipient, state, reply, attempts)
  local lines = self.lines
  lines[#lines + 1] = jsonl.encode({
    time = jsonl.iso_time(core.time()), type = "outcome", campaign = campaign,
    recipient = recipient, state = state, code = reply and reply.code,
    enhanced = reply and reply.enhanced ~= "" and reply.enhanced or nil,
    text = reply and reply.text, reason = reply and reply.reason, category = reply and reply.category,
    attempts = attempts,
  }, M.OUTCOME_FIELDS)
end

function Log:flush()
  local lines = self.lines
  if #lines == 0 then return end
  lines[#lines + 1] = ""   -- the last line's end
  self.file:write(table.concat(lines, "\n"))
  self.lines = {}
end

function Log:close()
  if self.file then
    self:flush()
    self.file:close()
  end
  self.file = nil
end

return M
