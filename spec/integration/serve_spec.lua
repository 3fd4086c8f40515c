-- `mailcast serve` as a user runs it, against the store of a campaign
-- sent with tracking and one-click unsubscribe to the built-in sink: the
-- open pixel, click redirects to stored links only, unsubscribe, bad
-- tokens, metrics, malformed requests, and a burst that loses nothing.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"

local q = mime.sh_quote
local SECRET = "a tracking secret of some length"

local GIF = "GIF89a\1\0\1\0\128\0\0\0\0\0\255\255\255\33\249\4\1\0\0\0\0\44\0\0\0\0\1\0\1\0\0\2\2\68\1\0\59"

local function try_read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

-- A campaign to the sink, tracked, with one-click unsubscribe.
local function campaign_script(name, port, recipients)
  return string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = %q, from = "News <news@example.com>", subject = "Hello {{name}}",
  text = "Hello {{name}}\n",
  html = [=[<html><body><p>Hello {{name}}</p>
<a href="https://example.com/news?a=1&amp;b=2">News</a>
<a href="https://shop.example.org/sale">Sale</a>
<a href="{{unsubscribe_url}}">Unsubscribe</a>
</body></html>]=],
  recipients = %s,
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  track = { base = "https://t.example.com", secret = %q },
  unsubscribe = { mailto = "leave@example.com" },
}
]], name, recipients, port, SECRET)
end

-- Starts `mailcast serve` on a free port; returns port, pid.
local function start_serve(dir, store)
  local cmd = string.format("MAILCAST_TRACK_SECRET=%s timeout 300 %s serve --store %s --listen 127.0.0.1:0"
    .. " --port-file %s > %s 2>&1 & echo $!", q(SECRET), q(helper.runner), q(store), q(dir .. "/port"),
    q(dir .. "/serve.out"))
  local p = io.popen(cmd)
  local pid = p:read("l")
  p:close()
  for _ = 1, 500 do
    local text = try_read(dir .. "/port")
    local port = text and tonumber(text:match("%d+"))
    if port then return port, pid end
    socket.sleep(0.02)
  end
  error("mailcast serve did not start: " .. (try_read(dir .. "/serve.out") or ""))
end

-- One request: code, body, headers.
local function request(port, method, path, body, headers)
  local chunks = {}
  headers = headers or {}
  if body then headers["content-length"] = tostring(#body) headers["content-type"] = "application/x-www-form-urlencoded" end
  local _, code, hdrs = http.request {
    url = "http://127.0.0.1:" .. port .. path, method = method, headers = headers,
    source = body and ltn12.source.string(body), sink = ltn12.sink.table(chunks), redirect = false,
  }
  return code, table.concat(chunks), hdrs or {}
end

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

local function metric(text, name)
  local v = text:match("\n" .. name:gsub("[%[%]%(%)%.%-%+%*%?%^%$%%]", "%%%0") .. " (%d+)")
  return tonumber(v)
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
    mime.write(dir .. "/campaign.lua", campaign_script("news", sink.port,
      [[{ { email = "anna@example.net", name = "Anna" }, { email = "bob@example.net", name = "Bob" } }]]))
    local out, code = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/campaign.lua") .. " --quiet --store "
      .. q(store_path))
    assert.equal(0, code, out)
    for _, raw_msg in ipairs(sink.files()) do
      local msg = mailcast.parse(raw_msg)
      local to, html
      for _, h in ipairs(msg.headers) do if h.name:lower() == "to" then to = h.value end end
      local function walk(e)
        if e.content_type == "text/html" then html = e.body end
        for _, p in ipairs(e.parts or {}) do walk(p) end
      end
      walk(msg)
      local t = { clicks = {} }
      t.open = html:match('<img src="https://t%.example%.com/o/([^"]+)"')
      for tok in html:gmatch('href="https://t%.example%.com/c/([^"]+)"') do t.clicks[#t.clicks + 1] = tok end
      t.unsubscribe = html:match('href="https://t%.example%.com/u/([^"]+)"')
      tokens[to:match("<?([^<>%s]+@[^<>%s]+)>?")] = t
    end
    store = assert(mailcast.store(store_path))
    cid = assert(store:find_campaign("news"))
    port, pid = start_serve(dir, store_path)
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

  it("shows a confirmation page with a one-click form for GET /u", function()
    local tok = tokens["anna@example.net"].unsubscribe
    local code, body, h = request(port, "GET", "/u/" .. tok)
    assert.equal(200, code)
    assert.matches("text/html", h["content-type"], 1, true)
    assert.matches('<form method="post" action="/u/' .. tok .. '">', body, 1, true)
    assert.matches('name="List-Unsubscribe" value="One-Click"', body, 1, true)
    assert.is_nil(store:suppressed("anna@example.net"))
  end)

  it("suppresses the address on the one-click POST, and a later campaign skips it", function()
    local code, body = request(port, "POST", "/u/" .. tokens["anna@example.net"].unsubscribe,
      "List-Unsubscribe=One-Click")
    assert.equal(200, code)
    assert.matches("Unsubscribed", body, 1, true)
    assert.equal("unsubscribed", store:suppressed("anna@example.net"))
    assert.equal(1, (hits("unsubscribed", 1)))
    assert.is_nil(store:suppressed("bob@example.net"))

    mime.write(dir .. "/second.lua", campaign_script("second", sink.port,
      [[{ { email = "anna@example.net", name = "Anna" }, { email = "bob@example.net", name = "Bob" } }]]))
    local out, rc = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/second.lua") .. " --quiet --store "
      .. q(store_path))
    assert.equal(0, rc, out)
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
    os.execute("kill " .. pid)
    for _ = 1, 200 do   -- until it has exited (a sanitizer's report comes last)
      if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then break end
      socket.sleep(0.05)
    end
    pid = nil
    local out = try_read(dir .. "/serve.out") or ""
    assert.matches("mailcast serve: %d+ events recorded", out)
    assert.not_matches("Sanitizer", out)
    assert.not_matches("runtime error", out)
  end)
end)

describe("mailcast serve webhooks", function()
  local HOOK_SECRET = "a webhook secret"
  local dir, sink, port, pid, rpid, rport, cid
  local tokens = {}

  -- The receiver's log: one table per POST.
  local function received()
    local out = {}
    for line in (try_read(dir .. "/hooks.log") or ""):gmatch("[^\n]+") do
      local path, event, stamp, sig, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      out[#out + 1] = { path = path, event = event, stamp = stamp, sig = sig, body = body }
    end
    return out
  end

  -- Waits for POSTs to path whose body matches pattern; returns them.
  local function wait_for(path, pattern, n, seconds)
    local found
    for _ = 1, seconds * 20 do
      found = {}
      for _, r in ipairs(received()) do
        if r.path == path and r.body:find(pattern) then found[#found + 1] = r end
      end
      if #found >= n then break end
      socket.sleep(0.05)
    end
    return found
  end

  local function hmac_hex(data)
    mime.write(dir .. "/signed", data)
    local out = helper.sh("openssl dgst -sha256 -hmac " .. q(HOOK_SECRET) .. " " .. q(dir .. "/signed"))
    return out:match("= (%x+)")
  end

  setup(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("--quiet")
    local store_path = dir .. "/hooks.mailcast.db"
    mime.write(dir .. "/campaign.lua", campaign_script("hooks", sink.port,
      [[{ { email = "cleo@example.net", name = "Cleo" } }]]))
    local out, code = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/campaign.lua") .. " --quiet --store "
      .. q(store_path))
    assert.equal(0, code, out)
    local html
    local function walk(e)
      if e.content_type == "text/html" then return e.body end
      for _, p in ipairs(e.parts or {}) do local b = walk(p) if b then return b end end
    end
    html = walk(mailcast.parse(sink.files()[1]))
    tokens.open = html:match('<img src="https://t%.example%.com/o/([^"]+)"')
    tokens.click = html:match('href="https://t%.example%.com/c/([^"]+)"')
    local store = assert(mailcast.store(store_path))
    cid = assert(store:find_campaign("hooks"))
    store:close()

    local p = io.popen(string.format("timeout 300 /usr/bin/python3 %s %s %s > /dev/null 2>&1 & echo $!",
      q(helper.root .. "/spec/support/webhook_receiver.py"), q(dir .. "/hooks.port"), q(dir .. "/hooks.log")))
    rpid = p:read("l")
    p:close()
    for _ = 1, 500 do
      local text = try_read(dir .. "/hooks.port")
      rport = text and tonumber(text:match("%d+"))
      if rport then break end
      socket.sleep(0.02)
    end
    assert.is_number(rport)
    local base = "http://127.0.0.1:" .. rport
    local cmd = string.format("MAILCAST_TRACK_SECRET=%s HOOK_KEY=%s timeout 300 %s serve --store %s"
      .. " --listen 127.0.0.1:0 --port-file %s --webhook %s --webhook %s --webhook %s --webhook-secret-env HOOK_KEY"
      .. " > %s 2>&1 & echo $!", q(SECRET), q(HOOK_SECRET), q(helper.runner), q(store_path),
      q(dir .. "/port"), q(base .. "/ok"), q(base .. "/flaky"), q(base .. "/hang"), q(dir .. "/serve.out"))
    p = io.popen(cmd)
    pid = p:read("l")
    p:close()
    for _ = 1, 500 do
      local text = try_read(dir .. "/port")
      port = text and tonumber(text:match("%d+"))
      if port then break end
      socket.sleep(0.02)
    end
    assert.is_number(port, try_read(dir .. "/serve.out"))
  end)

  teardown(function()
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
    if rpid then os.execute("kill " .. rpid .. " 2>/dev/null") end
    if sink then sink.cleanup() end
    if dir then mime.rmdir(dir) end
  end)

  it("refuses to start with webhooks but no webhook secret", function()
    local out, code = helper.sh(string.format("MAILCAST_TRACK_SECRET=%s MAILCAST_WEBHOOK_SECRET= %s serve"
      .. " --store %s --listen 127.0.0.1:0 --webhook http://127.0.0.1:9/x", q(SECRET), q(helper.runner),
      q(dir .. "/none.db")))
    assert.equal(2, code)
    assert.matches("webhooks need a secret", out)
  end)

  it("answers the pixel at once while a webhook hangs", function()
    local t0 = socket.gettime()
    local code, body = request(port, "GET", "/o/" .. tokens.open)
    assert.equal(200, code)
    assert.equal(GIF, body)
    assert.is_true(socket.gettime() - t0 < 2)
    assert.equal(1, #wait_for("/hang", '"event":"opened"', 1, 5))
    t0 = socket.gettime()
    code = request(port, "GET", "/healthz")
    assert.equal(200, code)
    assert.is_true(socket.gettime() - t0 < 2)
  end)

  it("POSTs an open and a click as signed JSON naming the campaign, recipient and kind", function()
    assert.equal(302, (request(port, "GET", "/c/" .. tokens.click)))
    local opens = wait_for("/ok", '"event":"opened"', 1, 5)
    local clicks = wait_for("/ok", '"event":"clicked"', 1, 5)
    assert.equal(1, #opens)
    assert.equal(1, #clicks)
    for _, r in ipairs { opens[1], clicks[1] } do
      assert.matches('"campaign":' .. cid .. ',', r.body)
      assert.matches('"recipient":%d+', r.body)
      assert.equal(r.body:match('"event":"(%a+)"'), r.event)
      assert.matches("^%d+$", r.stamp)
      assert.equal("sha256=" .. hmac_hex(r.stamp .. "." .. r.body), r.sig)
    end
    assert.matches('"link":1,', clicks[1].body)
  end)

  it("retries after two 500s and delivers on the third try", function()
    local tries = wait_for("/flaky", '"event":"opened"', 3, 10)
    assert.equal(3, #tries)
    assert.equal(tries[1].body, tries[3].body)
    local _, text = request(port, "GET", "/metrics")
    assert.matches('mailcast_webhook_deliveries_total{result="ok"} %d+', text)
    assert.matches("mailcast_webhook_queue %d+", text)
  end)

  it("stops cleanly on SIGTERM with deliveries pending", function()
    -- to serve itself: timeout(1) would pass SIGTERM on twice (to the child
    -- and to its group), and the second may land after serve has let go of it
    os.execute("pkill -TERM -P " .. pid)
    local gone = false
    for _ = 1, 100 do
      if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then gone = true break end
      socket.sleep(0.05)
    end
    assert.is_true(gone)
    pid = nil
    local out = try_read(dir .. "/serve.out") or ""
    assert.matches("mailcast serve: %d+ events recorded", out)
    assert.not_matches("Sanitizer", out)
    assert.not_matches("runtime error", out)
  end)
end)
