-- Webhooks of `mailcast serve`, fed from the store's events: what the
-- tracking endpoints record, and what other writers put there (a campaign
-- run to the built-in sink, bounce events), reach receivers as signed
-- JSON batches over http and https; retries, giving up, a restart that
-- resumes from the cursor, a campaign's own URLs, hostile bytes.
local mailcast = require "mailcast"
local webhooks = require "mailcast.webhooks"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local serve = require "support.serve"
local certs = require "support.certs"
local json = require "dkjson"
local socket = require "socket"

local q = mime.sh_quote
local HOOK_SECRET = "a webhook secret"
local GIF = "GIF89a\1\0\1\0\128\0\0\0\0\0\255\255\255\33\249\4\1\0\0\0\0\44\0\0\0\0\1\0\1\0\0\2\2\68\1\0\59"

describe("mailcast serve webhooks", function()
  local dir, sink, store_path, store, cid, cleo, tokens, r, port, pid
  local receivers, serves = {}, {}   -- pids, for teardown; serves by name

  -- A receiver (https with cert and key) on a free port: {port=, log=, url(path)}.
  local function receiver(name, cert, key)
    local log = dir .. "/" .. name .. ".log"
    local rport, rpid = serve.background(string.format("HOOK_SECRET=%s timeout 300 /usr/bin/python3 %s %s %s %s",
      q(HOOK_SECRET), q(helper.root .. "/spec/support/webhook_receiver.py"), q(dir .. "/" .. name .. ".port"),
      q(log), cert and (q(cert) .. " " .. q(key)) or ""), dir .. "/" .. name .. ".port", dir .. "/" .. name .. ".out")
    receivers[#receivers + 1] = rpid
    local scheme = cert and "https" or "http"
    return { port = rport, log = log, url = function(path) return scheme .. "://127.0.0.1:" .. rport .. path end }
  end

  -- mailcast serve in dir/name with the webhook secret and args: port, pid.
  local function start(name, args)
    os.execute("mkdir -p " .. q(dir .. "/" .. name))
    return serve.start(dir .. "/" .. name, store_path, args, "HOOK_KEY=" .. q(HOOK_SECRET)
      .. " MAILCAST_WEBHOOK_SECRET=")
  end

  -- The POSTs rcv logged to path: {path=, stamp=, sig=, sig_ok=, json_ok=, body=, events=}.
  local function posts(rcv, path)
    local out = {}
    -- Whole lines only: the receiver may be writing the last one.
    for line in (serve.try_read(rcv.log) or ""):gmatch("([^\n]+)\n") do
      local p = json.decode(line)
      if p.path == path then out[#out + 1] = p end
    end
    return out
  end

  -- Waits up to seconds for an event posted to path that pred accepts:
  -- the event and its POST.
  local function wait_event(rcv, path, pred, seconds)
    local found = serve.wait_until(function()
      for _, p in ipairs(posts(rcv, path)) do
        for _, ev in ipairs(p.json_ok and p.events or {}) do
          if pred(ev) then return { ev, p } end
        end
      end
    end, seconds or 5)
    if found then return found[1], found[2] end
  end

  -- Records a bounce as bounce processing does, with a text of its own:
  -- returns a predicate that knows its event.
  local bounces = 0
  local function bounce()
    bounces = bounces + 1
    local text = "No such user " .. bounces
    assert(store:event { campaign = cid, recipient = cleo, kind = "bounced", code = 550, enhanced = "5.1.1",
                         text = text, reason = "bad-mailbox", category = "invalid", hard = true })
    return function(ev) return ev.kind == "bounced" and ev.text == text end
  end

  local function metrics_of(p)
    local _, text = serve.request(p, "GET", "/metrics")
    return text
  end

  setup(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start('--quiet --reject gone@example.net="550 5.1.1 No such user"')
    store_path = dir .. "/hooks.mailcast.db"
    serve.run_campaign(dir, "hooks", sink.port, [[{ { email = "cleo@example.net", name = "Cleo" } }]], store_path)
    tokens = serve.tokens(sink.files())["cleo@example.net"]
    store = assert(mailcast.store(store_path))
    cid = assert(store:find_campaign("hooks"))
    cleo = store:recipients("cleo@example.net")[1].id
    r = receiver("r")
    port, pid = start("a", table.concat({
      "--webhook", q(r.url("/ok")), "--webhook", q(r.url("/flaky")), "--webhook", q(r.url("/hang")),
      "--webhook-secret-env HOOK_KEY --webhook-poll 0.1 --webhook-backoff 0.2 --webhook-timeout 3" }, " "))
  end)

  teardown(function()
    if pid then serve.stop(pid) end
    for _, p in pairs(serves) do serve.stop(p) end
    for _, p in ipairs(receivers) do serve.stop(p) end
    if store then store:close() end
    if sink then sink.cleanup() end
    if dir then mime.rmdir(dir) end
  end)

  it("refuses to start with webhooks but no webhook secret", function()
    local out, code = helper.sh(string.format("MAILCAST_TRACK_SECRET=%s MAILCAST_WEBHOOK_SECRET= %s serve"
      .. " --store %s --listen 127.0.0.1:0 --webhook http://127.0.0.1:9/x", q(serve.SECRET), q(helper.runner),
      q(dir .. "/none.db")))
    assert.equal(2, code)
    assert.matches("webhooks need a secret", out)
  end)

  it("refuses a webhook URL that is not http:// or https://", function()
    local out, code = helper.sh(string.format("MAILCAST_TRACK_SECRET=%s MAILCAST_WEBHOOK_SECRET=s %s serve"
      .. " --store %s --listen 127.0.0.1:0 --webhook ftp://127.0.0.1/x", q(serve.SECRET), q(helper.runner),
      q(store_path)))
    assert.equal(1, code)
    assert.matches("not an http:// or https:// URL", out)
  end)

  it("refuses a CA file it cannot read", function()
    local out, code = helper.sh(string.format("MAILCAST_TRACK_SECRET=%s MAILCAST_WEBHOOK_SECRET=s %s serve"
      .. " --store %s --listen 127.0.0.1:0 --webhook https://127.0.0.1:9/x --webhook-ca %s", q(serve.SECRET),
      q(helper.runner), q(store_path), q(dir .. "/no-such-ca.pem")))
    assert.equal(1, code)
    assert.matches("cannot load the CAs", out)
  end)

  it("sends none of the events that were there before the receiver was first seen", function()
    socket.sleep(0.5)
    for _, p in ipairs(posts(r, "/ok")) do
      for _, ev in ipairs(p.events) do assert.is_not.equal("delivered", ev.kind) end
    end
  end)

  it("answers the pixel at once while a webhook hangs", function()
    local t0 = socket.gettime()
    local code, body = serve.request(port, "GET", "/o/" .. tokens.open)
    assert.equal(200, code)
    assert.equal(GIF, body)
    assert.is_true(socket.gettime() - t0 < 2)
    assert.is_table(wait_event(r, "/hang", function(ev) return ev.kind == "opened" end))
    t0 = socket.gettime()
    assert.equal(200, (serve.request(port, "GET", "/o/" .. tokens.open)))
    assert.equal(200, (serve.request(port, "GET", "/healthz")))
    assert.is_true(socket.gettime() - t0 < 2)
  end)

  it("POSTs opens, clicks and unsubscribes as signed JSON with their fields", function()
    assert.equal(302, (serve.request(port, "GET", "/c/" .. tokens.clicks[1])))
    assert.equal(200, (serve.request(port, "POST", "/u/" .. tokens.unsubscribe, "List-Unsubscribe=One-Click")))
    local open, p = wait_event(r, "/ok", function(ev) return ev.kind == "opened" end)
    local click = wait_event(r, "/ok", function(ev) return ev.kind == "clicked" end)
    local unsub = wait_event(r, "/ok", function(ev) return ev.kind == "unsubscribed" end)
    assert.is_table(open)
    assert.is_table(click)
    assert.is_table(unsub)
    for _, ev in ipairs { open, click, unsub } do
      assert.equal("hooks", ev.campaign)
      assert.equal(cid, ev.campaign_id)
      assert.equal("cleo@example.net", ev.address)
      assert.is_number(ev.recipient)
      assert.is_number(ev.at)
      assert.is_number(ev.id)
    end
    assert.equal("first", open.text)
    assert.is_false(open.machine)
    assert.equal(1, click.link)
    assert.equal("https://example.com/news?a=1&b=2", click.url)
    assert.is_nil(click.machine)
    -- the receiver checked the signature; check it here too, with openssl
    for _, post in ipairs(posts(r, "/ok")) do assert.is_true(post.sig_ok) end
    mime.write(dir .. "/signed", p.stamp .. "." .. p.body)
    local out = helper.sh("openssl dgst -sha256 -hmac " .. q(HOOK_SECRET) .. " " .. q(dir .. "/signed"))
    assert.equal("sha256=" .. out:match("= (%x+)"), p.sig)
    assert.equal(tostring(#p.events), p.count)
  end)

  it("POSTs the deliveries and failures of a campaign run, and bounces, with their replies", function()
    serve.run_campaign(dir, "second", sink.port,
      [[{ { email = "dana@example.net", name = "Dana" }, { email = "gone@example.net", name = "Gone" } }]], store_path)
    local delivered = wait_event(r, "/ok", function(ev) return ev.kind == "delivered" end)
    local failed = wait_event(r, "/ok", function(ev) return ev.kind == "failed" end)
    assert.is_table(delivered)
    assert.is_table(failed)
    assert.equal("second", delivered.campaign)
    assert.equal("dana@example.net", delivered.address)
    assert.equal(250, delivered.code)
    assert.equal("gone@example.net", failed.address)
    assert.equal(550, failed.code)
    assert.equal("5.1.1", failed.enhanced)
    assert.matches("No such user", failed.text)

    local ev = wait_event(r, "/ok", bounce())
    assert.is_table(ev)
    assert.same({ "bounced", "hooks", "cleo@example.net", 550, "5.1.1", "bad-mailbox", "invalid", true },
      { ev.kind, ev.campaign, ev.address, ev.code, ev.enhanced, ev.reason, ev.category, ev.hard })
  end)

  it("retries after two 500s with backoff and delivers the batch once on the third try", function()
    local ev = wait_event(r, "/flaky", bounce(), 10)
    assert.is_table(ev)
    local id = ev.id
    local body
    for _, p in ipairs(posts(r, "/flaky")) do
      for _, e in ipairs(p.events) do if e.id == id then body = p.body end end
    end
    assert.is_true(serve.wait_until(function()
      local n = 0
      for _, p in ipairs(posts(r, "/flaky")) do if p.body == body then n = n + 1 end end
      return n >= 3
    end, 10))
    socket.sleep(0.5)
    local n = 0
    for _, p in ipairs(posts(r, "/flaky")) do if p.body == body then n = n + 1 end end
    assert.equal(3, n)
    local text = metrics_of(port)
    assert.is_true(serve.metric(text, 'mailcast_webhook_posts_total{result="retried"}') >= 2)
    assert.is_true(serve.metric(text, 'mailcast_webhook_posts_total{result="ok"}') >= 1)
    assert.is_true(serve.metric(text, "mailcast_webhook_events_posted_total") >= 1)
    assert.is_number(serve.metric(text, "mailcast_webhook_lag"))
  end)

  it("writes hostile bytes in addresses and replies as valid JSON", function()
    local hostile = 'q"uote\\ \r\nX-Injected: 1\t\1\2\27\127 caf\195\169 \255\254\192\128 end'
    local hid = assert(store:campaign("hostile"))
    assert.is_true(store:add(hid, hostile .. "@example.net"))
    local claimed = store:claim(hid, 10)
    assert.equal(1, #claimed)
    assert(store:finish(claimed[1].id, "failed", { code = 554, enhanced = "5.7.1", text = hostile }))
    local ev, p = wait_event(r, "/ok", function(e) return e.kind == "failed" and e.code == 554 end)
    assert.is_table(ev, "no valid JSON arrived")
    assert.is_true(p.json_ok)
    assert.is_truthy(utf8.len(ev.text))
    local kept = 'q"uote\\ \r\nX-Injected: 1\t\1\2\27\127 caf\195\169 '
    assert.equal(kept, ev.text:sub(1, #kept))
    assert.equal(kept, ev.address:sub(1, #kept))
    assert.matches(" end@example.net$", ev.address)
    assert.is_nil(p.body:find("[%z\1-\31]"))   -- control bytes escaped, not sent raw
  end)

  it("POSTs a campaign's events to the URLs it registered, picked up while serve runs", function()
    local crm = assert(store:campaign("crm"))
    assert.is_true(webhooks.register(store_path, crm, { r.url("/camp") }))
    assert.is_true(webhooks.register(store_path, crm, r.url("/camp")))   -- again: nothing changes
    local bad, err = webhooks.register(store_path, crm, { "mailto:x@example.net" })
    assert.is_nil(bad)
    assert.matches("URL", err)
    socket.sleep(0.3)   -- a poll reads the new URL
    assert.is_true(store:add(crm, "erin@example.net"))
    local claimed = store:claim(crm, 10)
    assert(store:finish(claimed[1].id, "delivered", { code = 250, enhanced = "2.0.0", text = "queued" }))
    local other = bounce()
    local ev = wait_event(r, "/camp", function(e) return e.kind == "delivered" end)
    assert.is_table(ev)
    assert.equal("crm", ev.campaign)
    assert.equal("erin@example.net", ev.address)
    assert.is_table(wait_event(r, "/ok", other))   -- --webhook URLs get every campaign's
    for _, p in ipairs(posts(r, "/camp")) do
      for _, e in ipairs(p.events) do assert.equal(crm, e.campaign_id) end
    end
  end)

  it("names the URL the recipient's own message had in a click's event", function()
    local own = "https://shop.example.org/sale?for=cleo"
    assert(store:link(cid, 2, own, cleo))   -- as a campaign stores a personalised link
    local code, _, headers = serve.request(port, "GET", "/c/" .. tokens.clicks[2])
    assert.equal(302, code)
    assert.equal(own, headers.location)
    local click = wait_event(r, "/ok", function(ev) return ev.kind == "clicked" and ev.link == 2 end)
    assert.is_table(click, "no click event")
    assert.equal(own, click.url)
  end)

  it("POSTs the outcomes of a campaign run that names its own webhooks, and only that campaign's", function()
    -- gone@ is refused by the sink, or skipped when an earlier test's
    -- bounce has put it on the suppression list
    local suppressed = store:suppressed("gone@example.net")
    serve.run_campaign(dir, "own", sink.port,
      [[{ { email = "dora@example.net", name = "Dora" }, { email = "gone@example.net", name = "Gone" } }]],
      store_path, string.format("webhooks = { %q },", r.url("/own")))
    local ev = wait_event(r, "/own", function(e) return e.kind == "delivered" and e.address == "dora@example.net" end)
    assert.is_table(ev, "no delivery event")
    assert.equal("own", ev.campaign)
    assert.equal(250, ev.code)
    local kind = suppressed and "suppressed" or "failed"
    local gone = wait_event(r, "/own", function(e) return e.kind == kind and e.address == "gone@example.net" end)
    assert.is_table(gone, "no " .. kind .. " event")
    if suppressed then
      assert.matches("^suppressed: ", gone.text)
    else
      assert.equal(550, gone.code)
      assert.equal("5.1.1", gone.enhanced)
    end
    for _, p in ipairs(posts(r, "/own")) do
      assert.is_true(p.sig_ok)
      for _, e in ipairs(p.events) do assert.equal("own", e.campaign) end
    end
  end)

  it("resumes from the cursor after a restart without sending acknowledged events again", function()
    assert.is_table(wait_event(r, "/ok", bounce()))
    assert.is_true(serve.stop(pid))
    pid = nil
    local out = serve.try_read(dir .. "/a/serve.out")
    assert.matches("mailcast serve: %d+ events recorded", out)
    assert.not_matches("Sanitizer", out)
    local while_down = bounce()
    port, pid = start("a", table.concat({ "--webhook", q(r.url("/ok")),
      "--webhook-secret-env HOOK_KEY --webhook-poll 0.1" }, " "))
    assert.is_table(wait_event(r, "/ok", while_down))
    local after = bounce()
    assert.is_table(wait_event(r, "/ok", after))
    local seen = {}
    for _, p in ipairs(posts(r, "/ok")) do
      for _, e in ipairs(p.events) do
        assert.is_nil(seen[e.id], "event " .. e.id .. " sent twice")
        seen[e.id] = true
      end
    end
  end)

  it("gives up on a batch after the tries allowed, says so, and goes on with the next events", function()
    mime.write(r.log .. ".down", "")
    local bport, bpid = start("b", table.concat({ "--webhook", q(r.url("/down")),
      "--webhook-secret-env HOOK_KEY --webhook-poll 0.1 --webhook-tries 2 --webhook-backoff 0.1" }, " "))
    serves.b = bpid
    local lost = assert(wait_event(r, "/down", bounce())).id
    local line = serve.wait_until(function()
      return (serve.try_read(dir .. "/b/serve.out") or ""):match("[^\n]*gave up[^\n]*")
    end, 10)
    assert.is_string(line)
    assert.matches(r.url("/down"), line, 1, true)
    assert.matches("events " .. lost .. "%-" .. lost .. " after 2 tries: HTTP 500", line)
    assert.equal(1, serve.metric(metrics_of(bport), 'mailcast_webhook_posts_total{result="failed"}'))
    os.remove(r.log .. ".down")
    local next_one = bounce()
    assert.is_table(wait_event(r, "/down", next_one))
    local tries = 0
    for _, p in ipairs(posts(r, "/down")) do
      for _, e in ipairs(p.events) do if e.id == lost then tries = tries + 1 end end
    end
    assert.equal(2, tries)
  end)

  it("POSTs over https to a receiver whose certificate verifies, and refuses one that does not", function()
    local set = certs.localhost(dir)
    local good = receiver("tls", set.cert, set.key)
    local wrong_name = receiver("tls-wrong", set.wrong_cert, set.wrong_key)
    local cport, cpid = start("c", table.concat({ "--webhook", q(good.url("/ok")), "--webhook",
      q(wrong_name.url("/ok")), "--webhook-ca", q(set.ca),
      "--webhook-secret-env HOOK_KEY --webhook-poll 0.1 --webhook-tries 2 --webhook-backoff 0.1" }, " "))
    serves.c = cpid
    os.execute("mkdir -p " .. q(dir .. "/other-ca"))
    local other = certs.localhost(dir .. "/other-ca")
    local _, dpid = start("d", table.concat({ "--webhook", q(good.url("/wrong-ca")), "--webhook-ca", q(other.ca),
      "--webhook-secret-env HOOK_KEY --webhook-poll 0.1 --webhook-tries 1" }, " "))
    serves.d = dpid
    local ev, p = wait_event(good, "/ok", bounce())
    assert.is_table(ev)
    assert.is_true(p.sig_ok)
    local function gave_up(name)
      return serve.wait_until(function()
        return (serve.try_read(dir .. "/" .. name .. "/serve.out") or ""):match("[^\n]*gave up[^\n]*")
      end, 10)
    end
    assert.matches("certificate not verified: IP address mismatch", gave_up("c"), 1, true)
    assert.matches("certificate not verified: unable to get local issuer certificate", gave_up("d"), 1, true)
    assert.equal(1, serve.metric(metrics_of(cport), 'mailcast_webhook_posts_total{result="failed"}'))
    assert.same({}, posts(good, "/wrong-ca"))
    assert.same({}, posts(wrong_name, "/ok"))
  end)

  it("stops every serve cleanly on SIGTERM, POSTs under way or not", function()
    serves.a, pid = pid, nil
    for name, p in pairs(serves) do
      assert.is_true(serve.stop(p), name)
      serves[name] = nil
      local out = serve.try_read(dir .. "/" .. name .. "/serve.out") or ""
      assert.matches("mailcast serve: %d+ events recorded", out)
      assert.not_matches("Sanitizer", out)
      assert.not_matches("runtime error", out)
    end
  end)
end)
