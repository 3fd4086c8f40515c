-- The test servers themselves (spec/support/servers.lua and what it
-- starts) do what they are documented to do, checked with a plain
-- LuaSocket/LuaSec client, so a failing SMTP-client spec can trust them.
local socket = require "socket"
local ssl = require "ssl"
local servers = require "support.servers"
local certs = require "support.certs"

local HOST = "127.0.0.1"

-- Every server started here, to prove at the end that none is left.
local all = {}

local function track(srv)
  all[#all + 1] = { pid = srv.pid, dir = srv.dir }
  return srv
end

local function fault(scenario, opts)
  opts = opts or {}
  opts.lifetime = opts.lifetime or 10
  return track(servers.fault(scenario, opts))
end


-- Client helpers ------------------------------------------------------------

local function connect(port, timeout)
  local c = assert(socket.connect(HOST, port))
  c:settimeout(timeout or 3)
  return c
end


-- Reads one reply; returns its code and its lines (code and separator
-- stripped), or nil and the error ("timeout", "closed", "not a reply: ...").
local function reply(c)
  local lines = {}
  while true do
    local l, err = c:receive("*l")
    if not l then return nil, err end
    local code, sep, text = l:match("^(%d%d%d)([ -]?)(.*)$")
    if not code then return nil, "not a reply: " .. l end
    lines[#lines + 1] = text
    if sep ~= "-" then return tonumber(code), lines end
  end
end


local function cmd(c, line)
  assert(c:send(line .. "\r\n"))
  return reply(c)
end


-- Reads the greeting and says EHLO; returns the EHLO reply's lines.
local function hello(c)
  assert.equal(220, (reply(c)))
  local code, lines = cmd(c, "EHLO client.test")
  assert.equal(250, code)
  return lines
end


-- One whole transaction; returns the code after the final dot.
local function transaction(c, from, rcpts, body)
  assert.equal(250, (cmd(c, "MAIL FROM:<" .. from .. ">")))
  for _, r in ipairs(rcpts) do assert.equal(250, (cmd(c, "RCPT TO:<" .. r .. ">"))) end
  assert.equal(354, (cmd(c, "DATA")))
  local code, err = cmd(c, body .. ".")
  if code then return code end
  return nil, err
end


local function has(list, value)
  for _, v in ipairs(list) do if v == value then return true end end
  return false
end


-- STARTTLS on c (after EHLO); returns the TLS connection or nil, err.
local function starttls(c, ca)
  assert.equal(220, (cmd(c, "STARTTLS")))
  return ssl.wrap(c, { mode = "client", protocol = "any", verify = "peer", cafile = ca, options = "all" })
end


local function handshake(t)
  if not t then return nil end
  t:settimeout(3)
  local ok, err = t:dohandshake()
  if not ok then return nil, err end
  return t
end


local function tls_connect(port, ca)
  local c = connect(port)
  return handshake(assert(ssl.wrap(c, { mode = "client", protocol = "any", verify = "peer", cafile = ca,
    options = "all" })))
end


local function kinds(srv, kind)
  local out = {}
  for _, e in ipairs(srv:events()) do
    if e.kind == kind then out[#out + 1] = e.text end
  end
  return out
end


-- Certificates ----------------------------------------------------------------

describe("certs", function()
  local dir, set

  setup(function()
    local p = io.popen("mktemp -d")
    dir = p:read("l")
    p:close()
    set = certs.localhost(dir)
  end)

  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("signs a certificate for localhost and 127.0.0.1 that verifies against its CA", function()
    assert.is_true(certs.verify(set.cert, set.ca, "localhost"))
    assert.is_true(certs.verify(set.cert, set.ca, "127.0.0.1"))
  end)

  it("signs a certificate for the wrong name that fails the host name check", function()
    assert.is_true(certs.verify(set.wrong_cert, set.ca))
    local ok, msg = certs.verify(set.wrong_cert, set.ca, "localhost")
    assert.is_false(ok)
    assert.matches("hostname mismatch", msg)
  end)

  it("makes a self-signed certificate the CA does not vouch for", function()
    local ok, msg = certs.verify(set.self_cert, set.ca)
    assert.is_false(ok)
    assert.matches("self.signed", msg)
    assert.is_true(certs.verify(set.self_cert, set.self_cert, "wrong.example"))
  end)
end)


-- The fault server --------------------------------------------------------------

describe("servers.fault", function()
  it("greets, lists its extensions and records a whole transaction in order", function()
    local srv <close> = fault("normal")
    local c = connect(srv.port)
    local ext = hello(c)
    for _, e in ipairs({ "PIPELINING", "SIZE 1000000", "8BITMIME", "ENHANCEDSTATUSCODES" }) do
      assert.is_true(has(ext, e), e)
    end
    assert.is_false(has(ext, "STARTTLS"))
    assert.equal(250, transaction(c, "a@x.test", { "b@y.test" }, "Subject: hi\r\n\r\n..dot\r\nbody\r\n"))
    assert.equal(221, (cmd(c, "QUIT")))
    c:close()
    assert.same({ "EHLO client.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@y.test>", "DATA",
      "Subject: hi", "", "..dot", "body", ".", "QUIT" }, srv:transcript())
    assert.equal(1, srv:connections())
  end)

  it("answers pipelined commands that arrive in one packet in order", function()
    local srv <close> = fault("normal")
    local c = connect(srv.port)
    hello(c)
    assert(c:send("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y> NOTIFY=NEVER\r\nRCPT TO:<d@y>\r\nDATA\r\n"))
    local codes = {}
    for i = 1, 5 do codes[i] = reply(c) end
    assert.same({ 250, 250, 555, 250, 354 }, codes)
    assert.equal(250, (cmd(c, "x\r\n.")))
    assert.same({ "EHLO client.test", "MAIL FROM:<a@x>", "RCPT TO:<b@y>", "RCPT TO:<c@y> NOTIFY=NEVER",
      "RCPT TO:<d@y>", "DATA", "x", "." }, srv:transcript())
  end)

  it("keeps line endings in the raw transcript", function()
    local srv <close> = fault("normal")
    local c = connect(srv.port)
    hello(c)
    assert(c:send("NOOP\n"))
    assert.equal(250, (reply(c)))
    assert.same({ "EHLO client.test\r\n", "NOOP\n" }, srv:transcript({ raw = true }))
  end)

  it("ends the message only at CRLF.CRLF, not at a bare-LF dot", function()
    local srv <close> = fault("normal")
    local c = connect(srv.port)
    hello(c)
    cmd(c, "MAIL FROM:<a@x>")
    cmd(c, "RCPT TO:<b@y>")
    assert.equal(354, (cmd(c, "DATA")))
    assert(c:send("hi\r\n.\n"))
    c:settimeout(0.3)   -- only the silence is timed: a slow machine may take longer to answer
    assert.same({ nil, "timeout" }, { reply(c) })
    c:settimeout(3)
    assert.equal(250, (cmd(c, ".")))
    assert.same({ "hi\r\n", ".\n", ".\r\n" }, { table.unpack(srv:transcript({ raw = true }), 5) })
  end)

  it("counts connections, serves opts.connections and then exits", function()
    local srv <close> = fault("normal", { connections = 2 })
    for _ = 1, 2 do
      local c = connect(srv.port)
      hello(c)
      cmd(c, "QUIT")
      c:close()
    end
    assert.truthy(srv:wait(function(s) return not s:alive() end, 3))
    assert.equal(2, srv:connections())
    assert.same({ 2, 2 }, { #srv:transcript(1), #srv:transcript(2) })
  end)

  it("exits by itself when its lifetime ends, and keeps its transcript after stop", function()
    local srv <close> = fault("normal", { lifetime = 2 })
    local c = connect(srv.port)
    hello(c)
    assert.truthy(srv:wait(function(s) return not s:alive() end, 8))
    srv:stop()
    assert.same({ "EHLO client.test" }, srv:transcript())
    assert.is_nil(socket.connect(HOST, srv.port))
  end)

  it("slow_greeting waits opts.delay seconds before the 220", function()
    local srv <close> = fault("slow_greeting", { delay = 0.5 })
    local t0 = socket.gettime()
    local c = connect(srv.port)
    assert.equal(220, (reply(c)))
    assert.is_true(socket.gettime() - t0 >= 0.45)
  end)

  it("silent_greeting never speaks but records what the client sends", function()
    local srv <close> = fault("silent_greeting")
    local c = connect(srv.port, 0.3)
    assert.same({ nil, "timeout" }, { reply(c) })
    assert(c:send("EHLO client.test\r\n"))
    assert.truthy(srv:wait(function(s) return #s:transcript() == 1 end))
    assert.same({ nil, "timeout" }, { reply(c) })
  end)

  it("stall_after never answers the named command", function()
    local srv <close> = fault("stall_after", { command = "RCPT" })
    local c = connect(srv.port)
    hello(c)
    assert.equal(250, (cmd(c, "MAIL FROM:<a@x>")))
    c:settimeout(0.3)
    assert.same({ nil, "timeout" }, { cmd(c, "RCPT TO:<b@y>") })
    assert.truthy(srv:wait(function(s) return s:transcript()[3] == "RCPT TO:<b@y>" end))
  end)

  it("stall_after DOT takes the message and never answers the final dot", function()
    local srv <close> = fault("stall_after", { command = "DOT" })
    local c = connect(srv.port)
    hello(c)
    assert.equal(250, (cmd(c, "MAIL FROM:<a@x>")))
    assert.equal(250, (cmd(c, "RCPT TO:<b@y>")))
    assert.equal(354, (cmd(c, "DATA")))
    c:settimeout(0.3)
    assert.same({ nil, "timeout" }, { cmd(c, "hi\r\n.") })
    assert.same({ "hi", "." }, { table.unpack(srv:transcript(), 5) })
  end)

  it("stop_reading_in_data stops reading after the 354, so the client's writes block", function()
    local srv <close> = fault("stop_reading_in_data")
    local c = assert(socket.tcp4())
    c:setoption("send-buffer-size", 4096)
    assert(c:connect(HOST, srv.port))
    c:settimeout(3)
    hello(c)
    assert.equal(250, (cmd(c, "MAIL FROM:<a@x>")))
    assert.equal(250, (cmd(c, "RCPT TO:<b@y>")))
    assert.equal(354, (cmd(c, "DATA")))
    local data = string.rep(string.rep("x", 998) .. "\r\n", 4096)   -- 4 MB
    c:settimeout(0.5)
    local last, err, sent = c:send(data)
    assert.is_nil(last)
    assert.equal("timeout", err)
    assert.is_true(sent < #data / 4)
    assert.same({ "stop reading" }, kinds(srv, "event"))
    c:close()
  end)

  it("greeting_421 greets with 421 and closes", function()
    local srv <close> = fault("greeting_421")
    local c = connect(srv.port)
    assert.equal(421, (reply(c)))
    assert.same({ nil, "closed" }, { reply(c) })
  end)

  it("rcpt_codes answers each recipient with its configured reply", function()
    local srv <close> = fault("rcpt_codes", { codes = {
      ["full@x"] = "452 4.2.2 Mailbox full", ["gone@x"] = "550 5.1.1 No such user" } })
    local c = connect(srv.port)
    hello(c)
    cmd(c, "MAIL FROM:<a@x>")
    local code, lines = cmd(c, "RCPT TO:<full@x>")
    assert.same({ 452, "4.2.2 Mailbox full" }, { code, lines[1] })
    assert.equal(550, (cmd(c, "RCPT TO:<gone@x>")))
    assert.equal(554, (cmd(c, "DATA")))             -- no valid recipient yet
    assert.equal(250, (cmd(c, "RCPT TO:<ok@x>")))
    assert.equal(354, (cmd(c, "DATA")))
  end)

  it("data_end_code answers the final dot with opts.reply", function()
    local srv <close> = fault("data_end_code", { reply = "552 5.3.4 Message too big" })
    local c = connect(srv.port)
    hello(c)
    assert.equal(552, transaction(c, "a@x", { "b@y" }, "hi\r\n"))
    assert.equal(250, (cmd(c, "MAIL FROM:<a@x>")))  -- the session goes on
  end)

  it("drop_in_data closes the connection after opts.bytes of message data", function()
    local srv <close> = fault("drop_in_data", { bytes = 100 })
    local c = connect(srv.port)
    hello(c)
    cmd(c, "MAIL FROM:<a@x>")
    cmd(c, "RCPT TO:<b@y>")
    assert.equal(354, (cmd(c, "DATA")))
    c:send(string.rep("0123456789012345678\r\n", 10))
    local code, err = reply(c)
    assert.is_nil(code)
    assert.is_truthy(err == "closed" or err:match("reset"), err)
    assert.equal(5, #srv:transcript() - 4)           -- 5 lines of 21 bytes >= 100
    assert.same({ "drop after 105 bytes" }, kinds(srv, "event"))
  end)

  it("extra_reply answers one pipelined command twice", function()
    local srv <close> = fault("extra_reply", { command = "MAIL", reply = "250 2.1.0 Sender ok again" })
    local c = connect(srv.port)
    hello(c)
    c:send("MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n")
    local _, first = reply(c)
    local _, second = reply(c)
    local _, third = reply(c)
    assert.same({ "2.1.0 Ok", "2.1.0 Sender ok again", "2.1.5 Ok" }, { first[1], second[1], third[1] })
  end)

  it("enormous_reply answers EHLO with opts.size bytes of 250- lines", function()
    local srv <close> = fault("enormous_reply")
    local c = connect(srv.port)
    reply(c)
    c:send("EHLO client.test\r\n")
    local size, n = 0, 0
    while true do
      local l = assert(c:receive("*l"))
      size, n = size + #l + 2, n + 1
      if l:match("^250 ") then break end
      assert.matches("^250%-", l)
    end
    assert.is_true(size >= 1024 * 1024)
    assert.is_true(n > 10000)
  end)

  it("endless_line sends one line of opts.size bytes without CRLF", function()
    local srv <close> = fault("endless_line", { size = 100000 })
    local c = connect(srv.port)
    reply(c)
    c:send("EHLO client.test\r\n")
    local data = assert(c:receive(100000))
    assert.is_nil(data:find("\n", 1, true))
    assert.equal("250 x", data:sub(1, 5))
    c:settimeout(0.2)
    assert.same({ nil, "timeout", "" }, { c:receive(1) })
  end)

  it("garbage answers with random binary bytes", function()
    local srv <close> = fault("garbage", { size = 512 })
    local c = connect(srv.port)
    reply(c)
    c:send("EHLO client.test\r\n")
    local data = assert(c:receive(512))
    assert.is_true(data:byte(1) >= 128)
    assert.is_nil(data:match("^%d%d%d[ -]"))
  end)

  it("no_esmtp refuses EHLO, accepts HELO and refuses MAIL parameters", function()
    local srv <close> = fault("no_esmtp")
    local c = connect(srv.port)
    reply(c)
    assert.equal(500, (cmd(c, "EHLO client.test")))
    assert.equal(250, (cmd(c, "HELO client.test")))
    assert.equal(501, (cmd(c, "MAIL FROM:<a@x> BODY=8BITMIME")))
    assert.equal(250, transaction(c, "a@x", { "b@y" }, "hi\r\n"))
  end)

  it("max_messages sends 421 at the MAIL after opts.n transactions and closes", function()
    local srv <close> = fault("max_messages", { n = 2 })
    local c = connect(srv.port)
    hello(c)
    assert.equal(250, transaction(c, "a@x", { "b@y" }, "one\r\n"))
    assert.equal(250, transaction(c, "a@x", { "b@y" }, "two\r\n"))
    assert.equal(421, (cmd(c, "MAIL FROM:<a@x>")))
    assert.same({ nil, "closed" }, { reply(c) })
  end)

  it("idle_timeout sends 421 and closes after opts.idle seconds without a command", function()
    local srv <close> = fault("idle_timeout", { idle = 0.3 })
    local c = connect(srv.port)
    hello(c)
    local code, lines = reply(c)
    assert.same({ 421, "4.4.2 fault.test Error: timeout exceeded" }, { code, lines[1] })
  end)

  it("disconnect_after closes without answering the named command", function()
    local srv <close> = fault("disconnect_after", { command = "DOT" })
    local c = connect(srv.port)
    hello(c)
    assert.same({ nil, "closed" }, { transaction(c, "a@x", { "b@y" }, "hi\r\n") })
  end)

  it("slow_reply waits opts.delay seconds before answering the named command", function()
    local srv <close> = fault("slow_reply", { command = "MAIL", delay = 0.4 })
    local c = connect(srv.port)
    hello(c)
    local t0 = socket.gettime()
    assert.equal(250, (cmd(c, "MAIL FROM:<a@x>")))
    assert.is_true(socket.gettime() - t0 >= 0.35)
  end)

  it("connection_limit refuses a session beyond opts.max with 421, or by closing, until one ends", function()
    for _, refuse in ipairs { "421", "close" } do
      local srv <close> = fault("connection_limit", { max = 2, refuse = refuse })
      local one, two = connect(srv.port), connect(srv.port)
      hello(one)
      hello(two)
      local three = connect(srv.port)
      local code, lines = reply(three)
      if refuse == "421" then
        assert.same({ 421, "4.7.0 fault.test Error: too many connections from 127.0.0.1" }, { code, lines[1] })
        assert.same({ nil, "closed" }, { reply(three) })
      else
        assert.same({ nil, "closed" }, { code, lines })
      end
      assert.equal(221, (cmd(one, "QUIT")))
      local four = connect(srv.port)
      hello(four)
      assert.equal(250, transaction(four, "a@x", { "b@y" }, "hi\r\n"))
    end
  end)

  it("rate_limit answers 451 beyond opts.rate messages a second, and takes them again later", function()
    local srv <close> = fault("rate_limit", { rate = 2, burst = 2 })
    local c = connect(srv.port)
    hello(c)
    assert.equal(250, transaction(c, "a@x", { "b@y" }, "one\r\n"))
    assert.equal(250, transaction(c, "a@x", { "b@y" }, "two\r\n"))
    local code, lines = cmd(c, "MAIL FROM:<a@x>")
    assert.same({ 451, "4.7.1 Rate limit exceeded, try again later" }, { code, lines[1] })
    socket.sleep(0.6)   -- half a second earns one message
    assert.equal(250, transaction(c, "a@x", { "b@y" }, "three\r\n"))
  end)

  it("opts.replies fixes the reply to a command in any scenario", function()
    local srv <close> = fault("normal", { replies = { MAIL = "451 4.3.0 Try again later" } })
    local c = connect(srv.port)
    hello(c)
    assert.equal(451, (cmd(c, "MAIL FROM:<a@x>")))
    assert.equal(503, (cmd(c, "RCPT TO:<b@y>")))     -- no transaction started
  end)

  it("offers STARTTLS with a certificate that verifies against server.ca", function()
    local srv <close> = fault("normal", { tls = true })
    local c = connect(srv.port)
    assert.is_true(has(hello(c), "STARTTLS"))
    local t = assert(handshake(starttls(c, srv.ca)))
    local code, ext = cmd(t, "EHLO client.test")
    assert.equal(250, code)
    assert.is_false(has(ext, "STARTTLS"))
    assert.equal(250, transaction(t, "a@x", { "b@y" }, "secret\r\n"))
    assert.same({ "EHLO client.test", "STARTTLS", "EHLO client.test" }, { table.unpack(srv:transcript(), 1, 3) })
    assert.matches("^TLSv1%.[23] ", kinds(srv, "tls")[1])
  end)

  it("discards plaintext pipelined after STARTTLS", function()
    local srv <close> = fault("normal", { tls = true })
    local c = connect(srv.port)
    hello(c)
    c:send("STARTTLS\r\nMAIL FROM:<injected@x>\r\n")
    assert.equal(220, (reply(c)))
    local t = assert(handshake(ssl.wrap(c, { mode = "client", protocol = "any", verify = "peer",
      cafile = srv.ca, options = "all" })))
    assert.equal(503, (cmd(t, "MAIL FROM:<a@x>")))   -- no EHLO since TLS: nothing injected
    assert.matches("^discarded 24 plaintext bytes", kinds(srv, "event")[1])
  end)

  it("speaks TLS from the first byte with implicit_tls", function()
    local srv <close> = fault("normal", { implicit_tls = true })
    local t = assert(tls_connect(srv.port, srv.ca))
    t:settimeout(3)
    assert.equal(220, (reply(t)))
    assert.equal(250, (cmd(t, "EHLO client.test")))
  end)

  it("tls_bad_cert offers a self-signed certificate that fails verification", function()
    local srv <close> = fault("tls_bad_cert")
    local c = connect(srv.port)
    assert.is_true(has(hello(c), "STARTTLS"))
    local t, err = handshake(starttls(c, srv.ca))
    assert.is_nil(t)
    assert.matches("certificate verify failed", err)
    assert.truthy(srv:wait(function(s) return kinds(s, "tls-error")[1] end))
  end)

  it("tls_bad_cert with cert_kind wrong_name offers a CA-signed certificate for another name", function()
    local srv <close> = fault("tls_bad_cert", { cert_kind = "wrong_name" })
    local c = connect(srv.port)
    hello(c)
    local t = assert(handshake(starttls(c, srv.ca)))  -- LuaSec checks the chain, not the name
    local san = t:getpeercertificate():extensions()["2.5.29.17"]
    assert.same({ "wrong.example" }, san.dNSName)
    assert.is_false(certs.verify(srv.cert, srv.ca, "localhost"))
  end)
end)


-- smtp-sink ---------------------------------------------------------------------------

describe("servers.sink", function()
  it("stores each message with its envelope", function()
    local srv <close> = track(servers.sink({ lifetime = 10 }))
    local c = connect(srv.port)
    hello(c)
    assert.equal(250, transaction(c, "a@x.test", { "b@y.test", "c@y.test" }, "Subject: one\r\n\r\n..dot\r\n"))
    assert.equal(250, transaction(c, "d@x.test", { "e@y.test" }, "Subject: two\r\n\r\nbody\r\n"))
    local m = srv:messages()
    assert.equal(2, #m)
    table.sort(m, function(a, b) return a.mail_from < b.mail_from end)  -- same-ms files: no order
    assert.same({ "a@x.test", { "b@y.test", "c@y.test" }, "client.test", "Subject: one\n\n.dot\n" },
      { m[1].mail_from, m[1].rcpt_tos, m[1].helo, m[1].data })
    assert.same({ "d@x.test", { "e@y.test" }, "Subject: two\n\nbody\n" },
      { m[2].mail_from, m[2].rcpt_tos, m[2].data })
    cmd(c, "QUIT")
    srv:stop()
    assert.equal(2, #srv:messages())
  end)

  it("passes feature options through to smtp-sink", function()
    local srv <close> = track(servers.sink({ lifetime = 10, pipelining = false, auth = false }))
    local c = connect(srv.port)
    local ext = hello(c)
    assert.is_false(has(ext, "PIPELINING"))
    assert.is_false(has(ext, "AUTH PLAIN LOGIN"))
    assert.is_true(has(ext, "8BITMIME"))
  end)

  it("rejects the commands given in reject", function()
    local srv <close> = track(servers.sink({ lifetime = 10, reject = "RCPT" }))
    local c = connect(srv.port)
    hello(c)
    assert.equal(250, (cmd(c, "MAIL FROM:<a@x>")))
    assert.equal(500, (cmd(c, "RCPT TO:<b@y>")))
    assert.same({}, srv:messages())
  end)
end)


-- aiosmtpd --------------------------------------------------------------------------

describe("servers.aiosmtpd", function()
  it("logs a plain message with its envelope, exact bytes, tls=false and no login", function()
    local srv <close> = track(servers.aiosmtpd({ lifetime = 10 }))
    local c = connect(srv.port)
    local ext = hello(c)
    assert.is_false(has(ext, "STARTTLS"))
    assert.equal(250, transaction(c, "a@x.test", { "b@y.test" }, "Subject: hi\r\n\r\n\200\255\r\n..x\r\n"))
    local m = srv:messages()
    assert.equal(1, #m)
    assert.same({ "a@x.test", { "b@y.test" }, "Subject: hi\r\n\r\n\200\255\r\n.x\r\n", false, nil },
      { m[1].mail_from, m[1].rcpt_tos, m[1].data, m[1].tls, m[1].login })
    assert.equal(1, srv:connections())
  end)

  it("does STARTTLS with a certificate that verifies against server.ca and logs tls=true", function()
    local srv <close> = track(servers.aiosmtpd({ lifetime = 10, tls = true }))
    local c = connect(srv.port)
    assert.is_true(has(hello(c), "STARTTLS"))
    local t = assert(handshake(starttls(c, srv.ca)))
    assert.equal(250, (cmd(t, "EHLO client.test")))
    assert.equal(250, transaction(t, "a@x", { "b@y" }, "hi\r\n"))
    local m = srv:messages()[1]
    assert.is_true(m.tls)
    assert.matches("^TLSv1%.[23]$", m.tls_version)
    assert.is_string(m.tls_cipher)
    assert.equal(1, srv:connections())
  end)

  it("takes AUTH PLAIN and LOGIN over TLS and logs the login", function()
    local srv <close> = track(servers.aiosmtpd({ lifetime = 10, tls = true, auth = { user = "u", password = "p w" } }))
    local mime = require "mime"
    for _, how in ipairs({ "PLAIN", "LOGIN" }) do
      local c = connect(srv.port)
      assert.is_false(has(hello(c), "AUTH LOGIN PLAIN"))   -- not before TLS
      local t = assert(handshake(starttls(c, srv.ca)))
      local _, ext = cmd(t, "EHLO client.test")
      assert.is_true(has(ext, "AUTH LOGIN PLAIN"))
      assert.equal(530, (cmd(t, "MAIL FROM:<a@x>")))     -- auth required
      if how == "PLAIN" then
        assert.equal(535, (cmd(t, "AUTH PLAIN " .. mime.b64("\0u\0wrong"))))
        assert.equal(235, (cmd(t, "AUTH PLAIN " .. mime.b64("\0u\0p w"))))
      else
        local code, lines = cmd(t, "AUTH LOGIN")
        assert.same({ 334, "Username:" }, { code, mime.unb64(lines[1]) })
        assert.equal(334, (cmd(t, mime.b64("u"))))
        assert.equal(235, (cmd(t, mime.b64("p w"))))
      end
      assert.equal(250, transaction(t, "a@x", { "b@y" }, how .. "\r\n"))
      t:close()
    end
    local m = srv:messages()
    assert.same({ "u", "u" }, { m[1].login, m[2].login })
    local a = srv:auths()
    assert.same({ false, true, true }, { a[1].success, a[2].success, a[3].success })
  end)

  it("refuses AUTH before STARTTLS unless auth_require_tls is false", function()
    local strict <close> = track(servers.aiosmtpd({ lifetime = 10, tls = true, auth = { user = "u", password = "p" } }))
    local c = connect(strict.port)
    hello(c)
    assert.equal(538, (cmd(c, "AUTH PLAIN AHUAcA==")))
    local lax <close> = track(servers.aiosmtpd({ lifetime = 10, auth = { user = "u", password = "p" },
      auth_require_tls = false }))
    c = connect(lax.port)
    assert.is_true(has(hello(c), "AUTH LOGIN PLAIN"))
    assert.equal(235, (cmd(c, "AUTH PLAIN AHUAcA==")))
  end)

  it("speaks TLS from the first byte with implicit_tls and allows AUTH there", function()
    local srv <close> = track(servers.aiosmtpd({ lifetime = 10, implicit_tls = true,
      auth = { user = "u", password = "p" } }))
    local t = assert(tls_connect(srv.port, srv.ca))
    assert.equal(220, (reply(t)))
    local _, ext = cmd(t, "EHLO client.test")
    assert.is_false(has(ext, "STARTTLS"))
    assert.equal(235, (cmd(t, "AUTH PLAIN AHUAcA==")))
    assert.equal(250, transaction(t, "a@x", { "b@y" }, "hi\r\n"))
    local m = srv:messages()[1]
    assert.same({ true, true, "u" }, { m.tls, m.implicit_tls, m.login })
  end)
end)


describe("the test servers", function()
  it("leave no process running once stopped", function()
    servers.stop_all()
    assert.is_true(#all > 20)
    for _, s in ipairs(all) do
      -- every server process has its directory on its command line; "[/]"
      -- keeps grep (and its shell) from matching their own command lines
      local p = io.popen("grep -ls '[/]" .. s.dir:sub(2):gsub("%.", "\\.") .. "' /proc/[0-9]*/cmdline")
      local out = p:read("a")
      p:close()
      assert.equal("", out, s.dir)
    end
  end)
end)
