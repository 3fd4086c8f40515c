-- MX look-ups through c-ares against a real DNS server (dnsmasq on
-- 127.0.0.1), as direct delivery will use them.
local mailcast = require "mailcast"
local dns = require "support.dns"
local socket = require "socket"

describe("mailcast.mx", function()
  local srv
  setup(function()
    srv = dns.start{
      mx = {
        { "example.test", "mx1.example.test", 10 }, { "example.test", "mx2.example.test", 20 },
        { "example.test", "mx3.example.test", 10 }, { "noaddr.test", "ghost.noaddr.test", 5 },
      },
      hosts = {
        { "mx1.example.test", "127.0.0.1" }, { "mx2.example.test", "127.0.0.2" },
        { "mx3.example.test", "127.0.0.3", "::1" }, { "implicit.test", "127.0.0.4" },
      },
      rr = { { "null.test", 15, "000000" } },   -- MX 0 "." (RFC 7505)
    }
  end)
  teardown(function() srv:stop() end)

  local function mx(domain, extra)
    local opts = { server = srv.server, timeout = 1 }
    for k, v in pairs(extra or {}) do opts[k] = v end
    return mailcast.mx(domain, opts)
  end

  it("lists MX hosts in preference order with their addresses", function()
    local r = mx("example.test")
    assert.equal("ok", r.status)
    assert.is_false(r.implicit)
    assert.equal(3, #r.hosts)
    assert.same({ 10, 10, 20 }, { r.hosts[1].preference, r.hosts[2].preference, r.hosts[3].preference })
    assert.equal("mx2.example.test", r.hosts[3].name)
    assert.same({ "127.0.0.2" }, r.hosts[3].addresses)
  end)

  it("gives IPv4 and IPv6 addresses of a host", function()
    for _, h in ipairs(mx("example.test").hosts) do
      if h.name == "mx3.example.test" then
        table.sort(h.addresses)
        assert.same({ "127.0.0.3", "::1" }, h.addresses)
      end
    end
  end)

  it("shuffles hosts of equal preference", function()
    local firsts = {}
    for _ = 1, 40 do firsts[mx("example.test").hosts[1].name] = true end
    assert.is_true(firsts["mx1.example.test"] and firsts["mx3.example.test"])
  end)

  it("falls back to the domain itself when it has no MX", function()
    local r = mx("implicit.test")
    assert.equal("ok", r.status)
    assert.is_true(r.implicit)
    assert.same({ name = "implicit.test", preference = 0, addresses = { "127.0.0.4" } }, r.hosts[1])
  end)

  it("reports a null MX as a permanent failure", function()
    local r = mx("null.test")
    assert.equal("null_mx", r.status)
    assert.equal(0, #r.hosts)
    assert.matches("accepts no mail %(null MX, RFC 7505%)", r.error)
  end)

  it("reports a domain that does not exist", function()
    local r = mx("nope.test")
    assert.equal("no_domain", r.status)
    assert.equal("dns: nope.test: no such domain", r.error)
  end)

  it("reports MX hosts without any address", function()
    assert.equal("no_address", mx("noaddr.test").status)
  end)

  it("reports a server that never answers as temporary, after its timeout", function()
    local silent = assert(socket.udp())
    assert(silent:setsockname("127.0.0.1", 0))
    local _, port = silent:getsockname()
    local r = mailcast.mx("example.test", { server = "127.0.0.1:" .. port, timeout = 0.3, tries = 1 })
    silent:close()
    assert.equal("temporary", r.status)
    assert.matches("^dns: example.test: ", r.error)
  end)

  it("refuses a server list it cannot read", function()
    local r, err = mailcast.mx("example.test", { server = "not a server" })
    assert.is_nil(r)
    assert.matches("^dns: bad server list", err)
  end)

  it("answers `mailcast mx` on the command line", function()
    local helper = require "helper"
    local p = io.popen(helper.runner .. " mx example.test --server " .. srv.server .. " 2>&1")
    local out = p:read("a")
    p:close()
    assert.matches("10%s+mx%d%.example%.test%s+127%.0%.0%.", out)
    assert.matches("20%s+mx2%.example%.test%s+127%.0%.0%.2", out)
  end)
end)
