-- `mailcast report --html FILE`: the report as one HTML file that needs
-- nothing else: its style inline, its charts inline SVG (report_svg), no
-- script and no address to fetch. It reads on a phone (one column, the
-- wide tables scroll) and prints. Every value from the store is escaped:
-- addresses, URLs and replies are other people's text.
local svg = require "mailcast.report_svg"
local fmt = require "mailcast.report_text"

local M = {}

local esc, count, pct = svg.esc, fmt.count, fmt.pct

local STYLE = [[
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#f4f6f9}
main{max-width:980px;margin:0 auto;padding:16px}
h1{font-size:1.5em;margin:.2em 0}
h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #d5dbe3;padding-bottom:.2em}
.meta{color:#5a6575;margin:0 0 1em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px}
.card{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:10px 12px}
.card .v{font-size:1.6em;font-weight:600}
.card .k{color:#5a6575;font-size:.85em}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde3ea;border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid #eef1f5;vertical-align:top}
th{background:#f8fafc;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.k{white-space:nowrap}td.t{overflow-wrap:anywhere;min-width:10em;max-width:38em}
tr.reply td{color:#5a6575;font-size:.9em;border-bottom:none}
.chart{width:100%;height:auto;background:#fff;border:1px solid #dde3ea;border-radius:8px;margin:.4em 0}
.chart .bar{fill:#3b6fd8}.chart .bar.deferred{fill:#e0a526}.chart .bar.failed{fill:#d9473f}
.chart .bar.delivered{fill:#2f9e62}.chart .bar.other{fill:#a3adba}
.chart .line{fill:none;stroke-width:2}.chart .opens{stroke:#3b6fd8;fill:#3b6fd8}
.chart .clicks{stroke:#d9473f;fill:#d9473f}.chart circle.opens,.chart circle.clicks{stroke:none}
.chart .axis{stroke:#8a94a3}.chart .grid{stroke:#e3e7ed;stroke-dasharray:3 3}
.chart text{font-size:13px;fill:#5a6575}.chart .label,.chart .value{font-size:14px;fill:#1d2430}
.key span{display:inline-block;margin-right:1em;font-size:.9em}
.key i{display:inline-block;width:.8em;height:.8em;margin-right:.3em;border-radius:2px}
.empty{color:#5a6575;font-style:italic}
@media (max-width:600px){main{padding:8px}th,td{padding:5px 6px}.card .v{font-size:1.3em}}
@media print{body{background:#fff}main{max-width:none;padding:0}.scroll,.chart,.card{border-color:#bbb}
 h2{break-after:avoid}.chart,table,.cards{break-inside:avoid}}
]]


local function table_html(out, head, rows, numeric)
  out[#out + 1] = '<div class="scroll"><table><thead><tr>'
  for i, h in ipairs(head) do
    out[#out + 1] = string.format('<th%s>%s</th>', numeric[i] and ' class="n"' or "", esc(h))
  end
  out[#out + 1] = "</tr></thead><tbody>"
  for _, row in ipairs(rows) do
    if row.reply then
      out[#out + 1] = string.format('<tr class="reply"><td></td><td colspan="%d">%s</td></tr>', #head - 1, esc(row.reply))
    else
      out[#out + 1] = "<tr>"
      for i, v in ipairs(row) do
        -- The first column names the row: kept on one line.
        out[#out + 1] = string.format('<td class="%s">%s</td>', numeric[i] and "n" or i == 1 and "k" or "t", esc(v))
      end
      out[#out + 1] = "</tr>"
    end
  end
  out[#out + 1] = "</tbody></table></div>"
end


local function cards(out, r)
  local f, rt = r.funnel, r.rates
  out[#out + 1] = '<div class="cards" id="cards">'
  for _, c in ipairs {
    { "recipients", count(f.recipients) }, { "delivered", pct(rt.delivered) .. " of sent" },
    { "opened", pct(rt.opens) }, { "clicked", pct(rt.clicks) }, { "click-to-open", pct(rt.click_to_open) },
    { "unsubscribed", pct(rt.unsubscribes) }, { "complaints", pct(rt.complaints) },
    { "median time to open", fmt.duration(r.open_delay.median_seconds) },
  } do
    out[#out + 1] = string.format('<div class="card"><div class="v">%s</div><div class="k">%s</div></div>',
      esc(c[2]), esc(c[1]))
  end
  out[#out + 1] = "</div>"
end


local function funnel(out, r)
  local f, rt = r.funnel, r.rates
  out[#out + 1] = "<h2>Funnel</h2>"
  out[#out + 1] = svg.bars("chart-funnel", "recipients from sent to clicked", {
    { name = "recipients", value = f.recipients }, { name = "sent", value = f.sent },
    { name = "delivered", value = f.delivered }, { name = "opened", value = f.opens_unique },
    { name = "clicked", value = f.clicks_unique }, { name = "unsubscribed", value = f.unsubscribes },
  }, count)
  local function row(name, n, rate, note) return { name, count(n), rate and pct(rate) or "", note or "" } end
  table_html(out, { "", "count", "rate", "" }, {
    row("recipients", f.recipients), row("sent", f.sent), row("delivered", f.delivered, rt.delivered, "of sent"),
    row("deferred now", f.deferred), row("failed", f.failed, rt.failed,
      string.format("of sent; hard %s, soft %s", count(f.failed_hard), count(f.failed_soft))),
    row("bounced after delivery", f.bounced, rt.bounces,
      string.format("hard %s, soft %s", count(f.bounced_hard), count(f.bounced_soft))),
    row("suppressed", f.suppressed), row("skipped", f.skipped), row("not sent yet", f.pending),
    row("opened", f.opens_unique, rt.opens, count(f.opens_total) .. " opens"),
    row("opened by machines", f.machine_opens_unique, nil,
      count(f.machine_opens_total) .. " fetches by proxies and scanners, not counted as opens"),
    row("clicked", f.clicks_unique, rt.clicks, count(f.clicks_total) .. " clicks"),
    { "click-to-open", "", pct(rt.click_to_open), "of those who opened" },
    row("unsubscribed", f.unsubscribes, rt.unsubscribes), row("complaints", f.complaints, rt.complaints),
  }, { false, true, true, false })
  out[#out + 1] = '<p class="meta">Rates are against delivered unless said otherwise.</p>'
end


local function timelines(out, r)
  out[#out + 1] = "<h2>Deliveries per minute</h2>"
  if #r.per_minute == 0 then out[#out + 1] = '<p class="empty">No deliveries yet.</p>' else
    local values = {}
    for i, m in ipairs(r.per_minute) do values[i] = m.delivered end
    out[#out + 1] = svg.columns("chart-per-minute", "deliveries per minute", values,
      function(i) return "+" .. r.per_minute[i].minute .. " min" end, count)
  end
  out[#out + 1] = "<h2>Opens and clicks per hour</h2>"
  out[#out + 1] = string.format('<p class="meta">From the first delivery, for the first three days; median time'
    .. ' from delivery to a first open: %s.</p>', esc(fmt.duration(r.open_delay.median_seconds)))
  if #r.per_hour == 0 then out[#out + 1] = '<p class="empty">No opens or clicks yet.</p>' return end
  local opens, clicks = {}, {}
  for i, h in ipairs(r.per_hour) do opens[i], clicks[i] = h.opens, h.clicks end
  out[#out + 1] = '<div class="key"><span><i style="background:#3b6fd8"></i>opens</span>'
    .. '<span><i style="background:#d9473f"></i>clicks</span></div>'
  out[#out + 1] = svg.lines("chart-per-hour", "opens and clicks per hour", {
    { name = "opens", class = "opens", values = opens }, { name = "clicks", class = "clicks", values = clicks },
  }, function(i) return "+" .. r.per_hour[i].hour .. " h" end, count)
end


local function links(out, r)
  out[#out + 1] = "<h2>Links</h2>"
  if #r.links == 0 then out[#out + 1] = '<p class="empty">No tracked links.</p>' return end
  local rows = {}
  for i, l in ipairs(r.links) do rows[i] = { l.url, l.tag or "", count(l.unique_clicks), count(l.clicks) } end
  table_html(out, { "URL", "tag", "unique clicks", "clicks" }, rows, { false, false, true, true })
end


local PARTS = {
  { key = "delivered_share", class = "delivered", name = "delivered" },
  { key = "deferred_share", class = "deferred", name = "deferred" },
  { key = "failed_share", class = "failed", name = "failed" },
}


local function groups(out, title, id, list)
  out[#out + 1] = "<h2>" .. esc(title) .. "</h2>"
  if #list == 0 then out[#out + 1] = '<p class="empty">No recipients.</p>' return end
  out[#out + 1] = '<div class="key"><span><i style="background:#2f9e62"></i>delivered</span>'
    .. '<span><i style="background:#e0a526"></i>deferred</span><span><i style="background:#d9473f"></i>failed</span></div>'
  out[#out + 1] = svg.stacked(id, title, list, PARTS, pct)
  local rows = {}
  for _, g in ipairs(list) do
    rows[#rows + 1] = { g.name == "" and "(none)" or g.name, count(g.recipients), pct(g.delivered_share),
      pct(g.deferred_share), pct(g.failed_share), fmt.duration(g.median_latency) }
    for _, reply in ipairs(g.replies) do
      rows[#rows + 1] = { reply = string.format("%s × %s: %s", count(reply.count), reply.state, fmt.reply(reply)) }
    end
  end
  table_html(out, { "", "recipients", "delivered", "deferred", "failed", "latency" }, rows,
    { false, true, true, true, true, true })
end


-- An A/B test: the test groups' rate (of the figure the winner is
-- picked by, opens when not known) as bars, and every group's figures.
local function variants(out, r)
  local v = r.variants
  if not v then return end
  out[#out + 1] = '<h2 id="variants">A/B test</h2>'
  out[#out + 1] = string.format('<p class="meta">%s</p>', esc(v.winner
    and string.format("Variant %s won (picked %s) and went to the rest of the list.",
      fmt.variant(v.winner, v.winner_label), fmt.utc(v.picked))
    or string.format("No winner yet: %s recipients held for it%s.", count(v.held),
      v.sent and (", the test group sent " .. fmt.utc(v.sent)) or "")))
  local bars, rows = {}, {}
  for _, g in ipairs(v.groups) do
    if g.group == "test" then
      bars[#bars + 1] = { name = "variant " .. fmt.variant(g.variant, g.label) .. " opened", value = g.open_rate or 0 }
    end
    rows[#rows + 1] = { g.label or tostring(g.variant), g.group, count(g.recipients), count(g.delivered), count(g.opens_unique),
      pct(g.open_rate), count(g.clicks_unique), pct(g.click_rate) }
  end
  out[#out + 1] = svg.bars("chart-variants", "unique opens against delivered, by variant of the test group", bars, pct)
  table_html(out, { "variant", "group", "recipients", "delivered", "opened", "", "clicked", "" }, rows,
    { false, false, true, true, true, true, true, true })
end


local function outcomes(out, r)
  out[#out + 1] = "<h2>Failures, deferrals, bounces and complaints by reason</h2>"
  if #r.outcomes == 0 then out[#out + 1] = '<p class="empty">None.</p>' return end
  local rows = {}
  for i, o in ipairs(r.outcomes) do
    rows[i] = { o.kind, o.reason or "", o.category or "", o.hard and "hard" or "soft", count(o.count), fmt.reply(o.example) }
  end
  table_html(out, { "kind", "reason", "category", "", "recipients", "example reply" }, rows,
    { false, false, false, false, true, false })
end


-- The head of a page and the start of its body: the style, the policy
-- that nothing is fetched, and the options of page().
local function head(title, opts)
  local out = {
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    -- Nothing may be fetched: no script, no connection, no image from elsewhere.
    [[<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">]],
  }
  if opts.refresh then
    out[#out + 1] = string.format('<meta http-equiv="refresh" content="%d">', opts.refresh)
  end
  out[#out + 1] = "<title>" .. esc(title) .. "</title>"
  out[#out + 1] = "<style>" .. STYLE .. "</style></head><body><main>"
  if opts.nav then
    out[#out + 1] = string.format('<p class="meta"><a href="%s">%s</a></p>', esc(opts.nav.href), esc(opts.nav.text))
  end
  return out
end


--- page(title, body, opts) -> an HTML document in the report's style
-- around body (HTML, its values escaped by the caller). opts (may be
-- nil): refresh = seconds (the browser reloads the page), nav = {href =,
-- text =} (a link above the title), by = what made it ("report").
function M.page(title, body, opts)
  local out = head(title, opts or {})
  out[#out + 1] = body
  out[#out + 1] = "</main></body></html>\n"
  return table.concat(out, "\n")
end


--- table(head, rows, numeric) -> an HTML table in the report's style:
-- head is the column names, each row a list of text values (escaped
-- here), numeric[i] right-aligns column i.
function M.table(head_row, rows, numeric)
  local out = {}
  table_html(out, head_row, rows, numeric)
  return table.concat(out)
end


--- html(report [, opts]) -> the report as one self-contained HTML
-- document; opts as for page() (mailcast serve's dashboard reloads it).
function M.html(r, opts)
  opts = opts or {}
  local out = head(r.name .. ": campaign report", opts)
  out[#out + 1] = "<h1>" .. esc(r.name) .. "</h1>"
  out[#out + 1] = string.format('<p class="meta">Campaign created %s; deliveries from %s to %s.</p>',
    esc(fmt.utc(r.created)), esc(fmt.utc(r.first_delivery)), esc(fmt.utc(r.last_delivery)))
  cards(out, r)
  funnel(out, r)
  variants(out, r)
  timelines(out, r)
  links(out, r)
  groups(out, "By provider", "chart-providers", r.providers)
  groups(out, "By domain (the largest 20)", "chart-domains", r.domains)
  groups(out, "By route", "chart-routes", r.routes)
  groups(out, "By MX host (the largest 20)", "chart-hosts", r.hosts)
  outcomes(out, r)
  out[#out + 1] = string.format('<p class="meta">Made by mailcast %s on %s.</p>', esc(opts.by or "report"),
    esc(fmt.utc(os.time())))
  out[#out + 1] = "</main></body></html>\n"
  return table.concat(out, "\n")
end

return M
