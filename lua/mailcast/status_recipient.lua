-- `mailcast status SCRIPT.lua --recipient ADDRESS`: one recipient of a
-- campaign: its state, attempts, next retry, last reply, and the
-- transcript of its last transaction that was not delivered (kept in
-- the store: store:transcript).
local core = require "mailcast.core"
local jsonl = require "mailcast.jsonl"
local report_text = require "mailcast.report_text"

local M = {}

local FIELDS = { "campaign", "address", "state", "attempts", "next_at", "last_code", "last_enhanced", "last_text",
                 "transcript_at", "transcript" }

-- The lines of text, each indented.
local function indented(text, by)
  return (by .. text:gsub("\n$", ""):gsub("\n", "\n" .. by)) .. "\n"
end

local function show_text(r, t)
  local out = {}
  out[#out + 1] = string.format("%s (campaign %s): %s, %d attempt%s\n", core.printable(r.address),
    r.campaign_name, r.state, r.attempts or 0, r.attempts == 1 and "" or "s")
  if r.state == "deferred" and r.next_at and r.next_at > 0 then
    out[#out + 1] = string.format("  next retry: %s\n", report_text.utc(r.next_at))
  end
  if r.last_code or r.last_text then
    out[#out + 1] = string.format("  last reply: %s\n", report_text.clean(report_text.reply {
      code = r.last_code, enhanced = r.last_enhanced, text = r.last_text }))
  end
  if t then
    out[#out + 1] = string.format("  last transcript, of the attempt at %s%s:\n", report_text.utc(t.at),
      r.state == "delivered" and " (before it was delivered)" or "")
    out[#out + 1] = indented(t.text, "  ")
  else
    out[#out + 1] = "  no transcript kept (one is kept for a recipient that was not delivered)\n"
  end
  return table.concat(out)
end

--- show(store, campaign, address, json) -> exit code: the recipient's
-- status on stdout, or 1 when the campaign has no such recipient.
function M.show(store, c, address, json)
  local rows = assert(store:recipients(address, c.id))
  local r = rows[1]
  if not r then
    io.stderr:write(string.format("mailcast: status: campaign %s has no recipient %s\n", c.name,
      core.printable(address)))
    return 1
  end
  local t = store:transcript(r.id)
  if json then
    io.write(jsonl.encode({
      campaign = c.name, address = r.address, state = r.state, attempts = r.attempts, next_at = r.next_at,
      last_code = r.last_code, last_enhanced = r.last_enhanced, last_text = r.last_text,
      transcript_at = t and t.at, transcript = t and t.text,
    }, FIELDS), "\n")
  else
    io.write(show_text(r, t))
  end
  return 0
end

return M
