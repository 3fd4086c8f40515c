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

-- A bounce of recipient id as `mailcast bounces` records it (after the
-- delivery), with its reason, written behind the store's back.
local function bounce(path, campaign, id, reason)
  local _, code = helper.sh("/usr/bin/python3 -c " .. mime.sh_quote(
    "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
    .. " db.execute('INSERT INTO events(campaign, recipient, at, kind, reason, hard) VALUES (?, ?, 1, ?, ?, 1)',"
    .. " (int(sys.argv[2]), int(sys.argv[3]), 'bounced', sys.argv[4])); db.commit()")
    .. " " .. mime.sh_quote(path) .. " " .. campaign .. " " .. id .. " " .. reason)
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

  it("keeps the variants' labels of the last run, in place of those before, for the reports", function()
    for i = 1, 4 do assert(store:add(campaign, "r" .. i .. "@example.org", "{}", i % 2 + 1)) end
    assert(store:variant_labels(campaign, { "plain", "page" }, 2))
    assert(store:variant_labels(campaign, { "short" }, 2))   -- the next run's: variant 2 has none now
    local labels = {}
    for _, r in ipairs(assert(store:report("variants", campaign))) do labels[r.variant] = r.label or false end
    assert.same({ "short", false }, labels)
    assert.has_error(function() store:variant_labels(campaign, { 7 }, 1) end,
      "store:variant_labels: label 1 is not a string")
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

  it("reads a segment by the bounce reason of each recipient's last outcome", function()
    local nov = assert(store:campaign("november"))
    assert(store:begin())
    for i = 1, 6 do assert(store:add(nov, "u" .. i .. "@example.org")) end
    assert(store:commit())
    local replies = {
      { "failed", { code = 550, enhanced = "5.1.1", text = "User unknown" } },
      { "failed", { code = 554, enhanced = "5.7.1", text = "client host blocked using zen.spamhaus.org" } },
      { "deferred", { code = 452, enhanced = "4.2.2", text = "Mailbox full" } },
      { "deferred", { code = 452, enhanced = "4.2.2", text = "Mailbox full" } },   -- then delivered
      { "delivered", { code = 250 } },                                            -- then bounced
      { "deferred", { code = 554, enhanced = "4.7.1", text = "client host blocked using zen.spamhaus.org" } },
    }
    local ids = {}
    for i, r in ipairs(store:claim(nov, 10)) do
      ids[i] = r.id
      assert(store:finish(r.id, replies[i][1], replies[i][2], 0))
    end
    local again = store:claim(nov, 10, 1e12)
    for _, r in ipairs(again) do
      if r.id == ids[4] then assert(store:finish(r.id, "delivered", { code = 250 })) end
    end
    local path = dir .. "/c.mailcast.db"
    bounce(path, nov, ids[5], "user_unknown")
    local upto = store:last_event()
    -- After the bound: u6 delivered in the end, which the segment does not see.
    for _, r in ipairs(again) do
      if r.id == ids[6] then assert(store:finish(r.id, "delivered", { code = 250 })) end
    end
    local function segment(q)
      q.campaign, q.upto = nov, q.upto or upto
      local out = {}
      for _, r in ipairs(assert(store:segment(q, 0, 100))) do out[#out + 1] = r.address end
      return out
    end
    assert.same({ "u1@example.org", "u5@example.org" }, segment{ reason = "user_unknown" })
    assert.same({ "u2@example.org", "u3@example.org", "u6@example.org" },
      segment{ reason = { "blocked", "mailbox_full" } })
    assert.same({ "u2@example.org" }, segment{ reason = "blocked", failed = true })
    assert.same({}, segment{ reason = "expired" })
    -- Bound later, u6's last outcome is its delivery.
    assert.same({ "u2@example.org" }, segment{ reason = "blocked", upto = store:last_event() })
    local ok, err = pcall(store.segment, store, { campaign = nov, upto = upto, reason = "mailbox_unknown" }, 0, 10)
    assert.is_false(ok)
    assert.matches("unknown reason 'mailbox_unknown' (reasons: unknown, user_unknown, ", err, 1, true)
  end)
end)
