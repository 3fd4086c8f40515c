-- `mailcast report` on a campaign the spec sends through the built-in
-- sink (which refuses one address and defers another), whose opens,
-- clicks and unsubscribe it makes through `mailcast serve`, and whose
-- bounce and complaint it feeds to `mailcast bounces`: every number of
-- --json against what the spec made, the terminal form, the CSV files,
-- and the HTML file as an independent parser reads it (charts drawn,
-- nothing to fetch, hostile text escaped).
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local serve = require "support.serve"
local fx = require "support.bounce_store"
local chromium = require "support.chromium"
local json = require "dkjson"

local q = mime.sh_quote

local HOSTILE_REPLY = [[550 5.1.1 <script>alert('x')</script> & "no" such user]]
local HOSTILE_URL = "https://shop.example.org/sale?a=1&q=<i>x</i>"

-- Who gets what (the spec makes each of these happen).
local RECIPIENTS = {
  { "anna@example.net", "Anna" },       -- delivered; 2 opens, 1 by a proxy; 3 clicks; unsubscribes
  { "bob@example.net", "Bob" },         -- delivered; 1 open; 1 click
  { "carol@gmail.com", "Carol" },       -- delivered; a proxy's open only
  { "reader4@example.org", "R4" },      -- delivered; bounces later (user unknown)
  { "reader5@example.org", "R5" },      -- delivered; complains
  { "erin@yahoo.com", "Erin" },         -- refused: HOSTILE_REPLY
  { "gina@hotmail.com", "Gina" },       -- deferred: 451
  { "sup@example.net", "Sup" },         -- on the suppression list before the run
  { "frank@icloud.com", "Frank" },      -- delivered; nothing more
}

local PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


local function script(port)
  local rows = {}
  for i, r in ipairs(RECIPIENTS) do rows[i] = string.format("{ email = %q, name = %q }", r[1], r[2]) end
  return string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = "november", from = "News <news@example.com>", subject = "Hello {{name}}",
  text = "Hello {{name}}\n",
  html = [=[<html><body><p>Hello {{name}}</p>
<a href="https://example.com/news">News</a>
<a href="https://shop.example.org/sale?a=1&amp;q=&lt;i&gt;x&lt;/i&gt;">Sale</a>
<a href="{{unsubscribe_url}}">Unsubscribe</a>
</body></html>]=],
  recipients = { %s },
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  track = { base = "https://t.example.com", secret = %q,
            track = function(link) if link.text == "News" then return "news" end end },
  unsubscribe = { mailto = "leave@example.com" },
}
]], table.concat(rows, ",\n    "), port, serve.SECRET)
end


local function report(args)
  return helper.sh(q(helper.runner) .. " report " .. args)
end


describe("mailcast report", function()
  local dir, sink, store_path, store, cid, port, pid, data, links

  setup(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("--quiet --reject " .. q("erin@yahoo.com=" .. HOSTILE_REPLY)
      .. " --reject " .. q("gina@hotmail.com=451 4.7.1 <b>greylisted</b>, try later"))
    store_path = dir .. "/november.mailcast.db"
    local s = assert(mailcast.store(store_path))
    assert(s:suppress("sup@example.net", "manual"))
    s:close()
    mime.write(dir .. "/campaign.lua", script(sink.port))
    local out, code = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/campaign.lua") .. " --quiet")
    assert(code == 0, out)
    local tokens = serve.tokens(sink.files())
    store = assert(mailcast.store(store_path))
    cid = assert(store:find_campaign("november"))
    links = store:links(cid)

    -- Opens, clicks and an unsubscribe, through serve.
    port, pid = serve.start(dir, store_path)
    local function get(path, agent)
      local c = serve.request(port, "GET", path, nil, agent and { ["user-agent"] = agent } or nil)
      assert(c == 200 or c == 302, path .. ": " .. tostring(c))
    end
    local anna, bob, carol = tokens["anna@example.net"], tokens["bob@example.net"], tokens["carol@gmail.com"]
    get("/o/" .. anna.open)
    get("/o/" .. anna.open)
    get("/o/" .. anna.open, PROXY)
    get("/o/" .. bob.open)
    get("/o/" .. carol.open, PROXY)
    get("/c/" .. anna.clicks[1])
    get("/c/" .. anna.clicks[1])
    get("/c/" .. anna.clicks[2])
    get("/c/" .. bob.clicks[1])
    assert.equal(200, (serve.request(port, "POST", "/u/" .. anna.unsubscribe, "List-Unsubscribe=One-Click")))
    assert(serve.wait_until(function()
      return store:hits(cid, "opened") == 5 and store:hits(cid, "clicked") == 4
        and store:hits(cid, "unsubscribed") == 1
    end, 20), "serve did not record every event")
    assert(serve.stop(pid))
    pid = nil

    -- A bounce and a complaint, through bounces.
    fx.maildir(dir .. "/mail")
    fx.deliver(dir .. "/mail", (fx.render(store, "qmail_unknown", 4)))
    fx.deliver(dir .. "/mail", (fx.render(store, "arf_provider", 5)))
    out, code = helper.sh(q(helper.runner) .. " bounces --store " .. q(store_path) .. " --maildir " .. q(dir .. "/mail"))
    assert(code == 0, out)
    assert(out:match("1 hard bounces, 0 soft bounces, 1 complaints"), out)

    out, code = report(q(dir .. "/campaign.lua") .. " --json")
    assert(code == 0, out)
    local doc, _, err = json.decode(out, 1, json.null)
    assert(doc, err)
    assert(#doc.campaigns == 1, out)
    data = doc.campaigns[1]
  end)

  teardown(function()
    if pid then serve.stop(pid) end
    if store then store:close() end
    if sink then sink.cleanup() end
    if dir then mime.rmdir(dir) end
  end)

  it("counts the funnel the spec made", function()
    assert.same({
      recipients = 9, sent = 8, delivered = 6, deferred = 1, failed = 1, failed_hard = 1, failed_soft = 0,
      suppressed = 1, skipped = 0, pending = 0,
      opens_unique = 2, opens_total = 3, machine_opens_unique = 2, machine_opens_total = 2,
      clicks_unique = 2, clicks_total = 4, unsubscribes = 1, complaints = 1,
      bounced = 1, bounced_hard = 1, bounced_soft = 0,
    }, data.funnel)
  end)

  it("works out the rates against delivered", function()
    local function near(want, got, what) assert.is_true(math.abs(want - got) < 1e-5, what .. ": " .. got) end
    near(6 / 8, data.rates.delivered, "delivered of sent")
    near(1 / 8, data.rates.failed, "failed of sent")
    near(2 / 6, data.rates.opens, "opens")
    near(2 / 6, data.rates.clicks, "clicks")
    near(1, data.rates.click_to_open, "click-to-open")
    near(1 / 6, data.rates.unsubscribes, "unsubscribes")
    near(1 / 6, data.rates.complaints, "complaints")
    near(1 / 6, data.rates.bounces, "bounces")
  end)

  it("counts the clicks of each link, with its URL and the tag the track hook gave it", function()
    assert.equal(2, #data.links)
    local by = {}
    for _, l in ipairs(data.links) do by[l.url] = l end
    assert.same({ index = 1, url = links[1], tag = "news", unique_clicks = 2, clicks = 3 }, by[links[1]])
    assert.same({ index = 2, url = links[2], tag = json.null, unique_clicks = 1, clicks = 1 }, by[links[2]])
    assert.equal(HOSTILE_URL, links[2])
  end)

  it("shares each provider's recipients between delivered, deferred and failed", function()
    local by = {}
    for _, g in ipairs(data.providers) do by[g.name] = g end
    assert.same({ "apple", "gmail", "microsoft", "other", "yahoo" },
      (function() local k = {} for n in pairs(by) do k[#k + 1] = n end table.sort(k) return k end)())
    assert.same({ 1, 1, 0, 0 }, { by.gmail.recipients, by.gmail.delivered_share, by.gmail.deferred_share,
      by.gmail.failed_share })
    assert.same({ 1, 0, 1, 0 }, { by.microsoft.recipients, by.microsoft.delivered_share,
      by.microsoft.deferred_share, by.microsoft.failed_share })
    assert.same({ 1, 0, 0, 1 }, { by.yahoo.recipients, by.yahoo.delivered_share, by.yahoo.deferred_share,
      by.yahoo.failed_share })
    assert.same({ 5, 4, 1 }, { by.other.recipients, by.other.delivered, by.other.skipped })
    assert.same({ "failed", 550, "5.1.1" }, { by.yahoo.replies[1].state, by.yahoo.replies[1].code,
      by.yahoo.replies[1].enhanced })
    assert.equal(HOSTILE_REPLY, "550 5.1.1 " .. by.yahoo.replies[1].text)
    assert.equal("deferred", by.microsoft.replies[1].state)
    assert.equal(451, by.microsoft.replies[1].code)
  end)

  it("lists the largest domains with their replies", function()
    local by = {}
    for _, g in ipairs(data.domains) do by[g.name] = g end
    assert.same({ 3, 3, 0 }, { by["example.net"].recipients, by["example.net"].delivered + by["example.net"].skipped,
      by["example.net"].failed })
    assert.same({ 2, 2 }, { by["example.org"].recipients, by["example.org"].delivered })
    assert.equal("example.net", data.domains[1].name)   -- the largest first
  end)

  it("groups the attempts by the campaign's route and the server that answered", function()
    -- Eight were sent by the one route to the sink; the suppressed one had no attempt.
    local routes = {}
    for _, g in ipairs(data.routes) do routes[g.name] = { g.recipients, g.delivered, g.deferred, g.failed } end
    assert.same({ default = { 8, 6, 1, 1 }, [""] = { 1, 0, 0, 0 } }, routes)
    assert.equal(2, #data.hosts)
    local host = data.hosts[1]
    assert.same({ "127.0.0.1", 8, 0 }, { host.name:match("^[%d.]+"), host.recipients, host.median_latency })
  end)

  it("counts failures, deferrals, bounces and complaints by reason, with an example reply", function()
    local by = {}
    for _, o in ipairs(data.outcomes) do by[o.kind] = o end
    assert.same({ "user_unknown", "bad-mailbox", true, 1 }, { by.failed.reason, by.failed.category, by.failed.hard,
      by.failed.count })
    assert.equal(550, by.failed.example.code)
    assert.matches("<script>alert('x')</script>", by.failed.example.text, 1, true)
    assert.same({ "user_unknown", true, 1 }, { by.bounced.reason, by.bounced.hard, by.bounced.count })
    assert.same({ "complaint", 1 }, { by.complained.reason, by.complained.count })
    assert.same({ false, 1, 451 }, { by.deferred.hard, by.deferred.count, by.deferred.example.code })
  end)

  it("counts deliveries per minute and people's opens and clicks per hour", function()
    local delivered = 0
    for i, m in ipairs(data.per_minute) do
      assert.equal(i - 1, m.minute)
      delivered = delivered + m.delivered
    end
    assert.equal(6, delivered)
    local opens, clicks = 0, 0
    for i, h in ipairs(data.per_hour) do
      assert.equal(i - 1, h.hour)
      opens, clicks = opens + h.opens, clicks + h.clicks
    end
    assert.same({ 3, 4 }, { opens, clicks })
    assert.equal(2, data.open_delay.opened)
    assert.is_true(data.open_delay.median_seconds >= 0 and data.open_delay.median_seconds < 600)
  end)

  it("has the same keys, null where there is no value, for a campaign with nothing sent", function()
    local s = assert(mailcast.store(dir .. "/empty.db"))
    assert(s:add(assert(s:campaign("nothing")), "x@example.com"))
    s:close()
    local out, code = report(q(dir .. "/empty.db") .. " --json")
    assert.equal(0, code, out)
    assert.matches('"click_to_open": null', out, 1, true)
    assert.matches('"median_seconds": null', out, 1, true)
    assert.matches('"links": []', out, 1, true)
    local empty = json.decode(out, 1, json.null).campaigns[1]
    local function keys(t) local k = {} for n in pairs(t) do k[#k + 1] = n end table.sort(k) return k end
    assert.same(keys(data), keys(empty))
    assert.same(keys(data.funnel), keys(empty.funnel))
  end)

  it("prints the funnel for people, and finds the same store from the store's path", function()
    local out, code = report(q(store_path) .. " --campaign november")
    assert.equal(0, code, out)
    assert.matches("november: campaign report", out, 1, true)
    assert.matches("\n  delivered%s+6%s+75%.0%% of sent\n", out)
    assert.matches("\n  opened%s+2%s+33%.3%%%s+3 opens\n", out)
    assert.matches("\n  clicked%s+2%s+33%.3%%%s+4 clicks\n", out)
    assert.matches("\n  click%-to%-open%s+100%.0%%\n", out)
    assert.matches("user_unknown", out, 1, true)
    assert.not_matches("\27", out)
  end)

  it("writes a CSV file per table and PowerMTA-like accounting records", function()
    local out, code = report(q(dir .. "/campaign.lua") .. " --csv " .. q(dir .. "/csv"))
    assert.equal(0, code, out)
    local text = assert(mime.try_read(dir .. "/csv/accounting.csv"))
    local lines = {}
    for l in text:gmatch("[^\r\n]+") do lines[#lines + 1] = l end
    assert.equal("type,timeLogged,orig,rcpt,dsnAction,dsnStatus,dsnDiag,vmta,jobId,bounceCat", lines[1])
    local types = {}
    for i = 2, #lines do
      local t = lines[i]:match("^([^,]+),")
      types[t] = (types[t] or 0) + 1
      assert.matches("^[a-z]+,%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d%+0000,news@example%.com,", lines[i])
    end
    assert.same({ d = 6, b = 1, t = 1, rb = 1, f = 1 }, types)
    assert.matches('\r\nb,[^\r\n]*,erin@yahoo%.com,failed,5%.1%.1,"smtp;550 ', text)
    local funnel = assert(mime.try_read(dir .. "/csv/funnel.csv"))
    assert.matches("\r\nclicks_total,4\r\n", funnel, 1, true)
    assert.matches("\r\nrate_click_to_open,1\r\n", funnel, 1, true)
    for _, name in ipairs { "links", "outcomes", "domains", "providers", "replies", "per_minute", "per_hour" } do
      assert.is_string(mime.try_read(dir .. "/csv/" .. name .. ".csv"), name)
    end
  end)

  describe("as HTML", function()
    local page, raw

    setup(function()
      local out, code = report(q(dir .. "/campaign.lua") .. " --html " .. q(dir .. "/report.html"))
      assert(code == 0, out)
      raw = assert(mime.try_read(dir .. "/report.html"))
      out, code = helper.sh("/usr/bin/python3 spec/support/html_report.py " .. q(dir .. "/report.html"))
      assert(code == 0, out)
      page = json.decode(out)
    end)

    it("is a document an HTML parser reads whole", function()
      assert.same({}, page.problems)
      assert.is_true(page.valid)
    end)

    it("fetches nothing and runs nothing", function()
      assert.equal(0, page.scripts)
      assert.same({}, page.fetches)
      assert.matches("Content-Security-Policy", raw, 1, true)
    end)

    it("draws a bar or point for every value", function()
      assert.same({ bars = 6, points = 0 }, page.charts["chart-funnel"])
      assert.same({ bars = #data.per_minute, points = 0 }, page.charts["chart-per-minute"])
      assert.same({ bars = 0, points = 2 * #data.per_hour }, page.charts["chart-per-hour"])
      -- A bar per provider's part that has a share: gmail, apple, microsoft,
      -- yahoo one each, others delivered only (its skipped one draws none).
      assert.same({ bars = 5, points = 0 }, page.charts["chart-providers"])
    end)

    it("shows the numbers formatted for people", function()
      assert.matches("\n75.0% of sent\ndelivered\n", page.text, 1, true)
      assert.matches("\n33.3%\nopened\n", page.text, 1, true)
      assert.matches("\n100.0%\nclick-to-open\n", page.text, 1, true)
    end)

    it("escapes replies, URLs and addresses: they are text, never markup", function()
      assert.not_matches("<script>", raw, 1, true)
      assert.not_matches("<i>x</i>", raw, 1, true)
      assert.not_matches("<b>greylisted", raw, 1, true)
      assert.matches("<script>alert('x')</script> & \"no\" such user", page.text, 1, true)
      assert.matches(HOSTILE_URL, page.text, 1, true)
      assert.matches("<b>greylisted</b>", page.text, 1, true)
    end)

    -- As a person sees it: Debian's Chromium, headless, kept on this
    -- machine (support/chromium.lua).
    describe("in a browser", function()
      local shown, dom

      setup(function()
        assert(chromium.available(), "no " .. chromium.PATH .. " (.ci/deps installs the chromium package)")
        shown = chromium.load(dir .. "/report.html", { width = 420, height = 2400, screenshot = dir .. "/report.png" })
        mime.write(dir .. "/dom.html", shown.dom)
        local out, code = helper.sh("/usr/bin/python3 spec/support/html_report.py " .. q(dir .. "/dom.html"))
        assert(code == 0, out)
        dom = json.decode(out)
      end)

      it("fetches nothing from the network", function()
        assert.same({}, shown.fetches)
      end)

      it("would have seen a page that fetches something", function()
        mime.write(dir .. "/fetches.html", '<!DOCTYPE html><html><body><img src="http://example.invalid/x.png">'
          .. '<link rel="stylesheet" href="https://cdn.example.invalid/a.css"></body></html>')
        local control = chromium.load(dir .. "/fetches.html")
        table.sort(control.fetches)
        assert.same({ "http://example.invalid/x.png", "https://cdn.example.invalid/a.css" }, control.fetches)
      end)

      it("has the report's numbers and charts in its DOM", function()
        assert.is_true(dom.valid, table.concat(dom.problems, "; "))
        assert.equal(0, dom.scripts)
        assert.same(page.charts, dom.charts)
        assert.same({ bars = 0, points = 2 * #data.per_hour }, dom.charts["chart-per-hour"])
        assert.matches("\n75.0% of sent\ndelivered\n", dom.text, 1, true)
        assert.matches("\nclicked\n2\n33.3%\n4 clicks\n", dom.text, 1, true)
        assert.matches("<script>alert('x')</script> & \"no\" such user", dom.text, 1, true)
      end)

      it("draws the page at a phone's width", function()
        local png = assert(mime.try_read(shown.screenshot))
        assert.equal("\137PNG\r\n\26\n", png:sub(1, 8))
        assert.equal(420, string.unpack(">I4", png, 17))   -- IHDR's width
        assert.is_true(#png > 20000, #png .. " bytes: an empty page?")
      end)
    end)
  end)
end)


describe("mailcast report's command line", function()
  it("refuses what it cannot use, with status 2 and why", function()
    for _, case in ipairs {
      { "", "give a campaign script or a store file" },
      { "x.db --frobnicate", "unknown option '%-%-frobnicate'" },
      { "x.db --html", "%-%-html needs a value" },
      { "x.db y.db", "unexpected 'y.db'" },
    } do
      local out, code = report(case[1])
      assert.equal(2, code, case[1] .. ": " .. out)
      assert.matches(case[2], out)
    end
  end)

  it("says there is no store rather than make one", function()
    local dir = mime.tmpdir()
    local out, code = report(q(dir .. "/typo.db"))
    assert.equal(1, code, out)
    assert.matches("no store at", out, 1, true)
    assert.is_nil(io.open(dir .. "/typo.db"))
    mime.rmdir(dir)
  end)

  it("asks which campaign --html writes when the store has several", function()
    local dir = mime.tmpdir()
    local s = assert(mailcast.store(dir .. "/two.db"))
    assert(s:campaign("one"))
    assert(s:campaign("two"))
    s:close()
    local out, code = report(q(dir .. "/two.db") .. " --html " .. q(dir .. "/r.html"))
    assert.equal(2, code, out)
    assert.matches("give --campaign NAME (" .. dir .. "/two.db has one, two)", out, 1, true)
    out, code = report(q(dir .. "/two.db") .. " --campaign two --html " .. q(dir .. "/r.html"))
    assert.equal(0, code, out)
    mime.rmdir(dir)
  end)
end)
