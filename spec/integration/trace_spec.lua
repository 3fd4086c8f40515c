-- Transcripts of real sends: mailcast.send's trace function, `mailcast
-- run --trace`, and the transcript a recipient that was not delivered
-- keeps in the store (`mailcast status --recipient`), against `mailcast
-- sink` and aiosmtpd with STARTTLS and AUTH. No password anywhere.
local mailcast = require "mailcast"
local builtin_sink = require "support.builtin_sink"
local campaigns = require "support.campaign_scripts"
local mime = require "support.mime"
local servers = require "support.servers"

local PASSWORD = "s3cret-Tr4ce-word"
local PLAIN = mailcast.b64.encode("\0alice\0" .. PASSWORD)

local MESSAGE = "From: news@shop.example.com\r\nSubject: Hello\r\n\r\nHello.\r\n"

local dir

setup(function() dir = mime.tmpdir() end)
teardown(function() mime.rmdir(dir) end)

-- The lines of records of one kind, in order.
local function lines(records, kind)
  local out = {}
  for _, r in ipairs(records) do
    if r.kind == kind then out[#out + 1] = r.line end
  end
  return out
end

-- Whether patterns match lines of list in this order, each after the
-- last; the first that does not, or nil.
local function missing_in_order(list, patterns)
  local at = 0
  for _, want in ipairs(patterns) do
    local found
    for i = at + 1, #list do
      if list[i]:match(want) then found = i break end
    end
    if not found then return want end
    at = found
  end
end

local function no_secret(text, what)
  assert.is_nil(text:find(PASSWORD, 1, true), "the password is in " .. what)
  assert.is_nil(text:find(PLAIN, 1, true), "the AUTH PLAIN response is in " .. what)
end

local function script(name, route, recipients)
  return campaigns.write(dir, name, [[
  from = "The Shop <news@shop.example.com>",
  subject = "Hello {{name}}",
  text = "Hello {{name}}.\n",
  recipients = ]] .. recipients .. [[,
  route = ]] .. route .. ",\n")
end

describe("mailcast.send with a trace function", function()
  it("is told every command and reply of a send to mailcast sink, as they come, with its session", function()
    local sink = builtin_sink.start("--count 2")
    local records = {}
    local results, state = mailcast.send({ host = "127.0.0.1", port = sink.port, tls = "none" }, {
      { message = MESSAGE, from = "news@shop.example.com", to = "ada@example.org" },
      { message = MESSAGE, from = "news@shop.example.com", to = "bob@example.org" },
    }, { trace = function(r) records[#records + 1] = r end })
    sink.wait()
    sink.cleanup()
    assert.same({ "sent", "sent" }, { results[1].status, results[2].status })
    assert.is_nil(state.trace_error)
    assert.is_nil(missing_in_order(lines(records, "client"), {
      "^EHLO ", "^MAIL FROM:<news@shop.example.com>", "^RCPT TO:<ada@example.org>", "^DATA$", "^%.$",
      "^MAIL FROM:", "^RCPT TO:<bob@example.org>", "^DATA$", "^%.$", "^QUIT$" }))
    assert.is_nil(missing_in_order(lines(records, "server"), {
      "^220 ", "^250 ENHANCEDSTATUSCODES", "^250 2.1.0", "^250 2.1.5", "^354 ", "^250 2.0.0 Ok: stored",
      "^250 2.0.0 Ok: stored", "^221 " }))
    assert.is_nil(missing_in_order(lines(records, "info"), { "^connecting to 127.0.0.1", "^connected$" }))
    local last, texts = 0, {}
    for i, r in ipairs(records) do
      assert.equal(1, r.session)
      assert.equal("127.0.0.1", r.destination)
      assert.is_true(r.time >= last, "records in the order they came")
      last = r.time
      texts[i] = r.text
    end
    -- text: the line as mailcast test shows it
    local shown = table.concat(texts, "\n")
    assert.matches("C: RCPT TO:<ada@example.org>", shown, 1, true)
    assert.matches("-> the message is accepted", shown, 1, true)
  end)

  it("shows STARTTLS, the certificate and AUTH to aiosmtpd without the password", function()
    local srv <close> = servers.aiosmtpd { tls = true, auth = { user = "alice", password = PASSWORD } }
    local records, all = {}, {}
    local results = mailcast.send({ host = "127.0.0.1", port = srv.port, tls = "verify", server_name = "localhost",
      ca_file = srv.ca, user = "alice", password = PASSWORD }, {
      { message = MESSAGE, from = "news@shop.example.com", to = "me@example.com" },
    }, { trace = function(r)
      records[#records + 1] = r
      all[#all + 1] = r.line .. "\n" .. r.text
    end })
    srv:stop()
    assert.equal("sent", results[1].status)
    assert.is_nil(missing_in_order(lines(records, "client"), {
      "^EHLO ", "^STARTTLS$", "^EHLO ", "^AUTH PLAIN <credentials hidden>$", "^MAIL FROM:",
      "^RCPT TO:<me@example.com>", "^DATA$", "^%.$", "^QUIT$" }))
    assert.is_nil(missing_in_order(lines(records, "server"), { "^220 ", "^250.STARTTLS", "^220 ", "^235 ",
      "^250 ", "^354 ", "^250 ", "^221 " }))
    assert.is_nil(missing_in_order(lines(records, "info"), { "^TLS negotiated: TLSv1%.%d",
      "^TLS certificate: .*CN ?= ?localhost", "^TLS certificate check: trusted" }))
    no_secret(table.concat(all, "\n"), "the trace")
  end)

  it("stops tracing at the function's first error, and says so, while the send goes on", function()
    local sink = builtin_sink.start("--count 1")
    local calls = 0
    local results, state = mailcast.send({ host = "127.0.0.1", port = sink.port, tls = "none" }, {
      { message = MESSAGE, from = "news@shop.example.com", to = "ada@example.org" },
    }, { trace = function() calls = calls + 1 error("no room for traces") end })
    sink.wait()
    assert.equal(1, #sink.files())
    sink.cleanup()
    assert.equal("sent", results[1].status)
    assert.equal(1, calls)
    assert.matches("^trace: .*no room for traces", state.trace_error)
  end)

  it("is told the lines of a send a campaign's hook makes on the engine's loop", function()
    local sink = builtin_sink.start("--count 2")
    local path = campaigns.write(dir, "hooktrace", string.format([[
  from = "The Shop <news@shop.example.com>",
  subject = "Hello",
  text = "Notice: {{note}}\n",
  recipients = { { email = "ada@example.org" } },
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  personalize = function(address, vars)
    local seen = {}
    local results, state = mailcast.send({ host = "127.0.0.1", port = %d, tls = "none" },
      { { message = "Subject: notice\r\n\r\nA notice.\r\n", from = "news@shop.example.com", to = "editor@example.net" } },
      { trace = function(r) if r.kind == "client" then seen[#seen + 1] = r.destination .. " #" .. r.session .. " " .. r.line end end })
    vars.note = results[1].status .. " [" .. table.concat(seen, "|") .. "] " .. tostring(state.trace_error)
  end,
]], sink.port, sink.port))
    local out, code = campaigns.run(string.format("run %s --store %s --no-log --quiet", mime.sh_quote(path),
      mime.sh_quote(dir .. "/hooktrace.db")))
    sink.wait()
    local files = sink.files()
    sink.cleanup()
    assert.equal(0, code, out)
    local body
    for _, f in ipairs(files) do body = body or f:match("Notice: ([^\r\n]*)") end
    assert.is_string(body, out)
    assert.matches("^sent %[", body)
    assert.matches("127.0.0.1 #1 RCPT TO:<editor@example.net>", body, 1, true)
    assert.matches("|127.0.0.1 #1 .|", body, 1, true)
    assert.matches("%] nil$", body)
  end)

  it("refuses a trace that is no function", function()
    assert.has_error(function()
      mailcast.send({ host = "127.0.0.1", port = 9 }, {}, { trace = "yes" })
    end)
  end)
end)

describe("mailcast run --trace", function()
  it("writes every session's transcript to the file, each line with its destination and session", function()
    local srv <close> = servers.aiosmtpd { tls = true, auth = { user = "alice", password = PASSWORD } }
    local path = script("tracerelay", string.format(
      "{ host = '127.0.0.1', port = %d, tls = 'verify', server_name = 'localhost', ca_file = %q,"
      .. " user = 'alice', password = %q }", srv.port, srv.ca, PASSWORD),
      "{ { email = 'ada@example.org', name = 'Ada' }, { email = 'bob@example.org', name = 'Bob' } }")
    local store, trace = dir .. "/tracerelay.db", dir .. "/tracerelay.trace"
    local out, code = campaigns.run(string.format("run %s --store %s --trace %s --no-log", mime.sh_quote(path),
      mime.sh_quote(store), mime.sh_quote(trace)))
    srv:stop()
    assert.equal(0, code, out)
    assert.equal(2, #srv:messages())
    local text = assert(mime.read(trace))
    local client = {}
    for line in text:gmatch("[^\n]+") do
      assert.matches("^%[127%.0%.0%.1 #%d+%] ", line)
      client[#client + 1] = line:match("^%[[^]]+%]%s+[%d.]+%s+C: (.*)$")
    end
    assert.is_nil(missing_in_order(client, { "^EHLO ", "^STARTTLS$", "^EHLO ", "^AUTH PLAIN <credentials hidden>$",
      "^MAIL FROM:<news@shop.example.com>", "^RCPT TO:<ada@example.org>", "^DATA$", "^%.$",
      "^MAIL FROM:", "^RCPT TO:<bob@example.org>", "^DATA$", "^%.$", "^QUIT$" }))
    assert.matches("S: 235 ", text, 1, true)
    assert.matches("-> the message is accepted", text, 1, true)
    no_secret(text, "the trace file")
    no_secret(assert(mime.read(store)) .. (mime.try_read(store .. "-wal") or ""), "the store")
  end)

  it("writes to stderr with --trace -", function()
    local sink = builtin_sink.start("--count 1")
    local path = script("tracestderr", string.format("{ host = '127.0.0.1', port = %d, tls = 'none' }", sink.port),
      "{ { email = 'ada@example.org', name = 'Ada' } }")
    local out, code = campaigns.run(string.format("run %s --store %s --trace - --no-log --quiet", mime.sh_quote(path),
      mime.sh_quote(dir .. "/tracestderr.db")))
    sink.wait()
    sink.cleanup()
    assert.equal(0, code, out)
    assert.matches("%[127%.0%.0%.1 #1%]%s+[%d.]+%s+C: RCPT TO:<ada@example%.org>", out)
  end)

  it("is refused with --workers", function()
    local path = script("traceworkers", "{ host = '127.0.0.1', port = 9, tls = 'none' }",
      "{ { email = 'ada@example.org', name = 'Ada' } }")
    local out, code = campaigns.run(string.format("run %s --store %s --trace - --workers 2", mime.sh_quote(path),
      mime.sh_quote(dir .. "/traceworkers.db")))
    assert.is_true(code ~= 0, out)
    assert.matches("--trace writes the sessions of one process", out, 1, true)
  end)
end)

describe("a recipient that was not delivered", function()
  it("keeps its last transaction's transcript in the store, with the 451, shown by mailcast status", function()
    local sink = builtin_sink.start("--reject 'later@example.org=451 4.7.1 Try again later'")
    local path = script("deferral", string.format("{ host = '127.0.0.1', port = %d, tls = 'none' }", sink.port),
      "{ { email = 'ada@example.org', name = 'Ada' }, { email = 'later@example.org', name = 'Lee' } }")
    local store_path = dir .. "/deferral.db"
    local out, code = campaigns.run(string.format("run %s --store %s --no-log --quiet", mime.sh_quote(path),
      mime.sh_quote(store_path)))
    sink.cleanup()
    assert.equal(0, code, out)
    local store = assert(mailcast.store(store_path))
    local kept = store:transcript("LATER@example.org")
    local ada = store:transcript("ada@example.org")
    local by_id = kept and store:transcript(kept.recipient)
    store:close()
    assert.is_table(kept, "no transcript for the deferred recipient")
    assert.is_nil(ada, "a delivered recipient keeps none")
    assert.equal("deferral", kept.campaign)
    assert.same(kept, by_id)
    assert.matches("C: RCPT TO:<later@example.org>", kept.text, 1, true)
    assert.matches("S: 451 4.7.1 Try again later", kept.text, 1, true)
    assert.is_nil(kept.text:find("ada@example.org", 1, true), "another recipient's transaction is in it")
    local shown, status = campaigns.run(string.format("status %s --store %s --recipient later@example.org",
      mime.sh_quote(path), mime.sh_quote(store_path)))
    assert.equal(0, status, shown)
    assert.matches("later@example.org (campaign deferral): deferred, 1 attempt", shown, 1, true)
    assert.matches("last reply: 451 4.7.1 Try again later", shown, 1, true)
    assert.matches("S: 451 4.7.1 Try again later", shown, 1, true)
    local none, missing = campaigns.run(string.format("status %s --store %s --recipient nobody@example.org",
      mime.sh_quote(path), mime.sh_quote(store_path)))
    assert.equal(1, missing, none)
    assert.matches("has no recipient nobody@example.org", none, 1, true)
  end)

  it("keeps its own transaction's lines only, when the next was sent ahead behind its data", function()
    local srv <close> = servers.fault("data_end_code", { reply = "554 5.7.1 Rejected as spam" })
    local path = script("pipelined", string.format("{ host = '127.0.0.1', port = %d, tls = 'none' }", srv.port),
      "{ { email = 'ann@example.org', name = 'Ann' }, { email = 'ben@example.org', name = 'Ben' },"
      .. " { email = 'cas@example.org', name = 'Cas' } }")
    local store_path = dir .. "/pipelined.db"
    local trace = dir .. "/pipelined.trace"
    local out = campaigns.run(string.format("run %s --store %s --no-log --quiet --trace %s", mime.sh_quote(path),
      mime.sh_quote(store_path), mime.sh_quote(trace)))
    srv:stop()
    -- (the trace shows the next transaction's commands before this one's reply)
    local text = assert(mime.read(trace))
    local ann_end, ben_mail = text:find("C: %.\n.-C: RCPT TO:<ben@example%.org>.-S: 554")
    assert.is_truthy(ann_end and ben_mail, "no transaction went ahead of the one before's reply: " .. text)
    local store = assert(mailcast.store(store_path))
    local kept = {}
    for _, who in ipairs { "ann", "ben", "cas" } do kept[who] = store:transcript(who .. "@example.org") end
    store:close()
    for who, t in pairs(kept) do
      assert.is_table(t, who .. ": " .. out)
      assert.matches("C: RCPT TO:<" .. who .. "@example.org>", t.text, 1, true)
      for other in pairs(kept) do
        if other ~= who then
          assert.is_nil(t.text:find("<" .. other .. "@", 1, true), other .. "'s lines in " .. who .. "'s:\n" .. t.text)
        end
      end
      local _, rejections = t.text:gsub("S: 554 5%.7%.1 Rejected as spam", "")
      assert.equal(1, rejections, t.text)
    end
  end)

  it("keeps the connection's lines, AUTH hidden, when the relay refuses its credentials", function()
    local srv <close> = servers.aiosmtpd { tls = true, auth = { user = "alice", password = "the-right-one" } }
    local path = script("badauth", string.format(
      "{ host = '127.0.0.1', port = %d, tls = 'verify', server_name = 'localhost', ca_file = %q,"
      .. " user = 'alice', password = %q }", srv.port, srv.ca, PASSWORD),
      "{ { email = 'ada@example.org', name = 'Ada' } }")
    local store_path = dir .. "/badauth.db"
    local out = campaigns.run(string.format("run %s --store %s --no-log --quiet", mime.sh_quote(path),
      mime.sh_quote(store_path)))
    srv:stop()
    local store = assert(mailcast.store(store_path))
    local kept = store:transcript("ada@example.org")
    store:close()
    assert.is_table(kept, out)
    assert.matches("C: STARTTLS", kept.text, 1, true)
    assert.matches("C: AUTH PLAIN <credentials hidden>", kept.text, 1, true)
    assert.matches("S: 535", kept.text, 1, true)
    no_secret(kept.text, "the kept transcript")
    no_secret(assert(mime.read(store_path)) .. (mime.try_read(store_path .. "-wal") or ""), "the store")
  end)

  it("keeps the connection's lines when the server refuses it", function()
    local srv <close> = servers.fault("normal", { greeting = "554 5.7.1 No mail from you" })
    local path = script("refusal", string.format("{ host = '127.0.0.1', port = %d, tls = 'none' }", srv.port),
      "{ { email = 'ada@example.org', name = 'Ada' } }")
    local store_path = dir .. "/refusal.db"
    local out = campaigns.run(string.format("run %s --store %s --no-log --quiet", mime.sh_quote(path),
      mime.sh_quote(store_path)))
    srv:stop()
    local store = assert(mailcast.store(store_path))
    local kept = store:transcript("ada@example.org")
    store:close()
    assert.is_table(kept, out)
    assert.matches(".. connecting to 127.0.0.1", kept.text, 1, true)
    assert.matches("S: 554 5.7.1 No mail from you", kept.text, 1, true)
  end)
end)
