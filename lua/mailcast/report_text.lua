-- `mailcast report` on the terminal, and the number formats every form
-- of the report shows people (1,234; 12.3%; 1 h 5 min).
local M = {}

--- count(n) -> "1,234,567" ("-" for nil).
function M.count(n)
  if n == nil then return "-" end
  local s = string.format("%d", math.floor(n + 0.5))
  local sign, digits = s:match("^(%-?)(%d+)$")
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. digits
end

--- variant(k [, label]) -> an A/B test's variant k as sentences name
-- it: its label, quoted, when it has one, else its number.
function M.variant(k, label)
  return label and string.format("'%s'", label) or tostring(k)
end

--- pct(fraction) -> "12.3%" ("-" for nil: a rate of nothing).
function M.pct(f)
  if f == nil then return "-" end
  return string.format("%.1f%%", f * 100)
end

--- duration(seconds) -> "42 s", "5 min 3 s", "2 h 5 min", "3 d 4 h" ("-" for nil).
function M.duration(s)
  if s == nil then return "-" end
  s = math.floor(s + 0.5)
  if s < 60 then return s .. " s" end
  if s < 3600 then return string.format("%d min %d s", s // 60, s % 60) end
  if s < 86400 then return string.format("%d h %d min", s // 3600, s % 3600 // 60) end
  return string.format("%d d %d h", s // 86400, s % 86400 // 3600)
end

--- utc(t) -> "2026-12-07 14:05 UTC" ("-" for nil).
function M.utc(t)
  if t == nil then return "-" end
  return os.date("!%Y-%m-%d %H:%M UTC", math.floor(t))
end

--- clean(s [, max]) -> s on one line with its control bytes written
-- \xNN (a reply or address from outside must not move the terminal's
-- cursor or forge lines), cut to max characters with "...".
function M.clean(s, max)
  s = tostring(s or ""):gsub("[\r\n]+", " "):gsub("%c", function(c) return string.format("\\x%02x", c:byte()) end)
  if max and #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

--- reply(r) -> "550 5.1.1 text" of a row with code, enhanced and text.
function M.reply(r)
  local parts = {}
  if r.code and r.code > 0 then parts[#parts + 1] = tostring(r.code) end
  if r.enhanced and r.enhanced ~= "" and not (r.text or ""):find(r.enhanced, 1, true) then
    parts[#parts + 1] = r.enhanced
  end
  parts[#parts + 1] = r.text or ""
  return table.concat(parts, " ")
end


local function line(out, fmt, ...) out[#out + 1] = string.format(fmt, ...) end

-- "12.3%" after a count, or nothing when it has no rate.
local function rate(f) return f and string.format("%7s", M.pct(f)) or "" end


local function funnel(out, r)
  local f, rt = r.funnel, r.rates
  line(out, "Funnel")
  line(out, "  %-24s %10s", "recipients", M.count(f.recipients))
  line(out, "  %-24s %10s", "sent", M.count(f.sent))
  line(out, "  %-24s %10s %s of sent", "delivered", M.count(f.delivered), rate(rt.delivered))
  line(out, "  %-24s %10s", "deferred now", M.count(f.deferred))
  line(out, "  %-24s %10s   hard %s, soft %s", "failed", M.count(f.failed), M.count(f.failed_hard),
    M.count(f.failed_soft))
  line(out, "  %-24s %10s %s   hard %s, soft %s", "bounced after delivery", M.count(f.bounced), rate(rt.bounces),
    M.count(f.bounced_hard), M.count(f.bounced_soft))
  line(out, "  %-24s %10s", "suppressed", M.count(f.suppressed))
  line(out, "  %-24s %10s", "skipped", M.count(f.skipped))
  if f.pending > 0 then line(out, "  %-24s %10s", "not sent yet", M.count(f.pending)) end
  line(out, "  %-24s %10s %s   %s opens", "opened", M.count(f.opens_unique), rate(rt.opens),
    M.count(f.opens_total))
  line(out, "  %-24s %10s           %s fetches (proxies, scanners; not counted above)", "opened by machines",
    M.count(f.machine_opens_unique), M.count(f.machine_opens_total))
  line(out, "  %-24s %10s %s   %s clicks", "clicked", M.count(f.clicks_unique), rate(rt.clicks),
    M.count(f.clicks_total))
  line(out, "  %-24s %10s %s", "click-to-open", "", rate(rt.click_to_open) ~= "" and rate(rt.click_to_open) or "      -")
  line(out, "  %-24s %10s %s", "unsubscribed", M.count(f.unsubscribes), rate(rt.unsubscribes))
  line(out, "  %-24s %10s %s", "complaints", M.count(f.complaints), rate(rt.complaints))
  line(out, "  %-24s %10s", "median time to open", M.duration(r.open_delay.median_seconds))
  line(out, "  (rates against delivered)")
end


local function outcomes(out, r)
  if #r.outcomes == 0 then return end
  line(out, "")
  line(out, "Failures, deferrals, bounces and complaints by reason")
  line(out, "  %-10s %-18s %-22s %-4s %8s  %s", "kind", "reason", "category", "hard", "count", "example reply")
  for _, o in ipairs(r.outcomes) do
    line(out, "  %-10s %-18s %-22s %-4s %8s  %s", o.kind, M.clean(o.reason, 18), M.clean(o.category, 22),
      o.hard and "yes" or "no", M.count(o.count), M.clean(M.reply(o.example), 80))
  end
end


local function links(out, r)
  if #r.links == 0 then return end
  line(out, "")
  line(out, "Links")
  line(out, "  %8s %8s  %-12s %s", "unique", "clicks", "tag", "url")
  for _, l in ipairs(r.links) do
    line(out, "  %8s %8s  %-12s %s", M.count(l.unique_clicks), M.count(l.clicks), M.clean(l.tag or "-", 12),
      M.clean(l.url, 100))
  end
end


local function groups(out, title, list)
  if #list == 0 then return end
  line(out, "")
  line(out, "%s", title)
  line(out, "  %-24s %10s %9s %9s %9s %9s", "", "recipients", "delivered", "deferred", "failed", "latency")
  for _, g in ipairs(list) do
    line(out, "  %-24s %10s %9s %9s %9s %9s", M.clean(g.name == "" and "(none)" or g.name, 24),
      M.count(g.recipients), M.pct(g.delivered_share), M.pct(g.deferred_share), M.pct(g.failed_share),
      g.median_latency and M.duration(g.median_latency) or "-")
    for _, reply in ipairs(g.replies) do
      line(out, "      %6s %-8s %s", M.count(reply.count), reply.state, M.clean(M.reply(reply), 90))
    end
  end
end


local function variants(out, r)
  local v = r.variants
  if not v then return end
  line(out, "")
  line(out, "A/B test: %s", v.winner and string.format("variant %s won (picked %s)",
      M.variant(v.winner, v.winner_label), M.utc(v.picked))
    or (v.sent and string.format("test group sent %s; %s held for the winner", M.utc(v.sent), M.count(v.held)))
    or string.format("test group being sent; %s held for the winner", M.count(v.held)))
  line(out, "  %-8s %-5s %10s %9s %9s %7s %9s %7s", "variant", "group", "recipients", "delivered", "opened", "",
    "clicked", "")
  for _, g in ipairs(v.groups) do
    line(out, "  %-8s %-5s %10s %9s %9s %7s %9s %7s", g.label or tostring(g.variant), g.group, M.count(g.recipients),
      M.count(g.delivered), M.count(g.opens_unique), M.pct(g.open_rate), M.count(g.clicks_unique), M.pct(g.click_rate))
  end
end


-- A bar of width at most w for n of max.
local function bar(n, max, w)
  if max == 0 then return "" end
  return ("#"):rep(math.floor(n / max * w + 0.5))
end


-- A timeline of at most 60 lines: rows merged into buckets of several
-- when there are more. fields: {key of the time, label fn, counts...}.
local function timeline(out, title, list, key, label, counts)
  if #list == 0 then return end
  local per = math.ceil(#list / 60)
  local buckets = {}
  for i, row in ipairs(list) do
    local b = (i - 1) // per + 1
    buckets[b] = buckets[b] or { at = row[key], n = {} }
    for j, c in ipairs(counts) do buckets[b].n[j] = (buckets[b].n[j] or 0) + row[c] end
  end
  local max = 0
  for _, b in ipairs(buckets) do max = math.max(max, b.n[1]) end
  line(out, "")
  line(out, "%s", per > 1 and string.format("%s (%d to a line)", title, per) or title)
  for _, b in ipairs(buckets) do
    local rest = {}
    for j = 2, #counts do rest[#rest + 1] = string.format("%s %s", M.count(b.n[j]), counts[j]) end
    line(out, "  %8s %8s %-40s %s", label(b.at), M.count(b.n[1]), bar(b.n[1], max, 40), table.concat(rest, ", "))
  end
end


--- text(report) -> the report as the terminal shows it.
function M.text(r)
  local out = {}
  line(out, "%s: campaign report (created %s; deliveries %s to %s)", M.clean(r.name), M.utc(r.created),
    M.utc(r.first_delivery), M.utc(r.last_delivery))
  line(out, "")
  funnel(out, r)
  variants(out, r)
  outcomes(out, r)
  links(out, r)
  groups(out, "By domain (the largest 20)", r.domains)
  groups(out, "By provider", r.providers)
  groups(out, "By route", r.routes)
  groups(out, "By MX host (the largest 20)", r.hosts)
  timeline(out, "Deliveries per minute", r.per_minute, "minute", function(m) return "+" .. m .. " min" end,
    { "delivered" })
  timeline(out, "Opens and clicks per hour since the first delivery (first 3 days)", r.per_hour, "hour",
    function(h) return "+" .. h .. " h" end, { "opens", "clicks" })
  return table.concat(out, "\n") .. "\n"
end

return M
