-- `mailcast queue`: the deferred recipients of a campaign (or of every
-- campaign of a store) by domain and reason, with their next attempt and
-- last reply; --retry-now makes them due now, --cancel ends their
-- sending. The counting and the changes are the store's (csrc/core/
-- store_queue_ops.c): safe while a run of the same store goes on.
local mailcast = require "mailcast"
local core = require "mailcast.core"
local usage = require "mailcast.usage"
local codes = require "mailcast.smtp_codes"
local fmt = require "mailcast.report_text"

local M = {}

-- Recipients listed by --recipients unless --limit says otherwise.
M.LIMIT = 50

local function stderr(...)
  io.stderr:write("mailcast: ", string.format(...), "\n")
end

local VALUE_OPTIONS = { ["--store"] = "store", ["--campaign"] = "campaign", ["--domain"] = "domain",
  ["--limit"] = "limit" }
local FLAGS = { ["--json"] = "json", ["--recipients"] = "recipients", ["--retry-now"] = "retry",
  ["--cancel"] = "cancel" }


local function options(argv)
  local o = {}
  local i = 2
  while i <= #argv do
    local a = argv[i]
    if VALUE_OPTIONS[a] then
      local v = argv[i + 1]
      if v == nil or v == "" then return nil, string.format("queue: %s needs a value", a) end
      o[VALUE_OPTIONS[a]] = v
      i = i + 1
    elseif FLAGS[a] then o[FLAGS[a]] = true
    elseif a:match("^%-") then return nil, string.format("queue: unknown option '%s'", a)
    elseif not o.target then o.target = a
    else return nil, string.format("queue: unexpected '%s'", a) end
    i = i + 1
  end
  if not o.target and not o.store then return nil, "queue: give a campaign script or a store file" end
  if o.retry and o.cancel then return nil, "queue: --retry-now or --cancel, not both" end
  if o.limit then
    o.limit = math.tointeger(tonumber(o.limit))
    if not o.limit or o.limit < 1 then return nil, "queue: --limit needs a positive whole number" end
  end
  return o
end


-- What a reply's codes mean, in plain words (smtp_codes): the enhanced
-- status's detail, else the reply code's.
local function meaning(r)
  return codes.status(r.enhanced) or (r.code and codes.code(r.code)) or nil
end


-- "in 4 min 10 s", or "due now".
local function when(t, now)
  if not t then return "-" end
  if t <= now then return "due now" end
  return "in " .. fmt.duration(t - now)
end


-- A recipient's last SMTP transcript, as the store keeps it for one not
-- delivered (store:transcript: its last transaction's lines, as `mailcast
-- test` shows them): a list of lines, or nil when none was kept.
local function transcript(store, r)
  local t = store:transcript(r.id)
  if not t then return nil end
  local lines = {}
  for line in t.text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end


-- The id of the campaign named name (0 for every campaign when name is
-- nil), or nil when the store has no such campaign.
local function campaign_id(store, name)
  if not name then return 0 end
  local id = store:find_campaign(name)
  if not id or id == 0 then return nil end
  return id
end


local function by_campaign(list)
  local order, by = {}, {}
  for _, row in ipairs(list) do
    local c = by[row.campaign_name]
    if not c then
      c = {}
      by[row.campaign_name] = c
      order[#order + 1] = row.campaign_name
    end
    c[#c + 1] = row
  end
  return order, by
end


local function text_out(store, groups, recipients, now)
  local order, by = by_campaign(groups)
  local _, people = by_campaign(recipients or {})
  if #order == 0 then io.write("no deferred recipients\n") return end
  for n, name in ipairs(order) do
    if n > 1 then io.write("\n") end
    local total, soonest, domains = 0, nil, {}
    for _, g in ipairs(by[name]) do
      total = total + g.count
      if g.next_at and (not soonest or g.next_at < soonest) then soonest = g.next_at end
      domains[g.domain] = true
    end
    local ndomains = 0
    for _ in pairs(domains) do ndomains = ndomains + 1 end
    io.write(string.format("%s: %s deferred recipient%s at %d domain%s; next attempt %s\n", fmt.clean(name),
      fmt.count(total), total == 1 and "" or "s", ndomains, ndomains == 1 and "" or "s", when(soonest, now)))
    for _, g in ipairs(by[name]) do
      io.write(string.format("  %s, %s: %s, next attempt %s (%s)\n", fmt.clean(g.domain), g.reason or "unclassified",
        fmt.count(g.count), when(g.next_at, now), fmt.utc(g.next_at)))
      local why = meaning(g)
      io.write(string.format("    last reply %s: %s%s\n", fmt.utc(g.last_at), fmt.clean(fmt.reply(g), 160),
        why and (" (" .. why .. ")") or ""))
    end
    for _, r in ipairs(people[name] or {}) do
      io.write(string.format("    %s  %d attempt%s, next %s: %s\n", fmt.clean(r.address), r.attempts,
        r.attempts == 1 and "" or "s", when(r.next_at, now), fmt.clean(fmt.reply(r), 120)))
      for _, l in ipairs(transcript(store, r) or {}) do io.write("      ", fmt.clean(l), "\n") end
    end
  end
end


local function json_out(store, groups, recipients)
  local export = require "mailcast.report_export"
  local array = require("mailcast.report").ARRAY
  local null = export.NULL
  local order, by = by_campaign(groups)
  local _, people = by_campaign(recipients or {})
  local out = setmetatable({}, array)
  for _, name in ipairs(order) do
    local c = { name = name, deferred = 0, groups = setmetatable({}, array) }
    for _, g in ipairs(by[name]) do
      c.deferred = c.deferred + g.count
      c.groups[#c.groups + 1] = { domain = g.domain, reason = g.reason or null, category = g.category or null,
        count = g.count, next_at = g.next_at or null, last_at = g.last_at or null, meaning = meaning(g) or null,
        last_reply = { code = g.code or null, enhanced = g.enhanced or null, text = g.text or null } }
    end
    if recipients then
      c.recipients = setmetatable({}, array)
      for _, r in ipairs(people[name] or {}) do
        local t = transcript(store, r)
        c.recipients[#c.recipients + 1] = { address = r.address, domain = r.domain, attempts = r.attempts,
          next_at = r.next_at or null, first_at = r.first_at or null, updated = r.updated or null,
          reason = r.reason or null, transcript = t and setmetatable(t, array) or null,
          last_reply = { code = r.code or null, enhanced = r.enhanced or null, text = r.text or null } }
      end
    end
    out[#out + 1] = c
  end
  io.write(export.json { campaigns = out })
end


-- The changes: --retry-now and --cancel.
local function change(store, id, o, name)
  local scope = (o.domain and (" at " .. o.domain) or "") .. (name and (" of " .. name) or "")
  if o.retry then
    local n, err = store:queue_retry(id, o.domain)
    if not n then stderr("queue: %s", err) return 1 end
    if o.json then io.write(require("mailcast.report_export").json { retried = n })
    else io.write(string.format("%s deferred recipient%s%s due now\n", fmt.count(n), n == 1 and "" or "s", scope)) end
    return 0
  end
  local n, in_flight = store:queue_cancel(id, o.domain)
  if not n then stderr("queue: %s", in_flight) return 1 end
  if o.json then
    io.write(require("mailcast.report_export").json { cancelled = n, in_flight = in_flight })
  else
    io.write(string.format("%s recipient%s%s cancelled (failed: \"cancelled by operator\"; not suppressed)\n",
      fmt.count(n), n == 1 and "" or "s", scope))
    if in_flight > 0 then
      io.write(string.format("%s in flight now: delivered or failed as their servers answer, cancelled if"
        .. " deferred\n", fmt.count(in_flight)))
    end
  end
  return 0
end


--- main(argv) -> exit code: mailcast queue SCRIPT.lua|STORE [options].
function M.main(argv)
  local o, why = options(argv)
  if not o then return usage.error("queue", "%s", why) end
  local only, path = require("mailcast.runner").locate("queue", o.target, o.store)
  if not only then return path end
  local name = o.campaign or (only ~= true and only or nil)
  -- Cancelling every campaign of a store at once is never what was meant.
  if o.cancel and not name and not o.domain then
    return usage.error("queue", "queue: --cancel needs a campaign (a script or --campaign NAME) or --domain D")
  end
  local store, err = mailcast.store(path)
  if not store then stderr("queue: %s", err) return 1 end
  local code
  local id = campaign_id(store, name)
  if not id then
    stderr("queue: no campaign '%s' in %s", name, path)
    code = 1
  elseif o.retry or o.cancel then
    code = change(store, id, o, name)
  else
    local groups, gerr = store:queue_groups(id, o.domain)
    local recipients, rerr
    if groups and o.recipients then recipients, rerr = store:queue_recipients(id, o.domain, o.limit or M.LIMIT) end
    if not groups or (o.recipients and not recipients) then
      stderr("queue: %s", gerr or rerr)
      code = 1
    else
      if o.json then json_out(store, groups, recipients) else text_out(store, groups, recipients, core.time()) end
      code = 0
    end
  end
  store:close()
  return code
end

return M
