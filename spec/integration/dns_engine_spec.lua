-- MX look-ups on the engine's loop, against resolvers that misbehave:
-- one that holds back a domain's answer (the other domains' sessions go
-- on meanwhile) and one that says NXDOMAIN for every name (nobody is
-- failed or suppressed for it). A real NXDOMAIN, from dnsmasq among
-- names that resolve, still fails its recipients.
local mailcast = require "mailcast"
local dns = require "support.dns"
local servers = require "support.servers"
local mime = require "support.mime"
local campaign_run = require "support.campaign_run"

local function message(to, n)
  return { message = { from = "news@example.com", to = to, subject = "s" .. n, text = "t" .. n } }
end

-- Checks that the sink got all n messages to fast.test more than a
-- second before the resolver answered for slow.test (held back 2 s or
-- more), and the one to s@slow.test after that answer. File times lag
-- the clock by a tick (a few ms): the margins are far wider than that and
-- far narrower than the time held back.
local function sent_while_held(resolver, sink, n)
  local answered = tonumber(resolver.log():match("([%d.]+) answer slow%.test"))
  assert.truthy(answered, "the resolver never answered for slow.test")
  local before, slow_at = 0, nil
  for _, m in ipairs(sink:messages()) do
    if m.rcpt_tos[1] == "s@slow.test" then slow_at = m.time
    elseif m.time < answered - 1 then before = before + 1 end
  end
  assert.equal(n, before)
  assert.truthy(slow_at and slow_at > answered - 0.1, string.format("slow message at %s, answer at %s",
    tostring(slow_at), answered))
end

describe("MX look-ups on the engine's loop", function()
  local sink
  before_each(function() sink = servers.sink() end)
  after_each(function() sink:stop() end)

  local function route(resolver)
    return { mx = true, port = sink.port, tls = "none", dns_server = resolver.server, helo = "client.test",
             timeouts = { connect = 5, greeting = 5 } }
  end

  it("keeps sending to the other domains while one domain's answer is held back 3 s", function()
    local resolver = servers.fault_dns{
      mx = { ["slow.test"] = { { 10, "mx.slow.test" } }, ["fast.test"] = { { 10, "mx.fast.test" } } },
      a = { ["mx.slow.test"] = "127.0.0.1", ["mx.fast.test"] = "127.0.0.1" },
      delay = { ["slow.test"] = 3 },
    }
    finally(function() resolver:stop() end)
    -- The slow domain first: its look-up starts before any other work.
    local list = { message("s@slow.test", 0) }
    for i = 1, 50 do list[#list + 1] = message("f" .. i .. "@fast.test", i) end
    local results = assert(mailcast.send(route(resolver), list, { connections = 2 }))
    for i, r in ipairs(results) do assert.equal("sent", r.status, "message " .. i) end
    -- every message of the other domain went out while the look-up waited
    sent_while_held(resolver, sink, 50)
  end)

  it("defers, never fails, the recipients of a resolver that says NXDOMAIN for every name", function()
    local liar = servers.fault_dns{ mode = "nxdomain" }
    finally(function() liar:stop() end)
    local results = assert(mailcast.send(route(liar), { message("a@gmail.com", 1), message("b@example.org", 2) }))
    for _, r in ipairs(results) do
      assert.equal("deferred", r.status)
      assert.matches("not believed", r.recipients[1].text)
    end
  end)

  it("fails the recipients of a domain that does not exist when the resolver knows the others", function()
    local resolver = dns.start{ mx = { { "a.test", "mx.a.test", 10 } }, hosts = { { "mx.a.test", "127.0.0.1" } } }
    finally(function() resolver:stop() end)
    local results = assert(mailcast.send(route(resolver), { message("y@nope.test", 1), message("u@a.test", 2) }))
    assert.same({ "failed", 550, "5.1.2" },
      { results[1].status, results[1].recipients[1].code, results[1].recipients[1].enhanced })
    assert.equal("sent", results[2].status)
  end)

  it("fails a nonexistent domain alone when the resolver answers for its parent zone", function()
    local resolver = dns.start{ mx = { { "a.test", "mx.a.test", 10 } }, hosts = { { "mx.a.test", "127.0.0.1" } } }
    finally(function() resolver:stop() end)
    local results = assert(mailcast.send(route(resolver), { message("y@nope.test", 1) }))
    assert.equal("failed", results[1].status)
  end)
end)

describe("mailcast run behind a resolver that says NXDOMAIN for every name", function()
  it("fails and suppresses nobody, says why, and exits non-zero", function()
    local dir = mime.tmpdir()
    local liar = servers.fault_dns{ mode = "nxdomain" }
    finally(function() liar:stop() mime.rmdir(dir) end)
    local list = { "a@gmail.com", "b@outlook.com", "c@example.org", "d@yahoo.com" }
    campaign_run.write_campaign(dir, "liar", list, string.format(
      'route = { mx = true, port = 25, tls = "none", dns_server = %q },', liar.server))
    local out, code = campaign_run.run_campaign(dir, "--quiet --json")
    assert.equal(4, code, out)
    assert.matches("not believed; route 'default' paused", out)
    local summary = campaign_run.decode(out:match("({[^\n]*\"campaign\"[^\n]*})"))
    assert.same({ 0, 0, 0, 4 }, { summary.delivered, summary.failed, summary.suppressed, summary.deferred })
    local status = campaign_run.runner(dir, "suppress list", "--store liar.mailcast.db")
    local listed = require("helper").sh(status)
    for _, a in ipairs(list) do assert.is_nil(listed:find(a, 1, true)) end
  end)
end)

describe("mailcast run --workers 2 behind a resolver that says NXDOMAIN for every name", function()
  it("fails nobody and exits non-zero", function()
    local dir = mime.tmpdir()
    local liar = servers.fault_dns{ mode = "nxdomain" }
    finally(function() liar:stop() mime.rmdir(dir) end)
    local list = { "a@gmail.com", "b@outlook.com", "c@example.org", "d@yahoo.com", "e@example.net" }
    campaign_run.write_campaign(dir, "liar", list, string.format(
      'route = { mx = true, port = 25, tls = "none", dns_server = %q },', liar.server))
    local out, code = campaign_run.run_campaign(dir, "--quiet --json --workers 2")
    assert.equal(4, code, out)
    assert.matches("not believed", out)
    local lines = campaign_run.json_lines(out:gsub("[^\n]*mailcast:[^\n]*\n", ""))
    local summary = lines[#lines]
    assert.same({ 0, 0, 0, 5 }, { summary.delivered, summary.failed, summary.suppressed, summary.deferred })
  end)
end)

describe("a campaign hook that looks up MX hosts", function()
  it("routes each recipient by its domain's MX host", function()
    local dir = mime.tmpdir()
    local sink_a, sink_b = servers.sink(), servers.sink()
    local resolver = dns.start{
      mx = { { "hosted.test", "mx.bigmail.test", 10 }, { "own.test", "mx.own.test", 10 } },
      hosts = { { "mx.bigmail.test", "127.0.0.1" }, { "mx.own.test", "127.0.0.1" } },
    }
    finally(function() sink_a:stop() sink_b:stop() resolver:stop() mime.rmdir(dir) end)
    local list = {}
    for i = 1, 10 do list[#list + 1] = "h" .. i .. "@hosted.test" list[#list + 1] = "o" .. i .. "@own.test" end
    campaign_run.write_campaign(dir, "routed", list, string.format([[
  routes = {
    big = { host = "127.0.0.1", port = %d, tls = "none" },
    other = { host = "127.0.0.1", port = %d, tls = "none" },
  },
  default_route = "other",
  route = function(m)
    local mx = assert(mailcast.mx(m.domain, { server = %q }))
    if mx.hosts[1] and mx.hosts[1].name:match("bigmail") then return "big" end
  end,]], sink_a.port, sink_b.port, resolver.server))
    local out, code = campaign_run.run_campaign(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches("20 delivered", out)
    local function domains(sink)
      local seen = {}
      for _, m in ipairs(sink:messages()) do seen[m.rcpt_tos[1]:match("@(.+)$")] = true end
      return seen
    end
    assert.same({ ["hosted.test"] = true }, domains(sink_a))
    assert.same({ ["own.test"] = true }, domains(sink_b))
  end)
end)

describe("a campaign hook that waits for a look-up", function()
  -- The route hook looks up each recipient's domain; the first one's
  -- answer is held back 2 s. The hook's call waits on the engine's loop
  -- and the engine goes on building and sending the others meanwhile.
  it("holds up only its own recipient: the others are built and sent while it waits", function()
    local dir = mime.tmpdir()
    local sink = servers.sink()
    local resolver = servers.fault_dns{
      mx = { ["slow.test"] = { { 10, "mx.slow.test" } }, ["fast.test"] = { { 10, "mx.fast.test" } } },
      a = { ["mx.slow.test"] = "127.0.0.1", ["mx.fast.test"] = "127.0.0.1" },
      delay = { ["slow.test"] = 2 },
    }
    finally(function() sink:stop() resolver:stop() mime.rmdir(dir) end)
    local list = { "s@slow.test" }
    for i = 1, 20 do list[#list + 1] = "f" .. i .. "@fast.test" end
    campaign_run.write_campaign(dir, "waiting", list, string.format([[
  routes = { out = { host = "127.0.0.1", port = %d, tls = "none" } },
  default_route = "out",
  route = function(m)
    local mx = assert(mailcast.mx(m.domain, { server = %q }))
    assert(mx.status == "ok", m.domain .. ": " .. tostring(mx.status))
    return "out"
  end,]], sink.port, resolver.server))
    local out, code = campaign_run.run_campaign(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches("21 delivered", out)
    sent_while_held(resolver, sink, 20)
  end)

  it("gives the hook the reason when the look-up cannot be made", function()
    local dir = mime.tmpdir()
    local sink = servers.sink()
    finally(function() sink:stop() mime.rmdir(dir) end)
    campaign_run.write_campaign(dir, "unasked", { "a@fast.test" }, string.format([[
  routes = { out = { host = "127.0.0.1", port = %d, tls = "none" } },
  default_route = "out",
  route = function(m)
    local mx, err = mailcast.mx(m.domain, { server = "not an address" })
    error("got " .. tostring(mx) .. ", " .. tostring(err))
  end,]], sink.port))
    local out, code = campaign_run.run_campaign(dir, "--progress quiet")
    assert.equal(0, code, out)
    assert.matches("failed: [^\n]*got nil, dns: bad server list 'not an address'", out)
    assert.matches("1 delivered", out)
  end)
end)

describe("a direct-delivery campaign's EHLO name", function()
  local function run_with(helo)
    local dir = mime.tmpdir()
    local resolver = dns.start{ mx = { { "a.test", "mx.a.test", 10 } }, hosts = { { "mx.a.test", "127.0.0.1" } } }
    local sink = servers.sink()
    finally(function() sink:stop() resolver:stop() mime.rmdir(dir) end)
    campaign_run.write_campaign(dir, "named", { "u@a.test" }, string.format(
      'route = { mx = true, port = %d, tls = "none", dns_server = %q, helo = %q },', sink.port, resolver.server, helo))
    -- (--quiet would silence the warnings too)
    return campaign_run.run_campaign(dir, "--progress quiet")
  end

  it("is warned of when it is not a fully qualified domain name", function()
    local out, code = run_with("localhost")
    assert.equal(0, code, out)
    assert.matches("helo 'localhost' is not a fully qualified domain name", out, 1, true)
  end)

  it("is taken without a word when it is one", function()
    local out, code = run_with("mail.example.com")
    assert.equal(0, code, out)
    assert.is_nil(out:find("fully qualified", 1, true))
  end)
end)
