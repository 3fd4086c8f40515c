-- `mailcast lint`'s authentication checklist against dnsmasq on
-- 127.0.0.1 serving SPF, DKIM, DMARC, MX and PTR records for test
-- domains: a domain that has everything passes, and each broken record
-- is named.
local dkim_support = require "support.dkim"
local builtin_sink = require "support.builtin_sink"
local campaigns = require "support.campaign_scripts"
local dns = require "support.dns"
local lint = require "mailcast.lint"
local mime = require "support.mime"
local servers = require "support.servers"

local sh_quote = mime.sh_quote

local dir, keys, server, relay

local function script(name, fields, route)
  return campaigns.write(dir, name, [[
  subject = "Our spring range is out",
  text = "Hello,\n\nOur spring range is out.\n",
  recipients = { { email = "ada@example.org" } },
  route = ]] .. (route or string.format("{ host = '127.0.0.1', port = %d }", relay.port)) .. [[,
  unsubscribe = { base = "https://shop.example.com", secret = "0123456789abcdef0123" },
]] .. fields)
end

local function signed_by(domain)
  return string.format("dkim = { key = %q, domain = %q, selector = \"s1\" },\n", keys.ed25519.path, domain)
end

setup(function()
  dir = mime.tmpdir()
  relay = servers.aiosmtpd { tls = true, lifetime = 120 }   -- a relay that offers STARTTLS
  keys = dkim_support.keys(dir)
  local record = keys.ed25519.key:record()
  os.execute("mkdir -p " .. sh_quote(dir .. "/other"))
  local other = dkim_support.keys(dir .. "/other")
  local txt = {
    { "good.test", "v=spf1 ip4:127.0.0.2 -all" },
    { "s1._domainkey.good.test", record },
    { "_dmarc.good.test", "v=DMARC1; p=reject" },
    { "badspf.test", "v=spf1 ip4:192.0.2.1 -all" },
    { "s1._domainkey.badspf.test", record },
    { "_dmarc.badspf.test", "v=DMARC1; p=quarantine" },
    { "nodmarc.test", "v=spf1 ip4:127.0.0.2 -all" },
    { "s1._domainkey.nodmarc.test", record },
    { "esp.test", "v=spf1 ip4:127.0.0.2 -all" },
    { "s1._domainkey.esp.test", record },
    { "_dmarc.misaligned.test", "v=DMARC1; p=reject" },
    { "s1._domainkey.wrongkey.test", other.ed25519.key:record() },
    { "wrongkey.test", "v=spf1 ip4:127.0.0.2 -all" },
    { "_dmarc.wrongkey.test", "v=DMARC1; p=none" },
  }
  local mx = {}
  for _, d in ipairs({ "good.test", "badspf.test", "nodmarc.test", "esp.test", "misaligned.test", "wrongkey.test" }) do
    mx[#mx + 1] = { d, "mx." .. d, 10 }
  end
  local hosts = { { "mail.good.test", "127.0.0.2" } }   -- its A and the PTR of 127.0.0.2
  for _, m in ipairs(mx) do hosts[#hosts + 1] = { m[2], "127.0.0.10" } end
  server = assert(dns.start { zones = { "test", "in-addr.arpa" }, txt = txt, mx = mx, hosts = hosts,
                              address = { { "nameless.good.test", "127.0.0.3" } }, lifetime = 120 })
end)

teardown(function()
  if server then server:stop() end
  if relay then relay:stop() end
  mime.rmdir(dir)
end)

-- The authentication section of the lint of a campaign.
local function checklist(path, ip)
  local report = assert(lint.run { script = path, spam = false, dns_server = server.server, ip = ip or "127.0.0.2" })
  for _, s in ipairs(report.sections) do
    if s.name == "authentication" then
      local by = {}
      for _, f in ipairs(s.findings) do by[f.check] = f end
      return s, by, report
    end
  end
  error("no authentication section")
end

describe("lint's authentication checklist", function()
  it("passes a domain with SPF, a matching DKIM key, aligned DMARC, MX and confirmed reverse DNS", function()
    local s, by = checklist(script("good", 'from = "Shop <news@good.test>",\n' .. signed_by("good.test")))
    assert.are.same({}, by, table.concat(s.lines, "\n"))
    local text = table.concat(s.lines, "\n")
    assert.matches("[ok] SPF", text, 1, true)
    assert.matches("127.0.0.2 -> mail.good.test -> 127.0.0.2", text, 1, true)
    assert.matches("aligned with From by SPF and DKIM", text, 1, true)
    assert.matches("%[ok%] TLS +the relay 127%.0%.0%.1:%d+ speaks TLSv1", text)
  end)

  it("fails SPF that does not name the sending address", function()
    local _, by = checklist(script("badspf", 'from = "Shop <news@badspf.test>",\n' .. signed_by("badspf.test")))
    assert.is_truthy(by["auth.spf"])
    assert.matches("fail", by["auth.spf"].message)
    assert.is_nil(by["auth.dmarc"])   -- DKIM still aligns
  end)

  it("says when the From domain has no DMARC record", function()
    local _, by = checklist(script("nodmarc", 'from = "Shop <news@nodmarc.test>",\n' .. signed_by("nodmarc.test")))
    assert.is_truthy(by["auth.dmarc"])
    assert.matches("no DMARC record for nodmarc.test", by["auth.dmarc"].message)
  end)

  it("fails DMARC when neither SPF nor DKIM is of the From domain", function()
    local s, by = checklist(script("misaligned", 'from = "Shop <news@misaligned.test>",\n' ..
      'return_path = "bounce@esp.test",\n' .. signed_by("esp.test")))
    assert.is_nil(by["auth.spf"])   -- esp.test's SPF passes, for esp.test
    assert.is_truthy(by["auth.dmarc"])
    assert.matches("neither SPF nor DKIM", by["auth.dmarc"].message)
    assert.matches("NOT aligned with From", table.concat(s.lines, "\n"), 1, true)
  end)

  it("fails a DKIM key that is not the campaign's", function()
    local _, by = checklist(script("wrongkey", 'from = "Shop <news@wrongkey.test>",\n' .. signed_by("wrongkey.test")))
    assert.is_truthy(by["auth.dkim"])
    assert.matches("not the campaign's key", by["auth.dkim"].message)
  end)

  it("says when the campaign does not sign", function()
    local _, by = checklist(script("unsigned", 'from = "Shop <news@good.test>",\n'))
    assert.matches("does not sign", by["auth.dkim"].message)
  end)

  it("fails a sending address without reverse DNS", function()
    local _, by = checklist(script("noptr", 'from = "Shop <news@good.test>",\n' .. signed_by("good.test")), "127.0.0.3")
    assert.is_truthy(by["auth.ptr"])
    assert.matches("127.0.0.3 has no reverse DNS", by["auth.ptr"].message, 1, true)
  end)

  it("fails a relay that does not offer TLS", function()
    local sink = builtin_sink.start()
    local _, by = checklist(script("plainrelay", 'from = "Shop <news@good.test>",\n' .. signed_by("good.test"),
      string.format("{ host = '127.0.0.1', port = %d }", sink.port)))
    sink.cleanup()
    assert.is_truthy(by["auth.tls"])
    assert.matches("does not offer STARTTLS", by["auth.tls"].message)
  end)

  it("makes lint exit 1 when a check fails, as CI wants", function()
    local path = script("exit", 'from = "Shop <news@nodmarc.test>",\n' .. signed_by("nodmarc.test"))
    local cmd = string.format("%s lint %s --no-spam --dns-server %s --ip 127.0.0.2 --json", os.getenv("MAILCAST_BIN"),
      sh_quote(path), server.server)
    local p = io.popen(cmd)
    local out = p:read("a")
    local _, _, code = p:close()
    assert.are.equal(1, code)
    local json = require("mailcast.json_decode").decode(out)
    assert.are.equal("exit", json.campaign)
    assert.is_table(json.checks.authentication)
    assert.is_true(json.counts.error >= 1)
    local found = false
    for _, f in ipairs(json.findings) do found = found or f.check == "auth.dmarc" end
    assert.is_true(found)
  end)
end)
