-- mailcast.dispatch's window: a destination holds at most connections ×
-- messages_per_connection jobs whose outcome the caller has not recorded,
-- which bounds what a crash can send twice. Outcomes taken in by poll()
-- while the caller builds a batch count until the caller has them from
-- run() and calls run() again (having recorded them).
local dispatch = require "mailcast.dispatch"
local builtin_sink = require "support.builtin_sink"
local socket = require "socket"

local FROM = "news@example.com"

local function job(n)
  local to = "user" .. n .. "@example.org"
  return { from = FROM, to = { to },
           message = string.format("From: %s\r\nTo: %s\r\nSubject: %d\r\n\r\nBody %d.\r\n", FROM, to, n, n) }
end

-- Jobs on the scheduler (submitted, outcome not taken) plus outcomes
-- taken but not yet acknowledged: what a crash now could send twice.
local function unrecorded(d)
  local st = d:state()
  return st.pending + st.unacked
end

describe("the dispatcher's window", function()
  local sink
  before_each(function() sink = builtin_sink.start("") end)
  after_each(function() sink.stop() sink.cleanup() end)

  it("counts outcomes taken in by poll until the caller has recorded them", function()
    local d = dispatch.new({ relay = { host = "127.0.0.1", port = sink.port, tls = "none",
                                       limits = { connections = 1, messages_per_connection = 2 } } })
    for i = 1, 6 do assert(d:submit("relay", job(i), i)) end
    assert.equal(2, unrecorded(d))   -- the window: 1 connection × 2 messages
    -- Polled until both are done: they stay in the window, nothing more goes out.
    local deadline = socket.gettime() + 10
    while #d.ready < 2 and socket.gettime() < deadline do d:poll() socket.sleep(0.01) end
    assert.equal(2, #d.ready)
    assert.equal(0, d:state().pending)
    assert.equal(2, unrecorded(d))
    -- run() hands them over; they are acknowledged at the next call only.
    local got = d:run(0)
    assert.same({ 1, 2 }, { got[1].owner, got[2].owner })
    assert.equal(2, unrecorded(d))
    local seen, owners = 2, {}
    while seen < 6 and socket.gettime() < deadline do
      for _, o in ipairs(d:run(0.5)) do
        seen = seen + 1
        owners[#owners + 1] = o.owner
        assert.equal("sent", o.result.status)
      end
      assert.is_true(unrecorded(d) <= 2)
    end
    table.sort(owners)
    assert.same({ 3, 4, 5, 6 }, owners)
    d:close()
  end)

  -- A caller busy with a batch calls turn() between its items, as often
  -- as it likes: the loop turns when its time has come, and the sessions
  -- go on meanwhile.
  it("has the sessions go on while a busy caller only calls turn()", function()
    local d = dispatch.new({ relay = { host = "127.0.0.1", port = sink.port, tls = "none",
                                       limits = { connections = 2, messages_per_connection = 10 } } })
    for i = 1, 4 do assert(d:submit("relay", job(i), i)) end
    local deadline, turns = socket.gettime() + 10, 0
    while #d.ready < 4 and socket.gettime() < deadline do
      local busy = 0
      for k = 1, 2000 do busy = busy + k % 7 end   -- an item of the batch
      d:turn()
      turns = turns + 1
    end
    assert.equal(4, #d.ready, "the sessions did not go on")
    for _, o in ipairs(d.ready) do assert.equal("sent", o.result.status) end
    assert.is_true(turns > 1)
    d:close()
  end)
end)


-- mailcast.send in a hook of the engine: smtp.send_in_engine on the
-- engine's dispatcher, with a route of the hook's own (private_route).
describe("the dispatcher's routes for mailcast.send in hooks", function()
  local smtp = require "mailcast.smtp"
  local sink
  before_each(function() sink = builtin_sink.start("") end)
  after_each(function() sink.stop() sink.cleanup() end)

  -- One call as a hook makes it, run until its results are in: the
  -- dispatcher's outcomes go to their owners as the engine hands them.
  local function send(d, route, n, opts)
    local results
    smtp.send_in_engine(d, route, { job(n) }, opts, function(r) results = r end)
    local deadline = socket.gettime() + 10
    while not results and socket.gettime() < deadline do
      for _, o in ipairs(d:run(0.5)) do o.owner.collect(o) end
    end
    assert.equal("sent", results and results[1].status)
  end

  local function private_routes(d)
    local n = 0
    for _, r in pairs(d.routes) do if r.private then n = n + 1 end end
    return n
  end

  it("keeps a route used again, and retires the oldest unused past 8 when each call makes a new one", function()
    local d = dispatch.new()
    local relay = { host = "127.0.0.1", port = sink.port, tls = "none" }
    send(d, relay, 1)
    send(d, relay, 2)
    assert.equal(1, private_routes(d))
    assert.equal(1, d:state().destinations)
    -- A trace function made at each call: a route of its own each time.
    for i = 1, 12 do send(d, relay, 2 + i, { trace = function() end }) end
    assert.equal(8, private_routes(d))   -- the 8 used last, the first relay among the retired
    local deadline = socket.gettime() + 10
    while d:state().destinations > 8 and socket.gettime() < deadline do d:run(0.1) end
    assert.equal(8, d:state().destinations)
    assert.equal(14, #sink.files())   -- every message delivered once
    d:close()
  end)
end)
