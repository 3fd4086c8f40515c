-- `mailcast report --json` and `--csv DIR`: the numbers of a report
-- (mailcast.report) for programs. JSON keys are written in sorted order
-- so the output of two runs compares line for line; the CSV files are
-- one per table, and accounting.csv has the columns PowerMTA's
-- accounting files have, so tools made for those load it.
local core = require "mailcast.core"
local report = require "mailcast.report"

local M = {}

local function number(n)
  if math.type(n) == "integer" then return string.format("%d", n) end
  if n ~= n or n == math.huge or n == -math.huge then return "null" end
  local s = string.format("%.6f", n):gsub("0+$", ""):gsub("%.$", "")
  return s
end


local function is_list(t)
  if getmetatable(t) == report.ARRAY then return true end
  return next(t) ~= nil and #t > 0 and next(t, #t) == nil
end


local encode

--- NULL: written as null (a key the JSON always has, with no value).
M.NULL = setmetatable({}, { __name = "null" })

local function encode_object(t, out, indent)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  if #keys == 0 then out[#out + 1] = "{}" return end
  local inner = indent .. "  "
  out[#out + 1] = "{\n"
  for i, k in ipairs(keys) do
    out[#out + 1] = inner .. core.json_string(k) .. ": "
    encode(t[k], out, inner)
    out[#out + 1] = i < #keys and ",\n" or "\n"
  end
  out[#out + 1] = indent .. "}"
end


function encode(v, out, indent)
  local tv = type(v)
  if v == M.NULL then out[#out + 1] = "null"
  elseif tv == "table" then
    if is_list(v) then
      if #v == 0 then out[#out + 1] = "[]" return end
      local inner = indent .. "  "
      out[#out + 1] = "[\n"
      for i, x in ipairs(v) do
        out[#out + 1] = inner
        encode(x, out, inner)
        out[#out + 1] = i < #v and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "]"
    else
      encode_object(v, out, indent)
    end
  elseif tv == "string" then out[#out + 1] = core.json_string(v)
  elseif tv == "number" then out[#out + 1] = number(v)
  elseif tv == "boolean" then out[#out + 1] = tostring(v)
  else out[#out + 1] = "null" end
end

local function nulls(t, keys)
  for _, k in ipairs(keys) do if t[k] == nil then t[k] = M.NULL end end
end

local REPLY_KEYS = { "code", "enhanced", "text" }
local RATES = { "delivered", "opens", "clicks", "click_to_open", "unsubscribes", "complaints", "bounces", "failed" }

--- with_nulls(r) -> r with null in every key of the report that has no
-- value (a rate of nothing, a reply without a code), so that its JSON
-- always has the same keys. Changes r.
function M.with_nulls(r)
  nulls(r, { "first_delivery", "last_delivery" })
  nulls(r.rates, RATES)
  nulls(r.open_delay, { "median_seconds" })
  for _, o in ipairs(r.outcomes) do nulls(o, { "reason", "category" }) nulls(o.example, REPLY_KEYS) end
  for _, l in ipairs(r.links) do nulls(l, { "tag" }) end
  for _, list in ipairs { r.domains, r.providers, r.routes, r.hosts } do
    for _, g in ipairs(list) do
      nulls(g, { "delivered_share", "deferred_share", "failed_share", "median_latency" })
      for _, reply in ipairs(g.replies) do nulls(reply, REPLY_KEYS) end
    end
  end
  if r.variants then
    nulls(r.variants, { "winner", "winner_label", "sent", "picked" })
    for _, g in ipairs(r.variants.groups) do nulls(g, { "label", "open_rate", "click_rate" }) end
  end
  return r
end

--- json(value) -> value as indented JSON (objects' keys sorted; a
-- list marked with report.ARRAY stays [] when empty).
function M.json(value)
  local out = {}
  encode(value, out, "")
  out[#out + 1] = "\n"
  return table.concat(out)
end


--- csv_field(v) -> v as a CSV field: quoted when it holds a comma, a
-- quote or a line break (quotes doubled); nil is empty.
function M.csv_field(v)
  if v == nil then return "" end
  if type(v) == "number" then return number(v) end
  if type(v) == "boolean" then return v and "1" or "0" end
  v = tostring(v)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end


-- Writes a CSV file of the columns and a line for each item each(fn)
-- gives fn, made into fields by row(item).
local function write_rows(path, columns, each, row)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local fields = {}
  for i, c in ipairs(columns) do fields[i] = M.csv_field(c) end
  f:write(table.concat(fields, ","), "\r\n")
  local ok, why = pcall(each, function(item)
    local values = row(item)
    for i = 1, #columns do fields[i] = M.csv_field(values[i]) end
    f:write(table.concat(fields, ","), "\r\n")
  end)
  if not ok then f:close() return nil, why end
  ok, why = f:close()
  if not ok then return nil, why end
  return true
end


local function write_table(path, columns, list, row)
  return write_rows(path, columns, function(fn) for _, item in ipairs(list) do fn(item) end end, row)
end


-- What a PowerMTA accounting record says of each kind of event: its
-- type, its dsnAction, and the status for a reply without one.
local ACCOUNTING = {
  delivered = { "d", "delivered", "2.0.0" },
  deferred = { "t", "delayed", "4.0.0" },
  failed = { "b", "failed", "5.0.0" },
  bounced = { "rb", "failed", "5.0.0" },
  delayed = { "t", "delayed", "4.0.0" },
  complained = { "f", "", "" },
}

M.ACCOUNTING_COLUMNS = { "type", "timeLogged", "orig", "rcpt", "dsnAction", "dsnStatus", "dsnDiag", "vmta",
  "jobId", "bounceCat" }

-- "2026-12-07 14:05:06+0000" for t, os.date once a second (a run
-- records hundreds of outcomes a second).
local last_second, last_logged
local function logged(t)
  local s = math.floor(t)
  if s ~= last_second then last_second, last_logged = s, os.date("!%Y-%m-%d %H:%M:%S+0000", s) end
  return last_logged
end

--- accounting_row(r, name, from) -> the accounting.csv fields of an
-- event row of report.accounting, for campaign name sent from from.
function M.accounting_row(r, name, from)
  local a = ACCOUNTING[r.kind] or { r.kind, "", "" }
  local status = r.enhanced
  if (status == nil or status == "") and r.code and r.code >= 200 then
    status = string.format("%d.0.0", r.code // 100)
  end
  local diag = r.text or ""
  if r.code and r.code > 0 then diag = "smtp;" .. r.code .. " " .. diag end
  return { a[1], logged(r.at), from or "", r.address, a[2],
    status or a[3], diag, r.route or "", name, r.kind ~= "delivered" and r.category or "" }
end


local function shares(g)
  return { g.name, g.recipients, g.delivered, g.deferred, g.failed, g.skipped, g.pending, g.delivered_share,
    g.deferred_share, g.failed_share, g.median_latency }
end

local GROUP_COLUMNS = { "name", "recipients", "delivered", "deferred", "failed", "skipped", "pending",
  "delivered_share", "deferred_share", "failed_share", "median_latency_seconds" }

-- The group lists of a report, by the name replies.csv gives them.
local GROUP_LISTS = { { "domain", "domains" }, { "provider", "providers" }, { "route", "routes" },
  { "host", "hosts" } }


-- The metric,value rows of funnel.csv: the funnel's counts, then the
-- rates (as rate_NAME).
local function funnel_rows(r)
  local list = {}
  for k, v in pairs(r.funnel) do list[#list + 1] = { k, v } end
  for k, v in pairs(r.rates) do list[#list + 1] = { "rate_" .. k, v } end
  list[#list + 1] = { "median_open_seconds", r.open_delay.median_seconds }
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end


local function replies(r)
  local list = {}
  for _, group in ipairs(GROUP_LISTS) do
    for _, g in ipairs(r[group[2]]) do
      for _, reply in ipairs(g.replies) do
        list[#list + 1] = { group[1], g.name, reply.state, reply.count, reply.code, reply.enhanced, reply.text }
      end
    end
  end
  return list
end


local function same(row) return row end

--- csv(r, dir, accounting) -> the files written | nil, message: one
-- file per table of report r in dir (made when absent); accounting(fn)
-- calls fn with each accounting.csv row.
function M.csv(r, dir, accounting)
  os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
  local files = {
    { "funnel.csv", { "metric", "value" }, funnel_rows(r), same },
    { "outcomes.csv", { "kind", "reason", "category", "hard", "count", "example_code", "example_enhanced",
      "example_text" }, r.outcomes, function(o)
        return { o.kind, o.reason, o.category, o.hard, o.count, o.example.code, o.example.enhanced, o.example.text }
      end },
    { "links.csv", { "index", "url", "tag", "unique_clicks", "clicks" }, r.links,
      function(l) return { l.index, l.url, l.tag, l.unique_clicks, l.clicks } end },
    { "domains.csv", GROUP_COLUMNS, r.domains, shares },
    { "providers.csv", GROUP_COLUMNS, r.providers, shares },
    { "routes.csv", GROUP_COLUMNS, r.routes, shares },
    { "hosts.csv", GROUP_COLUMNS, r.hosts, shares },
    { "replies.csv", { "group", "name", "state", "count", "code", "enhanced", "text" }, replies(r), same },
    { "per_minute.csv", { "minute", "delivered" }, r.per_minute, function(m) return { m.minute, m.delivered } end },
    { "per_hour.csv", { "hour", "opens", "clicks" }, r.per_hour, function(h) return { h.hour, h.opens, h.clicks } end },
  }
  if r.variants then   -- an A/B test: its groups, the winner marked
    files[#files + 1] = { "variants.csv", { "variant", "group", "winner", "recipients", "delivered", "failed",
      "opens_unique", "clicks_unique", "open_rate", "click_rate", "label" }, r.variants.groups, function(g)
        return { g.variant, g.group, g.variant == r.variants.winner, g.recipients, g.delivered, g.failed,
          g.opens_unique, g.clicks_unique, g.open_rate, g.click_rate, g.label }
      end }
  end
  local written = {}
  for _, t in ipairs(files) do
    local ok, err = write_table(dir .. "/" .. t[1], t[2], t[3], t[4])
    if not ok then return nil, err end
    written[#written + 1] = dir .. "/" .. t[1]
  end
  local ok, err = write_rows(dir .. "/accounting.csv", M.ACCOUNTING_COLUMNS, accounting, same)
  if not ok then return nil, err end
  written[#written + 1] = dir .. "/accounting.csv"
  return written
end

return M
