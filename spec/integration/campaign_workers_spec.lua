-- `mailcast run --workers N` as people run it: N processes share one
-- campaign against the built-in sink (and dnsmasq for direct delivery);
-- everyone is sent once, the log stays whole, a relay's limits are
-- shared out, and Ctrl-C or a killed parent loses no one.
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local dns = require "support.dns"
local servers = require "support.servers"
local campaign_run = require "support.campaign_run"
local socket = require "socket"

local q = mime.sh_quote
local write_campaign, relay, addresses = campaign_run.write_campaign, campaign_run.relay, campaign_run.addresses
local runner, run_campaign, decode = campaign_run.runner, campaign_run.run_campaign, campaign_run.decode
local log_records, exists, by_recipient, delivered_to = campaign_run.log_records, campaign_run.exists,
  campaign_run.by_recipient, campaign_run.delivered_to

-- Addresses spread over several domains.
local function spread(n)
  local list = {}
  for i = 1, n do list[i] = string.format("user%d@d%d.example", i, i % 7) end
  return list
end

-- what() once it is true, polled for at most seconds.
local function wait_for(what, seconds)
  for _ = 1, seconds * 50 do
    local v = what()
    if v then return v end
    socket.sleep(0.02)
  end
end

-- Starts the runner in the background: a table with its pid, and
-- code() (its exit code once it has ended, else nil) and out().
local function start(dir, args)
  os.execute(string.format("cd %s && (sh -c 'echo $$ > pid; exec \"$0\" run campaign.lua %s' %s > out 2>&1;"
    .. " echo $? > code) &", q(dir), args, q(helper.runner)))
  local pid = wait_for(function() return exists(dir .. "/pid") and tonumber(mime.read(dir .. "/pid")) end, 5)
  assert(pid, "the runner did not start")
  return {
    pid = pid,
    code = function() return exists(dir .. "/code") and tonumber(mime.read(dir .. "/code")) end,
    out = function() return mime.read(dir .. "/out") or "" end,
  }
end

-- Processes whose command line names this directory's campaign (the
-- workers outlive a parent killed with SIGKILL for a moment).
local function workers_left(dir)
  local p = io.popen("pgrep -f " .. q("run campaign.lua") .. " | xargs -r -n1 sh -c"
    .. " 'readlink /proc/$0/cwd 2>/dev/null' | grep -cx " .. q(dir))
  local n = tonumber(p:read("l")) or 0
  p:close()
  return n
end

local function assert_each_once(sink, list)
  local seen, n = delivered_to(sink)
  for _, a in ipairs(list) do assert.equal(1, seen[a], a) end
  assert.equal(#list, n)
end


describe("mailcast run --workers", function()
  local dir, sink
  before_each(function() dir, sink = mime.tmpdir(), builtin_sink.start("") end)
  after_each(function() sink.cleanup() mime.rmdir(dir) end)

  it("sends every recipient once over three workers, the log whole and complete", function()
    local list = spread(600)
    write_campaign(dir, "shared", list, relay(sink.port, "limits = { connections = 6, messages_per_connection = 50 },"))
    local out, code = run_campaign(dir, "--workers 3")
    assert.equal(0, code, out)
    assert.matches("shared: 600 delivered, 0 deferred, 0 failed, 0 skipped, 0 suppressed, 0 pending", out, 1, true)
    assert_each_once(sink, list)
    local by = by_recipient(log_records(dir .. "/shared.log.jsonl"))
    for _, a in ipairs(list) do
      assert.equal(1, #by[a].transaction, a)
      assert.equal(1, #by[a].outcome, a)
      assert.equal("delivered", by[a].outcome[1].state)
    end
    -- status agrees, and a second run has nothing left to send
    local again, code2 = run_campaign(dir, "--workers 3")
    assert.equal(0, code2, again)
    assert.matches("600 delivered", again, 1, true)
    assert.equal(600, #sink.files())
  end)

  it("ends with a JSON summary like a single runner", function()
    local list = spread(40)
    write_campaign(dir, "json", list, relay(sink.port, "limits = { connections = 2 },"))
    local out, code = run_campaign(dir, "--workers 2 --json")
    assert.equal(0, code, out)
    local last
    for line in out:gmatch("[^\n]+") do last = decode(line) end
    assert.equal("json", last.campaign)
    assert.equal(40, last.delivered)
    assert.equal(0, last.pending)
  end)

  it("shares a relay's rate among the workers", function()
    local list = spread(150)
    write_campaign(dir, "rated", list, relay(sink.port, 'limits = { connections = 2, rate = "100/s" },'))
    local t0 = socket.gettime()
    local out, code = run_campaign(dir, "--workers 2")
    local took = socket.gettime() - t0
    assert.equal(0, code, out)
    assert_each_once(sink, list)
    -- two workers at 50/s each: about 1.5 s, where each at the full rate
    -- would take 0.75 s
    assert.is_true(took >= 1.2, string.format("150 messages at 100/s took %.2f s", took))
  end)

  it("refuses to start when a relay allows fewer connections than there are workers", function()
    write_campaign(dir, "narrow", spread(5), relay(sink.port, "limits = { connections = 2 },"))
    local out, code = run_campaign(dir, "--workers 3")
    assert.equal(1, code, out)
    assert.matches("route 'default' allows 2 connections: 3 workers need one each", out, 1, true)
    assert.equal(0, #sink.files())
    out, code = run_campaign(dir, "--workers 0")
    assert.equal(2, code, out)   -- refused with the options, before the store is opened
    assert.matches("run: --workers must be a whole number from 1 to 64", out, 1, true)
  end)

  it("stops the workers and says why when the list cannot be read", function()
    mime.write(dir .. "/campaign.lua", string.format([[
return require("mailcast").campaign{
  name = "nolist", from = "news@example.com", subject = "Hi", text = "Hello\n",
  recipients = "missing.csv",
  route = { host = "127.0.0.1", port = %d, tls = "none" }, limits = { connections = 2 },
}
]], sink.port))
    local out, code = run_campaign(dir, "--workers 2")
    assert.equal(1, code, out)
    assert.matches("missing.csv", out, 1, true)
    assert.equal(0, workers_left(dir))
    assert.is_false(exists(dir .. "/nolist.mailcast.db.loading"))
  end)

  it("pauses every worker on Ctrl-C; the next run sends the rest, nothing twice", function()
    local list = spread(300)
    write_campaign(dir, "paused", list, relay(sink.port, 'limits = { connections = 2, rate = "100/s" },'))
    local r = start(dir, "--workers 2")
    assert.is_truthy(wait_for(function() return #sink.files() >= 40 end, 20), "the run did not start sending")
    os.execute("kill -INT " .. r.pid)
    local code = wait_for(r.code, 30)
    local out = r.out()
    assert.equal(130, code, out)
    assert.matches("pausing", out, 1, true)
    assert.matches("paused: run the same command again to resume", out, 1, true)
    local at_pause = #sink.files()
    assert.is_true(at_pause < 300, "everything was sent before the pause")
    assert.equal(0, workers_left(dir))
    local again, code2 = run_campaign(dir, "--workers 2")
    assert.equal(0, code2, again)
    assert.matches("paused: 300 delivered, 0 deferred", again, 1, true)
    assert_each_once(sink, list)
  end)

  it("loses no one when the parent is killed with SIGKILL: its workers pause", function()
    local list = spread(300)
    write_campaign(dir, "killed", list, relay(sink.port,
      'limits = { connections = 2, messages_per_connection = 10, rate = "100/s" },'))
    local r = start(dir, "--workers 2 --quiet")
    assert.is_truthy(wait_for(function() return #sink.files() >= 40 end, 20), "the run did not start sending")
    os.execute("kill -9 " .. r.pid)
    assert.is_truthy(wait_for(function() return workers_left(dir) == 0 end, 30), "the workers went on")
    local at_kill = #sink.files()
    assert.is_true(at_kill < 300, "everything was sent before the kill")
    local out, code = run_campaign(dir, "--workers 2")
    assert.equal(0, code, out)
    assert.matches("killed: 300 delivered, 0 deferred", out, 1, true)
    local seen, copies = delivered_to(sink)
    for _, a in ipairs(list) do assert.is_true((seen[a] or 0) >= 1, a) end
    -- at most what was in flight: each worker's connection x 10
    assert.is_true(copies - 300 <= 20, (copies - 300) .. " duplicates")
  end)
end)


describe("mailcast run --workers --wait", function()
  local dir, srv
  before_each(function()
    dir = mime.tmpdir()
    srv = servers.fault("rcpt_codes_once", { codes = { ["later@d1.example"] = "451 4.2.0 Try later" } })
  end)
  after_each(function() srv:stop() mime.rmdir(dir) end)

  it("stays until the deferred recipient is retried and delivered, by the worker whose shard it is", function()
    local list = spread(20)
    list[#list + 1] = "later@d1.example"
    write_campaign(dir, "waiting", list, relay(srv.port, "limits = { connections = 2 }, retry = { first = 1 },"))
    local out, code = run_campaign(dir, "--workers 2 --wait")
    assert.equal(0, code, out)
    assert.matches("waiting: 21 delivered, 0 deferred, 0 failed, 0 skipped, 0 suppressed, 0 pending", out, 1, true)
    srv:stop()
    local tries = 0
    for _, line in ipairs(srv:transcript()) do
      if line:match("^RCPT TO:<later@d1%.example>") then tries = tries + 1 end
    end
    assert.equal(2, tries)
  end)
end)


describe("mailcast run --workers with direct delivery", function()
  local dir, sink, resolver
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("")
    local mx, hosts = {}, {}
    for d = 0, 5 do
      mx[#mx + 1] = { "d" .. d .. ".test", "mx.d" .. d .. ".test", 10 }
      hosts[#hosts + 1] = { "mx.d" .. d .. ".test", "127.0.0.1" }
    end
    resolver = dns.start { mx = mx, hosts = hosts }
  end)
  after_each(function()
    sink.cleanup()
    resolver:stop()
    mime.rmdir(dir)
  end)

  it("sends everyone once, an mx route's limits not divided (one connection each is allowed)", function()
    local list = {}
    for i = 1, 120 do list[i] = string.format("user%d@d%d.test", i, i % 6) end
    write_campaign(dir, "direct", list, string.format([[
  routes = { direct = { mx = true, port = %d, tls = "none", dns_server = %q, limits = { connections = 1 } } },
]], sink.port, resolver.server))
    local out, code = run_campaign(dir, "--workers 3")
    assert.equal(0, code, out)
    assert.matches("direct: 120 delivered, 0 deferred", out, 1, true)
    assert_each_once(sink, list)
  end)
end)
