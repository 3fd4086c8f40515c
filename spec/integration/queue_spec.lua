-- `mailcast queue` on campaigns sent to a fault-injecting SMTP server
-- that defers every address of some domains: the deferred recipients by
-- domain and reason, --retry-now and --cancel, alone and while a run of
-- the same store goes on, and a recipient cancelled while it is in
-- flight.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local servers = require "support.servers"
local serve = require "support.serve"   -- (wait_until, background helpers)
local json = require "dkjson"

local q = mime.sh_quote

local GREYLIST = "451 4.7.1 Greylisted, please try again later"
local FULL = "452 4.2.2 Mailbox full"
local LIST = { "a@ok.example", "b@ok.example", "c@ok.example", "s1@slow.example", "s2@slow.example",
  "s3@slow.example", "full@full.example" }


local function script(port, name, extra, route)
  local rows = {}
  for i, a in ipairs(LIST) do rows[i] = string.format("{ email = %q }", a) end
  return string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = %q, from = "News <news@example.com>", subject = "Hello", text = "Hello\n",
  recipients = { %s },
  route = { host = "127.0.0.1", port = %d, tls = "none", %s },
  retry = { first = 600 },
  %s
}
]], name, table.concat(rows, ", "), port, route or "", extra or "")
end


local function queue(args)
  return helper.sh(q(helper.runner) .. " queue " .. args)
end


local function queue_json(args)
  local out, code = queue(args .. " --json")
  assert(code == 0, out)
  local doc, _, err = json.decode(out, 1, json.null)
  assert(doc, tostring(err) .. ": " .. out)
  return doc
end


-- The RCPT commands the server saw for address.
local function rcpts(srv, address)
  local n = 0
  for _, line in ipairs(srv:transcript()) do
    if line:lower() == ("rcpt to:<" .. address .. ">"):lower() then n = n + 1 end
  end
  return n
end


local function codes()
  return { codes = { ["s1@slow.example"] = GREYLIST, ["s2@slow.example"] = GREYLIST,
    ["s3@slow.example"] = GREYLIST, ["full@full.example"] = FULL }, lifetime = 120 }
end


describe("mailcast queue", function()
  local dir, srv, path, store_path

  before_each(function()
    dir = mime.tmpdir()
    srv = servers.fault("rcpt_codes", codes())
    path = dir .. "/news.lua"
    store_path = dir .. "/news.mailcast.db"
    mime.write(path, script(srv.port, "news"))
    local out, code = helper.sh(q(helper.runner) .. " run " .. q(path) .. " --quiet")
    assert(code == 0, out)
  end)

  after_each(function()
    srv:stop()
    mime.rmdir(dir)
  end)

  it("lists the deferred recipients by domain and reason, with the next attempt and the last reply", function()
    local out, code = queue(q(path))
    assert.equal(0, code, out)
    assert.matches("^news: 4 deferred recipients at 2 domains; next attempt in %d+ min", out)
    assert.matches("\n  slow%.example, [%w_-]+: 3, next attempt in %d+ min", out)
    assert.matches("\n    last reply [^\n]*: 451 4%.7%.1 Greylisted, please try again later %(", out)
    assert.matches("\n  full%.example, [%w_-]+: 1, next attempt", out)
    assert.not_matches("ok%.example", out)
  end)

  it("gives the same as JSON, with the reason, what the codes mean and the next attempt", function()
    local doc = queue_json(q(path))
    local c = doc.campaigns[1]
    assert.same({ "news", 4, 2 }, { c.name, c.deferred, #c.groups })
    local slow = c.groups[1]
    assert.same({ "slow.example", 3, 451, "4.7.1" }, { slow.domain, slow.count, slow.last_reply.code,
      slow.last_reply.enhanced })
    assert.is_string(slow.reason)
    assert.is_string(slow.meaning)
    assert.is_true(slow.next_at > os.time() + 60)
    assert.not_equal(slow.reason, c.groups[2].reason)   -- greylisting is not a full mailbox
  end)

  it("lists a domain's recipients, each with its last transcript", function()
    local doc = queue_json(q(path) .. " --recipients --domain SLOW.example")
    local list = doc.campaigns[1].recipients
    local addresses = {}
    for i, r in ipairs(list) do
      addresses[i] = r.address
      assert.equal(1, r.attempts)
      local text = table.concat(r.transcript, "\n")
      assert.matches("C: RCPT TO:<" .. r.address .. ">", text, 1, true)
      assert.matches("S: " .. GREYLIST, text, 1, true)
    end
    table.sort(addresses)
    assert.same({ "s1@slow.example", "s2@slow.example", "s3@slow.example" }, addresses)
    local out = queue(q(store_path) .. " --recipients --limit 1")
    assert.matches("\n    %S+@%S+%.example  1 attempt, next in %d+ min", out)
  end)

  it("makes a domain's deferred recipients due now: the next run tries them again, and only them", function()
    local out, code = queue(q(path) .. " --retry-now --domain slow.example")
    assert.equal(0, code, out)
    assert.equal("3 deferred recipients at slow.example of news due now\n", out)
    out, code = helper.sh(q(helper.runner) .. " run " .. q(path) .. " --quiet")
    assert(code == 0, out)
    assert.same({ 2, 2, 2, 1, 1 }, { rcpts(srv, "s1@slow.example"), rcpts(srv, "s2@slow.example"),
      rcpts(srv, "s3@slow.example"), rcpts(srv, "full@full.example"), rcpts(srv, "a@ok.example") })
  end)

  it("cancels a domain's recipients: failed as cancelled by operator, not suppressed, never sent again", function()
    local out, code = queue(q(path) .. " --cancel --domain full.example")
    assert.equal(0, code, out)
    assert.matches("^1 recipient at full%.example of news cancelled", out)
    assert.equal(0, queue_json(q(path) .. " --retry-now").retried - 3)
    out, code = helper.sh(q(helper.runner) .. " run " .. q(path) .. " --quiet")
    assert(code == 0, out)
    assert.equal(1, rcpts(srv, "full@full.example"))
    local store = assert(mailcast.store(store_path))
    local failed = assert(store:report("recipients", assert(store:find_campaign("news")), "failed", -1))
    assert.falsy(store:suppressed("full@full.example"))
    store:close()
    assert.equal(1, #failed)
    assert.equal("cancelled by operator (last reply: 452 4.2.2 Mailbox full)", failed[1].text)
  end)

  it("refuses to cancel every campaign of a store at once, and says what it needs", function()
    local out, code = queue(q(store_path) .. " --cancel")
    assert.equal(2, code)
    assert.matches("--cancel needs a campaign", out, 1, true)
    assert.equal(4, queue_json(q(path)).campaigns[1].deferred)
  end)
end)


describe("mailcast queue while a run of the same store goes on", function()
  local dir, srv, path, store_path, pid

  after_each(function()
    if pid then os.execute("kill -INT " .. pid .. " 2>/dev/null") end
    if srv then srv:stop() end
    mime.rmdir(dir)
  end)

  local function start(fault, opts, route)
    dir = mime.tmpdir()
    srv = servers.fault(fault, opts)
    path = dir .. "/live.lua"
    store_path = dir .. "/live.mailcast.db"
    mime.write(path, script(srv.port, "live", nil, route))
    local p = io.popen(string.format("%s run %s --quiet --wait > %s 2>&1 & echo $!", q(helper.runner), q(path),
      q(dir .. "/run.out")))
    pid = p:read("l")
    p:close()
  end

  local function counts()
    local store = mailcast.store(store_path)
    if not store then return {} end
    local id = store:find_campaign("live")
    local c = id and id > 0 and store:counts(id) or {}
    store:close()
    return c
  end

  local function ended()
    return not os.execute("kill -0 " .. pid .. " 2>/dev/null")
  end

  -- The run's accounting log: its records of type kind, by recipient.
  local function logged(kind)
    local by = {}
    for line in io.lines(dir .. "/live.log.jsonl") do
      local rec = require("dkjson").decode(line)
      if rec.type == kind then
        by[rec.recipient] = by[rec.recipient] or {}
        table.insert(by[rec.recipient], rec)
      end
    end
    return by
  end

  it("has a retry made due now picked up by the run, and a cancel end its wait", function()
    start("rcpt_codes", codes())
    assert(serve.wait_until(function() return (counts().deferred or 0) == 4 end, 30), "the run deferred nothing")
    assert.equal(0, queue_json(q(path) .. " --retry-now --domain slow.example").retried - 3)
    -- The run waits for its retries a second at a time: it takes them now, not in 10 minutes.
    assert(serve.wait_until(function() return rcpts(srv, "s3@slow.example") == 2 end, 30), "the retry was not taken")
    assert.is_false(ended())
    local doc = queue_json(q(path) .. " --cancel")
    assert.equal(4, doc.cancelled + doc.in_flight)
    assert(serve.wait_until(ended, 30), "the run still waits for cancelled recipients")
    pid = nil
    local c = counts()
    assert.same({ 3, 4, 0 }, { c.delivered, c.failed, c.deferred })
  end)

  -- One connection, one message on it at a time, each final dot
  -- answered after 4 seconds: while the first waits, the rest wait in the
  -- run's queue for the connection, claimed and in flight. A cancel takes
  -- them back: they are never sent. (The run looks for cancels every 2
  -- seconds: the answer comes well after its next look.)
  it("takes back what the run holds and has not sent yet: the cancelled are never sent", function()
    start("slow_reply", { command = "DOT", delay = 4, lifetime = 120 },
      "limits = { connections = 1, messages_per_connection = 100 }")
    assert(serve.wait_until(function()
      for _, e in ipairs(srv:events()) do if e.kind == "event" and e.text == "slow DOT" then return true end end
      return false
    end, 30), "the first message did not reach its final dot")
    local doc = queue_json(q(path) .. " --cancel")
    assert.equal(#LIST, doc.cancelled + doc.in_flight)
    assert(serve.wait_until(ended, 60), "the run did not end: " .. tostring(mime.try_read(dir .. "/run.out")))
    pid = nil
    local sent = 0
    for _, a in ipairs(LIST) do sent = sent + rcpts(srv, a) end
    -- The one on the connection, and at most the one sent ahead behind it.
    assert.is_true(sent <= 2, "sent after the cancel: " .. sent)
    local c = counts()
    assert.equal(#LIST, c.delivered + c.failed)
    assert.equal(sent, c.delivered)
    local store = assert(mailcast.store(store_path))
    local rows = assert(store:report("recipients", store:find_campaign("live"), "failed", -1))
    store:close()
    assert.equal(#LIST - sent, #rows)
    for _, r in ipairs(rows) do
      assert.equal("cancelled by operator", r.text)
      assert.equal(0, r.attempts, r.address .. " was never sent, yet counts an attempt")
    end
    -- The accounting log agrees: no transaction for those never sent, and
    -- their outcome is the cancel's failure, after no attempt.
    local transactions, outcomes = logged("transaction"), logged("outcome")
    for _, r in ipairs(rows) do
      assert.is_nil(transactions[r.address], r.address .. " has a transaction though never sent")
      assert.equal(1, #(outcomes[r.address] or {}), r.address .. " has no outcome")
      local o = outcomes[r.address][1]
      assert.same({ "failed", "cancelled by operator", 0 }, { o.state, o.text, o.attempts })
    end
  end)

  -- Every message's final dot is answered after 3 seconds, each on a
  -- connection of its own: the spec cancels while every one of them
  -- waits for its answer.
  for _, case in ipairs {
    { "delivered as its server accepts it, once", "250 2.0.0 Ok", "delivered" },
    { "cancelled instead of queued again when its server defers it", "452 4.2.2 Mailbox full", "failed" },
  } do
    it("is " .. case[1] .. " when cancelled in flight", function()
      start("slow_reply", { command = "DOT", delay = 3, replies = { DOT = case[2] }, lifetime = 120 },
        "limits = { connections = 10, messages_per_connection = 1 }")
      assert(serve.wait_until(function()
        local n = 0
        for _, e in ipairs(srv:events()) do if e.kind == "event" and e.text == "slow DOT" then n = n + 1 end end
        return n == #LIST
      end, 30), "the messages did not all reach their final dot")
      local doc = queue_json(q(path) .. " --cancel")
      assert.same({ 0, #LIST }, { doc.cancelled, doc.in_flight })
      assert(serve.wait_until(ended, 60), "the run did not end: " .. tostring(mime.try_read(dir .. "/run.out"))
        .. require("dkjson").encode(counts()))
      pid = nil
      local c = counts()
      assert.equal(#LIST, c[case[3]])
      assert.equal(0, c.deferred + c.pending + c.in_flight)
      assert.equal(1, rcpts(srv, "s1@slow.example"))   -- sent once
      local store = assert(mailcast.store(store_path))
      local rows = assert(store:report("recipients", store:find_campaign("live"), case[3], -1))
      store:close()
      if case[3] == "failed" then
        assert.equal("cancelled by operator (last reply: 452 4.2.2 Mailbox full)", rows[1].text)
      else
        assert.equal("Ok", rows[1].text)
      end
      -- The log has the transaction as the server answered it, and the
      -- outcome the store recorded.
      local transactions, outcomes = logged("transaction"), logged("outcome")
      for _, a in ipairs(LIST) do
        assert.equal(1, #(transactions[a] or {}), a .. ": transactions")
        assert.equal(1, #(outcomes[a] or {}), a .. ": outcomes")
        assert.equal(case[3], outcomes[a][1].state)
      end
      assert.equal(rows[1].text, outcomes[rows[1].address][1].text)
    end)
  end
end)
