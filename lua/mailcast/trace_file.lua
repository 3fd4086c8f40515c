-- `mailcast run --trace FILE`: every session's transcript written to a
-- file (appended) or to stderr ("-") as the sessions go, each line
-- prefixed with its destination (the relay, or the first MX host) and
-- the session's number there: "[mx1.example.com #3]   0.012  C: RCPT TO:<...>".
-- The lines are mailcast test's (mailcast.transcript): AUTH credentials
-- never reach them.
local smtp = require "mailcast.smtp"

local M = {}

--- open(target) -> trace | nil, message: target a path or "-".
-- trace.call(record) is the dispatcher's trace function; trace:close()
-- -> nil, or why the tracing stopped (a write that failed: the run goes
-- on untraced).
function M.open(target)
  local f, err
  if target == "-" then
    f = io.stderr
  else
    f, err = io.open(target, "a")
    if not f then return nil, "--trace: " .. tostring(err) end
    f:setvbuf("line")   -- a reader with tail -f sees each line as it comes
  end
  local tracer = smtp.tracer(function(record)
    local prefix = string.format("[%s #%d] ", record.destination or "?", record.session)
    local ok, werr = f:write(prefix, (record.text:gsub("\n", "\n" .. prefix)), "\n")
    if not ok then error(werr, 0) end
  end)
  local trace = { call = tracer.call }
  function trace.close()
    if f ~= io.stderr then f:close() end
    return tracer.error
  end
  return trace
end

return M
