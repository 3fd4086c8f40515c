-- mailcast.progress: what the bar, the lines and the JSON say about
-- destinations the servers' pushback is holding back, from the
-- scheduler's state as Dispatch:state() passes it on.
local progress = require "mailcast.progress"
local json = require "dkjson"

local COUNTS = { delivered = 40, deferred = 0, failed = 0, skipped = 0, suppressed = 0, pending = 60, in_flight = 0 }

-- A progress display of mode writing into a string; tick(sched) shows
-- one state and returns what was written.
local function display(mode, width)
  local written = {}
  local out = { write = function(self, ...) for _, s in ipairs { ... } do written[#written + 1] = s end return self end,
                flush = function() end }
  local p = progress.new { mode = mode, name = "news", out = out, width = width or 1000 }
  return function(sched, counts)
    for i = #written, 1, -1 do written[i] = nil end
    p:tick(counts or COUNTS, sched)
    return table.concat(written)
  end
end

local HELD = { destinations = 3, active = 2, down = 0, pending = 60, backing_off = 1, backoff_connections = 2,
               backoff_rate = 11.46 }

describe("mailcast.progress", function()
  it("shows on the bar how many destinations back off and what they are held to", function()
    local line = display("bar")(HELD)
    assert.matches("1 backing off (2 connections, 11.5/s)", line, 1, true)
  end)

  it("shows the connections alone when no rate is held down", function()
    local line = display("bar")({ destinations = 1, down = 0, backing_off = 1, backoff_connections = 1 })
    assert.matches("1 backing off (1 connection)", line, 1, true)
  end)

  it("says nothing of backing off when no destination does", function()
    local line = display("bar")({ destinations = 3, down = 0, backing_off = 0, backoff_connections = 0 })
    assert.not_matches("backing off", line, 1, true)
  end)

  it("says it in the lines written to a log", function()
    local line = display("lines")(HELD)
    assert.matches(", 1 backing off (2 connections, 11.5/s)\n", line, 1, true)
  end)

  it("gives the JSON lines backing_off and what those destinations are held to", function()
    local p = json.decode(display("json")(HELD))
    assert.same({ 1, 2, 11.5, 3 }, { p.backing_off, p.backoff_connections, p.backoff_rate, p.destinations })
  end)

  it("leaves what they are held to out of the JSON when none backs off", function()
    local p = json.decode(display("json")({ destinations = 3, down = 0, backing_off = 0, backoff_connections = 0 }))
    assert.equal(0, p.backing_off)
    assert.is_nil(p.backoff_connections)
    assert.is_nil(p.backoff_rate)
  end)

  it("counts destinations that gave up connecting when the state has only down", function()
    local p = json.decode(display("json")({ destinations = 2, down = 1 }))
    assert.equal(1, p.backing_off)
  end)
end)


describe("mailcast.progress's bar on a narrow terminal", function()
  -- On 70 columns the bar wrapped, and each redraw left a partial bar
  -- behind: the screen filled with them.
  local BIG = { delivered = 123456, deferred = 2345, failed = 345, skipped = 0, suppressed = 0, pending = 876543,
                in_flight = 10 }

  local function shown(width, sched)
    local out = display("bar", width)(sched or HELD, BIG)
    local line = out:match("^\r(.-)\27%[K$")
    assert(line, out)
    return line
  end

  it("is the whole line when it fits", function()
    assert.equal("news [" .. ("#"):rep(3) .. ("-"):rep(21) .. "]  12%  123456 delivered  2345 deferred  345 failed  876553 left"
      .. "  -/s  ETA --:--  1 backing off (2 connections, 11.5/s)", shown(1000))
  end)

  it("fits the width, one column short, dropping the least useful figures first", function()
    for _, width in ipairs { 120, 100, 80, 70, 60, 50, 40, 30, 20 } do
      local line = shown(width)
      assert.is_true(#line <= width - 1, width .. ": " .. line)
      assert.matches("%d+%%", line)
    end
    local line = shown(70)
    assert.matches("123456 delivered", line, 1, true)
    assert.matches("876553 left", line, 1, true)
    assert.matches("ETA --:--", line, 1, true)
    assert.not_matches("/s", line, 1, true)
    line = shown(40)
    assert.matches("123456 delivered", line, 1, true)
  end)

  it("shrinks the bar before it drops a figure", function()
    local line = shown(110, { destinations = 1, down = 0, backing_off = 0 })
    assert.matches("%[#*%-*%]", line)
    assert.matches("-/s", line, 1, true)
    assert.is_true(#line:match("%[([#%-]*)%]") < 24)
  end)
end)
