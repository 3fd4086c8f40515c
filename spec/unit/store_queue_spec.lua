-- The store's view of deferred recipients for an operator (mailcast
-- queue): grouped by domain and reason, made due now, cancelled, and
-- what becomes of a recipient cancelled while a run holds it in flight.
local mailcast = require "mailcast"
local mime = require "support.mime"

local GREYLIST = { code = 451, enhanced = "4.7.1", text = "greylisted, try again later" }
local FULL = { code = 452, enhanced = "4.2.2", text = "mailbox full" }

describe("the store's queue view", function()
  local dir, store, campaign, ids

  -- Four recipients at hotmail.com and two at example.org are deferred
  -- (hotmail greylisting, one example.org mailbox full), one is
  -- delivered, one still pending; ids by address.
  before_each(function()
    dir = mime.tmpdir()
    store = assert(mailcast.store(dir .. "/q.mailcast.db"))
    campaign = assert(store:campaign("november"))
    local addresses = { "a@hotmail.com", "b@hotmail.com", "c@Hotmail.com", "d@hotmail.com", "e@example.org",
      "f@example.org", "g@example.org", "h@example.org" }
    assert(store:begin())
    for _, a in ipairs(addresses) do assert(store:add(campaign, a, "")) end
    assert(store:commit())
    ids = {}
    for _, c in ipairs(assert(store:claim(campaign, 7, 1000))) do ids[c.address] = c.id end
    -- (the soonest retry is not the latest reply: the group has both)
    for _, r in ipairs { { "a@hotmail.com", 2010 }, { "b@hotmail.com", 2011 }, { "d@hotmail.com", 2012 },
                         { "c@Hotmail.com", 2013 } } do
      assert(store:finish(ids[r[1]], "deferred", GREYLIST, r[2]))
    end
    assert(store:finish(ids["e@example.org"], "deferred", FULL, 5000))
    assert(store:finish(ids["f@example.org"], "deferred", GREYLIST, 1500))
    assert(store:finish(ids["g@example.org"], "delivered", { code = 250, text = "ok" }))
  end)

  after_each(function()
    store:close()
    mime.rmdir(dir)
  end)

  -- The addresses at example.org a claim (at a time when every retry is
  -- due) would send.
  local function example_org_claimed()
    local list = {}
    for _, c in ipairs(assert(store:claim(campaign, 10, 1e10))) do
      if c.address:match("@example%.org$") then list[#list + 1] = c.address end
    end
    return list
  end

  it("groups the deferred recipients by domain and reason, the largest first", function()
    local groups = assert(store:queue_groups(campaign))
    assert.equal(3, #groups)
    local g = groups[1]
    assert.same({ "november", "hotmail.com", 4, 2010 }, { g.campaign_name, g.domain, g.count, g.next_at })
    assert.same({ 451, "4.7.1", "greylisted, try again later" }, { g.code, g.enhanced, g.text })
    assert.is_string(g.reason)
    local by = {}
    for _, x in ipairs(groups) do by[x.domain .. " " .. x.code] = x end
    assert.equal(1, by["example.org 452"].count)
    assert.equal(5000, by["example.org 452"].next_at)
    assert.not_equal(by["example.org 452"].reason, by["example.org 451"].reason)
  end)

  it("lists one domain's deferred recipients, the soonest due first, whatever the case of the domain", function()
    local rows = assert(store:queue_recipients(campaign, "HOTMAIL.com"))
    local list = {}
    for i, r in ipairs(rows) do list[i] = r.address end
    assert.same({ "a@hotmail.com", "b@hotmail.com", "d@hotmail.com", "c@Hotmail.com" }, list)
    assert.equal(1, rows[1].attempts)
    assert.equal(2, #assert(store:queue_recipients(campaign, "example.org")))
    assert.equal(1, #assert(store:queue_recipients(campaign, nil, 1)))
  end)

  it("makes a domain's deferred recipients due now, and a run's claim takes them", function()
    assert.equal(4, store:queue_retry(campaign, "hotmail.com", 1200))
    assert.equal(0, store:queue_retry(campaign, "hotmail.com", 1200))   -- due already
    local claimed = {}
    for _, c in ipairs(assert(store:claim(campaign, 10, 1200))) do claimed[#claimed + 1] = c.address end
    table.sort(claimed)
    -- example.org's deferred ones are not due at 1200; h, pending, is taken too.
    assert.same({ "a@hotmail.com", "b@hotmail.com", "c@Hotmail.com", "d@hotmail.com", "h@example.org" }, claimed)
  end)

  it("cancels a domain's pending and deferred recipients as failed, with an event, not suppressed", function()
    local cancelled, in_flight = store:queue_cancel(campaign, "example.org", 1300)
    assert.same({ 3, 0 }, { cancelled, in_flight })   -- e and f deferred, h pending; g was delivered
    local counts = store:counts(campaign)
    assert.same({ 4, 3, 1, 0 }, { counts.deferred, counts.failed, counts.delivered, counts.pending })
    local failed = assert(store:report("recipients", campaign, "failed", -1))
    table.sort(failed, function(x, y) return x.address < y.address end)
    assert.equal("cancelled by operator (last reply: 452 4.2.2 mailbox full)", failed[1].text)
    assert.equal("cancelled by operator (last reply: 451 4.7.1 greylisted, try again later)", failed[2].text)
    assert.equal("cancelled by operator", failed[3].text)
    local events = 0
    assert(store:report("accounting", campaign, nil, -1, function(r)
      if r.kind == "failed" and r.text:match("^cancelled by operator") then events = events + 1 end
    end))
    assert.equal(3, events)
    assert.falsy(store:suppressed("e@example.org"))
    assert.same({}, example_org_claimed())   -- nothing of theirs is sent again
  end)

  it("cancels every pending and deferred recipient of the campaign", function()
    local cancelled = store:queue_cancel(campaign)
    assert.equal(7, cancelled)
    assert.same({}, assert(store:queue_groups(campaign)))
  end)

  describe("a recipient in flight when it is cancelled", function()
    local h

    before_each(function()
      h = assert(store:claim(campaign, 10, 1000))[1]
      assert.equal("h@example.org", h.address)
      local _, in_flight = store:queue_cancel(campaign, "example.org", 1100)
      assert.equal(1, in_flight)
    end)

    it("is delivered when its server accepts it: the outcome is kept, sent once", function()
      assert(store:finish(h.id, "delivered", { code = 250, text = "ok" }))
      local rows = assert(store:report("recipients", campaign, "delivered", -1))
      assert.same({ "g@example.org", "h@example.org" }, { rows[1].address, rows[2].address })
      assert.equal("ok", rows[2].text)
    end)

    it("is cancelled, not queued again, when its server defers it", function()
      assert(store:finish(h.id, "deferred", GREYLIST, 1200))
      local rows = assert(store:report("recipients", campaign, "failed", -1))
      local texts = {}
      for _, r in ipairs(rows) do texts[r.address] = r.text end
      assert.equal("cancelled by operator (last reply: 451 4.7.1 greylisted, try again later)", texts["h@example.org"])
      assert.same({}, example_org_claimed())
    end)

    it("stays cancelled when the run that held it stopped without an outcome", function()
      assert(store:recover(campaign))
      local counts = store:counts(campaign)
      assert.same({ 0, 0, 3 }, { counts.pending, counts.in_flight, counts.failed })
      assert.same({}, example_org_claimed())
    end)
  end)
end)
