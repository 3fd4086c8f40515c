-- The store's side of segments and A/B tests: a held recipient is never
-- claimed until the pick, the pick is kept once made, and a segment is
-- read by pages and bound to the events there were when first read.
local mailcast = require "mailcast"
local mime = require "support.mime"
local helper = require "helper"

-- An open of recipient id as `mailcast serve` records it (by a machine:
-- an image proxy's or scanner's fetch), written behind the store's back.
local function open(path, campaign, id, machine, kind)
  local _, code = helper.sh("/usr/bin/python3 -c " .. mime.sh_quote(
    "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
    .. " db.execute('INSERT INTO events(campaign, recipient, at, kind, machine) VALUES (?, ?, 1, ?, ?)',"
    .. " (int(sys.argv[2]), int(sys.argv[3]), sys.argv[5], int(sys.argv[4]))); db.commit()")
    .. " " .. mime.sh_quote(path) .. " " .. campaign .. " " .. id .. " " .. (machine and 1 or 0) .. " "
    .. (kind or "opened"))
  assert.equal(0, code)
end

describe("mailcast.store for A/B tests and segments", function()
  local dir, store, campaign
  before_each(function()
    dir = mime.tmpdir()
    store = assert(mailcast.store(dir .. "/c.mailcast.db"))
    campaign = assert(store:campaign("spring"))
  end)
  after_each(function()
    store:close()
    mime.rmdir(dir)
  end)

  it("claims a test's recipients only until the pick, then the held ones with the winner", function()
    assert(store:begin())
    assert(store:add(campaign, "t1@example.org", "", 1))
    assert(store:add(campaign, "h1@example.org", "", 0))
    assert(store:add(campaign, "t2@example.org", "", 2))
    assert(store:add(campaign, "h2@example.org", "", 0))
    assert(store:commit())
    local claimed = store:claim(campaign, 10, 1e12)   -- even far in the future
    assert.same({ "t1@example.org", "t2@example.org" }, { claimed[1].address, claimed[2].address })
    assert.same({ 1, 2, 2 }, { claimed[1].variant, claimed[2].variant, #claimed })
    local t = store:report("test", campaign, "count")[1]
    assert.same({ 1, 1, 2 }, { t.unsent, t.holding, t.held })
    for _, r in ipairs(claimed) do assert(store:finish(r.id, "delivered", { code = 250 })) end
    t = store:report("test", campaign)[1]
    assert.same({ 0, 1 }, { t.unsent, t.holding })
    assert.is_nil(t.held)
    assert(store:test_sent(campaign, 100))
    assert(store:test_sent(campaign, 200))   -- the first stays
    assert.equal(100, store:report("test", campaign)[1].sent)
    assert.same({ 2, true }, { store:test_pick(campaign, 2) })
    assert.same({ 2, false }, { store:test_pick(campaign, 1) })   -- never picked again
    claimed = store:claim(campaign, 10)
    assert.same({ "h1@example.org", "h2@example.org" }, { claimed[1].address, claimed[2].address })
    assert.same({ -2, -2 }, { claimed[1].variant, claimed[2].variant })
    t = store:report("test", campaign, "count")[1]
    assert.same({ 2, 0, 0 }, { t.winner, t.holding, t.held })
  end)

  it("reads a segment by pages, bound to the events it was first read with", function()
    local nov = assert(store:campaign("november"))
    assert(store:begin())
    for i = 1, 5 do assert(store:add(nov, "u" .. i .. "@example.org", "name\0U" .. i)) end
    assert(store:commit())
    local claimed = store:claim(nov, 10)
    for i, r in ipairs(claimed) do assert(store:finish(r.id, i == 5 and "failed" or "delivered", { code = 250 })) end
    local ids = {}
    for _, r in ipairs(claimed) do ids[r.address] = r.id end
    local path = dir .. "/c.mailcast.db"
    open(path, nov, ids["u1@example.org"])
    open(path, nov, ids["u2@example.org"], true)
    open(path, nov, ids["u4@example.org"], false, "clicked")
    local upto = store:segment_fix(campaign)
    assert.equal(store:last_event(), upto)
    open(path, nov, ids["u3@example.org"])   -- after the bound
    assert.equal(upto, store:segment_fix(campaign))   -- kept
    local function segment(q, page)
      q.campaign, q.upto = nov, q.upto or upto
      local out, after = {}, 0
      repeat
        local rows = assert(store:segment(q, after, page or 2))
        for _, r in ipairs(rows) do out[#out + 1] = r.address end
        after = rows[#rows] and rows[#rows].id
      until not after
      return out
    end
    assert.same({ "u2@example.org", "u3@example.org", "u4@example.org" },
      segment{ delivered = true, opened = false })
    assert.same({ "u3@example.org", "u4@example.org" }, segment{ delivered = true, opened = false, machine_opens = true })
    assert.same({ "u2@example.org", "u4@example.org" },
      segment{ delivered = true, opened = false, upto = store:last_event() })
    assert.same({ "u5@example.org" }, segment{ failed = true })
    assert.same({ "u4@example.org" }, segment{ clicked = true })
    assert.same({ "u2@example.org", "u3@example.org" }, segment{ delivered = true, opened = false, clicked = false })
    assert.same({ "u1@example.org", "u2@example.org", "u3@example.org", "u4@example.org", "u5@example.org" },
      segment({}, 1))
    assert.equal("name\0U1", store:segment({ campaign = nov, upto = upto }, 0, 1)[1].data)
  end)
end)
