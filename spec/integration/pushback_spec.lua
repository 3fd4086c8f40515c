-- Pushback as real servers give it: a relay that allows fewer
-- connections than a destination is configured for (a 421 greeting, or
-- a connection closed at once, beyond them), and a server that answers
-- "try again later" above a rate. The engine learns the connection
-- limit and keeps to the sessions that work, cuts its rate and grows it
-- back, and delivers every recipient, each once, in the same run; only
-- when no connection at all can be made does it give up on the
-- destination. Against the fault servers on 127.0.0.1 and a real
-- Postfix smtpd whose anvil enforces smtpd_client_connection_count_limit.
local core = require "mailcast.core"
local helper = require "helper"
local mime = require "support.mime"
local servers = require "support.servers"
local socket = require "socket"
local campaign_run = require "support.campaign_run"

local FROM = "news@example.com"
local q = mime.sh_quote

local function job(i)
  local to = string.format("user%d@example.org", i)
  return { from = FROM, to = { to },
           message = string.format("From: %s\r\nTo: %s\r\nSubject: message %d\r\n\r\nBody %d.\r\n", FROM, to, i, i) }
end

local function relay(port)
  return { host = "127.0.0.1", port = port, tls = "none", timeouts = { connect = 2, greeting = 2 } }
end

-- Submits n jobs to one destination of a new scheduler and runs it
-- until every outcome is in (at most `limit` seconds), looking at the
-- destination's state after each turn. Returns the outcomes by tag, the
-- states seen and the last state.
local function send_all(port, opts, n, limit)
  local s = core.scheduler()
  local d = s:destination(relay(port), opts)
  for i = 1, n do s:submit(d, job(i)) end
  local outcomes, seen = {}, {}
  local deadline = socket.gettime() + limit
  while s:pending() > 0 and socket.gettime() < deadline do
    for _, o in ipairs(s:run(0.2)) do
      assert.is_nil(outcomes[o.tag], "outcome of job " .. o.tag .. " came twice")
      outcomes[o.tag] = o
    end
    local st = s:state(d)
    st.run = s:state()
    seen[#seen + 1] = st
  end
  local last = s:state(d)
  s:close()
  return outcomes, seen, last
end

-- Every outcome is "sent", n of them.
local function all_sent(outcomes, n)
  local count = 0
  for tag, o in pairs(outcomes) do
    assert.equal("sent", o.status, "job " .. tag .. ": " .. tostring(o.recipients[1].code) .. " "
      .. tostring(o.recipients[1].text))
    count = count + 1
  end
  assert.equal(n, count)
end

-- How many times the server took each message whole: its Subject line
-- in the data, followed by the final dot and a 250 (the fault server
-- logs client lines before it answers them).
local function taken(srv)
  local by_conn, counts = {}, {}
  for _, e in ipairs(srv:events()) do
    local c = by_conn[e.conn] or {}
    by_conn[e.conn] = c
    if e.kind == "C" then
      local subject = e.text:match("^Subject: (message %d+)")
      if subject then c.subject = subject end
      if e.text:match("^%.\r?\n$") then c.dot = true end
    elseif e.kind == "S" and c.dot then
      if e.text:match("^250") and c.subject then counts[c.subject] = (counts[c.subject] or 0) + 1 end
      c.dot, c.subject = nil, nil
    end
  end
  return counts
end

local function each_taken_once(srv, n)
  local counts = taken(srv)
  for i = 1, n do assert.equal(1, counts["message " .. i], "message " .. i) end
end

local function events(srv, text)
  local n = 0
  for _, e in ipairs(srv:events()) do
    if e.kind == "event" and e.text:match(text) then n = n + 1 end
  end
  return n
end


describe("a relay that allows two connections, to a destination set for six", function()
  after_each(function() servers.stop_all() end)

  for _, refuse in ipairs { "421", "close" } do
    local how = refuse == "421" and "with a 421 greeting" or "by closing at once"
    it("delivers every job once over the sessions that work, when it refuses one more " .. how, function()
      local srv = servers.fault("connection_limit", { max = 2, refuse = refuse })
      local outcomes, seen, last = send_all(srv.port, { connections = 6, messages_per_connection = 5 }, 60, 30)
      srv:stop()
      all_sent(outcomes, 60)
      each_taken_once(srv, 60)
      -- It did refuse connections, and the engine took the hint instead
      -- of trying again and again.
      local refused = events(srv, "^refused$")
      assert.is_true(refused >= 1, "the server refused no connection")
      assert.is_true(refused <= 12, refused .. " connections refused")
      assert.equal(refused, last.refused)
      local learned = false
      for _, st in ipairs(seen) do
        if st.backing_off and st.connections < 3 and st.run.backing_off == 1 then learned = true end
      end
      assert.is_true(learned, "the destination never showed the limit it learned")
    end)
  end

  it("still gives up on a destination where no connection can be made", function()
    local srv = servers.fault("greeting_421")
    local outcomes, _, last = send_all(srv.port,
      { connections = 6, messages_per_connection = 5, connect_attempts = 3, down_time = 30 }, 6, 30)
    srv:stop()
    local n = 0
    for _, o in pairs(outcomes) do
      assert.same({ "deferred", 421 }, { o.status, o.recipients[1].code })
      n = n + 1
    end
    assert.equal(6, n)
    assert.is_true(last.down_for > 0)
    assert.is_true(last.backing_off)
    -- fewer connections at each try
    assert.is_true(srv:connections() <= 12, srv:connections() .. " connections")
  end)
end)


describe("a server that says 'try again later' above a rate", function()
  after_each(function() servers.stop_all() end)

  local RATE, N = 20, 120

  -- An unlimited destination gets a rate; a configured one above the
  -- server's is cut. The refusal at MAIL or at RCPT.
  for _, case in ipairs {
    { at = "MAIL", opts = { connections = 4, messages_per_connection = 10 } },
    { at = "RCPT", opts = { connections = 4, messages_per_connection = 10, rate = 200 } },
  } do
    local what = case.opts.rate and "a rate of " .. case.opts.rate .. "/s" or "no rate"
    it("cuts the rate of a destination with " .. what .. " below it and delivers every job once (" .. case.at
       .. " refused)", function()
      local srv = servers.fault("rate_limit", { rate = RATE, at = case.at, lifetime = 60 })
      local outcomes, seen, last = send_all(srv.port, case.opts, N, 50)
      srv:stop()
      all_sent(outcomes, N)
      each_taken_once(srv, N)
      -- Sending at full speed, nearly every transaction past the first
      -- second's would be refused; backing off, only a few are.
      local refused = events(srv, "^rate_limited$")
      assert.is_true(refused >= 1, "the server refused nothing")
      assert.is_true(refused < N / 5, refused .. " of " .. N .. " refused")
      -- Each one refused went again on the destination: none deferred.
      assert.equal(refused, last.requeued)
      local below = false
      for _, st in ipairs(seen) do
        if st.backing_off and st.rate > 0 and st.rate < RATE and st.run.backing_off == 1 and st.run.backoff_rate then
          below = true
        end
      end
      assert.is_true(below, "the rate was never below the server's")
    end)
  end

  it("defers a job still told to try again later after three transactions", function()
    local srv = servers.fault("normal", { replies = { MAIL = "451 4.7.1 Rate limit exceeded, try again later" } })
    local outcomes, _, last = send_all(srv.port, { connections = 1, rate = 100 }, 2, 30)
    srv:stop()
    local n = 0
    for _, o in pairs(outcomes) do
      assert.same({ "deferred", 451, 3 }, { o.status, o.recipients[1].code, o.attempts })
      n = n + 1
    end
    assert.equal(2, n)
    assert.equal(4, last.requeued)
    assert.is_true(last.rate < 100 and last.backing_off)
  end)

  -- Greylisting wants minutes, and a 4.2.x is about the mailbox: neither
  -- is about our pace, whatever the text says.
  for _, reply in ipairs { "451 4.7.1 Greylisted, please try again later", "451 4.2.0 Mailbox busy, try again later" } do
    it("leaves '" .. reply .. "' to the retry schedule: one transaction, no rate cut", function()
      local srv = servers.fault("normal", { replies = { RCPT = reply } })
      local outcomes, _, last = send_all(srv.port, { connections = 1 }, 1, 30)
      srv:stop()
      local _, o = next(outcomes)
      assert.same({ "deferred", 451, 1 }, { o.status, o.recipients[1].code, o.attempts })
      assert.same({ 0, 0, 0, false }, { last.requeued, last.rate, last.backoffs, last.backing_off })
    end)
  end
end)


describe("a campaign against a server that refuses mail above a rate", function()
  after_each(function() servers.stop_all() end)

  -- Runs a campaign of 80 to a server taking 10 messages a second, with
  -- `flags`; checks none failed and every one was delivered (or, with
  -- some_deferred, delivered or deferred), and returns the last progress
  -- line that says it is backing off (the JSON progress comes every 5 s:
  -- 80 take longer than that), and the run's folder as it was left.
  local function paced_run(flags, some_deferred)
    local dir = mime.tmpdir()
    finally(function() mime.rmdir(dir) end)
    local srv = servers.fault("rate_limit", { rate = 10, lifetime = 60 })
    local n = 80
    campaign_run.write_campaign(dir, "paced", campaign_run.addresses(n),
      campaign_run.relay(srv.port, "limits = { connections = 4 },"))
    local out, code = helper.sh(campaign_run.runner(dir, "run campaign.lua " .. flags ..
      " --progress json --no-log 2>/dev/null"))
    srv:stop()
    assert.equal(0, code, out)
    local lines = campaign_run.json_lines(out)
    local last = lines[#lines]
    if some_deferred then
      assert.same({ n, 0, true }, { last.delivered + last.deferred, last.failed, last.done })
    else
      assert.same({ n, 0, 0, true }, { last.delivered, last.deferred, last.failed, last.done })
    end
    local shown
    for _, p in ipairs(lines) do
      if p.backing_off >= 1 and p.backoff_rate and p.backoff_connections then shown = p end
    end
    assert.truthy(shown, out)
    assert.is_true(shown.backoff_rate > 0 and shown.backoff_rate < 20, out)
    return shown, dir
  end

  it("delivers everything and says it is backing off in its --json progress", function()
    local shown = paced_run("")
    assert.same({ 1, 4 }, { shown.backing_off, shown.backoff_connections })
  end)

  -- The parent of --workers shows the progress: what the workers'
  -- schedulers say reaches it, summed. Two workers each cut their own
  -- rate against the server's one limit, so one may be told "later" a
  -- third time and deferred to the next run.
  it("says it is backing off in the --json progress of --workers 2", function()
    local shown, dir = paced_run("--workers 2", true)
    assert.is_true(shown.backing_off <= 2 and shown.destinations == 2)
    -- the workers' reports are gone with the run
    local left = helper.sh("ls " .. q(dir) .. " | grep -c '\\.state' || true")
    assert.equal("0", (left:gsub("%s", "")))
  end)
end)


describe("a campaign for six connections to a Postfix smtpd that allows two", function()
  local function can_run()
    local out, code = helper.sh("[ \"$(id -u)\" = 0 ] && command -v postfix && command -v ip && " ..
                                "unshare --mount --net --pid --fork true")
    return code == 0, out
  end

  local ok, why = can_run()
  if not ok then
    pending("a private Postfix needs root, unshare and postfix: " .. (why or ""):gsub("%s+$", ""))
    return
  end

  it("delivers every recipient once in one run, though smtpd refuses the connections beyond two", function()
    local dir = mime.tmpdir()
    finally(function() mime.rmdir(dir) end)
    local n = 90
    campaign_run.write_campaign(dir, "limited", campaign_run.addresses(n, "dest.test"),
      'route = { host = "127.0.0.1", port = 2526, tls = "none" },\n'
      .. '  limits = { connections = 6, messages_per_connection = 10 },')
    local out, code = helper.sh("cd " .. q(dir) .. " && sh " .. q(helper.root .. "/spec/support/postfix_smtpd.sh")
      .. " --connection-limit 2 " .. q(dir .. "/received") .. " " .. q(helper.runner)
      .. " run campaign.lua --quiet --no-log")
    assert.equal(0, code, out)
    assert.matches("limited: " .. n .. " delivered, 0 deferred, 0 failed", out, 1, true)
    local log = mime.read(dir .. "/received/maillog")
    -- its anvil did count the connections and smtpd refused some
    assert.matches("Connection concurrency limit exceeded: %d from", log)
    local seen, p = {}, assert(io.popen("cat " .. q(dir .. "/received/Maildir/new") .. "/*"))
    for to in p:read("a"):gmatch("Delivered%-To: ([^\n]+)") do seen[to] = (seen[to] or 0) + 1 end
    p:close()
    for i = 1, n do assert.equal(1, seen["user" .. i .. "@dest.test"], "user" .. i) end
  end)
end)
