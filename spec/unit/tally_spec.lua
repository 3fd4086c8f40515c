-- A campaign's counts by state for the progress display and --metrics:
-- counted in the store only as often as that stays cheap, and kept up to
-- date in between with what this process changed.
local core = require "mailcast.core"
local mime = require "support.mime"
local tally = require "mailcast.tally"

describe("mailcast.tally", function()
  local dir, store, id
  before_each(function()
    dir = mime.tmpdir()
    store = assert(core.store(dir .. "/t.mailcast.db"))
    id = assert(store:campaign("counted"))
    assert(store:begin())
    for i = 1, 50 do assert(store:add(id, "r" .. i .. "@example.org", "")) end
    assert(store:commit())
  end)
  after_each(function()
    store:close()
    mime.rmdir(dir)
  end)

  -- The store, its counts calls counted.
  local function watched()
    local calls = { n = 0 }
    local proxy = setmetatable({}, { __index = function(_, k)
      if k == "counts" then return function(_, ...) calls.n = calls.n + 1 return store:counts(...) end end
      local v = store[k]
      return type(v) == "function" and function(_, ...) return v(store, ...) end or v
    end })
    return proxy, calls
  end

  it("counts in the store once, however often it is asked within MIN_AGE", function()
    local proxy, calls = watched()
    local t = tally.new(proxy, id)
    for _ = 1, 200 do assert.equal(50, t:get().pending) end
    assert.equal(1, calls.n)
  end)

  it("keeps its count up to date with what this process changes, and agrees with the store", function()
    local t = tally.new(store, id)
    assert.equal(50, t:get().pending)
    local claimed = assert(store:claim(id, 10))
    for _, r in ipairs(claimed) do t:moved(r.was, "in_flight") end
    for i = 1, 4 do
      assert(store:finish(claimed[i].id, "delivered"))
      t:moved("in_flight", "delivered")
    end
    assert(store:finish(claimed[5].id, "deferred", { code = 451, text = "later" }, core.time() - 1))
    t:moved("in_flight", "deferred")
    local mine = t:get()
    assert.same(store:counts(id), mine)
    assert.same({ 40, 5, 4, 1 }, { mine.pending, mine.in_flight, mine.delivered, mine.deferred })
    -- a deferred recipient that is due is claimed from deferred
    local again = assert(store:claim(id, 100))
    local from = {}
    for _, r in ipairs(again) do from[r.was] = (from[r.was] or 0) + 1 end
    assert.same({ deferred = 1, pending = 40 }, from)
  end)

  it("sees what others changed at its next count, and counts again at once when asked to", function()
    local t = tally.new(store, id)
    assert.equal(0, t:get().delivered)
    local other = assert(core.store(dir .. "/t.mailcast.db"))
    local claimed = assert(other:claim(id, 3))
    for _, r in ipairs(claimed) do assert(other:finish(r.id, "delivered")) end
    other:close()
    assert.equal(0, t:get().delivered)          -- not yet: counted less than MIN_AGE ago
    assert.equal(3, t:get(true).delivered)
  end)

  it("waits longer between counts the longer a count takes", function()
    local proxy, calls = watched()
    local t = tally.new(proxy, id)
    t:get()
    t.cost = 0.5                  -- as a count of a very large campaign takes
    t.at = core.now() - 2         -- counted 2 s ago: more than MIN_AGE, less than 0.5 / REFRESH_SHARE
    t:get()
    assert.equal(1, calls.n)
    t.at = core.now() - 0.5 / tally.REFRESH_SHARE - 1
    t:get()
    assert.equal(2, calls.n)
  end)
end)
