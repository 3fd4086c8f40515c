-- Direct delivery: mailcast.send with an mx route, its MX look-ups
-- answered by dnsmasq and its mail taken by smtp-sink and fault servers,
-- all on the loopback network (the MX hosts are 127.0.0.x addresses).
local mailcast = require "mailcast"
local dns = require "support.dns"
local servers = require "support.servers"
local socket = require "socket"

local function by_address(result)
  local by = {}
  for _, r in ipairs(result.recipients) do by[r.address] = r end
  return by
end

describe("direct delivery to MX hosts", function()
  local sink, resolver
  before_each(function()
    sink = servers.sink()
    resolver = dns.start{
      mx = { { "a.test", "mx1.a.test", 10 }, { "a.test", "mx2.a.test", 20 }, { "b.test", "mx.b.test", 5 },
             { "dead.test", "mx.dead.test", 10 } },
      hosts = { { "mx1.a.test", "127.0.0.2" }, { "mx2.a.test", "127.0.0.1" }, { "mx.b.test", "127.0.0.1" },
                { "implicit.test", "127.0.0.1" }, { "mx.dead.test", "127.0.0.3" } },
      rr = { { "null.test", 15, "000000" } },
    }
  end)
  after_each(function()
    sink:stop()
    resolver:stop()
  end)

  local function route(extra)
    local r = { mx = true, port = sink.port, tls = "none", dns_server = resolver.server,
                timeouts = { connect = 2, greeting = 2 }, helo = "client.test" }
    for k, v in pairs(extra or {}) do r[k] = v end
    return r
  end

  it("delivers to each recipient domain's MX in one transaction per domain", function()
    local results, state = assert(mailcast.send(route(), { { message = {
      from = "news@example.com", to = { "u@a.test", "v@b.test", "v2@b.test" }, subject = "s", text = "t" } } }))
    assert.equal("sent", results[1].status)
    assert.equal(2, state.destinations)
    local got = {}
    for _, m in ipairs(sink:messages()) do got[#got + 1] = table.concat(m.rcpt_tos, ",") end
    table.sort(got)
    assert.same({ "u@a.test", "v@b.test,v2@b.test" }, got)
  end)

  it("tries the next MX host when the first refuses the connection", function()
    local results = assert(mailcast.send(route(), { { message = {
      from = "news@example.com", to = "u@a.test", subject = "s", text = "t" } } }))
    assert.equal("sent", results[1].status)
    assert.equal("mx2.a.test [127.0.0.1]", results[1].server)
  end)

  it("delivers to the domain itself when it has no MX", function()
    local results = assert(mailcast.send(route(), { { message = {
      from = "news@example.com", to = "x@implicit.test", subject = "s", text = "t" } } }))
    assert.equal("sent", results[1].status)
    assert.equal("implicit.test [127.0.0.1]", results[1].server)
  end)

  it("fails recipients of a null MX or a nonexistent domain without holding back the others", function()
    local results = assert(mailcast.send(route(), { { message = {
      from = "news@example.com", to = { "w@null.test", "u@a.test", "y@nope.test" }, subject = "s", text = "t" } } }))
    local by = by_address(results[1])
    assert.equal("partial", results[1].status)
    assert.same({ "failed", 556, "5.1.10" }, { by["w@null.test"].status, by["w@null.test"].code, by["w@null.test"].enhanced })
    assert.same({ "failed", 550, "5.1.2" }, { by["y@nope.test"].status, by["y@nope.test"].code, by["y@nope.test"].enhanced })
    assert.equal("sent", by["u@a.test"].status)
    assert.same({ "u@a.test" }, sink:messages()[1].rcpt_tos)
  end)

  it("defers recipients whose MX hosts all refuse connections", function()
    local results = assert(mailcast.send(route(), { { message = {
      from = "news@example.com", to = "z@dead.test", subject = "s", text = "t" } } }, { connect_attempts = 1 }))
    assert.equal("deferred", results[1].status)
    assert.matches("^closed", results[1].recipients[1].text)
  end)

  it("defers recipients when DNS does not answer", function()
    local silent = assert(socket.udp())
    assert(silent:setsockname("127.0.0.1", 0))
    local _, port = silent:getsockname()
    local results = assert(mailcast.send(route{ dns_server = "127.0.0.1:" .. port, dns_timeout = 0.3, dns_tries = 1 },
      { { message = { from = "news@example.com", to = "u@a.test", subject = "s", text = "t" } } }))
    silent:close()
    assert.equal("deferred", results[1].status)
    assert.matches("^dns: a.test: ", results[1].recipients[1].text)
    assert.equal(0, #sink:messages())
  end)
end)

describe("a route's list of target servers", function()
  it("moves on from a server whose greeting is 421 to the next", function()
    local busy = servers.fault("greeting_421")
    local sink = servers.sink()
    local results = assert(mailcast.send({ tls = "none", timeouts = { connect = 2, greeting = 2 }, targets = {
      { address = "127.0.0.1", name = "busy.test", port = busy.port },
      { address = "127.0.0.1", name = "sink.test", port = sink.port },
    } }, { { message = { from = "a@example.com", to = "b@example.org", subject = "s", text = "t" } } }))
    busy:stop()
    local stored = #sink:messages()
    sink:stop()
    assert.equal("sent", results[1].status)
    assert.equal("sink.test [127.0.0.1]", results[1].server)
    assert.equal(1, stored)
  end)

  it("does not move on after a 5xx greeting", function()
    local refusing = servers.fault("normal", { greeting = "554 5.7.1 No service for you" })
    local sink = servers.sink()
    local results = assert(mailcast.send({ tls = "none", timeouts = { connect = 2, greeting = 2 }, targets = {
      { address = "127.0.0.1", name = "no.test", port = refusing.port },
      { address = "127.0.0.1", name = "sink.test", port = sink.port },
    } }, { { message = { from = "a@example.com", to = "b@example.org", subject = "s", text = "t" } } }))
    refusing:stop()
    local stored = #sink:messages()
    sink:stop()
    assert.equal("failed", results[1].status)
    assert.equal(554, results[1].recipients[1].code)
    assert.equal(0, stored)
  end)
end)
