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
