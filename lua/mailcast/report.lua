-- A campaign's report: what the store's report queries (csrc/core/
-- store_report.c) count, gathered into one table that the terminal,
-- JSON, CSV and HTML forms of `mailcast report` all print. The counting
-- is SQL; here the rows are put in order, the gaps of the timelines
-- filled and the rates worked out.
local M = {}

-- The hours of opens and clicks a report shows: the first three days.
M.HOURS = 72

-- A timeline by the minute longer than this is shown as its rows only
-- (a campaign resumed days later would otherwise be mostly zeros).
local MAX_MINUTES = 24 * 60

-- The groups by domain shown, and the replies shown for each.
local DOMAINS, REPLIES = 20, 3

--- ARRAY: the metatable of a list that must stay a list when it is
-- empty (the JSON form writes [] for it, not {}).
M.ARRAY = { __name = "array" }

local function array(t) return setmetatable(t or {}, M.ARRAY) end

-- part / whole, or nil when there is no whole.
local function ratio(part, whole)
  if not whole or whole == 0 then return nil end
  return part / whole
end


local function rows(store, name, id, state, limit)
  local list, err = store:report(name, id, state, limit)
  if not list then error(err, 0) end
  return list
end


local function funnel(f)
  f.failed_soft = f.failed - f.failed_hard
  f.bounced_soft = f.bounced - f.bounced_hard
  f.first_delivery, f.last_delivery = nil, nil
  return f
end


-- Rates against delivered (delivery against sent, click-to-open
-- against unique opens): fractions, nil when the whole is 0.
local function rates(f)
  return {
    delivered = ratio(f.delivered, f.sent),
    opens = ratio(f.opens_unique, f.delivered),
    clicks = ratio(f.clicks_unique, f.delivered),
    click_to_open = ratio(f.clicks_unique, f.opens_unique),
    unsubscribes = ratio(f.unsubscribes, f.delivered),
    complaints = ratio(f.complaints, f.delivered),
    bounces = ratio(f.bounced, f.delivered),
    failed = ratio(f.failed, f.sent),
  }
end


local function outcomes(list)
  local out = array()
  for _, r in ipairs(list) do
    out[#out + 1] = { kind = r.kind, reason = r.reason, category = r.category, hard = r.hard == 1,
      count = r.count, example = { code = r.code, enhanced = r.enhanced, text = r.text } }
  end
  return out
end


local function links(list)
  local out = array()
  for _, r in ipairs(list) do
    out[#out + 1] = { index = r.idx, url = r.url, tag = r.tag, unique_clicks = r.unique_clicks, clicks = r.clicks }
  end
  return out
end


-- By domain, provider, route or MX host: the counts, their shares of
-- the group's recipients, the median time from a delivered recipient's
-- first attempt to its delivery (what deferrals cost; 0 when the first
-- attempts went through), and the group's commonest replies.
local function groups(store, id, key)
  local latency = {}
  for _, r in ipairs(rows(store, "group_latency", id, key, -1)) do latency[r.name] = r.median end
  local replies = {}
  for _, r in ipairs(rows(store, "group_replies", id, key, REPLIES)) do
    local list = replies[r.name] or array()
    replies[r.name] = list
    list[#list + 1] = { state = r.state, code = r.code, enhanced = r.enhanced, text = r.text, count = r.count }
  end
  local out = array()
  for _, g in ipairs(rows(store, "groups", id, key, (key == "domain" or key == "host") and DOMAINS or -1)) do
    g.delivered_share = ratio(g.delivered, g.recipients)
    g.deferred_share = ratio(g.deferred, g.recipients)
    g.failed_share = ratio(g.failed, g.recipients)
    g.median_latency = latency[g.name]
    g.replies = replies[g.name] or array()
    out[#out + 1] = g
  end
  return out
end


-- Deliveries per minute from the first one: every minute up to the
-- last, 0 where there were none (only the minutes that had some when
-- that would be too many).
local function per_minute(list)
  local out, last = array(), list[#list] and list[#list].minute or -1
  if last >= MAX_MINUTES then
    for _, r in ipairs(list) do out[#out + 1] = { minute = r.minute, delivered = r.count } end
    return out
  end
  local by = {}
  for _, r in ipairs(list) do by[r.minute] = r.count end
  for m = 0, last do out[#out + 1] = { minute = m, delivered = by[m] or 0 } end
  return out
end


-- Opens (by people) and clicks per hour from the first delivery, every
-- hour up to the last that had one.
local function per_hour(list)
  local out, by = array(), {}
  for _, r in ipairs(list) do by[r.hour] = r end
  for h = 0, list[#list] and list[#list].hour or -1 do
    out[#out + 1] = { hour = h, opens = by[h] and by[h].opens or 0, clicks = by[h] and by[h].clicks or 0 }
  end
  return out
end


-- An A/B test by variant (nil when the campaign has none): each
-- variant's test group, and the rest sent the winner, with their rates
-- against delivered; the recipients held for the pick; the winner and
-- when the test group was sent and the winner picked. labels: the
-- variants' labels by number, as the campaign's script gives them now;
-- without it (or for a variant it has no label for) those its last run
-- recorded in the store.
local function variants(store, id, labels)
  local list = rows(store, "variants", id)
  if #list == 0 then return nil end
  local t = rows(store, "test", id, "count")[1]
  labels = labels or {}
  local out = { winner = t.winner, winner_label = t.winner and (labels[t.winner] or t.winner_label),
                sent = t.sent, picked = t.picked, held = t.held, groups = array() }
  for _, r in ipairs(list) do
    if r.variant > 0 then
      out.groups[#out.groups + 1] = {
        variant = r.variant, label = labels[r.variant] or r.label, group = r.test == 1 and "test" or "rest",
        recipients = r.recipients,
        delivered = r.delivered, failed = r.failed, pending = r.pending,
        opens_unique = r.opens_unique, clicks_unique = r.clicks_unique,
        open_rate = ratio(r.opens_unique, r.delivered), click_rate = ratio(r.clicks_unique, r.delivered),
      }
    end
  end
  return out
end


--- gather(store, campaign [, labels]) -> report: campaign is a row of
-- store:report("campaigns"); labels: its A/B test's variant labels by
-- number (mailcast.abtest.labels), when its script is known. Raises with the store's message on error.
-- The report's fields (README.md, "mailcast report", lists them): name,
-- created, funnel, rates, outcomes, links, domains, providers,
-- per_minute, per_hour, open_delay, and variants for an A/B test.
function M.gather(store, campaign, labels)
  local id = campaign.id
  local f = rows(store, "funnel", id)[1]
  local started, ended = f.first_delivery, f.last_delivery
  f = funnel(f)
  local delay = rows(store, "open_delay", id)[1]
  return {
    name = campaign.name,
    created = campaign.created,
    first_delivery = started,
    last_delivery = ended,
    funnel = f,
    rates = rates(f),
    outcomes = outcomes(rows(store, "outcomes", id)),
    links = links(rows(store, "links", id)),
    domains = groups(store, id, "domain"),
    providers = groups(store, id, "provider"),
    routes = groups(store, id, "route"),
    hosts = groups(store, id, "host"),
    per_minute = per_minute(rows(store, "per_minute", id)),
    per_hour = per_hour(rows(store, "per_hour", id, nil, M.HOURS)),
    open_delay = { opened = delay.opened, median_seconds = delay.median },
    variants = variants(store, id, labels),
  }
end


--- accounting(store, campaign, fn): calls fn(row) for every outcome,
-- bounce and complaint of the campaign in the order they happened (row:
-- at, kind, address, code, enhanced, text, reason, category, route).
function M.accounting(store, campaign, fn)
  -- A row at a time: a campaign of a million has millions of them.
  local ok, err = store:report("accounting", campaign.id, nil, -1, fn)
  if not ok then error(err, 0) end
end

return M
