-- mailcast serve's /dashboard: its pages, each made by a process of its
-- own (`mailcast dashboard-page STORE PATH`, started by the server's
-- C side: csrc/core/http_dashboard.c), so that the report's SQL never
-- runs on the loop that answers the open pixel and the click redirects.
-- The campaign pages are `mailcast report --html` (report_html), reloaded
-- by the browser while the campaign still has mail to send.
local report = require "mailcast.report"
local html = require "mailcast.report_html"
local fmt = require "mailcast.report_text"
local esc = require("mailcast.report_svg").esc

local M = {}

-- Seconds between two reloads of a page while a campaign runs.
M.REFRESH = 5

local HTML = "text/html; charset=utf-8"

-- Whether a campaign still has mail to send (or a list to read).
local function running(campaign, f)
  return campaign.list_read == 0 or f.pending > 0 or f.deferred > 0
end


local function campaigns(store)
  local list, err = store:report("campaigns", 0, nil, -1)
  if not list then error(err, 0) end
  return list
end


local function funnel(store, id)
  local rows, err = store:report("funnel", id)
  if not rows then error(err, 0) end
  return rows[1]
end


local function not_found(what)
  return 404, HTML, html.page("Not found", string.format("<h1>Not found</h1><p>%s</p>", esc(what)),
    { nav = { href = "/dashboard", text = "← all campaigns" } })
end


-- The list of campaigns, newest first, with their main figures.
local function index(store)
  local list = campaigns(store)
  local rows, any = {}, false
  for i = #list, 1, -1 do
    local c = list[i]
    local f = funnel(store, c.id)
    local live = running(c, f)
    any = any or live
    rows[#rows + 1] = string.format('<tr><td class="k"><a href="/dashboard/campaign/%d">%s</a></td>'
      .. '<td>%s</td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td>'
      .. '<td class="n">%s</td><td class="n">%s</td><td class="k">%s</td></tr>',
      c.id, esc(c.name), esc(fmt.utc(c.created)), esc(fmt.count(f.recipients)), esc(fmt.count(f.delivered)),
      esc(fmt.count(f.deferred)), esc(fmt.count(f.failed)),
      esc(fmt.pct(f.delivered > 0 and f.opens_unique / f.delivered or nil)),
      esc(fmt.pct(f.delivered > 0 and f.clicks_unique / f.delivered or nil)), live and "sending" or "done")
  end
  local body = { "<h1>Campaigns</h1>" }
  if #rows == 0 then
    body[#body + 1] = '<p class="empty">No campaign in this store yet.</p>'
  else
    body[#body + 1] = '<div class="scroll"><table id="campaigns"><thead><tr><th>campaign</th><th>created</th>'
      .. '<th class="n">recipients</th><th class="n">delivered</th><th class="n">deferred</th>'
      .. '<th class="n">failed</th><th class="n">opened</th><th class="n">clicked</th><th></th></tr></thead><tbody>'
      .. table.concat(rows) .. "</tbody></table></div>"
  end
  body[#body + 1] = string.format('<p class="meta">As of %s%s.</p>', esc(fmt.utc(os.time())),
    any and string.format("; this page reloads every %d seconds while a campaign sends", M.REFRESH) or "")
  return 200, HTML, html.page("mailcast dashboard", table.concat(body, "\n"), { refresh = any and M.REFRESH or nil })
end


local function campaign_page(store, id, json)
  local campaign
  for _, c in ipairs(campaigns(store)) do
    if c.id == id then campaign = c end
  end
  if not campaign then return not_found("There is no such campaign in this store.") end
  local r = report.gather(store, campaign)
  if json then
    local export = require "mailcast.report_export"
    export.with_nulls(r)
    return 200, "application/json", export.json(r)
  end
  local live = running(campaign, r.funnel)
  return 200, HTML, html.html(r, { refresh = live and M.REFRESH or nil, by = "serve",
    nav = { href = "/dashboard", text = "← all campaigns" } })
end


--- page(store, path) -> status, content type, body: the dashboard's
-- page at path (/dashboard, /dashboard/campaign/ID, or
-- /dashboard/campaign/ID.json for the report as JSON). Raises on a
-- store error.
function M.page(store, path)
  if path == "/dashboard" or path == "/dashboard/" then return index(store) end
  local id = path:match("^/dashboard/campaign/(%d+)$")
  if id then return campaign_page(store, math.tointeger(tonumber(id)), false) end
  id = path:match("^/dashboard/campaign/(%d+)%.json$")
  if id then return campaign_page(store, math.tointeger(tonumber(id)), true) end
  return not_found("The dashboard has no such page.")
end


--- main(argv) -> exit code: `mailcast dashboard-page STORE PATH`
-- writes "STATUS TYPE\n" and the page on its standard output (what the
-- server's C side reads).
function M.main(argv)
  local path, want = argv[2], argv[3]
  if not path or not want then
    io.stderr:write("mailcast: dashboard-page STORE PATH (mailcast serve runs it)\n")
    return 2
  end
  local store, err = require("mailcast").store(path)
  if not store then io.stderr:write("mailcast dashboard-page: ", tostring(err), "\n") return 1 end
  local ok, status, type, body = pcall(M.page, store, want)
  store:close()
  if not ok then io.stderr:write("mailcast dashboard-page: ", tostring(status), "\n") return 1 end
  io.write(string.format("%d %s\n", status, type), body)
  io.stdout:flush()
  return 0
end

return M
