-- The SMTP client against real servers on 127.0.0.1: Postfix's smtp-sink,
-- aiosmtpd with STARTTLS and AUTH, and fault-injecting servers
-- (spec/support/fault_smtp.lua). Nothing may be reported as sent that the
-- server did not accept with a 2xx to the end of the data.
local mailcast = require "mailcast"
local servers = require "support.servers"

-- Timeouts short enough for the specs that wait for one to fire, which
-- ask for them; the others keep room for a slow machine (sanitizers).
local FAST = { connect = 2, greeting = 1, ehlo = 1, tls = 2, mail = 1, rcpt = 1,
               data_init = 1, data_block = 1, data_end = 1, command = 1 }
local PATIENT = { connect = 10, greeting = 10, ehlo = 10, tls = 10, mail = 10, rcpt = 10,
                  data_init = 10, data_block = 10, data_end = 10, command = 10 }

local function route(srv, extra)
  local r = { host = "127.0.0.1", port = srv.port, tls = "none", timeouts = PATIENT, helo = "client.test" }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function message(n, extra)
  local t = { from = "news@example.com", to = "user" .. n .. "@example.org",
              subject = "Message " .. n, text = "Hello " .. n .. "\n.a line with a dot\n" }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local function find(list, pred)
  for _, v in ipairs(list) do if pred(v) then return v end end
end

local function count(list, pred)
  local n = 0
  for _, v in ipairs(list) do if pred(v) then n = n + 1 end end
  return n
end

describe("sending to Postfix's smtp-sink", function()
  local sink
  before_each(function() sink = servers.sink() end)
  after_each(function() sink:stop() end)

  it("reports the server's extensions and replies with enhanced codes", function()
    local s = assert(mailcast.session(route(sink)))
    local ext = s:extensions()
    assert.is_true(ext.PIPELINING)
    assert.is_true(ext.ENHANCEDSTATUSCODES)
    local r = assert(s:mail("news@example.com"))
    assert.same({ 250, "2.1.0" }, { r.code, r.enhanced })
    r = assert(s:rcpt("bob@example.org"))
    assert.same({ 250, "2.1.5" }, { r.code, r.enhanced })
    r = assert(s:data(mailcast.message(message(1))))
    assert.equal(250, r.code)
    s:quit()
  end)

  it("delivers every message exactly once with its envelope, over reused connections", function()
    local list = {}
    for i = 1, 30 do list[i] = { message = message(i) } end
    local results, state = assert(mailcast.send(route(sink), list,
      { connections = 3, messages_per_connection = 10 }))
    for i, r in ipairs(results) do
      assert.equal("sent", r.status, "message " .. i)
      assert.equal(250, r.recipients[1].code)
    end
    assert.equal(30, state.transactions)
    assert.is_true(state.sessions >= 3 and state.sessions <= 5)
    local stored = sink:messages()
    assert.equal(30, #stored)
    local seen = {}
    for _, m in ipairs(stored) do
      assert.equal("news@example.com", m.mail_from)
      assert.equal(1, #m.rcpt_tos)
      assert.is_nil(seen[m.rcpt_tos[1]], "delivered twice: " .. m.rcpt_tos[1])
      seen[m.rcpt_tos[1]] = true
    end
    for i = 1, 30 do assert.is_true(seen["user" .. i .. "@example.org"]) end
  end)

  it("undoes dot-stuffing at the server so the message arrives unchanged", function()
    local raw = "Subject: dots\r\n\r\n.\r\n..two\r\n.three\r\nend\r\n"
    local results = assert(mailcast.send(route(sink), { { message = raw, from = "a@example.com", to = "b@example.org" } }))
    assert.equal("sent", results[1].status)
    local m = sink:messages()[1]
    assert.equal("Subject: dots\n\n.\n..two\n.three\nend\n", m.data)
  end)

  -- A built message is written in pieces (headers, each part's head and
  -- body): a dot that opens a body opens a line too.
  it("stuffs the dots of a built message, at the start of a part's body too", function()
    local text = ".first\n..second\nmiddle.\n.\nlast"
    local html = ".<p>dot</p>\n.<p>again</p>"
    local msg = assert(mailcast.build { from = "a@example.com", to = "b@example.org", subject = "dots",
                                         text = text, html = html })
    local sent = msg:tostring():gsub("\r\n", "\n")
    local results = assert(mailcast.send(route(sink), { { message = msg, from = "a@example.com", to = "b@example.org" } }))
    assert.equal("sent", results[1].status)
    local data = sink:messages()[1].data
    assert.equal(sent, data)
    assert.truthy(data:find("\n.first\n..second\nmiddle.\n.\nlast", 1, true))
  end)

  it("delivers messages larger than the socket takes at once intact, between small ones", function()
    -- The client writes to the socket itself and arms the write event
    -- only for what the kernel did not take: a multi-megabyte message
    -- goes out in many writes, and the small ones after it on the same
    -- connection still go out whole.
    local lines = {}
    for i = 1, 60000 do lines[i] = string.format("line %06d of a long message, with a dot next:", i) end
    lines[#lines + 1] = ".dot"
    local raw = "Subject: big\r\n\r\n" .. table.concat(lines, "\r\n") .. "\r\n"
    local list = {}
    for i = 1, 6 do
      list[i] = i % 2 == 1 and { message = raw, from = "a@example.com", to = "big" .. i .. "@example.org" }
        or { message = message(i) }
    end
    local results = assert(mailcast.send(route(sink, { timeouts = { data_block = 10 } }), list,
      { connections = 1, messages_per_connection = 10 }))
    for i, r in ipairs(results) do assert.equal("sent", r.status, "message " .. i) end
    local big = 0
    for _, m in ipairs(sink:messages()) do
      if m.rcpt_tos[1]:find("^big") then
        big = big + 1
        assert.equal(raw:gsub("\r\n", "\n"), m.data)
      end
    end
    assert.equal(3, big)
  end)

  it("sends to several recipients of one message in one transaction", function()
    local results = assert(mailcast.send(route(sink), {
      { message = message(1, { to = { "a@example.org", "b@example.org" }, cc = "c@example.org", bcc = "d@example.org" }) },
    }))
    assert.equal("sent", results[1].status)
    assert.equal(4, #results[1].recipients)
    local m = sink:messages()[1]
    assert.same({ "a@example.org", "b@example.org", "c@example.org", "d@example.org" }, m.rcpt_tos)
    assert.not_matches("d@example.org", m.data, 1, true)   -- Bcc stays in the envelope
  end)

  it("asks for delivery status notifications when the message says so", function()
    local results = assert(mailcast.send(route(sink), { {
      message = message(1, { to = { "a+b@example.org" } }),
      dsn_ret = "HDRS", dsn_envid = "camp-42", dsn_notify = "FAILURE,DELAY", dsn_orcpt = true,
    } }))
    assert.equal("sent", results[1].status)
    local m = sink:messages()[1]
    assert.matches("RET=HDRS ENVID=camp-42", m.mail_args, 1, true)
    assert.equal("<a+b@example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;a+2Bb@example.org", m.rcpt_args[1])
  end)

  it("keeps to the rate it is given", function()
    local list = {}
    for i = 1, 6 do list[i] = { message = message(i) } end
    local started = require("socket").gettime()
    local results, state = assert(mailcast.send(route(sink), list, { connections = 2, rate = "20/s" }))
    local took = require("socket").gettime() - started
    for _, r in ipairs(results) do assert.equal("sent", r.status) end
    assert.equal(20, state.rate)
    assert.is_true(took >= 0.24, "6 messages at 20/s took " .. took .. " s")
  end)

  it("refuses a rate it cannot read", function()
    assert.has_error(function() mailcast.send(route(sink), {}, { rate = "fast" }) end,
      "mailcast.send options: rate must be a number >= 0 or a rate like '100/m', not 'fast'")
  end)

  it("takes LuaSocket's smtp.send arguments", function()
    local ok, err = mailcast.smtp.send{
      from = "<news@example.com>", rcpt = { "<x@example.org>" }, server = "127.0.0.1", port = sink.port,
      source = "Subject: compat\r\n\r\nhello\r\n",
    }
    assert.equal(1, ok, err)
    assert.same({ "x@example.org" }, sink:messages()[1].rcpt_tos)
  end)

  it("fails a message that cannot be built without holding back the others", function()
    local results = assert(mailcast.send(route(sink), {
      { message = message(1, { to = "not an address" }) },
      { message = message(2) },
    }))
    assert.equal("failed", results[1].status)
    assert.matches("invalid address", results[1].error)
    assert.equal("sent", results[2].status)
    assert.equal(1, #sink:messages())
  end)
end)

describe("mailcast.send's recipients that are no address", function()
  local sink
  before_each(function() sink = servers.sink() end)
  after_each(function() sink:stop() end)

  -- They were deferred (code 0) and so retried until max_age, though no
  -- retry can mend them.
  it("fails each at once with 553 and why, never asking the server, and sends the rest", function()
    local raw = mailcast.message(message(1))
    local results = assert(mailcast.send(route(sink), {
      { message = raw, from = "news@example.com", to = { "a@example.org, victim@example.net" } },
      { message = raw, from = "news@example.com", to = { "bad\r\nRCPT TO:<victim@example.net>" } },
      { message = raw, from = "news@example.com", to = { "ok@example.org", "no at", "ok2@example.org" } },
    }))
    assert.equal("failed", results[1].status)
    assert.same({ "failed", 553, "5.1.3" }, { results[1].recipients[1].status, results[1].recipients[1].code,
                                              results[1].recipients[1].enhanced })
    assert.equal("invalid recipient address <a@example.org, victim@example.net>: a list of addresses (',')"
      .. " where one address goes", results[1].recipients[1].text)
    assert.equal("failed", results[2].status)
    assert.equal("invalid recipient address <bad\\r\\nRCPT TO:<victim@example.net>>: control character 0x0d"
      .. " in local part", results[2].recipients[1].text)
    assert.equal("partial", results[3].status)
    local r3 = results[3].recipients
    assert.same({ "sent", "failed", "sent" }, { r3[1].status, r3[2].status, r3[3].status })
    assert.same({ "ok@example.org", "no at", "ok2@example.org" }, { r3[1].address, r3[2].address, r3[3].address })
    local stored = sink:messages()
    assert.equal(1, #stored)
    assert.same({ "ok@example.org", "ok2@example.org" }, stored[1].rcpt_tos)
  end)
end)

describe("TLS and AUTH against aiosmtpd", function()
  it("uses STARTTLS with a verified certificate and authenticates over it", function()
    local srv = servers.aiosmtpd{ tls = true, auth = { user = "alice", password = "s3cret" } }
    local results = assert(mailcast.send(route(srv, {
      tls = "verify", ca_file = srv.ca, user = "alice", password = "s3cret" }), { { message = message(1) } }))
    srv:stop()
    assert.equal("sent", results[1].status, results[1].recipients[1].text)
    assert.matches("^TLSv1%.[23] ", results[1].tls)
    local m = srv:messages()[1]
    assert.is_true(m.tls)
    assert.equal("alice", m.login)
    assert.same({ "user1@example.org" }, m.rcpt_tos)
  end)

  it("sends bare CR and LF in raw data as CRLF, and stuffs dots after them", function()
    local srv = servers.aiosmtpd{}
    local results = assert(mailcast.send(route(srv), { {
      message = "Subject: breaks\n\na\nb\rc\r\n.d\n.\n", from = "a@example.com", to = "b@example.org" } }))
    srv:stop()
    assert.equal("sent", results[1].status)
    assert.equal("Subject: breaks\r\n\r\na\r\nb\r\nc\r\n.d\r\n.\r\n", srv:messages()[1].data)
  end)

  it("uses AUTH LOGIN when the route asks for it", function()
    local srv = servers.aiosmtpd{ tls = true, auth = { user = "alice", password = "s3cret" } }
    local s = assert(mailcast.session(route(srv, { tls = "verify", ca_file = srv.ca, user = "alice",
                                                   password = "s3cret", auth_mechanism = "LOGIN" })))
    assert.equal("LOGIN", s:auth())
    s:quit()
    srv:stop()
    assert.same({ "LOGIN", "alice", true }, { srv:auths()[1].mechanism, srv:auths()[1].login, srv:auths()[1].success })
  end)

  it("reports refused credentials with the server's reply", function()
    local srv = servers.aiosmtpd{ tls = true, auth = { user = "alice", password = "s3cret" } }
    local s, err, code = mailcast.session(route(srv, { tls = "verify", ca_file = srv.ca, user = "alice", password = "wrong" }))
    srv:stop()
    assert.is_nil(s)
    assert.equal(535, code)
    assert.matches("^smtp: auth: refused: 535", err)
    assert.not_matches("wrong", err)
  end)

  it("refuses to send credentials over a connection without TLS", function()
    local srv = servers.aiosmtpd{ auth = { user = "alice", password = "s3cret" }, auth_require_tls = false }
    local s, err = mailcast.session(route(srv, { tls = "none", user = "alice", password = "s3cret" }))
    srv:stop()
    assert.is_nil(s)
    assert.matches("^auth: refusing to send credentials without TLS", err)
    assert.equal(0, #srv:auths())
  end)

  it("sends credentials without TLS only when the route allows it", function()
    local srv = servers.aiosmtpd{ auth = { user = "alice", password = "s3cret" }, auth_require_tls = false }
    local s = assert(mailcast.session(route(srv, { tls = "none", user = "alice", password = "s3cret",
                                                   allow_plaintext_auth = true })))
    assert.equal("PLAIN", s:auth())
    s:quit()
    srv:stop()
    assert.is_true(srv:auths()[1].success)
  end)

  it("speaks TLS from the first byte on an implicit-TLS port", function()
    local srv = servers.aiosmtpd{ implicit_tls = true }
    local s = assert(mailcast.session(route(srv, { implicit_tls = true, tls = "verify", ca_file = srv.ca })))
    assert.matches("^TLSv1%.[23]", s:tls())
    assert.equal(250, assert(s:mail("a@example.com")).code)
    s:quit()
    srv:stop()
  end)

  it("refuses a certificate for another name under verify", function()
    local srv = servers.aiosmtpd{ tls = true, cert_kind = "wrong_name" }
    local s, err = mailcast.session(route(srv, { tls = "verify", ca_file = srv.ca }))
    srv:stop()
    assert.is_nil(s)
    assert.matches("^tls: .*certificate verify failed", err)
    assert.equal(0, #srv:messages())
  end)

  it("accepts the same certificate under required, which does not check it", function()
    local srv = servers.aiosmtpd{ tls = true, cert_kind = "wrong_name" }
    local s = assert(mailcast.session(route(srv, { tls = "required" })))
    assert.is_string(s:tls())
    s:quit()
    srv:stop()
  end)

  it("fails under required when the server offers no STARTTLS", function()
    local srv = servers.aiosmtpd{}
    local s, err = mailcast.session(route(srv, { tls = "required" }))
    srv:stop()
    assert.is_nil(s)
    assert.equal("tls: the server does not offer STARTTLS", err)
  end)
end)

describe("faulty servers", function()
  local function send_one(srv, extra, msg)
    local results = assert(mailcast.send(route(srv, extra), { msg or { message = message(1) } },
      { connect_attempts = 1 }))
    return results[1]
  end

  -- "closed: 127.0.0.1: Connection refused" did not say which server.
  it("names the host and the port of a server that refuses the connection", function()
    local probe = assert(require("socket").bind("127.0.0.1", 0))
    local _, port = probe:getsockname()
    probe:close()   -- nothing listens there now
    local r = send_one({ port = tonumber(port) }, { timeouts = FAST })
    assert.equal("deferred", r.status)
    assert.equal("closed: 127.0.0.1:" .. port .. ": Connection refused", r.recipients[1].text)
  end)

  it("times out a greeting that never comes", function()
    local srv = servers.fault("silent_greeting")
    local s, err = mailcast.session(route(srv, { timeouts = FAST }))
    srv:stop()
    assert.is_nil(s)
    assert.matches("^timeout: no reply to greeting", err)
  end)

  -- mailcast.send waited for three greeting timeouts in a row.
  it("gives up on a server that never greets after one greeting timeout, not one per connection attempt", function()
    local srv = servers.fault("silent_greeting")
    local results = assert(mailcast.send(route(srv, { timeouts = FAST }), { { message = message(1) } },
      { connect_attempts = 3 }))
    srv:stop()
    assert.equal("deferred", results[1].status)
    assert.matches("^timeout: no reply to greeting", results[1].recipients[1].text)
    assert.equal(1, srv:connections())
  end)

  it("still tries a refused connection again, up to connect_attempts", function()
    local srv = servers.fault("greeting_421")
    local results = assert(mailcast.send(route(srv, { timeouts = FAST }), { { message = message(1) } },
      { connect_attempts = 3 }))
    srv:stop()
    assert.equal("deferred", results[1].status)
    assert.equal(3, srv:connections())
  end)

  it("waits for a slow greeting within the greeting timeout", function()
    local srv = servers.fault("slow_greeting", { delay = 0.3 })
    local r = send_one(srv)
    srv:stop()
    assert.equal("sent", r.status)
  end)

  it("gives up on a greeting slower than the greeting timeout", function()
    local srv = servers.fault("slow_greeting", { delay = 3 })
    local r = send_one(srv, { timeouts = FAST })
    srv:stop()
    assert.equal("deferred", r.status)
    assert.matches("^timeout: no reply to greeting", r.recipients[1].text)
  end)

  -- It said "tls: negotiation: error:00000001:lib(0)::reason(1)".
  it("says the server did not start TLS when it goes on in plain text after its 220 to STARTTLS", function()
    local srv = servers.fault("starttls_plain", { tls = true })
    local s, err = mailcast.session(route(srv, { tls = "required", timeouts = FAST }))
    srv:stop()
    assert.is_nil(s)
    assert.equal("tls: negotiation: the server did not start TLS (it answered STARTTLS, then went on in plain text)",
      err)
  end)

  it("says the server does not speak TLS on an implicit-TLS route to a plain SMTP port", function()
    local srv = servers.fault("normal")
    local s, err = mailcast.session(route(srv, { implicit_tls = true, tls = "required", timeouts = FAST }))
    srv:stop()
    assert.is_nil(s)
    assert.equal("tls: negotiation: the server does not speak TLS on this port (it answered in plain text)", err)
  end)

  it("refuses a self-signed certificate under verify and sends nothing", function()
    local srv = servers.fault("tls_bad_cert")
    local r = send_one(srv, { tls = "verify", ca_file = srv.ca })
    srv:stop()
    assert.equal("deferred", r.status)
    assert.matches("^tls: .*certificate verify failed", r.recipients[1].text)
    assert.is_nil(find(srv:transcript(), function(l) return l:match("^MAIL") end))
  end)

  for _, case in ipairs {
    { "EHLO", "^timeout: no reply to EHLO" },
    { "MAIL", "^timeout: no reply to MAIL" },
    { "RCPT", "^timeout: no reply to RCPT" },
    { "DATA", "^timeout: no reply to DATA" },
    { "DOT", "^timeout: no reply to end of data" },
  } do
    it("times out a server that stops answering at " .. case[1] .. " and reports nothing sent", function()
      local srv = servers.fault("stall_after", { command = case[1] })
      local r = send_one(srv, { timeouts = FAST })
      srv:stop()
      assert.equal("deferred", r.status)
      assert.equal(0, r.recipients[1].code)
      assert.matches(case[2], r.recipients[1].text)
    end)
  end

  it("times out a server that stops reading the data", function()
    local srv = servers.fault("stop_reading_in_data")
    -- Under the server's SIZE, and more than the socket buffers hold.
    local big = { message = message(1, { attachments = { { data = string.rep("x", 600 * 1024), filename = "big.bin" } } }) }
    local r = send_one(srv, { timeouts = FAST }, big)
    srv:stop()
    assert.equal("deferred", r.status)
    assert.matches("^timeout", r.recipients[1].text)
  end)

  it("defers everything when the greeting is 421", function()
    local srv = servers.fault("greeting_421")
    local r = send_one(srv)
    srv:stop()
    assert.equal("deferred", r.status)
    assert.equal(421, r.recipients[1].code)
  end)

  it("gives each recipient the server's own answer", function()
    local srv = servers.fault("rcpt_codes", { codes = {
      ["full@example.org"] = "452 4.2.2 Mailbox full", ["gone@example.org"] = "550 5.1.1 No such user",
      ["grey@example.org"] = "451 4.7.1 Greylisted, try again later" } })
    local r = send_one(srv, nil, { message = message(1, { to = { "ok@example.org", "full@example.org",
                                                                 "gone@example.org", "grey@example.org" } }) })
    srv:stop()
    assert.equal("partial", r.status)
    local by = {}
    for _, rc in ipairs(r.recipients) do by[rc.address] = rc end
    assert.same({ "sent", 250 }, { by["ok@example.org"].status, by["ok@example.org"].code })
    assert.same({ "deferred", 452, "4.2.2", "Mailbox full" },
      { by["full@example.org"].status, by["full@example.org"].code, by["full@example.org"].enhanced, by["full@example.org"].text })
    assert.same({ "failed", 550, "5.1.1" }, { by["gone@example.org"].status, by["gone@example.org"].code, by["gone@example.org"].enhanced })
    assert.same({ "deferred", 451 }, { by["grey@example.org"].status, by["grey@example.org"].code })
  end)

  it("does not send data when every recipient is refused", function()
    local srv = servers.fault("rcpt_codes", { codes = { ["gone@example.org"] = "550 5.1.1 No such user" } })
    local r = send_one(srv, nil, { message = message(1, { to = "gone@example.org" }) })
    srv:stop()
    assert.equal("failed", r.status)
    assert.is_nil(find(srv:transcript(), function(l) return l:match("^Subject:") end))
  end)

  for _, reply in ipairs { "552 5.3.4 Message too big", "554 5.7.1 Rejected" } do
    it("fails the message on " .. reply:sub(1, 3) .. " at the end of the data", function()
      local srv = servers.fault("data_end_code", { reply = reply })
      local r = send_one(srv)
      srv:stop()
      assert.equal("failed", r.status)
      assert.equal(tonumber(reply:sub(1, 3)), r.recipients[1].code)
      assert.equal(reply:sub(5, 9), r.recipients[1].enhanced)
    end)
  end

  it("defers a message whose connection drops in the middle of the data", function()
    local srv = servers.fault("drop_in_data", { bytes = 100 })
    local r = send_one(srv)
    srv:stop()
    assert.equal("deferred", r.status)
    assert.equal(0, r.recipients[1].code)
    assert.matches("^closed", r.recipients[1].text)
  end)

  it("stops at a reply nobody asked for instead of matching replies out of order", function()
    local srv = servers.fault("extra_reply", { command = "MAIL" })
    local r = send_one(srv)
    srv:stop()
    assert.are_not.equal("sent", r.status)
    assert.is_false(r.recipients[1].status == "sent")
  end)

  -- A second 250 to the final dot looks like the reply to the next
  -- pipelined MAIL: the shift shows at the next command whose reply
  -- cannot fit (DATA's 354), and that session ends there.
  it("never counts a message sent on a duplicate reply to the end of data, and defers the one it shifted", function()
    local srv = servers.fault("extra_reply", { command = "DOT" })
    local list = {}
    for i = 1, 4 do
      list[i] = { from = "a@example.com", to = { "u" .. i .. "@example.org" },
                  message = "Subject: " .. i .. "\r\n\r\nbody " .. i .. "\r\n" }
    end
    local results = assert(mailcast.send(route(srv), list, { connections = 1, messages_per_connection = 10 }))
    local lines = srv:transcript()
    srv:stop()
    local bodies = {}
    for _, l in ipairs(lines) do
      local n = l:match("^body (%d)$")
      if n then bodies[tonumber(n)] = (bodies[tonumber(n)] or 0) + 1 end
    end
    for i, r in ipairs(results) do
      if r.status == "sent" then
        assert.equal(1, bodies[i], "message " .. i .. " counted sent, but its data went " .. tostring(bodies[i]) .. " times")
      else
        assert.equal("deferred", r.status)
        assert.is_nil(bodies[i], "message " .. i .. " deferred after its data was sent")
      end
    end
    -- (The session pipelines the next MAIL after the dot: the duplicate
    -- is taken as its reply, and the DATA after it gets a 250.)
    assert.equal("sent", results[1].status)
    assert.equal("deferred", results[2].status)
    assert.matches("unexpected 250 reply to DATA", results[2].recipients[1].text)
  end)

  it("cuts off an enormous multi-line reply", function()
    local srv = servers.fault("enormous_reply", { size = 1024 * 1024 })
    local s, err = mailcast.session(route(srv))
    srv:stop()
    assert.is_nil(s)
    assert.matches("^smtp: reply longer than", err)
  end)

  it("cuts off a reply line of a megabyte", function()
    local srv = servers.fault("endless_line", { size = 1024 * 1024 })
    local s, err = mailcast.session(route(srv))
    srv:stop()
    assert.is_nil(s)
    assert.matches("^smtp: reply line longer than", err)
  end)

  it("refuses garbage as a reply", function()
    local srv = servers.fault("garbage")
    local s, err = mailcast.session(route(srv))
    srv:stop()
    assert.is_nil(s)
    assert.matches("^smtp: not an SMTP reply", err)
  end)

  it("falls back to HELO for a server that does not know EHLO", function()
    local srv = servers.fault("no_esmtp")
    local r = send_one(srv)
    srv:stop()
    assert.equal("sent", r.status)
    assert.truthy(find(srv:transcript(), function(l) return l == "HELO client.test" end))
  end)

  it("refuses a message larger than the server's SIZE before sending it", function()
    local srv = servers.fault("normal")
    local big = { message = message(1, { attachments = { { data = string.rep("y", 1100000), filename = "big.bin" } } }) }
    local r = send_one(srv, nil, big)
    srv:stop()
    assert.equal("failed", r.status)
    assert.same({ 552, "5.3.4" }, { r.recipients[1].code, r.recipients[1].enhanced })
    assert.is_nil(find(srv:transcript(), function(l) return l:match("^MAIL") end))
  end)

  it("reconnects after a server's 421 and slows down, still delivering everything", function()
    local srv = servers.fault("max_messages", { n = 2 })
    local list = {}
    for i = 1, 6 do list[i] = { message = message(i) } end
    local results, state = assert(mailcast.send(route(srv), list, { connections = 2, messages_per_connection = 10 }))
    srv:stop()
    -- a job refused with the 421 goes again on a new connection
    for _, r in ipairs(results) do assert.equal("sent", r.status) end
    assert.is_true(state.backoffs >= 1)
    assert.is_true(state.connections < 2, "connections: " .. state.connections)
  end)

  -- stall_after MAIL never answers MAIL but keeps logging what arrives:
  -- only a pipelining client has sent RCPT and DATA without waiting.
  it("pipelines MAIL, RCPT and DATA in one write when the server offers it", function()
    local srv = servers.fault("stall_after", { command = "MAIL" })
    send_one(srv, { timeouts = FAST }, { message = message(1, { to = { "a@example.org", "b@example.org" } }) })
    srv:stop()
    local t = srv:transcript()
    assert.same({ "RCPT TO:<a@example.org>", "RCPT TO:<b@example.org>", "DATA" }, { t[3], t[4], t[5] })
  end)

  -- RFC 2920 3.1: the message content may open a group of commands, so
  -- the next transaction's MAIL, RCPT and DATA go right behind the end of
  -- the data, before its reply. Each keeps its own outcome.
  describe("with the next transaction sent ahead", function()
    local function send_list(srv, list, extra)
      return assert(mailcast.send(route(srv, extra), list,
        { connections = 1, messages_per_connection = 10, connect_attempts = 1 }))
    end

    it("sends it behind the data of the one before, without waiting for its reply", function()
      local srv = servers.fault("stall_after", { command = "DOT" })
      local results = send_list(srv, { { message = message(1) }, { message = message(2) } }, { timeouts = FAST })
      srv:stop()
      local t = srv:transcript()
      local dot
      for i, l in ipairs(t) do if l == "." then dot = i break end end
      assert.truthy(dot)
      assert.matches("^MAIL FROM:<news@example.com>", t[dot + 1])
      assert.same({ "RCPT TO:<user2@example.org>", "DATA" }, { t[dot + 2], t[dot + 3] })
      -- Nothing was answered: neither is sent, both wait for a retry.
      for _, r in ipairs(results) do
        assert.equal("deferred", r.status)
        assert.equal(0, r.recipients[1].code)
        assert.matches("^timeout: no reply to end of data", r.recipients[1].text)
      end
    end)

    it("delivers the one before when the connection drops in the data of the one ahead", function()
      local srv = servers.fault("drop_in_data", { bytes = 100, after = 1 })
      local results = send_list(srv, { { message = message(1) }, { message = message(2) } })
      srv:stop()
      assert.same({ "sent", 250 }, { results[1].status, results[1].recipients[1].code })
      assert.equal("deferred", results[2].status)
      assert.equal(0, results[2].recipients[1].code)
      assert.matches("^closed", results[2].recipients[1].text)
    end)

    it("gives the one ahead its own refusal and goes on after it", function()
      local srv = servers.fault("rcpt_codes", { codes = { ["gone@example.org"] = "550 5.1.1 No such user" } })
      local results = send_list(srv, { { message = message(1) }, { message = message(2, { to = "gone@example.org" }) },
                                       { message = message(3) } })
      srv:stop()
      assert.same({ "sent", "failed", "sent" }, { results[1].status, results[2].status, results[3].status })
      assert.same({ 550, "5.1.1" }, { results[2].recipients[1].code, results[2].recipients[1].enhanced })
      -- The refused one's data was never sent: its DATA got 554, then RSET.
      assert.equal(2, count(srv:transcript(), function(l) return l:match("^Subject:") end))
    end)

    it("sends the one ahead again on a new connection when its MAIL gets a 421", function()
      local srv = servers.fault("max_messages", { n = 1 })
      local list = {}
      for i = 1, 4 do list[i] = { message = message(i) } end
      local results, state = send_list(srv, list)
      srv:stop()
      assert.same({ "sent", 1 }, { results[1].status, results[1].attempts })
      assert.same({ "sent", 250, 2 }, { results[2].status, results[2].recipients[1].code, results[2].attempts })
      assert.is_true(state.backoffs >= 1)
      assert.equal(4, srv:connections())
    end)

    -- With CHUNKING the next message is written whole as it is sent
    -- ahead: one that cannot be written (its streamed file is gone) is
    -- refused there and goes alone, not failing the one in front of it.
    it("keeps a message that cannot be written from failing the one in front (BDAT)", function()
      local srv = servers.fault("normal", { chunking = true })
      local path = os.tmpname()
      local f = assert(io.open(path, "wb"))
      f:write(string.rep("z", 5000))
      f:close()
      local second = assert(mailcast.build(message(2, { attachments = { { path = path, stream = true } } })))
      os.remove(path)
      local results = send_list(srv, { { message = message(1) },
        { message = second, from = "news@example.com", to = "user2@example.org" }, { message = message(3) } })
      srv:stop()
      assert.same({ "sent", "sent" }, { results[1].status, results[3].status })
      assert.are_not.equal("sent", results[2].status)
      assert.matches("cannot open", results[2].recipients[1].text)
    end)

    -- Too big for the server's SIZE: refused before it could go ahead,
    -- it goes alone and gets its 552 there; the others are not held up.
    it("refuses a message too big to go ahead on its own turn, and sends the rest", function()
      local srv = servers.fault("normal")
      local big = message(2, { attachments = { { data = string.rep("y", 1100000), filename = "big.bin" } } })
      local results = send_list(srv, { { message = message(1) }, { message = big }, { message = message(3) } })
      srv:stop()
      assert.same({ "sent", "failed", "sent" }, { results[1].status, results[2].status, results[3].status })
      assert.same({ 552, "5.3.4" }, { results[2].recipients[1].code, results[2].recipients[1].enhanced })
      assert.equal(2, count(srv:transcript(), function(l) return l:match("^MAIL") end))
    end)

    it("still says QUIT after messages_per_connection transactions", function()
      local srv = servers.fault("normal")
      local list = {}
      for i = 1, 5 do list[i] = { message = message(i) } end
      local results, state = assert(mailcast.send(route(srv), list, { connections = 1, messages_per_connection = 2 }))
      srv:stop()
      for _, r in ipairs(results) do assert.equal("sent", r.status) end
      assert.equal(3, state.sessions)
      assert.equal(3, count(srv:transcript(), function(l) return l == "QUIT" end))
    end)
  end)

  it("authenticates with an OAuth token through XOAUTH2", function()
    local srv = servers.fault("normal", { oauth = { user = "alice@example.com", token = "ya29.token" } })
    local s = assert(mailcast.session(route(srv, { user = "alice@example.com", oauth_token = "ya29.token",
                                                   tls = "none", allow_plaintext_auth = true })))
    assert.equal("XOAUTH2", s:auth())
    s:quit()
    srv:stop()
    assert.truthy(find(srv:events(), function(e) return e.text == "auth XOAUTH2 alice@example.com" end))
  end)

  it("reports a refused OAuth token after the server's error challenge", function()
    local srv = servers.fault("normal", { oauth = { user = "alice@example.com", token = "ya29.token" } })
    local s, err, code = mailcast.session(route(srv, { user = "alice@example.com", oauth_token = "expired",
                                                       tls = "none", allow_plaintext_auth = true }))
    srv:stop()
    assert.is_nil(s)
    assert.equal(535, code)
    assert.matches("^smtp: auth: refused: 535 5.7.8", err)
    assert.not_matches("expired", err)
  end)

  it("sends the message as one BDAT chunk when the server offers CHUNKING", function()
    local srv = servers.fault("normal", { chunking = true })
    local raw = "Subject: chunk\r\n\r\n.a dot stays single\r\nbare\nend"
    local r = send_one(srv, nil, { message = raw, from = "a@example.com", to = { "x@example.org", "y@example.org" } })
    srv:stop()
    assert.equal("sent", r.status)
    local t = srv:transcript()
    local want = "Subject: chunk\r\n\r\n.a dot stays single\r\nbare\r\nend\r\n"
    assert.equal("BDAT " .. #want .. " LAST", t[5])
    assert.same({ "Subject: chunk", "", ".a dot stays single", "bare", "end" }, { t[6], t[7], t[8], t[9], t[10] })
    assert.is_nil(find(t, function(l) return l == "DATA" end))
  end)

  it("reports recipients refused before a BDAT chunk with their own replies", function()
    local srv = servers.fault("rcpt_codes", { chunking = true, codes = { ["gone@example.org"] = "550 5.1.1 No such user" } })
    local r = send_one(srv, nil, { message = message(1, { to = { "ok@example.org", "gone@example.org" } }) })
    local none = send_one(srv, nil, { message = message(2, { to = "gone@example.org" }) })
    srv:stop()
    assert.equal("partial", r.status)
    assert.same({ "sent", "failed" }, { r.recipients[1].status, r.recipients[2].status })
    assert.same({ "failed", 550 }, { none.status, none.recipients[1].code })
  end)

  it("uses DATA when the route turns chunking off", function()
    local srv = servers.fault("normal", { chunking = true })
    local r = send_one(srv, { chunking = false })
    srv:stop()
    assert.equal("sent", r.status)
    assert.truthy(find(srv:transcript(), function(l) return l == "DATA" end))
  end)

  it("waits for each reply when the route turns pipelining off", function()
    local srv = servers.fault("stall_after", { command = "MAIL" })
    send_one(srv, { pipelining = false, timeouts = FAST }, { message = message(1, { to = { "a@example.org", "b@example.org" } }) })
    srv:stop()
    local t = srv:transcript()
    assert.equal(2, #t)
    assert.matches("^MAIL FROM:<news@example.com>", t[2])
  end)
end)
