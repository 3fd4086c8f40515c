-- `mailcast report`: a campaign's funnel, links, domains, reasons and
-- timelines, from its store, on the terminal or as JSON, CSV or one
-- HTML file.
local mailcast = require "mailcast"
local report = require "mailcast.report"
local usage = require "mailcast.usage"

local M = {}


local function stderr(...)
  io.stderr:write("mailcast: ", string.format(...), "\n")
end

local VALUE_OPTIONS = { ["--store"] = "store", ["--campaign"] = "campaign", ["--csv"] = "csv", ["--html"] = "html" }


local function options(argv)
  local o = {}
  local i = 2
  while i <= #argv do
    local a = argv[i]
    if VALUE_OPTIONS[a] then
      local v = argv[i + 1]
      if v == nil or v == "" then return nil, string.format("report: %s needs a value", a) end
      o[VALUE_OPTIONS[a]] = v
      i = i + 1
    elseif a == "--json" then o.json = true
    elseif a:match("^%-") then return nil, string.format("report: unknown option '%s'", a)
    elseif not o.target then o.target = a
    else return nil, string.format("report: unexpected '%s'", a) end
    i = i + 1
  end
  if not o.target and not o.store then return nil, "report: give a campaign script or a store file" end
  return o
end


-- The campaigns of the store to report on: the one named, or all.
local function chosen(store, name)
  local list = {}
  for _, c in ipairs(assert(store:report("campaigns", 0, nil, -1))) do
    if not name or c.name == name then list[#list + 1] = c end
  end
  return list
end


local function names(store)
  local list = {}
  for _, c in ipairs(chosen(store)) do list[#list + 1] = c.name end
  return table.concat(list, ", ")
end


local function write_file(path, text)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  f:write(text)
  local ok, why = f:close()
  if not ok then return nil, why end
  return true
end


-- Writes the report of campaigns as o asks; exit code. script: the
-- campaign the script given makes (its variants' labels), or nil.
local function produce(store, campaigns, o, from, script)
  local reports = {}
  for i, c in ipairs(campaigns) do
    local labels = script and script.name == c.name and require("mailcast.abtest").labels(script.variants)
    reports[i] = report.gather(store, c, labels or nil)
  end
  if o.csv then
    local export = require "mailcast.report_export"
    local files, err = export.csv(reports[1], o.csv, function(fn)
      report.accounting(store, campaigns[1], function(r) fn(export.accounting_row(r, campaigns[1].name, from)) end)
    end)
    if not files then stderr("report: %s", err) return 1 end
  end
  if o.html then
    local ok, err = write_file(o.html, require("mailcast.report_html").html(reports[1]))
    if not ok then stderr("report: %s", err) return 1 end
  end
  if o.json then
    local export = require "mailcast.report_export"
    for _, r in ipairs(reports) do export.with_nulls(r) end
    io.write(export.json { campaigns = setmetatable(reports, report.ARRAY) })
  elseif not o.csv and not o.html then
    local text = require "mailcast.report_text"
    for i, r in ipairs(reports) do
      if i > 1 then io.write("\n") end
      io.write(text.text(r))
    end
  end
  return 0
end


--- main(argv) -> exit code: mailcast report SCRIPT.lua|STORE [options].
function M.main(argv)
  local o, why = options(argv)
  if not o then return usage.error("report", "%s", why) end
  local only, path, campaign = require("mailcast.runner").locate("report", o.target, o.store)
  if not only then return path end
  local name = o.campaign or (only ~= true and only or nil)
  local store, err = mailcast.store(path)
  if not store then stderr("report: %s", err) return 1 end
  local campaigns = chosen(store, name)
  local code
  if #campaigns == 0 then
    stderr("report: no campaign%s in %s", name and (" '" .. name .. "'") or "", path)
    code = 1
  elseif #campaigns > 1 and (o.csv or o.html) then
    stderr("report: --csv and --html write one campaign: give --campaign NAME (%s has %s)", path, names(store))
    code = 2
  else
    local from = campaign and type(campaign.from) == "string" and (campaign.from:match("<([^<>]+)>") or campaign.from)
    local ok, result = pcall(produce, store, campaigns, o, from, campaign)
    if ok then code = result else stderr("report: %s", tostring(result)) code = 1 end
  end
  store:close()
  return code
end

return M
