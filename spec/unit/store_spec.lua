-- The campaign store (SQLite, WAL) through mailcast.store, including a
-- process killed with SIGKILL in the middle of its work.
local mailcast = require "mailcast"
local mime = require "support.mime"
local helper = require "helper"

describe("mailcast.store", function()
  local dir, store, campaign
  before_each(function()
    dir = mime.tmpdir()
    store = assert(mailcast.store(dir .. "/c.mailcast.db"))
    campaign = assert(store:campaign("november"))
  end)
  after_each(function()
    store:close()
    mime.rmdir(dir)
  end)

  local function add(n)
    assert(store:begin())
    for i = 1, n do assert(store:add(campaign, "user" .. i .. "@example.org", "row " .. i)) end
    assert(store:commit())
  end

  -- An error in fn left the report's statement stepping, holding a read
  -- snapshot open, and was lost: the call said true.
  it("raises what a report's fn raises, and answers the next report whole", function()
    add(2)
    local ok, err = pcall(store.report, store, "campaigns", campaign, nil, -1, function() error("from fn", 0) end)
    assert.is_false(ok)
    assert.equal("from fn", err)
    local seen = 0
    assert.is_true(store:report("campaigns", campaign, nil, -1, function() seen = seen + 1 end))
    assert.equal(1, seen)
  end)

  -- An empty call said "bad argument #2 to '?'".
  it("says which reports there are when asked for none, or for one it has not", function()
    local names = "store:report(NAME): NAME is \"campaigns\", \"reasons\", \"next_due\", \"recipients\""
      .. " or a report's (\"funnel\", \"outcomes\", ...), not "
    assert.has_error(function() store:report() end, names .. "given")
    assert.has_error(function() store:report("campaign") end, names .. "'campaign'")
  end)

  it("gives the ids a tracking token carries: the campaign's by name, a recipient's by address", function()
    add(2)
    assert.equal(campaign, store:find_campaign("november"))
    local rows = store:recipients("user2@example.org", campaign)
    assert.equal(1, #rows)
    assert.same({ campaign, "november", "user2@example.org" }, { rows[1].campaign, rows[1].campaign_name,
                                                               rows[1].address })
    assert.equal("user2@example.org", store:recipient(rows[1].id).address)
  end)

  it("keeps one campaign per name", function()
    assert.equal(campaign, store:campaign("november"))
    assert.are_not.equal(campaign, store:campaign("december"))
  end)

  it("adds each address once per campaign", function()
    assert.is_true(store:add(campaign, "a@example.org"))
    assert.is_false(store:add(campaign, "a@example.org"))
    assert.is_true(store:add(store:campaign("december"), "a@example.org"))
    assert.equal(1, store:counts(campaign).pending)
  end)

  it("hands out pending recipients in order, each once, with their data", function()
    add(5)
    local first = store:claim(campaign, 3)
    local second = store:claim(campaign, 3)
    assert.same({ "user1@example.org", "user2@example.org", "user3@example.org" },
      { first[1].address, first[2].address, first[3].address })
    assert.equal("row 1", first[1].data)
    assert.equal(2, #second)
    assert.equal(0, #store:claim(campaign, 3))
    assert.same({ 0, 5 }, { store:counts(campaign).pending, store:counts(campaign).in_flight })
  end)

  it("records outcomes with the reply and counts them by state", function()
    add(3)
    local c = store:claim(campaign, 3)
    assert(store:finish(c[1].id, "delivered", { code = 250, enhanced = "2.0.0", text = "Ok" }))
    assert(store:finish(c[2].id, "failed", { code = 550, enhanced = "5.1.1", text = "No such user" }))
    assert(store:finish(c[3].id, "deferred", { code = 451, text = "later" }, os.time() + 3600))
    local n = store:counts(campaign)
    assert.same({ 1, 1, 1, 0, 0 }, { n.delivered, n.failed, n.deferred, n.pending, n.in_flight })
  end)

  it("gives deferred recipients back once their time has come, counting attempts", function()
    add(1)
    local c = store:claim(campaign, 1)
    local later = os.time() + 600
    assert(store:finish(c[1].id, "deferred", { code = 421 }, later))
    assert.equal(0, #store:claim(campaign, 1, later - 1))
    local again = store:claim(campaign, 1, later + 1)
    assert.equal(1, #again)
    assert.equal(1, again[1].attempts)
  end)

  it("skips suppressed addresses, with the reason, until the suppression expires", function()
    add(2)
    assert(store:suppress("USER1@example.org", "hard bounce"))
    assert(store:suppress("user2@example.org", "complaint", os.time() - 1))   -- already expired
    assert.equal("hard bounce", store:suppressed("user1@example.org"))
    local c = store:claim(campaign, 10)
    assert.equal(2, #c)
    assert.equal("user1@example.org", c[1].address)
    assert.equal("suppressed: hard bounce", c[1].suppressed)
    assert.equal("user2@example.org", c[2].address)
    assert.is_nil(c[2].suppressed)
    assert.equal(1, store:counts(campaign).suppressed)
    assert.equal(1, store:counts(campaign).in_flight)
    assert(store:unsuppress("user1@example.org"))
    assert.is_nil(store:suppressed("user1@example.org"))
  end)

  it("refuses an unknown state", function()
    assert.has_error(function() store:finish(1, "lost") end)
  end)

  it("loses nothing and redoes only what was in flight when the process is killed", function()
    add(40)
    store:close()
    -- A worker claims batches of 5 and finishes them, and is killed with
    -- SIGKILL while its third batch is in flight.
    local script = dir .. "/worker.lua"
    mime.write(script, string.format([[
      local mailcast = require "mailcast"
      local store = assert(mailcast.store(%q))
      local campaign = store:campaign("november")
      for batch = 1, 3 do
        local c = store:claim(campaign, 5)
        if batch == 3 then
          io.open(%q, "w"):close()
          os.execute("kill -9 " .. io.open("/proc/self/stat"):read("l"):match("^(%%d+)"))
        end
        for _, r in ipairs(c) do assert(store:finish(r.id, "delivered", { code = 250 })) end
      end
    ]], dir .. "/c.mailcast.db", dir .. "/killed"))
    os.execute(mime.sh_quote(helper.runner) .. " run " .. mime.sh_quote(script) .. " >/dev/null 2>&1")
    assert.truthy(io.open(dir .. "/killed"), "the worker did not reach its third batch")
    store = assert(mailcast.store(dir .. "/c.mailcast.db"))
    local before = store:counts(campaign)
    assert.same({ 10, 5, 25 }, { before.delivered, before.in_flight, before.pending })
    assert.equal(5, store:recover(campaign))
    local after = store:counts(campaign)
    assert.same({ 10, 0, 30 }, { after.delivered, after.in_flight, after.pending })
  end)

  it("notes whether a campaign's list has been read to its end", function()
    local function list_read()
      for _, c in ipairs(store:report("campaigns")) do
        if c.id == campaign then return c.list_read end
      end
    end
    assert.equal(1, list_read())   -- a campaign nothing has read a list for
    assert(store:list_read(campaign, false))
    assert.equal(0, list_read())
    assert(store:list_read(campaign, true))
    assert.equal(1, list_read())
    assert.has_error(function() store:list_read(campaign, "yes") end)
  end)

  it("takes a store made before lists were read while sending as read to their end", function()
    store:close()
    local path = dir .. "/c.mailcast.db"
    -- As those versions left it: no list_read column (nor the campaign
    -- tools', routes' and tags' that came after it), and no schema
    -- version (they did not number their migrations).
    local _, code = helper.sh("/usr/bin/python3 -c " .. mime.sh_quote(
      "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
      .. " db.execute('ALTER TABLE campaigns DROP COLUMN list_read');"
      .. " db.executescript('DROP INDEX recipients_held; ALTER TABLE recipients DROP COLUMN variant;"
      .. " ALTER TABLE campaigns DROP COLUMN test_sent; ALTER TABLE campaigns DROP COLUMN test_winner;"
      .. " ALTER TABLE campaigns DROP COLUMN test_picked; ALTER TABLE campaigns DROP COLUMN segment_upto;"
      .. " ALTER TABLE recipients DROP COLUMN route; ALTER TABLE recipients DROP COLUMN host;"
      .. " ALTER TABLE events DROP COLUMN route; ALTER TABLE links DROP COLUMN tag');"
      .. " db.execute('PRAGMA user_version = 0'); db.commit()") .. " " .. mime.sh_quote(path))
    assert.equal(0, code)
    store = assert(mailcast.store(path))
    local rows = store:report("campaigns")
    assert.equal(1, #rows)
    assert.same({ campaign, "november", 1 }, { rows[1].id, rows[1].name, rows[1].list_read })
    assert(store:list_read(campaign, false))
  end)

  describe("links", function()
    it("sends a recipient to their own URL of an index, others to the campaign's", function()
      assert(store:link(campaign, 1, "https://shop.example/account?u=1"))
      assert(store:link(campaign, 2, "https://example.com/news"))
      assert(store:link(campaign, 1, "https://shop.example/account?u=2", 2))
      assert.equal("https://shop.example/account?u=2", store:link_for(campaign, 2, 1))
      assert.equal("https://shop.example/account?u=1", store:link_for(campaign, 1, 1))
      assert.equal("https://example.com/news", store:link_for(campaign, 2, 2))
      assert.is_nil(store:link_for(campaign, 2, 3))
    end)

    it("gives an aggregate click (recipient 0) only the campaign's URL", function()
      assert(store:link(campaign, 1, "https://example.com/a"))
      assert(store:link(campaign, 1, "https://example.com/b", 5))
      assert.equal("https://example.com/a", store:link_for(campaign, 0, 1))
      assert.is_nil(store:link_for(campaign, 0, 2))
      assert.has_error(function() store:link(campaign, 1, "https://example.com/c", -1) end)
    end)

    it("keeps a campaign's first URL of an index, and a recipient's latest", function()
      assert(store:link(campaign, 1, "https://example.com/first"))
      assert(store:link(campaign, 1, "https://example.com/second"))
      assert(store:link(campaign, 1, "https://example.com/r1", 3))
      assert(store:link(campaign, 1, "https://example.com/r2", 3))
      assert.same({ "https://example.com/first" }, store:links(campaign))
      assert.same({ "https://example.com/r2" }, store:links(campaign, 3))
      assert.same({}, store:links(store:campaign("december")))
    end)

    it("opens a store made before recipients had links of their own, and adds them", function()
      if not os.execute("command -v sqlite3 >/dev/null 2>&1") then
        pending("needs the sqlite3 shell")
        return
      end
      assert(store:link(campaign, 1, "https://example.com/news"))
      store:close()
      local path = dir .. "/c.mailcast.db"
      -- As those versions left it: no recipient_links, nor the list_read
      -- column and the columns that came after it, and no schema version.
      local out, code = helper.sh("sqlite3 " .. mime.sh_quote(path) .. " 'DROP TABLE recipient_links;"
        .. " ALTER TABLE campaigns DROP COLUMN list_read; DROP INDEX recipients_held;"
        .. " ALTER TABLE recipients DROP COLUMN variant; ALTER TABLE campaigns DROP COLUMN test_sent;"
        .. " ALTER TABLE campaigns DROP COLUMN test_winner; ALTER TABLE campaigns DROP COLUMN test_picked;"
        .. " ALTER TABLE campaigns DROP COLUMN segment_upto; ALTER TABLE recipients DROP COLUMN route;"
        .. " ALTER TABLE recipients DROP COLUMN host; ALTER TABLE events DROP COLUMN route;"
        .. " ALTER TABLE links DROP COLUMN tag; PRAGMA user_version = 0;'"
        .. " && sqlite3 " .. mime.sh_quote(path) .. " \"SELECT count(*) FROM sqlite_master"
        .. " WHERE name = 'recipient_links'\"")
      assert.equal(0, code, out)
      assert.equal("0\n", out)
      store = assert(mailcast.store(path))
      assert.equal("https://example.com/news", store:link_for(campaign, 4, 1))
      assert(store:link(campaign, 1, "https://example.com/news?r=4", 4))
      assert.equal("https://example.com/news?r=4", store:link_for(campaign, 4, 1))
    end)
  end)
end)
