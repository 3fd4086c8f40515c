-- `mailcast serve` as a user runs it, against the store of a campaign
-- sent with tracking and one-click unsubscribe to the built-in sink: the
-- open pixel, click redirects to stored links only, unsubscribe, bad
-- tokens, metrics, malformed requests, and a burst that loses nothing.
-- Its webhooks are in webhooks_spec.lua.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local serve = require "support.serve"
local socket = require "socket"

local SECRET = serve.SECRET
local q = mime.sh_quote
local try_read, request, metric = serve.try_read, serve.request, serve.metric

local GIF = "GIF89a\1\0\1\0\128\0\0\0\0\0\255\255\255\33\249\4\1\0\0\0\0\44\0\0\0\0\1\0\1\0\0\2\2\68\1\0\59"

-- Sends raw bytes on a new connection; returns what came back until the
-- server closed it (or 3 s passed).
local function raw(port, data)
  local c = assert(socket.tcp())
  c:settimeout(3)
  assert(c:connect("127.0.0.1", port))
  c:send(data)
  local out = {}
  while true do
    local chunk, err, partial = c:receive(4096)
    if chunk then out[#out + 1] = chunk else out[#out + 1] = partial break end
    if err then break end
  end
  c:close()
  return table.concat(out)
end

describe("mailcast serve", function()
  local dir, sink, port, pid, store_path, store, cid
  local tokens = {}   -- by address: {open=, clicks={}, unsubscribe=}

  -- Waits until the store has n events of kind (batches are written
  -- every 100 ms); returns the counts.
  local function hits(kind, n)
    local a, m, f
    for _ = 1, 100 do
      a, m, f = store:hits(cid, kind)
      if not n or a >= n then break end
      socket.sleep(0.05)
    end
    return a, m, f
  end

  setup(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("--quiet")
    store_path = dir .. "/news.mailcast.db"
    serve.run_campaign(dir, "news", sink.port,
      [[{ { email = "anna@example.net", name = "Anna" }, { email = "bob@example.net", name = "Bob" } }]], store_path)
    tokens = serve.tokens(sink.files())
    store = assert(mailcast.store(store_path))
    cid = assert(store:find_campaign("news"))
    port, pid = serve.start(dir, store_path)
  end)

  teardown(function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    if store then store:close() end
    if sink then sink.cleanup() end
    if dir then mime.rmdir(dir) end
  end)

  it("found the tracking tokens in what the campaign sent", function()
    for _, address in ipairs { "anna@example.net", "bob@example.net" } do
      local t = tokens[address]
      assert.is_table(t, address)
      assert.is_string(t.open)
      assert.equal(2, #t.clicks)
      assert.is_string(t.unsubscribe)
    end
  end)

  it("answers /healthz", function()
    local code, body = request(port, "GET", "/healthz")
    assert.equal(200, code)
    assert.equal("ok\n", body)
  end)

  it("answers an open with the 43-byte transparent GIF, never cached, and records the first open", function()
    local code, body, h = request(port, "GET", "/o/" .. tokens["anna@example.net"].open)
    assert.equal(200, code)
    assert.equal(43, #body)
    assert.equal(GIF, body)
    assert.equal("image/gif", h["content-type"])
    assert.equal("no-store, no-cache, must-revalidate, max-age=0", h["cache-control"])
    local all, machine, first = hits("opened", 1)
    assert.same({ 1, 0, 1 }, { all, machine, first })
  end)

  it("records a repeat open as a repeat, and a proxy's fetch as a machine open", function()
    local before = { hits("opened") }
    assert.equal(200, (request(port, "GET", "/o/" .. tokens["anna@example.net"].open)))
    assert.equal(200, (request(port, "GET", "/o/" .. tokens["anna@example.net"].open, nil,
      { ["user-agent"] = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)" })))
    local all, machine, first = hits("opened", before[1] + 2)
    assert.equal(before[1] + 2, all)
    assert.equal(before[2] + 1, machine)
    assert.equal(before[3], first)   -- no new first open: anna had opened
  end)

  it("redirects a click to the stored URL of the token's link, and records it", function()
    local code, _, h = request(port, "GET", "/c/" .. tokens["bob@example.net"].clicks[1])
    assert.equal(302, code)
    assert.equal("https://example.com/news?a=1&b=2", h.location)
    code, _, h = request(port, "GET", "/c/" .. tokens["bob@example.net"].clicks[2] .. "?to=https://evil.example")
    assert.equal(302, code)
    assert.equal("https://shop.example.org/sale", h.location)
    assert.equal(2, (hits("clicked", 2)))
  end)

  it("keeps the first URL stored for a link index", function()
    assert.is_true(store:link(cid, 1, "https://evil.example/"))
    local code, _, h = request(port, "GET", "/c/" .. tokens["anna@example.net"].clicks[1])
    assert.equal(302, code)
    assert.equal("https://example.com/news?a=1&b=2", h.location)
  end)

  it("answers a forged or altered token with 404", function()
    local tok = tokens["anna@example.net"].clicks[1]
    local last = tok:sub(-1)
    local altered = tok:sub(1, -2) .. (last == "A" and "B" or "A")
    assert.equal(404, (request(port, "GET", "/c/" .. altered)))
    local forged = assert(mailcast.track.token { kind = "click", campaign = cid, recipient = 1, link = 1,
                                                 secret = "another secret of some length" })
    assert.equal(404, (request(port, "GET", "/c/" .. forged)))
    assert.equal(404, (request(port, "GET", "/o/" .. ("x"):rep(40))))
    assert.equal(404, (request(port, "GET", "/o/")))
    assert.equal(404, (request(port, "GET", "/c/" .. ("A"):rep(5000))))
  end)

  it("answers 404 for a good token of a link the campaign does not have, or of another kind", function()
    local other = assert(mailcast.track.token { kind = "click", campaign = cid, recipient = 1, link = 99,
                                                secret = SECRET })
    assert.equal(404, (request(port, "GET", "/c/" .. other)))
    assert.equal(404, (request(port, "GET", "/c/" .. tokens["anna@example.net"].open)))
    assert.equal(404, (request(port, "GET", "/o/" .. tokens["anna@example.net"].clicks[1])))
  end)

  -- A good token for someone the campaign never had recorded opens and
  -- clicks all the same.
  it("records no open or click of a token for no recipient of its campaign, and counts it as unknown", function()
    local anna = store:recipients("anna@example.net", cid)[1].id
    local _, before_metrics = request(port, "GET", "/metrics")
    local before = hits("opened")
    local function tok(kind, campaign, recipient)
      return assert(mailcast.track.token { kind = kind, campaign = campaign, recipient = recipient,
                                           link = kind == "click" and 1 or nil, secret = SECRET })
    end
    assert.equal(200, (request(port, "GET", "/o/" .. tok("open", cid, 999999))))
    assert.equal(200, (request(port, "GET", "/o/" .. tok("open", cid + 1000, anna))))
    assert.equal(404, (request(port, "GET", "/c/" .. tok("click", cid + 1000, anna))))
    -- Then a good one: once it is there, the batch before it was written too.
    assert.equal(200, (request(port, "GET", "/o/" .. tokens["bob@example.net"].open)))
    assert.equal(before + 1, (hits("opened", before + 1)))
    local _, after_metrics = request(port, "GET", "/metrics")
    assert.equal(metric(before_metrics, "mailcast_http_unknown_total") + 3, metric(after_metrics, "mailcast_http_unknown_total"))
  end)

  -- Location went out with the stored URL's spaces and quotes as they were.
  it("writes a stored link's spaces, quotes and other bytes a URL may not hold as %XX in Location", function()
    assert.is_true(store:link(cid, 7, 'https://example.com/a b?q="x"&r=<y>%41\195\169'))
    local anna = store:recipients("anna@example.net", cid)[1].id
    local tok = assert(mailcast.track.token { kind = "click", campaign = cid, recipient = anna, link = 7,
                                              secret = SECRET })
    local code, _, h = request(port, "GET", "/c/" .. tok)
    assert.equal(302, code)
    assert.equal("https://example.com/a%20b?q=%22x%22&r=%3Cy%3E%41%C3%A9", h.location)
  end)

  it("shows a confirmation page with a one-click form for GET /u", function()
    local tok = tokens["anna@example.net"].unsubscribe
    local code, body, h = request(port, "GET", "/u/" .. tok)
    assert.equal(200, code)
    assert.matches("text/html", h["content-type"], 1, true)
    assert.matches('<form method="post" action="/u/' .. tok .. '">', body, 1, true)
    assert.matches('name="List-Unsubscribe" value="One-Click"', body, 1, true)
    assert.is_nil(store:suppressed("anna@example.net"))
  end)

  -- Any POST body unsubscribed, so a link checker's POST did.
  it("answers a POST without List-Unsubscribe=One-Click with 400, and suppresses no one", function()
    local tok = tokens["bob@example.net"].unsubscribe
    for _, body in ipairs { "", "hello", "List-Unsubscribe=Maybe" } do
      local code, text = request(port, "POST", "/u/" .. tok, body)
      assert.equal(400, code, body)
      assert.matches("List-Unsubscribe=One-Click", text, 1, true)
    end
    assert.is_nil(store:suppressed("bob@example.net"))
  end)

  it("suppresses the address on the one-click POST, and a later campaign skips it", function()
    local code, body = request(port, "POST", "/u/" .. tokens["anna@example.net"].unsubscribe,
      "List-Unsubscribe=One-Click")
    assert.equal(200, code)
    assert.matches("Unsubscribed", body, 1, true)
    assert.equal("unsubscribed", store:suppressed("anna@example.net"))
    assert.equal(1, (hits("unsubscribed", 1)))
    assert.is_nil(store:suppressed("bob@example.net"))
    -- A second POST is answered the same, and is no second unsubscribe.
    code = request(port, "POST", "/u/" .. tokens["anna@example.net"].unsubscribe, "List-Unsubscribe=One-Click")
    assert.equal(200, code)
    assert.equal(1, (hits("unsubscribed")))

    serve.run_campaign(dir, "second", sink.port,
      [[{ { email = "anna@example.net", name = "Anna" }, { email = "bob@example.net", name = "Bob" } }]], store_path)
    local counts = store:counts(assert(store:find_campaign("second")))
    assert.equal(1, counts.delivered)
    assert.equal(1, counts.suppressed)
  end)

  it("counts requests, recorded events and bad tokens in /metrics", function()
    local code, body, h = request(port, "GET", "/metrics")
    assert.equal(200, code)
    assert.matches("text/plain", h["content-type"], 1, true)
    assert.is_true(metric(body, 'mailcast_http_requests_total{kind="open"}') >= 3)
    assert.is_true(metric(body, 'mailcast_http_requests_total{kind="click"}') >= 2)
    assert.is_true(metric(body, 'mailcast_events_recorded_total{kind="opened"}') >= 3)
    assert.is_true(metric(body, 'mailcast_events_recorded_total{kind="clicked"}') >= 2)
    assert.equal(1, metric(body, 'mailcast_events_recorded_total{kind="unsubscribed"}'))
    assert.is_true(metric(body, "mailcast_http_bad_tokens_total") >= 5)
    assert.is_number(metric(body, "mailcast_http_errors_total"))
  end)

  -- Every 404 counted as an error, so a scanner's requests filled it.
  it("counts requests for paths it does not serve apart, not as errors", function()
    local _, before = request(port, "GET", "/metrics")
    for _, path in ipairs { "/wp-login.php", "/.env", "/admin", "/o" } do
      assert.equal(404, (request(port, "GET", path)))
    end
    local _, after = request(port, "GET", "/metrics")
    assert.equal(metric(before, "mailcast_http_errors_total"), metric(after, "mailcast_http_errors_total"))
    assert.equal(metric(before, 'mailcast_http_requests_total{kind="other"}') + 4,
      metric(after, 'mailcast_http_requests_total{kind="other"}'))
  end)

  it("survives a malformed request line, a huge header, an oversized body and a silent client", function()
    local silent = assert(socket.tcp())
    assert(silent:connect("127.0.0.1", port))
    silent:send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")   -- never finished
    local answer = raw(port, "THIS IS NOT HTTP\r\n\r\n")
    assert.not_matches("^HTTP/1%.%d 200", answer)
    answer = raw(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " .. ("a"):rep(100000) .. "\r\n\r\n")
    assert.not_matches("^HTTP/1%.%d 200", answer)
    answer = raw(port, "POST /u/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" .. ("a"):rep(100000))
    assert.not_matches("^HTTP/1%.%d 200", answer)
    answer = raw(port, "\0\1\2\255\r\n\r\n")
    local code, body = request(port, "GET", "/healthz")
    silent:close()
    assert.equal(200, code)
    assert.equal("ok\n", body)
  end)

  it("records every open of a burst", function()
    local open = tokens["bob@example.net"].open
    local before = hits("opened")
    local _, metrics_before = request(port, "GET", "/metrics")
    local opens_before = metric(metrics_before, 'mailcast_http_requests_total{kind="open"}')
    local sent
    if os.execute("command -v wrk >/dev/null 2>&1") then
      local out, rc = helper.sh(string.format("wrk -c 50 -t 2 -d 2s http://127.0.0.1:%d/o/%s", port, open))
      assert.equal(0, rc, out)
      sent = tonumber(out:match("(%d+) requests in"))
      assert.is_number(sent, out)
      assert.is_nil(out:match("Non%-2xx"), out)
      assert.is_nil(out:match("Socket errors"), out)
    else
      sent = 3000
      for _ = 1, sent do assert.equal(200, (request(port, "GET", "/o/" .. open))) end
    end
    assert.is_true(sent > 1000)
    -- Every open the server answered is in the store: its own count of
    -- open requests and the events written agree, and none is waiting.
    local _, metrics_after
    for _ = 1, 100 do
      _, metrics_after = request(port, "GET", "/metrics")
      if metric(metrics_after, "mailcast_events_waiting") == 0 then break end
      socket.sleep(0.05)
    end
    local answered = metric(metrics_after, 'mailcast_http_requests_total{kind="open"}') - opens_before
    local after = hits("opened", before + answered)
    assert.equal(answered, after - before)
    -- wrk counts the answers it read; a request per connection may have
    -- been answered as it stopped.
    assert.is_true(answered >= sent and answered <= sent + 50, answered .. " answered, wrk read " .. sent)
  end)

  it("writes what waits and stops cleanly on SIGTERM", function()
    assert.is_true(serve.stop(pid))   -- it has exited (a sanitizer's report comes last)
    pid = nil
    local out = try_read(dir .. "/serve.out") or ""
    assert.matches("mailcast serve: %d+ events recorded", out)
    assert.not_matches("Sanitizer", out)
    assert.not_matches("runtime error", out)
  end)
end)


describe("mailcast serve's command line", function()
  it("refuses what it cannot use, with status 2 and why", function()
    local dir = mime.tmpdir()
    local store = " --store " .. q(dir .. "/s.db")
    for _, case in ipairs {
      { store .. " --frobnicate", serve.SECRET, "unknown option '%-%-frobnicate'" },
      { store .. " --webhook-tries 0", serve.SECRET, "%-%-webhook%-tries needs a positive number" },
      { store .. " --webhook", serve.SECRET, "%-%-webhook needs a value" },
      { "", serve.SECRET, "%-%-store FILE is required" },
      { store, "short", "MAILCAST_TRACK_SECRET must hold the tracking secret %(at least 16 bytes%)" },
    } do
      local out, code = helper.sh(string.format("MAILCAST_TRACK_SECRET=%s %s serve --listen 127.0.0.1:0%s",
        q(case[2]), q(helper.runner), case[1]))
      assert.equal(2, code, case[1] .. ": " .. out)
      assert.matches(case[3], out)
    end
    mime.rmdir(dir)
  end)

  -- `serve --store typo.db` once made an empty store and answered 404s.
  it("refuses a store that does not exist, with status 1, and makes none", function()
    local dir = mime.tmpdir()
    -- (timeout: a serve that does not refuse would serve until stopped)
    local out, code = helper.sh(string.format("MAILCAST_TRACK_SECRET=%s timeout 60 %s serve --listen 127.0.0.1:0 --store %s",
      q(serve.SECRET), q(helper.runner), q(dir .. "/typo.db")))
    assert.equal(1, code, out)
    assert.matches("serve: no store at " .. dir .. "/typo.db", out, 1, true)
    assert.is_nil(io.open(dir .. "/typo.db"), "a store was made")
    mime.rmdir(dir)
  end)
end)


describe("mailcast serve out of descriptors", function()
  -- 1,100 slow clients under the default limit of 1024 descriptors took
  -- serve down for the whole attack, writing "Too many open files" for
  -- every accept it tried again at once (392 MB of it).
  it("pauses accepting, says so once, and answers again when clients go", function()
    local dir = mime.tmpdir()
    local store_path = dir .. "/s.mailcast.db"
    assert(mailcast.store(store_path)):close()
    local port, pid = serve.start(dir, store_path, "", "prlimit --nofile=20:20")
    local clients = {}
    finally(function()
      for _, c in ipairs(clients) do c:close() end
      serve.stop(pid)
      mime.rmdir(dir)
    end)
    for _ = 1, 60 do
      local c = assert(socket.tcp())
      c:settimeout(2)
      if c:connect("127.0.0.1", port) then clients[#clients + 1] = c else c:close() end
    end
    assert.is_truthy(serve.wait_until(function()
      return (try_read(dir .. "/serve.out") or ""):find("cannot accept connections", 1, true)
    end, 20), try_read(dir .. "/serve.out"))
    for _, c in ipairs(clients) do c:close() end
    clients = {}
    assert.is_truthy(serve.wait_until(function()
      return (request(port, "GET", "/healthz")) == 200
    end, 20))
    local _, body = request(port, "GET", "/metrics")
    assert.is_true(metric(body, "mailcast_http_accept_errors_total") >= 1)
    local out = try_read(dir .. "/serve.out") or ""
    local lines = 0
    for line in out:gmatch("[^\n]+") do if line:find("accept", 1, true) then lines = lines + 1 end end
    assert.equal(1, lines, out:sub(1, 2000))   -- a message at most every 10 s
  end)
end)


-- Whether the server has closed connection c: a read that gets no data
-- and "closed" (a connection still open times out instead).
local function closed_by_server(c)
  c:settimeout(0.05)
  local _, err = c:receive(1)
  return err == "closed"
end

describe("mailcast serve's connections", function()
  local dir, store_path, port, pid, clients
  local function start(args, env)
    dir = mime.tmpdir()
    store_path = dir .. "/s.mailcast.db"
    assert(mailcast.store(store_path)):close()
    port, pid = serve.start(dir, store_path, args, env)
  end
  local function connect()
    local c = assert(socket.tcp())
    c:settimeout(2)
    assert(c:connect("127.0.0.1", port))
    clients[#clients + 1] = c
    return c
  end
  before_each(function() clients = {} end)
  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    serve.stop(pid)
    mime.rmdir(dir)
  end)

  -- The 10 s timeout counted idle time only: a client sending a header
  -- line every 5 s held its connection for ever.
  it("closes a connection whose request does not come whole by its deadline, however often bytes come", function()
    start("--timeout 1")
    local c = connect()
    assert(c:send("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
    local sent, gone = 0, false
    -- A header line every 0.2 s: never idle for long, never done. Two
    -- hundred lines would take 40 s.
    for _ = 1, 200 do
      socket.sleep(0.2)
      if closed_by_server(c) then gone = true break end
      if not c:send(string.format("X-Slow-%d: 1\r\n", sent)) then gone = true break end
      sent = sent + 1
    end
    assert.is_true(gone, "the connection is still open after " .. sent .. " header lines")
    local _, body = request(port, "GET", "/metrics")
    assert.equal(1, metric(body, "mailcast_http_connections_timed_out_total"))
  end)

  it("keeps a connection whose requests each come whole in time, for as long as they come", function()
    start("--timeout 1")
    local c = connect()
    -- Four requests 0.5 s apart: longer than the deadline in all, each
    -- well within it.
    for i = 1, 4 do
      if i > 1 then socket.sleep(0.5) end
      assert(c:send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
      local status = assert(c:receive("*l"))
      assert.matches("^HTTP/1%.1 200", status)
      repeat local line = assert(c:receive("*l")) until line == ""
      assert.equal("ok", assert(c:receive(3)):sub(1, 2))
    end
    local _, body = request(port, "GET", "/metrics")
    assert.equal(0, metric(body, "mailcast_http_connections_timed_out_total"))
  end)

  it("holds at most --max-connections, closing the one longest without a request for a new one", function()
    start("--max-connections 5")
    local idle = {}
    for i = 1, 4 do
      idle[i] = connect()
      -- (one at a time, so that their order is the server's)
      assert.is_truthy(serve.wait_until(function()
        local _, body = request(port, "GET", "/metrics")
        return metric(body, "mailcast_http_connections") == i + 1   -- (and this request's own)
      end, 10))
    end
    idle[5] = connect()
    -- One more, a client's real request (accepted after the fifth): it is
    -- answered, and the first idle one goes for it.
    assert.equal(200, (request(port, "GET", "/healthz")))
    assert.is_truthy(serve.wait_until(function() return closed_by_server(idle[1]) end, 10),
      "the oldest idle connection is still open")
    for i = 2, 5 do assert.is_false(closed_by_server(idle[i]), "connection " .. i .. " was closed") end
    local _, body = request(port, "GET", "/metrics")
    assert.is_true(metric(body, "mailcast_http_connections_shed_total") >= 1, body)
  end)

  -- 1,100 slow clients under the default limit of 1024 descriptors took
  -- serve down for the whole attack.
  it("answers during an attack of more clients than its descriptors allow, shedding the oldest", function()
    start("", "prlimit --nofile=64:64")
    for _ = 1, 100 do
      local c = assert(socket.tcp())
      c:settimeout(2)
      if c:connect("127.0.0.1", port) then clients[#clients + 1] = c else c:close() end
    end
    -- Every one of them is still connected as far as it knows; the
    -- server answers all the same, and has taken them all in, shedding
    -- the oldest. (Accepting may pause in a burst: a connection shed is
    -- let go on the loop's next turn, after the accepts of this one.)
    assert.equal(200, (request(port, "GET", "/healthz")))
    local body
    assert.is_truthy(serve.wait_until(function()
      _, body = request(port, "GET", "/metrics")
      return metric(body, "mailcast_http_connections_shed_total") >= 100 - 48
    end, 30), body)
    assert.is_true(metric(body, "mailcast_http_connections") <= 64 - 16, body)
  end)
end)
