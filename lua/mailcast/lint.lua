-- `mailcast lint campaign.lua`: one recipient's message, rendered and
-- built as a run would send it, checked before anything is sent: its
-- content (lint_content), its score by real spam filters (lint_spam) and
-- the DNS records providers look up for its domains (lint_dns).
local assemble = require "mailcast.assemble"
local bulk = require "mailcast.bulk"
local cli_args = require "mailcast.cli_args"
local core = require "mailcast.core"
local lint_sample = require "mailcast.lint_sample"
local usage = require "mailcast.usage"

local M = {}

local SEVERITY_ORDER = { error = 1, warning = 2, note = 3 }

local function stderr(...)
  io.stderr:write("mailcast: ", string.format(...), "\n")
end

-- The options of the command line, or nil and why.
local function options(argv)
  local o, why = cli_args.parse(argv, {
    defaults = { spam = true, dns = true },
    switches = { ["--json"] = { "json", true }, ["--no-spam"] = { "spam", false }, ["--no-dns"] = { "dns", false } },
    values = { "--recipient", "--address", "--rspamd", "--spamd", "--dns-server", "--ip", "--sample" },
  })
  if not o then return nil, why end
  local ok
  ok, why = cli_args.recipient(o)
  if not ok then return nil, why end
  if o.sample then
    o.sample = math.tointeger(tonumber(o.sample))
    if not o.sample or o.sample < 1 then return nil, "--sample wants a number of recipients from 1" end
    if o.recipient or o.address then return nil, "--sample lints several recipients: not with --recipient or --address" end
  end
  return o
end

--- load(script) -> the campaign the script returns | nil, why
function M.load(script)
  _G.arg = { [0] = script }
  local chunk, err = loadfile(script)
  if not chunk then return nil, err end
  local ok, c = pcall(chunk)
  if not ok then return nil, tostring(c) end
  if type(c) ~= "table" or getmetatable(c) == nil or not c.message then
    return nil, script .. " does not return a campaign (mailcast.campaign{...})"
  end
  return c
end

--- pick(campaign, {recipient = n} | {address = a} | {}) -> address, row,
-- n | nil, why: the recipient a lint renders (the first by default).
function M.pick(c, o)
  local n = 0
  for row, err in c:rows() do
    n = n + 1
    local address = row and c:check_row(row, err)
    local wanted
    if o.address then wanted = address and address:lower() == o.address:lower()
    else wanted = n == (o.recipient or 1) end
    if wanted then
      if not address then return nil, select(2, c:check_row(row, err)) end
      return address, row, n
    end
  end
  if o.address then return nil, "no recipient " .. o.address .. " in the list" end
  return nil, string.format("the list has %d rows, not %d", n, o.recipient or 1)
end

--- render(campaign, address, row) -> msg (the rendered table), raw (the
-- message as sent, signed when the campaign signs) | nil, why
function M.render(c, address, row)
  local vars = {}
  for k, v in pairs(row) do vars[k] = v end
  local msg, why = c:message(address, vars)
  if not msg then return nil, why end
  local built
  built, why = assemble(msg)
  if not built then return nil, why end
  local raw = built:tostring()
  if c.bulk.dkim then
    raw, why = bulk.sign(c.bulk, built)
    if not raw then built:close() return nil, why end
  end
  built:close()
  -- Without tracking a body goes to the builder as a MIME part made from
  -- its template; the checks read it as text (vars as personalize left it).
  local view = {}
  for k, v in pairs(msg) do view[k] = v end
  if msg.text ~= nil and type(msg.text) ~= "string" then view.text = c.text(vars) end
  if msg.html ~= nil and type(msg.html) ~= "string" then view.html = c.html(vars) end
  return view, raw
end

local function count(findings)
  local n = { error = 0, warning = 0, note = 0 }
  for _, f in ipairs(findings) do n[f.severity] = n[f.severity] + 1 end
  return n
end

-- An empty table that JSON writes as {} rather than [].
local OBJECT = { __name = "json object" }

-- JSON of plain tables: lists (1..n) as arrays, others as objects with
-- their keys sorted, so the output is the same from run to run.
local function json(v)
  local t = type(v)
  if t == "string" then return core.json_string(v) end
  if t == "number" then return math.type(v) == "integer" and tostring(v) or string.format("%.6g", v) end
  if t == "boolean" then return tostring(v) end
  if t ~= "table" then return "null" end
  if next(v) == nil then return getmetatable(v) == OBJECT and "{}" or "[]" end
  local out = {}
  if v[1] ~= nil then
    for i = 1, #v do out[i] = json(v[i]) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do out[i] = core.json_string(k) .. ":" .. json(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end
M.json = json

-- Lines for findings; those of a sample of size recipients say which
-- of them each applies to.
local function show_findings(out, findings, size)
  table.sort(findings, function(a, b)
    if a.severity ~= b.severity then return SEVERITY_ORDER[a.severity] < SEVERITY_ORDER[b.severity] end
    return a.check < b.check
  end)
  for _, f in ipairs(findings) do
    out[#out + 1] = string.format("  %-8s %-22s %s", f.severity, f.check, core.printable(f.message))
    if f.count then out[#out + 1] = string.format("  %-8s %-22s in %s", "", "", lint_sample.applies(f, size)) end
    if f.fix then out[#out + 1] = string.format("  %-8s %-22s -> %s", "", "", f.fix) end
  end
end

local function show(report)
  local out = {}
  if report.sample then
    out[#out + 1] = lint_sample.heading(report)
  else
    out[#out + 1] = string.format("mailcast lint: %s, recipient %d (%s), %d bytes", report.campaign, report.recipient,
      report.address, report.size)
  end
  out[#out + 1] = ""
  out[#out + 1] = "content:"
  if #report.findings == 0 then out[#out + 1] = "  no findings" end
  show_findings(out, report.findings, report.sample and #report.sample)
  if report.first and #(report.sections or {}) > 0 then
    out[#out + 1] = ""
    out[#out + 1] = string.format("(the checks below are of the sample's first recipient, %s, row %d)",
      core.printable(report.first.address), report.first.n)
  end
  for _, section in ipairs(report.sections or {}) do
    out[#out + 1] = ""
    for _, line in ipairs(section.lines) do out[#out + 1] = line end
    if section.findings and #section.findings > 0 then show_findings(out, section.findings) end
  end
  local n = count(report.all)
  out[#out + 1] = ""
  out[#out + 1] = string.format("%d error%s, %d warning%s, %d note%s", n.error, n.error == 1 and "" or "s",
    n.warning, n.warning == 1 and "" or "s", n.note, n.note == 1 and "" or "s")
  return table.concat(out, "\n") .. "\n"
end

-- One finding per relative link that stays relative (no base_url) in
-- a page of html_file, the campaign's or an A/B test variant's, as a dry
-- run reports them: a mail has no page for it to be relative to.
local function page_findings(c)
  local out = {}
  for _, notes in ipairs(c:pages()) do
    for _, url in ipairs(notes.relative_links or {}) do
      out[#out + 1] = { severity = "error", check = "page.relative_link", url = url,
        message = string.format("%s: the relative link '%s' leads nowhere in a mail", notes.name, url),
        fix = "set base_url (the page's address on the web, https://...) beside this html_file to make it absolute" }
    end
  end
  return out
end

--- run(o) -> report | nil, why: the lint of o.script's campaign for one
-- recipient (o as the command line gives it).
function M.run(o)
  local c, why = M.load(o.script)
  if not c then return nil, why end
  c.quiet = true
  local address, row, n = M.pick(c, o)
  if not address then return nil, row end
  local msg, raw = M.render(c, address, row)
  if not msg then return nil, string.format("%s (recipient %d): %s", address, n, raw) end
  local page_links = page_findings(c)
  local skip = {}
  for _, f in ipairs(page_links) do skip[f.url] = true end
  local findings = require("mailcast.lint_content").check(msg, raw, { relative_links = skip })
  for _, f in ipairs(page_links) do findings[#findings + 1] = f end
  local report = { campaign = c.name, recipient = n, address = address, size = #raw, findings = findings,
                   sections = {}, all = {} }
  for _, f in ipairs(findings) do report.all[#report.all + 1] = f end
  for _, extra in ipairs(M.EXTRAS) do
    local ok, section = pcall(extra, c, msg, raw, o)
    if ok and section then
      report.sections[#report.sections + 1] = section
      for _, f in ipairs(section.findings or {}) do report.all[#report.all + 1] = f end
    elseif not ok then
      stderr("lint: %s", tostring(section))
    end
  end
  return report
end

-- The checks beyond the content, each function(campaign, msg, raw, o)
-- -> {name=, lines = {...}, findings = {...}, ...} | nil (skipped).
M.EXTRAS = {
  function(...) return require("mailcast.lint_dns").check(...) end,
  function(...) return require("mailcast.lint_spam").check(...) end,
}

--- main(argv) -> exit status: 0, 1 when an error was found (for CI), 2
-- for a bad command line.
function M.main(argv)
  local o, why = options(argv)
  if not o then return usage.error("lint", "lint: %s", why) end
  local report
  if o.sample then report, why = lint_sample.run(M, o) else report, why = M.run(o) end
  if not report then stderr("lint: %s", why) return 1 end
  if o.json then
    local sections = setmetatable({}, OBJECT)
    for _, s in ipairs(report.sections) do sections[s.name] = s.data or {} end
    io.write(json({ campaign = report.campaign, recipient = report.recipient, address = report.address,
                    size = report.size, findings = report.all, checks = sections, counts = count(report.all),
                    sample = report.sample, rows = report.rows }), "\n")
  else
    io.write(show(report))
  end
  return count(report.all).error > 0 and 1 or 0
end

return M
