-- An SMTP transcript as people read it: the records a session's trace
-- gives ({kind = "client"|"server"|"info", line=, time=}) as `mailcast
-- test` shows them, one line each with its time since the first, C: and
-- S: for the two sides, and each reply's last line explained in plain
-- words. `mailcast test`, mailcast.send's trace option, `mailcast run
-- --trace` and the transcripts kept in the store all read this way.
local core = require "mailcast.core"
local explain = require "mailcast.smtp_explain"

local M = {}

--- formatter() -> format(record) -> text: the lines of one record of a
-- session (no newline at the end), times counted from the first record
-- the formatter was given; a reply is explained after the command it
-- answers.
function M.formatter()
  local start, command = nil, "GREETING"
  return function(t)
    start = start or t.time
    local at = string.format("%8.3f", (t.time or start or 0) - (start or 0))
    local line = core.printable(t.line)
    if t.kind == "client" then
      command = explain.command_of(t.line)
      return string.format("%s  C: %s", at, line)
    elseif t.kind == "server" then
      local code, sep = t.line:match("^(%d%d%d)([ -]?)")
      local text = string.format("%s  S: %s", at, line)
      if code and sep ~= "-" then
        local enhanced = t.line:match("^%d%d%d[ -](%d%.%d+%.%d+)")
        text = text .. string.format("\n%s     -> %s", string.rep(" ", 8),
          explain.explain(tonumber(code), enhanced, command))
      end
      return text
    end
    return string.format("%s  .. %s", at, line)
  end
end

--- show(records) -> text: every record formatted, each line ending in a
-- newline.
function M.show(records)
  local format, out = M.formatter(), {}
  for i, t in ipairs(records) do out[i] = format(t) end
  return table.concat(out, "\n") .. "\n"
end

-- What the store keeps of a transcript at most (its last lines).
M.MAX_KEPT = 8192

--- kept(records) -> text: the records as show() gives them, cut to
-- their last lines of at most MAX_KEPT bytes: a recipient's transcript
-- in the store.
function M.kept(records)
  local text = M.show(records)
  if #text <= M.MAX_KEPT then return text end
  local from = text:find("\n", #text - M.MAX_KEPT, true)
  return "(earlier lines left out)\n" .. text:sub((from or #text - M.MAX_KEPT) + 1)
end

--- started(records) -> the time of the first record that has one, or nil.
function M.started(records)
  for _, t in ipairs(records) do
    if t.time then return t.time end
  end
end

return M
