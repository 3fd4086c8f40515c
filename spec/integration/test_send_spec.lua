-- `mailcast test campaign.lua --to ADDRESS`: the message sent through the
-- campaign's route with its SMTP conversation shown, against `mailcast
-- sink` and against aiosmtpd with STARTTLS and AUTH.
local builtin_sink = require "support.builtin_sink"
local campaigns = require "support.campaign_scripts"
local dns = require "support.dns"
local mime = require "support.mime"
local servers = require "support.servers"

local PASSWORD = "s3cret-Pa55word"

local dir

setup(function() dir = mime.tmpdir() end)
teardown(function() mime.rmdir(dir) end)

local function script(name, route)
  return campaigns.write(dir, name, [[
  from = "The Shop <news@shop.example.com>",
  subject = "Hello {{name}}",
  text = "Hello {{name}}, our spring range is out.\n",
  recipients = { { email = "ada@example.org", name = "Ada" }, { email = "bob@example.org", name = "Bob" } },
  route = ]] .. route .. ",\n")
end

-- Runs the command; its output and exit status.
local function run(args)
  return campaigns.run("test " .. args)
end

-- The client (C:) and server (S:) lines of a transcript, in order.
local function lines_of(out, side)
  local list = {}
  for line in out:gmatch("[^\n]+") do
    local text = line:match("^%s*[%d.]+%s+" .. side .. ": (.*)$")
    if text then list[#list + 1] = text end
  end
  return list
end

local function index_of(list, pattern)
  for i, l in ipairs(list) do
    if l:match(pattern) then return i end
  end
end

describe("mailcast test", function()
  it("sends to the given address through mailcast sink and shows every command and reply", function()
    local sink = builtin_sink.start("--count 1")
    local path = script("sinktest", string.format("{ host = '127.0.0.1', port = %d, tls = 'none' }", sink.port))
    local out, code = run(mime.sh_quote(path) .. " --to me@example.com --recipient 2")
    local sink_out = sink.wait()
    assert.are.equal(0, code, out)
    local client, server = lines_of(out, "C"), lines_of(out, "S")
    local order = { "^EHLO ", "^MAIL FROM:<news@shop.example.com>", "^RCPT TO:<me@example.com>", "^DATA$", "^%.$", "^QUIT$" }
    local last = 0
    for _, want in ipairs(order) do
      local at = index_of(client, want)
      assert.is_truthy(at, want .. " in " .. out)
      assert.is_true(at > last, want .. " in order")
      last = at
    end
    for _, want in ipairs({ "^220 ", "^250 ENHANCEDSTATUSCODES", "^250 2.1.0", "^250 2.1.5", "^354 ", "^250 2.0.0 Ok: stored", "^221 " }) do
      assert.is_truthy(index_of(server, want), want .. " in " .. out)
    end
    assert.matches("-> the recipient is accepted", out, 1, true)
    assert.matches("-> the message is accepted", out, 1, true)
    assert.matches("recipient 2 (bob@example.org) sent to me@example.com", out, 1, true)
    -- What arrived is the second row's message, addressed to the tester.
    local files = sink.files()
    assert.are.equal(1, #files, sink_out)
    local stored = files[1]
    assert.matches("Hello Bob", stored, 1, true)
    assert.matches("To: me@example.com", stored, 1, true)
    sink.cleanup()
  end)

  it("shows STARTTLS, the certificate and AUTH with aiosmtpd, and never the password", function()
    local srv <close> = servers.aiosmtpd { tls = true, auth = { user = "alice", password = PASSWORD } }
    local path = script("relaytest", string.format(
      "{ host = '127.0.0.1', port = %d, tls = 'verify', server_name = 'localhost', ca_file = %q, user = 'alice', password = %q }",
      srv.port, srv.ca, PASSWORD))
    local out, code = run(mime.sh_quote(path) .. " --to me@example.com")
    srv:stop()
    assert.are.equal(0, code, out)
    local client = lines_of(out, "C")
    local order = { "^EHLO ", "^STARTTLS$", "^EHLO ", "^AUTH PLAIN <credentials hidden>$", "^MAIL FROM:", "^RCPT TO:<me@example.com>",
                    "^DATA$", "^%.$", "^QUIT$" }
    local last = 0
    for _, want in ipairs(order) do
      local at
      for i = last + 1, #client do
        if client[i]:match(want) then at = i break end
      end
      assert.is_truthy(at, want .. " after line " .. last .. " in " .. out)
      last = at
    end
    local server = lines_of(out, "S")
    assert.is_truthy(index_of(server, "^250.STARTTLS"), out)
    assert.is_truthy(index_of(server, "^235 "), out)
    assert.matches("TLS negotiated: TLSv1%.%d", out)
    assert.matches("TLS certificate: .*CN ?= ?localhost", out)
    assert.matches("TLS certificate check: trusted", out, 1, true)
    assert.matches("-> authentication succeeded", out, 1, true)
    assert.is_nil(out:find(PASSWORD, 1, true), "the password is in the transcript")
    -- Nor its base64 form, as AUTH PLAIN would send it.
    local b64 = require("mailcast").b64.encode("\0alice\0" .. PASSWORD)
    assert.is_nil(out:find(b64, 1, true))
    assert.are.equal(1, #srv:messages())
  end)

  it("hides every step of AUTH LOGIN", function()
    local srv <close> = servers.aiosmtpd { tls = true, auth = { user = "alice", password = PASSWORD } }
    local path = script("logintest", string.format(
      "{ host = '127.0.0.1', port = %d, tls = 'required', user = 'alice', password = %q, auth_mechanism = 'LOGIN' }",
      srv.port, PASSWORD))
    local out, code = run(mime.sh_quote(path) .. " --to me@example.com")
    srv:stop()
    assert.are.equal(0, code, out)
    local client = lines_of(out, "C")
    local at = index_of(client, "^AUTH LOGIN$")
    assert.is_truthy(at, out)
    assert.are.equal("<credentials hidden>", client[at + 1])
    assert.are.equal("<credentials hidden>", client[at + 2])
    assert.is_nil(out:find(PASSWORD, 1, true))
    assert.is_nil(out:find(require("mailcast").b64.encode(PASSWORD), 1, true))
    assert.is_nil(out:find(require("mailcast").b64.encode("alice"), 1, true))
  end)

  it("sends straight to the MX host of the address on a direct-delivery route", function()
    local sink = builtin_sink.start("--count 1")
    local resolver = assert(dns.start { mx = { { "inbox.test", "mx1.inbox.test", 10 } },
                                        hosts = { { "mx1.inbox.test", "127.0.0.1" } } })
    local path = script("direct", string.format("{ mx = true, port = %d, tls = 'none', dns_server = %q }",
      sink.port, resolver.server))
    local out, code = run(mime.sh_quote(path) .. " --to me@inbox.test")
    sink.wait()
    resolver:stop()
    assert.are.equal(0, code, out)
    assert.matches(".. connecting to mx1.inbox.test [127.0.0.1] port " .. sink.port, out, 1, true)
    assert.matches("C: RCPT TO:<me@inbox.test>", out, 1, true)
    assert.are.equal(1, #sink.files())
    sink.cleanup()
  end)

  it("shows how far it got when the server refuses, and exits 1", function()
    local sink = builtin_sink.start("--count 1 --reject 'me@example.com=550 5.1.1 No such user'")
    local path = script("refused", string.format("{ host = '127.0.0.1', port = %d, tls = 'none' }", sink.port))
    local out, code = run(mime.sh_quote(path) .. " --to me@example.com")
    sink.stop()
    sink.cleanup()
    assert.are.equal(1, code, out)
    assert.matches("S: 550 5.1.1 No such user", out, 1, true)
    assert.matches("the mailbox does not exist", out, 1, true)
    assert.matches("not sent: 550", out, 1, true)
  end)

  it("shows the connection attempt when nothing listens", function()
    local path = script("closed", string.format("{ host = '127.0.0.1', port = %d, tls = 'none' }", servers.closed_port()))
    local out, code = run(mime.sh_quote(path) .. " --to me@example.com")
    assert.are.equal(1, code, out)
    assert.matches(".. connecting to 127.0.0.1", out, 1, true)
    assert.matches("not sent: ", out, 1, true)
  end)

  it("wants --to", function()
    local out, code = run(mime.sh_quote(script("noto", "{ host = '127.0.0.1', port = 9 }")))
    assert.are.equal(2, code)
    assert.matches("--to ADDRESS is required", out, 1, true)
  end)
end)
