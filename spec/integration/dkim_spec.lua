-- DKIM over real servers on 127.0.0.1: a signed message sent through
-- `mailcast sink` and checked as it was stored, and keys looked up in
-- DNS (dnsmasq serving the TXT records).
local mailcast = require "mailcast"
local dns = require "support.dns"
local mime = require "support.mime"
local socket = require "socket"
local support = require "support.dkim"

local start_sink = require("support.builtin_sink").start
local dkim = mailcast.dkim

-- TXT rdata in hex for dnsmasq's --dns-rr: character-strings of at most
-- 255 bytes, each after its length byte (RFC 1035 3.3.14).
local function txt_rdata(...)
  local out = {}
  for _, text in ipairs { ... } do
    for i = 1, #text, 255 do
      local chunk = text:sub(i, i + 254)
      out[#out + 1] = string.format("%02x", #chunk) .. chunk:gsub(".", function(c) return string.format("%02x", c:byte()) end)
    end
  end
  return table.concat(out)
end

describe("DKIM", function()
  local dir, keys
  setup(function()
    dir = mime.tmpdir()
    keys = support.keys(dir)
  end)
  teardown(function() mime.rmdir(dir) end)

  it("signatures made before sending pass dkimpy and mailcast on the message the sink stored", function()
    local raw = assert(mailcast.message {
      from = { name = "Zoë Ågren", address = "zoe@example.com" }, to = "reader@example.org",
      subject = "Grüße — Neuigkeiten für Sie", text = "Hallo,\n.a line with a leading dot\n\n",
      html = "<p>Hallo</p>\n", attachments = { { data = mime.random_bytes(20000, 9), filename = "data.bin" } },
    })
    local signed = assert(dkim.sign(raw, {
      { key = keys.rsa2048.key, domain = "example.com", selector = "rsa" },
      { key = keys.ed25519.key, domain = "example.com", selector = "ed", canonicalization = "simple/simple" },
    }))
    local srv = start_sink("--count 1")
    local results = assert(mailcast.send({ host = "127.0.0.1", port = srv.port, tls = "none" },
      { { message = signed, from = "zoe@example.com", to = "reader@example.org" } }))
    srv.wait()
    local files = srv.files()
    srv.cleanup()
    assert.equal("sent", results[1].status)
    assert.equal(1, #files)
    local stored = files[1]
    assert.matches("^Return%-Path: ", stored)   -- the sink added fields above the signatures
    local records = { ["rsa._domainkey.example.com"] = keys.rsa2048.key:record(),
      ["ed._domainkey.example.com"] = keys.ed25519.key:record() }
    assert.same({ "pass", "pass" }, support.dkimpy_verify(stored, records, dir))
    assert.same({ "pass", "pass" }, support.statuses(assert(dkim.verify(stored, { keys = records }))))
  end)

  describe("keys from DNS", function()
    local srv, signed
    setup(function()
      local rsa, ed = keys.rsa2048.key:record(), keys.ed25519.key:record()
      srv = dns.start {
        rr = {
          { "rsa._domainkey.example.test", 16, txt_rdata(rsa) },
          { "ed._domainkey.example.test", 16, txt_rdata("some other text") },
          { "ed._domainkey.example.test", 16, txt_rdata(ed) },
          { "revoked._domainkey.example.test", 16, txt_rdata("v=DKIM1; p=") },
        },
        hosts = { { "nokey._domainkey.example.test", "127.0.0.1" } },
      }
      signed = {}
      for _, sel in ipairs { "rsa", "ed", "revoked", "nokey", "missing" } do
        local key = sel == "ed" and keys.ed25519.key or keys.rsa2048.key
        signed[sel] = assert(dkim.sign("From: a@example.test\r\nSubject: s\r\n\r\nbody\r\n",
          { key = key, domain = "example.test", selector = sel }))
      end
    end)
    teardown(function() srv:stop() end)

    local function check(sel, extra)
      local opts = { dns_server = srv.server, timeout = 1 }
      for k, v in pairs(extra or {}) do opts[k] = v end
      return assert(dkim.verify(signed[sel], opts))[1]
    end

    it("finds an RSA key published in several strings of one TXT record", function()
      assert.equal("pass", check("rsa").status)
    end)

    it("finds the key among several TXT records of a name", function()
      assert.equal("pass", check("ed").status)
    end)

    it("gives permerror for a revoked key", function()
      local r = check("revoked")
      assert.same({ "permerror", "key record: the key is revoked (empty p=)" }, { r.status, r.reason })
    end)

    it("gives permerror when the name has no TXT record or does not exist", function()
      local r = check("nokey")
      assert.same({ "permerror", "no key record at nokey._domainkey.example.test" }, { r.status, r.reason })
      r = check("missing")
      assert.same({ "permerror", "no key record at missing._domainkey.example.test" }, { r.status, r.reason })
    end)

    it("gives temperror when the DNS server does not answer", function()
      local u = assert(socket.udp())   -- a port that is bound but never answers
      assert(u:setsockname("127.0.0.1", 0))
      local _, port = u:getsockname()
      local t0 = socket.gettime()
      local r = check("rsa", { dns_server = "127.0.0.1:" .. port, timeout = 0.3, tries = 1 })
      u:close()
      assert.equal("temperror", r.status)
      assert.matches("^dns: ", r.reason)
      assert.is_true(socket.gettime() - t0 < 5)
    end)

    it("falls back to DNS when key_lookup has nothing and dns is on", function()
      local r = check("rsa", { key_lookup = function() return nil end, dns = true })
      assert.equal("pass", r.status)
    end)
  end)
end)
