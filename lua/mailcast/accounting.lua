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

-- Both splits below are of a few distinct strings (a run's servers and
-- TLS versions) that come with every transaction: each is made once.
local function memoize(split)
  local seen = {}
  return function(s)
    if not s then return nil, nil end
    local hit = seen[s]
    if not hit then
      hit = { split(s) }
      seen[s] = hit
    end
    return hit[1], hit[2]
  end
end

-- "mx.example.com [192.0.2.1]" as the session names its server.
local split_server = memoize(function(server)
  local name, ip = server:match("^(.-)%s*%[(.-)%]$")
  if not name then return server, nil end
  return name ~= "" and name or nil, ip
end)

-- "TLSv1.3 TLS_AES_256_GCM_SHA384": the version and the cipher.
local split_tls = memoize(function(tls)
  local version, cipher = tls:match("^(%S+)%s*(.*)$")
  return version, cipher ~= "" and cipher or nil
end)

--- log:transaction(campaign, recipient, route, result, rcpt, attempt)
-- result: the scheduler's outcome of the transaction; rcpt: this
-- recipient's reply in it.
function Log:transaction(campaign, recipient, route, result, rcpt, attempt)
  local mx, ip = split_server(result.server)
  local version, cipher = split_tls(result.tls)
  local lines = self.lines
  local enhanced = rcpt.enhanced
  lines[#lines + 1] = jsonl.values(M.TRANSACTION_FIELDS,
    jsonl.iso_time(core.time()), "transaction", campaign, recipient, route, mx, ip, version, cipher,
    rcpt.status, rcpt.code, enhanced ~= "" and enhanced or nil, rcpt.text, rcpt.reason, rcpt.category,
    result.duration, attempt)
end

--- log:outcome(campaign, recipient, state, reply, attempts): a final
-- state: delivered, failed, expired (failed after max_age of retries),
-- suppressed or skipped.
function Log:outcome(campaign, recipient, state, reply, attempts)
  local lines = self.lines
  local enhanced = reply and reply.enhanced
  lines[#lines + 1] = jsonl.values(M.OUTCOME_FIELDS,
    jsonl.iso_time(core.time()), "outcome", campaign, recipient, state, reply and reply.code,
    enhanced ~= "" and enhanced or nil, reply and reply.text, reply and reply.reason,
    reply and reply.category, attempts)
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
