-- The store's shards (store:shard), which the workers of `mailcast run
-- --workers N` claim from: disjoint, together everyone, by domain when
-- asked, and a recovery and next retry that see only its own shard.
local mailcast = require "mailcast"
local mime = require "support.mime"

describe("mailcast.store shards", function()
  local dir, path, campaign
  local stores = {}
  before_each(function()
    dir = mime.tmpdir()
    path = dir .. "/c.mailcast.db"
    local store = assert(mailcast.store(path))
    stores = { store }
    campaign = assert(store:campaign("november"))
    assert(store:begin())
    for d = 1, 12 do
      for i = 1, 25 do assert(store:add(campaign, string.format("user%d@Domain%d.example", i, d))) end
    end
    assert(store:commit())
  end)
  after_each(function()
    for _, s in ipairs(stores) do s:close() end
    mime.rmdir(dir)
  end)

  -- One connection per worker, as the workers have.
  local function worker(index, count, by_domain)
    local s = assert(mailcast.store(path))
    stores[#stores + 1] = s
    s:shard(index, count, by_domain)
    return s
  end

  local function claim_all(s)
    local got = {}
    repeat
      local list = s:claim(campaign, 50)
      for _, r in ipairs(list) do got[#got + 1] = r.address end
    until #list == 0
    return got
  end

  local function domain(address) return address:match("@(.*)$"):lower() end

  for _, by_domain in ipairs { true, false } do
    it("splits the recipients into disjoint shards that cover everyone" .. (by_domain and ", by domain" or ""), function()
      local seen, domains_of = {}, {}
      local sizes = {}
      for index = 0, 2 do
        local got = claim_all(worker(index, 3, by_domain))
        sizes[#sizes + 1] = #got
        for _, a in ipairs(got) do
          assert.is_nil(seen[a], a .. " claimed twice")
          seen[a] = index
          local d = domain(a)
          domains_of[d] = domains_of[d] or {}
          domains_of[d][index] = true
        end
      end
      local n = 0
      for _ in pairs(seen) do n = n + 1 end
      assert.equal(300, n)
      for _, size in ipairs(sizes) do assert.is_true(size > 0, "an empty shard") end
      local split = 0
      for _, shards in pairs(domains_of) do
        local k = 0
        for _ in pairs(shards) do k = k + 1 end
        if k > 1 then split = split + 1 end
      end
      if by_domain then assert.equal(0, split, "a domain was split between workers")
      else assert.is_true(split > 0, "by address, a domain's recipients are spread") end
    end)
  end

  it("puts back only its own shard's recipients in flight", function()
    local a, b = worker(0, 2, false), worker(1, 2, false)
    local got_a, got_b = a:claim(campaign, 20), b:claim(campaign, 20)
    assert.equal(20, #got_a)
    assert.equal(20, #got_b)
    assert.equal(20, a:recover(campaign))
    assert.equal(20, stores[1]:counts(campaign).in_flight)
    -- the unsharded connection (the parent's) recovers the rest
    assert.equal(20, stores[1]:recover(campaign))
  end)

  it("reports the next retry of its own shard only", function()
    local a, b = worker(0, 2, false), worker(1, 2, false)
    local r = a:claim(campaign, 1)[1]
    assert(a:finish(r.id, "deferred", { code = 451, text = "later" }, os.time() + 60))
    assert.is_number(a:report("next_due", campaign)[1].next_at)
    assert.is_nil(b:report("next_due", campaign)[1].next_at)
    assert.is_number(stores[1]:report("next_due", campaign)[1].next_at)   -- the whole campaign's
  end)

  it("refuses a shard outside 0 .. count - 1", function()
    local s = stores[1]
    assert.has_error(function() s:shard(2, 2) end)
    assert.has_error(function() s:shard(0, 0) end)
  end)
end)
