-- SPF evaluation (mailcast.lint_spf, RFC 7208) over a DNS given as a
-- table, with the RFC's own macro examples (section 7.4) as vectors.
local spf = require "mailcast.lint_spf"

-- A DNS of {["kind name"] = {records...}}; a name absent from every
-- kind does not exist; "temporary" as records fails the look-up.
local function dns_of(zone)
  local asked = {}
  local function lookup(kind, name)
    asked[#asked + 1] = kind .. " " .. name
    local r = zone[kind .. " " .. name]
    if r == "temporary" then return { status = "temporary", records = {}, error = "timeout" } end
    if r then return { status = "ok", records = r } end
    for key in pairs(zone) do
      if key:match("^%a+ (.*)$") == name then return { status = "ok", records = {} } end
    end
    return { status = "no_domain", records = {} }
  end
  return lookup, asked
end

local function check(ip, zone, domain)
  local dns = dns_of(zone)
  return spf.check_host(ip, domain or "shop.test", "news@" .. (domain or "shop.test"), dns)
end

describe("SPF macros (RFC 7208 7.4)", function()
  local ctx = { sender = "strong-bad@email.example.com", domain = "email.example.com", ip = "192.0.2.3" }
  local vectors = {
    { "%{s}", "strong-bad@email.example.com" }, { "%{o}", "email.example.com" },
    { "%{d}", "email.example.com" }, { "%{d4}", "email.example.com" }, { "%{d3}", "email.example.com" },
    { "%{d2}", "example.com" }, { "%{d1}", "com" }, { "%{dr}", "com.example.email" },
    { "%{d2r}", "example.email" }, { "%{l}", "strong-bad" }, { "%{l-}", "strong.bad" },
    { "%{lr}", "strong-bad" }, { "%{lr-}", "bad.strong" }, { "%{l1r-}", "strong" },
    { "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com" },
    { "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
    { "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
    { "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com" },
    { "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net" },
  }
  for _, v in ipairs(vectors) do
    it("expands " .. v[1], function()
      assert.are.equal(v[2], spf.expand(v[1], ctx))
    end)
  end

  it("expands %{ir} of an IPv6 address by nibbles", function()
    local c6 = { sender = ctx.sender, domain = ctx.domain, ip = "2001:db8::cb01" }
    assert.are.equal("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com",
      spf.expand("%{ir}.%{v}._spf.%{d2}", c6))
  end)

  it("refuses a % that is no macro", function()
    assert.is_nil(spf.expand("%x.example.com", ctx))
    assert.is_nil(spf.expand("%{d.example.com", ctx))
    assert.is_nil(spf.expand("%{q}.example.com", ctx))
  end)
end)

describe("SPF check_host", function()
  it("passes an address an ip4 term names, and fails another at -all", function()
    local zone = { ["txt shop.test"] = { "v=spf1 ip4:192.0.2.0/24 -all" } }
    assert.are.equal("pass", check("192.0.2.7", zone).result)
    assert.are.equal("fail", check("198.51.100.7", zone).result)
  end)

  it("matches ip6 networks", function()
    local zone = { ["txt shop.test"] = { "v=spf1 ip6:2001:db8::/32 ~all" } }
    assert.are.equal("pass", check("2001:db8:1::25", zone).result)
    assert.are.equal("softfail", check("2001:db9::25", zone).result)
    assert.are.equal("softfail", check("192.0.2.1", zone).result)
  end)

  it("follows a and mx terms to their addresses, with prefix lengths", function()
    local zone = {
      ["txt shop.test"] = { "v=spf1 a mx:mail.test a:relay.test/24 -all" },
      ["a shop.test"] = { "192.0.2.1" }, ["mx mail.test"] = { "mx1.mail.test" },
      ["a mx1.mail.test"] = { "198.51.100.25" }, ["a relay.test"] = { "203.0.113.1" },
    }
    assert.are.equal("pass", check("192.0.2.1", zone).result)
    assert.are.equal("pass", check("198.51.100.25", zone).result)
    assert.are.equal("pass", check("203.0.113.200", zone).result)
    assert.are.equal("fail", check("192.0.2.2", zone).result)
  end)

  it("passes through an include that passes, and goes on past one that does not", function()
    local zone = {
      ["txt shop.test"] = { "v=spf1 include:_spf.esp.test include:_other.test -all" },
      ["txt _spf.esp.test"] = { "v=spf1 ip4:203.0.113.0/24 -all" },
      ["txt _other.test"] = { "v=spf1 ip4:198.51.100.1 ~all" },
    }
    local r = check("203.0.113.9", zone)
    assert.are.equal("pass", r.result)
    assert.are.equal("fail", check("198.51.100.2", zone).result)
    assert.are.equal("pass", check("198.51.100.1", zone).result)
  end)

  it("takes a redirect when nothing matched", function()
    local zone = { ["txt shop.test"] = { "v=spf1 ip4:192.0.2.1 redirect=_spf.shop.test" },
                   ["txt _spf.shop.test"] = { "v=spf1 ip4:198.51.100.0/24 -all" } }
    assert.are.equal("pass", check("198.51.100.3", zone).result)
    assert.are.equal("fail", check("203.0.113.3", zone).result)
  end)

  it("is neutral when nothing matches and there is no all", function()
    assert.are.equal("neutral", check("192.0.2.9", { ["txt shop.test"] = { "v=spf1 ip4:198.51.100.1" } }).result)
  end)

  it("says none for a domain without SPF, and permerror for two records", function()
    assert.are.equal("none", check("192.0.2.1", { ["txt shop.test"] = { "google-site-verification=x" } }).result)
    assert.are.equal("none", check("192.0.2.1", {}).result)
    assert.are.equal("permerror", check("192.0.2.1",
      { ["txt shop.test"] = { "v=spf1 -all", "v=spf1 ip4:192.0.2.1 -all" } }).result)
  end)

  it("stops at more than 10 DNS look-ups", function()
    local zone = { ["txt shop.test"] = { "v=spf1 include:i1.test -all" } }
    for i = 1, 11 do zone["txt i" .. i .. ".test"] = { "v=spf1 include:i" .. (i + 1) .. ".test" } end
    zone["txt i12.test"] = { "v=spf1 ip4:192.0.2.1 -all" }
    local r = check("192.0.2.1", zone)
    assert.are.equal("permerror", r.result)
    assert.matches("more than 10", r.why)
  end)

  it("stops at a third look-up that finds nothing", function()
    local zone = { ["txt shop.test"] = { "v=spf1 a:v1.test a:v2.test a:v3.test -all" },
                   ["a v1.test"] = {}, ["a v2.test"] = {}, ["a v3.test"] = {} }
    local r = check("192.0.2.1", zone)
    assert.are.equal("permerror", r.result)
    assert.matches("found nothing", r.why)
  end)

  it("says temperror when DNS fails", function()
    assert.are.equal("temperror", check("192.0.2.1", { ["txt shop.test"] = "temporary" }).result)
  end)

  it("refuses an include of a domain without SPF, and unknown mechanisms", function()
    assert.are.equal("permerror", check("192.0.2.1", { ["txt shop.test"] = { "v=spf1 include:none.test -all" } }).result)
    assert.are.equal("permerror", check("192.0.2.1", { ["txt shop.test"] = { "v=spf1 bogus:x -all" } }).result)
    assert.are.equal("permerror", check("192.0.2.1", { ["txt shop.test"] = { "v=spf1 ip4:300.1.1.1 -all" } }).result)
  end)

  it("ends an include loop", function()
    local zone = { ["txt shop.test"] = { "v=spf1 include:shop.test -all" } }
    assert.are.equal("permerror", check("192.0.2.1", zone).result)
  end)

  it("reads IP addresses of both families", function()
    assert.are.same({ 192, 0, 2, 1 }, spf.bytes("192.0.2.1"))
    assert.are.equal(16, #spf.bytes("::1"))
    assert.are.equal(16, #spf.bytes("::ffff:192.0.2.1"))
    assert.is_nil(spf.bytes("1.2.3"))
    assert.is_nil(spf.bytes("1::2::3"))
    assert.are.equal("1.2.0.192.in-addr.arpa", spf.reverse_name("192.0.2.1"))
  end)
end)
