-- mailcast serve's /dashboard on a campaign the spec sends through the
-- built-in sink (which defers one address, so the campaign still has mail
-- to send) with opens and clicks made through serve itself: refused
-- without its token or with a wrong one, off unless a token is given,
-- shown in headless Chromium with the report's numbers and charts and
-- nothing fetched from elsewhere, and the open pixel answered while a
-- dashboard page is still being made.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local serve = require "support.serve"
local chromium = require "support.chromium"
local json = require "dkjson"

local q = mime.sh_quote

local TOKEN = "a dashboard token, long enough"
local RECIPIENTS = [[{
  { email = "anna@example.net", name = "Anna" }, { email = "bob@example.net", name = "Bob" },
  { email = "carol@gmail.com", name = "Carol" }, { email = "gina@hotmail.com", name = "Gina" },
}]]


-- The Authorization header of HTTP Basic with the password p.
local function basic(p)
  return "Basic " .. (require("mime").b64("op:" .. p))
end


-- The page read by an independent HTML parser (support/html_report.py).
local function parse(dir, text)
  mime.write(dir .. "/page.html", text)
  local out, code = helper.sh("/usr/bin/python3 spec/support/html_report.py " .. q(dir .. "/page.html"))
  assert(code == 0, out)
  return json.decode(out)
end


describe("mailcast serve's dashboard", function()
  local dir, sink, store_path, store, cid, port, pid, tokens

  local function get(path, headers)
    return serve.request(port, "GET", path, nil, headers)
  end

  local function authorized(path)
    return get(path, { authorization = "Bearer " .. TOKEN })
  end

  setup(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("--quiet --reject " .. q("gina@hotmail.com=451 4.7.1 try later"))
    store_path = dir .. "/news.mailcast.db"
    serve.run_campaign(dir, "news", sink.port, RECIPIENTS, store_path)
    tokens = serve.tokens(sink.files())
    store = assert(mailcast.store(store_path))
    cid = assert(store:find_campaign("news"))
    port, pid = serve.start(dir, store_path, "", "MAILCAST_DASHBOARD_TOKEN=" .. q(TOKEN))
    assert.equal(200, (get("/o/" .. tokens["anna@example.net"].open)))
    assert.equal(200, (get("/o/" .. tokens["bob@example.net"].open)))
    assert.equal(302, (get("/c/" .. tokens["anna@example.net"].clicks[1])))
    assert(serve.wait_until(function()
      return store:hits(cid, "opened") == 2 and store:hits(cid, "clicked") == 1
    end, 20), "serve did not record the events")
  end)

  teardown(function()
    if pid then serve.stop(pid) end
    if store then store:close() end
    if sink then sink.cleanup() end
    if dir then mime.rmdir(dir) end
  end)

  describe("refuses", function()
    it("a request without a token, asking for one", function()
      local code, body, headers = get("/dashboard")
      assert.equal(401, code)
      assert.matches("^Basic ", headers["www-authenticate"])
      assert.not_matches("news", body, 1, true)
    end)

    it("a wrong bearer token, a wrong Basic password and a wrong ?token=", function()
      assert.equal(401, (get("/dashboard", { authorization = "Bearer " .. TOKEN .. "x" })))
      assert.equal(401, (get("/dashboard", { authorization = basic("wrong") })))
      assert.equal(401, (get("/dashboard?token=wrong")))
      assert.equal(401, (get("/dashboard/campaign/" .. cid, { cookie = "mailcast_dashboard=" .. ("0"):rep(64) })))
    end)

    it("a path outside the dashboard's, even with the token", function()
      assert.equal(404, (authorized("/dashboard/campaign/" .. cid + 100)))
      assert.equal(404, (authorized("/dashboard/../metrics")))
      assert.equal(404, (authorized("/dashboard/nothing")))
    end)
  end)

  describe("with the token", function()
    it("lists the campaigns, each linked to its page, as a bearer token or Basic's password", function()
      local code, body = authorized("/dashboard")
      assert.equal(200, code)
      assert.matches('<a href="/dashboard/campaign/' .. cid .. '">news</a>', body, 1, true)
      local code2, body2 = get("/dashboard", { authorization = basic(TOKEN) })
      assert.equal(200, code2)
      assert.equal(body, body2)
    end)

    it("trades ?token= for a cookie and sends the browser on without it", function()
      local code, _, headers = get("/dashboard/campaign/" .. cid .. "?token=" .. TOKEN:gsub(" ", "%%20"))
      assert.equal(303, code)
      assert.equal("/dashboard/campaign/" .. cid, headers.location)
      local cookie = headers["set-cookie"]:match("^(mailcast_dashboard=%x+);")
      assert.matches("HttpOnly", headers["set-cookie"], 1, true)
      assert.not_matches(TOKEN, headers["set-cookie"], 1, true)
      assert.equal(200, (get("/dashboard/campaign/" .. cid, { cookie = cookie })))
    end)

    it("shows the report of mailcast report --html, reloading while the campaign sends", function()
      local code, body, headers = authorized("/dashboard/campaign/" .. cid)
      assert.equal(200, code)
      assert.matches("^text/html", headers["content-type"])
      assert.equal("no-store", headers["cache-control"])
      assert.matches('<meta http-equiv="refresh" content="5">', body, 1, true)   -- gina is deferred
      local page = parse(dir, body)
      assert.is_true(page.valid)
      assert.same({ bars = 6, points = 0 }, page.charts["chart-funnel"])
      assert.matches("\n4\nrecipients\n", page.text, 1, true)
    end)

    it("counts its requests and the pages it made in /metrics", function()
      assert.equal(200, (authorized("/dashboard")))
      local _, text = get("/metrics")
      assert.is_true(serve.metric(text, 'mailcast_http_requests_total{kind="dashboard"}') >= 1)
      assert.is_true(serve.metric(text, 'mailcast_dashboard_pages_total{result="made"}') >= 1)
      assert.equal(0, serve.metric(text, 'mailcast_dashboard_pages_total{result="failed"}'))
    end)

    it("gives the same report as JSON", function()
      local code, body = authorized("/dashboard/campaign/" .. cid .. ".json")
      assert.equal(200, code)
      local r = json.decode(body)
      assert.same({ 4, 3, 1, 2, 1 }, { r.funnel.recipients, r.funnel.delivered, r.funnel.deferred,
        r.funnel.opens_unique, r.funnel.clicks_unique })
    end)
  end)

  describe("in a browser", function()
    local shown, dom, index

    setup(function()
      assert(chromium.available(), "no " .. chromium.PATH .. " (.ci/deps installs the chromium package)")
      local base = "http://127.0.0.1:" .. port
      shown = chromium.load(base .. "/dashboard/campaign/" .. cid .. "?token=" .. TOKEN:gsub(" ", "%%20"),
        { width = 1000, height = 2600, screenshot = dir .. "/dashboard.png" })
      dom = parse(dir, shown.dom)
      index = chromium.load(base .. "/dashboard?token=" .. TOKEN:gsub(" ", "%%20"))
    end)

    it("has the campaign's numbers in its DOM", function()
      assert.matches("\n4\nrecipients\n", dom.text, 1, true)
      assert.matches("\n75.0% of sent\ndelivered\n", dom.text, 1, true)     -- 3 of 4 (gina's was deferred)
      assert.matches("\n66.7%\nopened\n", dom.text, 1, true)                 -- anna and bob of 3
      assert.matches("\n50.0%\nclick-to-open\n", dom.text, 1, true)
      assert.matches("451 4.7.1 try later", dom.text, 1, true)
    end)

    it("draws its charts as SVG", function()
      assert.same({ bars = 6, points = 0 }, dom.charts["chart-funnel"])
      assert.is_table(dom.charts["chart-providers"])
      assert.is_true(dom.charts["chart-providers"].bars >= 3)
    end)

    it("draws the page", function()
      local png = assert(mime.try_read(shown.screenshot))
      assert.equal("\137PNG\r\n\26\n", png:sub(1, 8))
      assert.equal(1000, string.unpack(">I4", png, 17))   -- IHDR's width
      assert.is_true(#png > 20000, #png .. " bytes: an empty page?")
    end)

    it("lists the campaign on the index page", function()
      assert.matches('href="/dashboard/campaign/' .. cid .. '"', index.dom, 1, true)
      assert.matches(">sending<", index.dom, 1, true)
    end)

    it("fetches nothing but the dashboard's own pages", function()
      for _, url in ipairs(shown.fetches) do   -- (the browser's own navigation is not listed)
        assert.matches("^http://127%.0%.0%.1:" .. port .. "/dashboard", url)
      end
      for _, url in ipairs(dom.fetches) do   -- (links count: the one back to the index)
        assert.matches("^/dashboard", url)
      end
    end)

    it("sees nothing of the report without the token", function()
      local refused = chromium.load("http://127.0.0.1:" .. port .. "/dashboard/campaign/" .. cid)
      assert.not_matches("recipients", refused.dom, 1, true)
      assert.not_matches("chart-funnel", refused.dom, 1, true)
    end)
  end)

  describe("while a page is being made", function()
    -- A campaign of 100,000 recipients makes its page slow to make; its
    -- page program is stopped (SIGSTOP) as soon as it is seen, and the
    -- pixel is answered all along while the dashboard request waits.
    it("keeps answering the open pixel", function()
      assert(store:begin())
      local bulk = assert(store:campaign("bulk"))
      for i = 1, 100000 do assert(store:add(bulk, string.format("user%d@d%d.example", i, i % 3000), "{}")) end
      assert(store:commit())
      local out = dir .. "/slow.out"
      local serve_pid = assert(helper.sh("pgrep -P " .. pid)):match("%d+")
      -- (the page program is serve's child; serve runs under timeout(1))
      local child = helper.sh(string.format("curl -s -o %s -w '%%{http_code}' -H %s %s > %s 2>/dev/null &"
        .. " for i in $(seq 1 2000); do c=$(pgrep -f dashboard-page -P %s) && kill -STOP $c && echo $c && break;"
        .. " sleep 0.002; done", q(out .. ".body"), q("Authorization: Bearer " .. TOKEN),
        q("http://127.0.0.1:" .. port .. "/dashboard/campaign/" .. bulk), q(out), serve_pid)):match("%d+")
      assert(child, "no page program was seen")
      local before = store:hits(cid, "opened")
      for _ = 1, 20 do
        assert.equal(200, (get("/o/" .. tokens["carol@gmail.com"].open)))
      end
      assert.equal("", mime.try_read(out) or "")   -- the page is still not made
      os.execute("kill -CONT " .. child)
      assert(serve.wait_until(function() return (mime.try_read(out) or "") ~= "" end, 30), "the page never came")
      assert.equal("200", mime.try_read(out))
      assert.matches("<h1>bulk</h1>", mime.try_read(out .. ".body"), 1, true)
      assert(serve.wait_until(function() return store:hits(cid, "opened") == before + 20 end, 20))
    end)
  end)
end)


describe("mailcast serve without a dashboard token", function()
  it("answers /dashboard 404 and says at start how to turn it on", function()
    local dir = mime.tmpdir()
    local s = assert(mailcast.store(dir .. "/x.db"))
    s:close()
    local port, pid = serve.start(dir, dir .. "/x.db")
    local code, body = serve.request(port, "GET", "/dashboard", nil, { authorization = "Bearer " .. TOKEN })
    assert(serve.stop(pid))
    local out = mime.try_read(dir .. "/serve.out") or ""
    mime.rmdir(dir)
    assert.equal(404, code)
    assert.matches("MAILCAST_DASHBOARD_TOKEN", body, 1, true)
    assert.matches("dashboard off (turn it on with --dashboard-token TOKEN or MAILCAST_DASHBOARD_TOKEN)", out, 1, true)
  end)
end)


-- serve's --dashboard-timeout: no page is made within a microsecond.
describe("mailcast serve --dashboard-timeout", function()
  it("gives up a page that takes longer, with 503, and refuses a timeout that is not a positive number", function()
    local dir = mime.tmpdir()
    local s = assert(mailcast.store(dir .. "/x.db"))
    s:close()
    local out, code = helper.sh(string.format("MAILCAST_TRACK_SECRET=%s %s serve --store %s --dashboard-timeout 0",
      q(serve.SECRET), q(helper.runner), q(dir .. "/x.db")))
    assert.equal(2, code)
    assert.matches("--dashboard-timeout needs a positive number", out, 1, true)
    local port, pid = serve.start(dir, dir .. "/x.db", "--dashboard-timeout 0.000001",
      "MAILCAST_DASHBOARD_TOKEN=" .. q(TOKEN))
    local status = serve.request(port, "GET", "/dashboard", nil, { authorization = "Bearer " .. TOKEN })
    serve.stop(pid)
    mime.rmdir(dir)
    assert.equal(503, status)
  end)
end)


-- serve from Lua (mailcast.core.serve) with a page program that is not
-- mailcast's: one that never finishes, one that writes no page.
describe("mailcast serve's dashboard with a page program that fails", function()
  local dir, port, pid

  local function start(program)
    dir = mime.tmpdir()
    local s = assert(mailcast.store(dir .. "/x.db"))
    s:close()
    mime.write(dir .. "/serve.lua", string.format([[
local core = require "mailcast.core"
assert(core.serve{ listen = "127.0.0.1:0", store = %q, secret = %q, port_file = %q, quiet = true,
  dashboard_token = %q, dashboard_timeout = 0.5, dashboard_command = { "/bin/sh", "-c", %q, "sh" } })
]], dir .. "/x.db", serve.SECRET, dir .. "/port", TOKEN, program))
    port, pid = serve.background(string.format("timeout --foreground 120 %s run %s", q(helper.runner),
      q(dir .. "/serve.lua")), dir .. "/port", dir .. "/serve.out")
  end

  after_each(function()
    if pid then serve.stop(pid) end
    mime.rmdir(dir)
  end)

  it("answers 503 and kills a program that runs past its deadline", function()
    start("sleep 60")
    local code = serve.request(port, "GET", "/dashboard", nil, { authorization = "Bearer " .. TOKEN })
    assert.equal(503, code)
    local serve_pid = assert(helper.sh("pgrep -P " .. pid)):match("%d+")
    assert.equal("", (helper.sh("pgrep -P " .. serve_pid)))   -- no page program left
    assert.equal(200, (serve.request(port, "GET", "/healthz")))
  end)

  it("answers 503 when the program writes no page, and counts it", function()
    start("echo not a page")
    local code = serve.request(port, "GET", "/dashboard/x", nil, { authorization = "Bearer " .. TOKEN })
    assert.equal(503, code)
    local _, text = serve.request(port, "GET", "/metrics")
    assert.equal(1, serve.metric(text, 'mailcast_dashboard_pages_total{result="failed"}'))
  end)
end)
