-- `mailcast lint campaign.lua --sample N`: N recipients spread over the
-- whole list (not its first N: a list sorted by signup date or country
-- has its odd rows anywhere), each rendered and its content checked;
-- each finding reported once, with how many of the sample it applies to
-- and the first few of them. The DNS and spam filter checks, which are
-- about the campaign's domains and take seconds a message, run for the
-- first recipient of the sample.
local core = require "mailcast.core"

local M = {}

local SHOWN = 3   -- recipients named with a finding
local KEEP = 1024   -- rows kept while the list is read, at least

--- spread(campaign, n) -> sample, rows: at most n rows of the list
-- ({row=, err=, n = row number}) evenly spread over it, read in one pass
-- that keeps at most max(4n, KEEP) rows (every stride-th row, the stride
-- doubling when they would be more: the sample's rows are within a
-- stride of where they should be), and how many rows the list has.
function M.spread(c, n)
  local kept, stride, total = {}, 1, 0
  local cap = math.max(4 * n, KEEP)
  for row, err in c:rows() do
    total = total + 1
    if (total - 1) % stride == 0 then
      kept[#kept + 1] = { row = row, err = err, n = total }
      if #kept >= cap then
        local half = {}
        for i = 1, #kept, 2 do half[#half + 1] = kept[i] end
        kept, stride = half, stride * 2
      end
    end
  end
  if #kept <= n then return kept, total end
  -- Row 1 + k*total/n for each k, or the kept row just before it (kept
  -- rows are stride apart, and the targets at least as far).
  local sample, seen = {}, {}
  for k = 0, n - 1 do
    local i = (k * total) // n // stride + 1
    if not seen[i] then
      seen[i] = true
      sample[#sample + 1] = kept[i]
    end
  end
  return sample, total
end

-- Adds finding f of recipient who to the findings by key.
local function tally(found, order, f, who)
  local key = f.severity .. "\0" .. f.check .. "\0" .. f.message
  local entry = found[key]
  if not entry then
    entry = { severity = f.severity, check = f.check, message = f.message, fix = f.fix, count = 0, recipients = {} }
    found[key] = entry
    order[#order + 1] = entry
  end
  entry.count = entry.count + 1
  if #entry.recipients < SHOWN then entry.recipients[#entry.recipients + 1] = who end
end

--- run(lint, o) -> report | nil, why: o.sample recipients linted (lint:
-- mailcast.lint, for load, render and its other checks). report as
-- lint.run's, with sample = {{n=, address=}...}, rows (the list's), and
-- each finding's count and recipients ("address (row n)").
function M.run(lint, o)
  local c, why = lint.load(o.script)
  if not c then return nil, why end
  c.quiet = true
  local sample, rows = M.spread(c, o.sample)
  if #sample == 0 then return nil, "the list has no rows" end
  local found, order, first = {}, {}, nil
  local report = { campaign = c.name, rows = rows, sample = {}, sections = {} }
  local content = require "mailcast.lint_content"
  for _, s in ipairs(sample) do
    local address, bad = c:check_row(s.row, s.err)
    local who = string.format("%s (row %d)", address or "?", s.n)
    report.sample[#report.sample + 1] = { n = s.n, address = address }
    local msg, raw
    if address then msg, raw = lint.render(c, address, s.row) end
    if not address or not msg then
      tally(found, order, { severity = "error", check = "render", message = tostring(address and raw or bad),
        fix = "mend the row or the template: a run would not send this recipient" }, who)
    else
      for _, f in ipairs(content.check(msg, raw)) do tally(found, order, f, who) end
      first = first or { msg = msg, raw = raw, address = address, n = s.n }
    end
  end
  report.findings = order
  report.all = {}
  for _, f in ipairs(order) do report.all[#report.all + 1] = f end
  if first then
    report.first = first
    for _, extra in ipairs(lint.EXTRAS) do
      local ok, section = pcall(extra, c, first.msg, first.raw, o)
      if ok and section then
        report.sections[#report.sections + 1] = section
        for _, f in ipairs(section.findings or {}) do report.all[#report.all + 1] = f end
      elseif not ok then
        io.stderr:write("mailcast: lint: ", tostring(section), "\n")
      end
    end
  end
  return report
end

--- heading(report) -> the first line of the text report.
function M.heading(report)
  local rows = {}
  for i, s in ipairs(report.sample) do
    if i > 12 then rows[#rows + 1] = "..." break end
    rows[i] = tostring(s.n)
  end
  return string.format("mailcast lint: %s, a sample of %d of %d recipients (rows %s)", report.campaign,
    #report.sample, report.rows, table.concat(rows, ", "))
end

--- applies(finding) -> "(3 of 5: a (row 1), b (row 21), ...)" for a
-- finding of the sample.
function M.applies(f, size)
  local who = {}
  for i, r in ipairs(f.recipients) do who[i] = core.printable(r) end
  return string.format("%d of %d: %s%s", f.count, size, table.concat(who, ", "), f.count > #who and ", ..." or "")
end

return M
