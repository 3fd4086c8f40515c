-- core.scheduler: every destination of a run on one loop, against the
-- built-in sink and the fault servers on 127.0.0.1. Jobs are submitted at
-- any time; sessions stay open between submissions for idle_timeout
-- seconds; a destination that cannot be reached is left alone for
-- down_time seconds.
local core = require "mailcast.core"
local servers = require "support.servers"
local builtin_sink = require "support.builtin_sink"
local socket = require "socket"
local helper = require "helper"
local mime = require "support.mime"

local FROM = "news@example.com"

local function message(to, n)
  return string.format("From: %s\r\nTo: %s\r\nSubject: message %d\r\n\r\nBody of message %d.\r\n", FROM, to, n or 0, n or 0)
end

local function job(to, n)
  return { from = FROM, to = { to }, message = message(to, n) }
end

local function relay(port, extra)
  local r = { host = "127.0.0.1", port = port, tls = "none", timeouts = { connect = 2, greeting = 2 } }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

-- Runs s until every submitted job has its outcome (at most `limit`
-- seconds); returns the outcomes by tag.
local function run_all(s, limit)
  local by_tag = {}
  local deadline = socket.gettime() + (limit or 10)
  while s:pending() > 0 and socket.gettime() < deadline do
    for _, o in ipairs(s:run(0.5)) do
      assert.is_nil(by_tag[o.tag], "outcome of job " .. o.tag .. " came twice")
      by_tag[o.tag] = o
    end
  end
  return by_tag
end

-- How many times each address appears as Delivered-To in a sink's Maildir.
local function delivered_to(sink)
  local seen = {}
  for _, f in ipairs(sink.files()) do
    for to in f:gmatch("Delivered%-To: ([^\r\n]+)") do seen[to] = (seen[to] or 0) + 1 end
  end
  return seen
end

local function count_lines(list, line)
  local n = 0
  for _, l in ipairs(list) do if l == line then n = n + 1 end end
  return n
end


describe("core.scheduler", function()
  local s
  after_each(function()
    if s then s:close() end
    s = nil
    servers.stop_all()
  end)

  describe("with two destinations", function()
    local one, two
    before_each(function()
      one = builtin_sink.start("")
      two = builtin_sink.start("")
    end)
    after_each(function()
      one.cleanup()
      two.cleanup()
    end)

    it("delivers many jobs to each destination exactly once, with an outcome for every tag", function()
      s = core.scheduler()
      local opts = { connections = 2, messages_per_connection = 5 }
      local d1 = s:destination(relay(one.port), opts)
      local d2 = s:destination(relay(two.port), opts)
      assert.are_not.equal(d1, d2)
      local tags, where = {}, {}
      for i = 1, 40 do
        local t1 = s:submit(d1, job(string.format("a%d@one.example", i), i))
        local t2 = s:submit(d2, job(string.format("b%d@two.example", i), i))
        assert.is_nil(tags[t1]); tags[t1] = true; where[t1] = "one"
        assert.is_nil(tags[t2]); tags[t2] = true; where[t2] = "two"
      end
      assert.equal(80, s:pending())
      assert.equal(2, s:state().destinations)
      local outcomes = run_all(s, 20)
      assert.equal(0, s:pending())
      local n = 0
      for tag in pairs(tags) do
        local o = outcomes[tag]
        assert.is_table(o, "no outcome for job " .. tag)
        assert.equal("sent", o.status)
        assert.equal(1, #o.recipients)
        assert.equal(250, o.recipients[1].code)
        local address = o.recipients[1].address
        assert.matches(where[tag] == "one" and "^a%d+@one%.example$" or "^b%d+@two%.example$", address)
        assert.equal("number", type(o.duration))
        assert.equal("127.0.0.1 [127.0.0.1]", o.server)
        n = n + 1
      end
      assert.equal(80, n)
      local seen1, seen2 = delivered_to(one), delivered_to(two)
      assert.equal(40, #one.files())
      assert.equal(40, #two.files())
      for i = 1, 40 do
        assert.equal(1, seen1[string.format("a%d@one.example", i)])
        assert.equal(1, seen2[string.format("b%d@two.example", i)])
      end
      -- no session carried more than messages_per_connection transactions
      -- (one more may open for the last job and find another took it)
      for _, d in ipairs { d1, d2 } do
        local st = s:state(d)
        assert.equal(40, st.transactions)
        assert.is_true(st.sessions >= 8 and st.sessions <= 10, "sessions: " .. st.sessions)
        assert.equal(0, st.pending)
        assert.equal(0, st.backoffs)
      end
    end)

    it("takes jobs submitted while others are on their way", function()
      s = core.scheduler()
      local d1 = s:destination(relay(one.port), { idle_timeout = 5 })
      local d2 = s:destination(relay(two.port), { idle_timeout = 5 })
      local got = {}
      for round = 1, 5 do
        s:submit(d1, job("r" .. round .. "@one.example", round))
        s:submit(d2, job("r" .. round .. "@two.example", round))
        for _, o in ipairs(s:run(0.05)) do got[o.tag] = o.status end
      end
      for tag, o in pairs(run_all(s, 10)) do got[tag] = o.status end
      local n = 0
      for _, status in pairs(got) do
        assert.equal("sent", status)
        n = n + 1
      end
      assert.equal(10, n)
      assert.equal(5, #one.files())
      assert.equal(5, #two.files())
    end)
  end)

  describe("sessions", function()
    it("reuses an idle session for a later submission", function()
      local sink = builtin_sink.start("")
      s = core.scheduler()
      local d = s:destination(relay(sink.port), { idle_timeout = 10, messages_per_connection = 10 })
      s:submit(d, job("first@example.org", 1))
      local first = run_all(s, 5)
      local _, o = next(first)
      assert.equal("sent", o.status)
      assert.equal(1, s:state(d).sessions)
      assert.equal(1, s:state().active)
      socket.sleep(0.3)
      s:submit(d, job("second@example.org", 2))
      s:submit(d, job("third@example.org", 3))
      for _, later in pairs(run_all(s, 5)) do assert.equal("sent", later.status) end
      local st = s:state(d)
      assert.equal(1, st.sessions)
      assert.equal(3, st.transactions)
      assert.equal(3, #sink.files())
      sink.cleanup()
    end)

    it("opens a new session once messages_per_connection is reached", function()
      local srv = servers.fault("normal")
      s = core.scheduler()
      local d = s:destination(relay(srv.port), { idle_timeout = 10, messages_per_connection = 2 })
      s:submit(d, job("one@example.org", 1))
      run_all(s, 5)
      s:submit(d, job("two@example.org", 2))
      run_all(s, 5)
      s:submit(d, job("three@example.org", 3))
      run_all(s, 5)
      assert.equal(2, s:state(d).sessions)
      s:drain(5)
      srv:stop()
      assert.equal(2, srv:connections())
      -- the first connection said QUIT after its second transaction
      local first = srv:transcript(1)
      assert.equal(2, count_lines(first, "DATA"))
      assert.equal("QUIT", first[#first])
    end)

    it("says QUIT on an idle session after idle_timeout while the loop turns for other work", function()
      local quick = servers.fault("normal")
      local slow = servers.fault("slow_reply", { command = "DOT", delay = 1.5 })
      s = core.scheduler()
      local dq = s:destination(relay(quick.port), { idle_timeout = 0.3 })
      local ds = s:destination(relay(slow.port), { idle_timeout = 10 })
      s:submit(dq, job("a@example.org", 1))
      run_all(s, 5)
      assert.equal(1, s:state().active)
      local t0 = socket.gettime()
      s:submit(ds, job("b@example.org", 2))
      local outcomes = run_all(s, 5)
      local _, o = next(outcomes)
      assert.equal("sent", o.status)
      assert.is_true(socket.gettime() - t0 >= 1)
      local lines = quick:transcript(1)
      assert.equal("QUIT", lines[#lines])
      assert.equal(1, quick:connections())
      -- the quick destination's session is gone; the slow one waits
      assert.equal(1, s:state().active)
      assert.equal(1, s:state(dq).sessions)
    end)

    it("gives a job to a new session when the server closed the idle one", function()
      -- The server drops a connection after 0.3 s without a command
      -- (421, then close), long before the client's own idle_timeout.
      local srv = servers.fault("idle_timeout", { idle = 0.3 })
      local slow = servers.fault("slow_reply", { command = "DOT", delay = 1 })
      s = core.scheduler()
      local d = s:destination(relay(srv.port), { idle_timeout = 10 })
      local ds = s:destination(relay(slow.port), { idle_timeout = 10 })
      s:submit(d, job("a@example.org", 1))
      run_all(s, 5)
      s:submit(ds, job("b@example.org", 2))   -- keeps the loop turning past 0.3 s
      run_all(s, 5)
      s:submit(d, job("c@example.org", 3))
      local outcomes = run_all(s, 5)
      local _, o = next(outcomes)
      assert.equal("sent", o.status, o.recipients[1].text)
      assert.equal(2, srv:connections())
    end)
  end)

  describe("a destination that cannot be reached", function()
    it("gives up connecting, then fails new jobs at once for down_time without connecting", function()
      local port = servers.closed_port()
      s = core.scheduler()
      local d = s:destination(relay(port), { down_time = 30, connect_attempts = 2 })
      s:submit(d, job("a@example.org", 1))
      local outcomes = run_all(s, 10)
      local _, o = next(outcomes)
      assert.equal("deferred", o.status)
      assert.matches("^closed", o.recipients[1].text)
      local st = s:state(d)
      local sessions = st.sessions
      assert.equal(2, sessions)
      assert.is_true(st.down_for > 20 and st.down_for <= 30, "down_for " .. st.down_for)
      assert.equal(1, s:state().down)
      local tags = {}
      for i = 2, 4 do tags[s:submit(d, job("x" .. i .. "@example.org", i))] = true end
      local later = run_all(s, 5)
      for tag in pairs(tags) do
        assert.equal("deferred", later[tag].status)
        assert.equal(o.recipients[1].text, later[tag].recipients[1].text)
        assert.equal(0, later[tag].attempts)
      end
      assert.equal(sessions, s:state(d).sessions)
      assert.equal(1, s:state().down)
      assert.equal(0, s:pending())
    end)

    it("tries again once down_time has passed", function()
      local port = servers.closed_port()
      s = core.scheduler()
      local d = s:destination(relay(port), { down_time = 0.5, connect_attempts = 1 })
      s:submit(d, job("a@example.org", 1))
      run_all(s, 5)
      assert.equal(1, s:state(d).sessions)
      socket.sleep(0.7)
      assert.equal(0, s:state().down)
      assert.equal(0, s:state(d).down_for)
      s:submit(d, job("b@example.org", 2))
      run_all(s, 5)
      assert.equal(2, s:state(d).sessions)
    end)

    it("does not hold back another destination", function()
      local sink = builtin_sink.start("")
      s = core.scheduler()
      local dead = s:destination(relay(servers.closed_port()), { down_time = 30, connect_attempts = 1 })
      local live = s:destination(relay(sink.port), {})
      local t_dead = s:submit(dead, job("a@example.org", 1))
      local t_live = s:submit(live, job("b@example.org", 2))
      local outcomes = run_all(s, 10)
      assert.equal("deferred", outcomes[t_dead].status)
      assert.equal("sent", outcomes[t_live].status)
      assert.equal(1, #sink.files())
      sink.cleanup()
    end)
  end)

  describe("retire", function()
    it("closes a destination's sessions politely, then forgets it while the others go on", function()
      local gone, kept = servers.fault("normal"), servers.fault("normal")
      s = core.scheduler()
      local lines = {}
      local dg = s:destination(relay(gone.port), { idle_timeout = 30,
        trace = function(l) if l.kind == "client" then lines[#lines + 1] = l.line end end })
      local dk = s:destination(relay(kept.port), { idle_timeout = 30 })
      s:submit(dg, job("a@example.org", 1))
      s:submit(dk, job("b@example.org", 2))
      run_all(s, 5)
      s:hand()
      s:ack()
      assert.equal(2, s:state().destinations)
      s:retire(dg)
      assert.has_error(function() s:submit(dg, job("c@example.org", 3)) end,
        "bad argument #1 to 'submit' (the destination is retired)")
      local deadline = socket.gettime() + 5
      while s:state().destinations > 1 and socket.gettime() < deadline do s:run(0.1) end
      assert.equal(1, s:state().destinations)
      assert.equal(1, s:state().active)
      assert.has_error(function() s:state(dg) end, "bad argument #1 to 'state' (no such destination)")
      -- its trace was told the end of its session, which the server saw
      assert.equal("QUIT", lines[#lines])
      local transcript = gone:transcript(1)
      assert.equal("QUIT", transcript[#transcript])
      -- the other destination's session is still open and still sends
      s:submit(dk, job("d@example.org", 4))
      local _, o = next(run_all(s, 5))
      assert.equal("sent", o.status)
      assert.equal(1, kept:connections())
      assert.equal(2, s:state(dk).transactions)
      -- The retired one's id names the next destination made: ids made
      -- and retired at every call do not pile up.
      assert.equal(dg, s:destination(relay(gone.port), {}))
      assert.equal(2, s:state().destinations)
    end)

    it("waits for the outcomes on their way and their acknowledgement before it forgets", function()
      local srv = servers.fault("slow_reply", { command = "DOT", delay = 0.5 })
      s = core.scheduler()
      local d = s:destination(relay(srv.port), { idle_timeout = 30 }, nil, 10)
      s:submit(d, job("a@example.org", 1))
      s:retire(d)
      local outcomes = run_all(s, 5)
      local _, o = next(outcomes)
      assert.equal("sent", o.status)
      s:run(0.3)
      assert.equal(1, s:state().destinations)   -- taken, not yet acknowledged
      s:hand()
      s:ack()
      local deadline = socket.gettime() + 5
      while s:state().destinations > 0 and socket.gettime() < deadline do s:run(0.1) end
      assert.equal(0, s:state().destinations)
    end)
  end)

  describe("drain and close", function()
    -- The second job went out behind the first one's data (PIPELINING),
    -- so it is in flight too: drain finishes both.
    it("finishes the transactions in flight on drain and leaves queued jobs pending", function()
      local srv = servers.fault("slow_reply", { command = "DOT", delay = 2 })
      s = core.scheduler()
      local d = s:destination(relay(srv.port), { connections = 1, idle_timeout = 10 })
      local first = s:submit(d, job("a@example.org", 1))
      local second = s:submit(d, job("b@example.org", 2))
      s:submit(d, job("c@example.org", 3))
      -- Until the server has the first one's dot (the second one's
      -- commands left in the same write); the first waits for its 250.
      local deadline = socket.gettime() + 5
      repeat
        assert.same({}, s:run(0.05))
      until count_lines(srv:transcript(), ".") == 1 or socket.gettime() > deadline
      assert.equal(1, count_lines(srv:transcript(), "."), "the first message's data never arrived")
      s:drain(10)   -- two 250s, 2 s apart
      assert.equal(0, s:state().active)
      local outcomes = s:run(0)
      assert.equal(2, #outcomes)
      assert.same({ first, second }, { outcomes[1].tag, outcomes[2].tag })
      assert.same({ "sent", "sent" }, { outcomes[1].status, outcomes[2].status })
      assert.equal(1, s:pending())
      assert.equal(1, s:state(d).pending)
      srv:stop()
      local lines = srv:transcript()
      assert.equal(2, count_lines(lines, "DATA"))
      assert.equal("QUIT", lines[#lines])
    end)

    it("closes with jobs queued and on a session without crashing", function()
      local srv = servers.fault("slow_reply", { command = "DOT", delay = 2 })
      s = core.scheduler()
      local d = s:destination(relay(srv.port), { connections = 2 })
      for i = 1, 6 do s:submit(d, job("q" .. i .. "@example.org", i)) end
      assert.same({}, s:run(0.3))
      assert.equal(6, s:pending())
      s:close()
      s:close()   -- twice is harmless
      assert.has_error(function() s:pending() end, "attempt to use a closed scheduler")
      s = nil
    end)

    it("is collected with jobs pending and not closed", function()
      local srv = servers.fault("slow_reply", { command = "DOT", delay = 2 })
      do
        local lost = core.scheduler()
        local d = lost:destination(relay(srv.port), {})
        for i = 1, 3 do lost:submit(d, job("g" .. i .. "@example.org", i)) end
        lost:run(0.2)
      end
      collectgarbage()
      collectgarbage()
      -- the connection was dropped: the server saw the client go
      assert.truthy(srv:wait(function(x)
        for _, e in ipairs(x:events()) do if e.kind == "close" then return true end end
      end, 5))
    end)

    it("can be closed right after it was made", function()
      local fresh = core.scheduler()
      assert.equal(0, fresh:pending())
      assert.same({ destinations = 0, active = 0, down = 0, pending = 0, queued = 0, unacked = 0,
                    backing_off = 0, backoff_connections = 0 }, fresh:state())
      assert.same({}, fresh:run(0))
      fresh:close()
    end)
  end)

  describe("a window and a backlog", function()
    local sink
    before_each(function() sink = builtin_sink.start("") end)
    after_each(function() sink.stop() sink.cleanup() end)

    -- Takes outcomes, handing each batch over and acknowledging it, until
    -- n have come: their owners in the order they came.
    local function owners_in_order(n)
      local order = {}
      local deadline = socket.gettime() + 20
      while #order < n and socket.gettime() < deadline do
        for _, o in ipairs(s:outcomes(0.5)) do
          assert.equal("sent", o.result.status)
          order[#order + 1] = o.owner
        end
        s:hand()
        s:ack()
      end
      return order
    end

    it("keeps jobs in the backlog until the outcomes in the window are acknowledged", function()
      s = core.scheduler()
      local d = s:destination(relay(sink.port), { idle_timeout = 5, messages_per_connection = 20 }, nil, 2)
      for i = 1, 6 do s:submit(d, job("w" .. i .. "@example.org", i), "owner " .. i) end
      assert.same({ 2, 4 }, { s:state().pending, s:state().queued })
      local got = {}
      local deadline = socket.gettime() + 10
      while #got < 2 and socket.gettime() < deadline do s:outcomes(0.5, got) end
      assert.same({ "owner 1", "owner 2" }, { got[1].owner, got[2].owner })
      -- Taken, not yet acknowledged: nothing more goes out, however long it turns.
      s:outcomes(0.2, got)
      s:hand()
      assert.same({ 0, 4, 2 }, { s:state().pending, s:state().queued, s:state().unacked })
      s:ack()
      assert.same({ 2, 2, 0 }, { s:state().pending, s:state().queued, s:state().unacked })
      local rest = owners_in_order(4)
      assert.same({ "owner 3", "owner 4", "owner 5", "owner 6" }, rest)
      assert.equal(6, #sink.files())
    end)

    it("takes the shares' jobs in turns weighted by their weights", function()
      s = core.scheduler()
      local d = s:destination(relay(sink.port), { idle_timeout = 5, messages_per_connection = 50 }, nil, 1)
      for i = 1, 8 do s:submit(d, job("a" .. i .. "@example.org", i), "a" .. i, 1, 1) end
      for i = 1, 8 do s:submit(d, job("b" .. i .. "@example.org", i), "b" .. i, 2, 3) end
      -- a1 went out at once, alone; then three of b's for each of a's
      -- (give or take a tie), each share's in the order submitted.
      local order = owners_in_order(16)
      local first12, a_seen, b_seen = { a = 0, b = 0 }, 0, 0
      for i, owner in ipairs(order) do
        local share, n = owner:match("^(%a)(%d+)$")
        if i <= 12 then first12[share] = first12[share] + 1 end
        if share == "a" then a_seen = a_seen + 1 assert.equal(a_seen, tonumber(n))
        else b_seen = b_seen + 1 assert.equal(b_seen, tonumber(n)) end
      end
      assert.same({ a = 4, b = 8 }, first12)
      assert.same({ "a1", "a2", "b1", "b2", "b3" }, { table.unpack(order, 1, 5) })
    end)

    it("refuses a bad share, weight or window", function()
      s = core.scheduler()
      assert.has_error(function() s:destination(relay(sink.port), {}, nil, -1) end)
      local d = s:destination(relay(sink.port), {})
      assert.has_error(function() s:submit(d, job("x@example.org"), "x", 0) end)
      assert.has_error(function() s:submit(d, job("x@example.org"), "x", 1, 0) end)
      assert.equal(0, s:state().queued)
    end)
  end)

  describe("misuse", function()
    it("refuses an unknown destination", function()
      s = core.scheduler()
      assert.has_error(function() s:submit(1, job("a@example.org")) end)
      assert.has_error(function() s:state(7) end)
    end)

    it("refuses a job without an envelope sender or recipients", function()
      s = core.scheduler()
      local d = s:destination(relay(servers.closed_port()), {})
      assert.has_error(function() s:submit(d, { to = { "a@example.org" }, message = "x" }) end)
      assert.has_error(function() s:submit(d, { from = FROM, message = "x" }) end)
      assert.equal(0, s:pending())
    end)

    it("refuses a recipient or sender given as a number: only strings are kept alive with the job", function()
      s = core.scheduler()
      local d = s:destination(relay(servers.closed_port()), {})
      assert.has_error(function() s:submit(d, { from = FROM, to = { 12345 }, message = "x" }) end,
        "envelope 'to' must hold strings")
      assert.has_error(function() s:submit(d, { from = 12345, to = { "a@example.org" }, message = "x" }) end)
      assert.has_error(function() s:submit(d, { from = FROM, to = { "a@example.org" }, message = "x", dsn_envid = 7 }) end,
        "'dsn_envid' must be a string")
      assert.equal(0, s:pending())
    end)

    it("needs targets for an mx route", function()
      s = core.scheduler()
      assert.has_error(function() s:destination({ mx = true, port = 25, tls = "none" }, {}) end)
    end)
  end)
end)
