-- The example campaigns in examples/, run as a user runs them, with the
-- environment pointing them at servers on 127.0.0.1: aiosmtpd as the
-- provider's relay (STARTTLS, AUTH), the built-in sink as an ISP relay
-- and as MX hosts, dnsmasq for the MX records.
local helper = require "helper"
local mime = require "support.mime"
local servers = require "support.servers"
local builtin_sink = require "support.builtin_sink"
local dns = require "support.dns"

local q = mime.sh_quote

-- Runs an example with env (a table) and its store in dir; the output and exit code.
local function run_example(name, env, dir, extra)
  local vars = {}
  for k, v in pairs(env) do vars[#vars + 1] = k .. "=" .. q(v) end
  table.sort(vars)
  return helper.sh(string.format("%s %s run examples/%s/campaign.lua --store %s --log %s %s 2>&1",
    table.concat(vars, " "), q(helper.runner), name, q(dir .. "/store.db"), q(dir .. "/log.jsonl"), extra or ""))
end

-- A file's contents, "" while it does not exist.
local function read(path) return mime.try_read(path) or "" end

describe("examples/relay", function()
  it("sends through STARTTLS with a checked certificate and AUTH, and logs no password", function()
    local srv <close> = servers.aiosmtpd{ tls = true, auth = { user = "alice", password = "s3cret-Pa55" } }
    local dir = mime.tmpdir()
    local out, code = run_example("relay", {
      RELAY_HOST = "127.0.0.1", RELAY_PORT = srv.port, RELAY_CA_FILE = srv.ca,
      RELAY_USER = "alice", RELAY_PASSWORD = "s3cret-Pa55",
    }, dir)
    local log = read(dir .. "/log.jsonl")
    mime.rmdir(dir)
    srv:stop()
    assert.equal(0, code, out)
    assert.matches("opening-hours: 3 delivered, 0 deferred, 0 failed", out, 1, true)
    local got = srv:messages()
    assert.equal(3, #got)
    for _, m in ipairs(got) do
      assert.is_true(m.tls)
      assert.equal("alice", m.login)
    end
    assert.matches('"tls_version":"TLSv1.', log, 1, true)
    assert.is_nil(out:find("s3cret", 1, true))
    assert.is_nil(log:find("s3cret", 1, true))
  end)

  it("sends nothing when the certificate does not check out", function()
    local srv <close> = servers.aiosmtpd{ tls = true, auth = { user = "alice", password = "pw" } }
    local dir = mime.tmpdir()
    -- No RELAY_CA_FILE: the system's CAs do not know the test CA.
    local out, code = run_example("relay", {
      RELAY_HOST = "127.0.0.1", RELAY_PORT = srv.port, RELAY_USER = "alice", RELAY_PASSWORD = "pw",
    }, dir)
    mime.rmdir(dir)
    srv:stop()
    assert.equal(0, code, out)
    assert.matches("opening-hours: 0 delivered, 3 deferred", out, 1, true)
    assert.equal(0, #srv:messages())
  end)
end)

describe("examples/throttled", function()
  it("sends in groups of ten per connection at the rate it is given", function()
    local sink = builtin_sink.start("")
    local dir = mime.tmpdir()
    local out, code = run_example("throttled", { ISP_HOST = "127.0.0.1", ISP_PORT = sink.port,
      ISP_RATE = "50/s", ISP_CONNECT_RATE = "10/s" }, dir)
    local stored = #sink.files()
    sink.cleanup()
    mime.rmdir(dir)
    assert.equal(0, code, out)
    assert.matches("winter-sale: 3 delivered", out, 1, true)
    assert.equal(3, stored)
  end)
end)

describe("examples/split", function()
  it("sends staff mail through the internal relay and the rest to each domain's MX hosts", function()
    local relay = builtin_sink.start("")
    local mx = builtin_sink.start("")
    local resolver = dns.start{
      zones = { "test", "example.org", "example.net" },
      mx = { { "example.org", "mx1.example.org", 10 }, { "example.net", "mx.example.net", 5 } },
      hosts = { { "mx1.example.org", "127.0.0.1" }, { "mx.example.net", "127.0.0.1" } },
    }
    local dir = mime.tmpdir()
    local out, code = run_example("split", { SMART_HOST = "127.0.0.1", SMART_PORT = relay.port,
      DNS_SERVER = resolver.server, MX_PORT = mx.port }, dir)
    local log = read(dir .. "/log.jsonl")
    local internal, direct = relay.files(), mx.files()
    relay.cleanup()
    mx.cleanup()
    resolver:stop()
    mime.rmdir(dir)
    assert.equal(0, code, out)
    assert.matches("staff-and-customers: 5 delivered, 0 deferred, 0 failed", out, 1, true)
    assert.equal(2, #internal)
    assert.equal(3, #direct)
    for _, raw in ipairs(internal) do assert.matches("staff%.example%.com", raw) end
    for _, raw in ipairs(direct) do assert.is_nil(raw:find("staff.example.com", 1, true)) end
    assert.matches('"route":"direct","mx":"mx1.example.org"', log, 1, true)
    assert.matches('"route":"internal"', log, 1, true)
  end)
end)

describe("examples/newsletter/page.lua", function()
  it("sends the newsletter from its web page: images inline, stylesheet in, script and form out", function()
    local json = require "dkjson"
    local sink = builtin_sink.start("")
    local dir = mime.tmpdir()
    local out, code = helper.sh(string.format("SINK_PORT=%d %s run examples/newsletter/page.lua --store %s --log %s"
      .. " --progress quiet 2>&1", sink.port, q(helper.runner), q(dir .. "/store.db"), q(dir .. "/log.jsonl")))
    local files = sink.files()
    sink.cleanup()
    assert.equal(0, code, out)
    assert.matches("newsletter-page-2026-11: 300 delivered", out, 1, true)
    assert.matches("page/index.html: <script> removed", out, 1, true)
    assert.equal(300, #files)
    mime.write(dir .. "/one.eml", files[1])
    local p = io.popen("/usr/bin/python3 spec/support/pypage.py " .. q(dir .. "/one.eml"))
    local view = json.decode(p:read("a"))
    p:close()
    mime.rmdir(dir)
    assert.equal(0, view.defects)
    local images, html, text = {}, nil, nil
    for _, part in ipairs(view.parts) do
      if part.type == "image/png" then images[part.cid:match("^page%d+%.(.-)@")] = part.body
      elseif part.type == "text/html" then html = part.text
      elseif part.type == "text/plain" then text = part.text end
    end
    local mailcast = require "mailcast"
    for name, file in pairs { ["logo.png"] = "img/logo.png", ["band.png"] = "img/band.png", ["paper.png"] = "img/paper.png" } do
      assert.equal(mime.read("examples/newsletter/page/" .. file), mailcast.b64.decode(assert(images[name], name)))
    end
    assert.matches(".band { height: 12px; background: url(cid:", html, 1, true)
    assert.is_nil(html:find("<script", 1, true))
    assert.is_nil(html:find("<form", 1, true))
    assert.matches('href="https://news.example.com/2026/11/catalogue.html"', html, 1, true)
    assert.matches("^Mailcast Demo\n\nHello [^\n]+,\n\nHere is what is new", text)
    assert.is_nil(text:find("{{", 1, true))
  end)
end)

describe("examples/abtest", function()
  it("sends the test fifth split between the variants, the winner to the rest, then the reminder to non-openers", function()
    local sink = builtin_sink.start("")
    local dir = mime.tmpdir()
    local out, code = run_example("abtest", { SINK_PORT = sink.port, TEST_WAIT = "0s" }, dir, "--wait")
    local subjects = {}
    for _, raw in ipairs(sink.files()) do
      local s = raw:match("\nSubject: ([^\r\n]*)")
      local key = s:find("20%", 1, true) and "off" or "in"
      subjects[key] = (subjects[key] or 0) + 1
    end
    assert.equal(0, code, out)
    assert.matches("spring: 20 delivered", out, 1, true)
    -- Nobody opened: a tie, which the first variant wins.
    assert.matches("variant 1 wins", out, 1, true)
    assert.same({ ["in"] = 18, off = 2 }, subjects)
    out, code = helper.sh(string.format("SINK_PORT=%d %s run examples/abtest/resend.lua --store %s 2>&1",
      sink.port, q(helper.runner), q(dir .. "/store.db")))
    local stored = #sink.files()
    sink.cleanup()
    mime.rmdir(dir)
    assert.equal(0, code, out)
    assert.matches("spring-reminder: 20 delivered", out, 1, true)
    assert.equal(40, stored)
  end)
end)
