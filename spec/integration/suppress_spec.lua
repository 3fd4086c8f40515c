-- `mailcast suppress`: listing, adding, removing, exporting and importing
-- the store's suppression list.
local core = require "mailcast.core"
local suppress = require "mailcast.suppress"
local fx = require "support.bounce_store"
local helper = require "helper"

local sh_quote = require("support.mime").sh_quote


describe("mailcast suppress", function()
  local dir, db

  before_each(function()
    dir = fx.tmpdir()
    db = dir .. "/list.mailcast.db"
    local store = assert(core.store(db))
    assert(store:suppress("gone@example.org", "hard bounce: user_unknown"))
    assert(store:suppress("angry@example.org", "complaint"))
    assert(store:suppress("full@example.org", "soft bounces: mailbox_full", os.time() + 86400))
    assert(store:suppress("old@example.org", "soft bounces: mailbox_full", os.time() - 10, os.time() - 86400))
    store:close()
  end)

  after_each(function() fx.rmrf(dir) end)

  local function mailcast(args)
    return helper.sh(sh_quote(helper.runner) .. " suppress " .. args .. " --store " .. sh_quote(db))
  end

  local function entries()
    local store = assert(core.store(db))
    local list = store:suppression_list { all = true }
    store:close()
    local out = {}
    for _, r in ipairs(list) do out[r.address] = r end
    return out
  end

  it("lists the entries in force, by address", function()
    local out, code = mailcast("list")
    assert.equal(0, code, out)
    local addresses = {}
    for a in out:gmatch("(%S+@%S+)") do addresses[#addresses + 1] = a end
    assert.same({ "angry@example.org", "full@example.org", "gone@example.org" }, addresses)
    assert.matches("3 suppressed\n$", out)
    assert.matches("full@example.org%s+%S+%s+until %S+%s+soft bounces: mailbox_full", out)
    assert.matches("gone@example.org%s+%S+%s+for ever%s+hard bounce: user_unknown", out)
  end)

  it("lists expired ones too with --all", function()
    local out = mailcast("list --all")
    assert.matches("old@example.org", out)
    assert.matches("4 suppressed", out)
  end)

  it("lists the entries whose reason starts with --reason, as JSON with --json", function()
    local out, code = mailcast("list --reason 'hard bounce' --json")
    assert.equal(0, code, out)
    assert.matches('^{"address":"gone@example.org","reason":"hard bounce: user_unknown","since":"%d+%-%d+%-%d+T[%d:]+Z"}\n$', out)
  end)

  it("adds an address with a reason, for a number of days", function()
    local out, code = mailcast("add New@Example.org --reason manual --expires 2")
    assert.equal(0, code, out)
    local e = entries()["New@Example.org"]
    assert.equal("manual", e.reason)
    assert.near(os.time() + 2 * 86400, e.expires, 5)
    local store = assert(core.store(db))
    assert.equal("manual", store:suppressed("new@example.org"))   -- any case
    store:close()
  end)

  it("refuses to add what is not an address, or without a reason", function()
    local out, code = mailcast("add 'Someone <x@example.org>' --reason manual")
    assert.equal(2, code)
    assert.matches("is not an email address", out)
    out, code = mailcast("add x@example.org")
    assert.equal(2, code)
    assert.matches("%-%-reason R is required", out)
  end)

  it("removes an address, and says when it was not there", function()
    local out, code = mailcast("remove gone@example.org")
    assert.equal(0, code, out)
    assert.is_nil(entries()["gone@example.org"])
    out, code = mailcast("remove gone@example.org")
    assert.equal(1, code)
    assert.matches("not on the list", out)
  end)

  it("exports and imports again the same list", function()
    local csv = dir .. "/list.csv"
    local out, code = mailcast("export " .. sh_quote(csv) .. " --all")
    assert.equal(0, code, out)
    assert.matches("^address,reason,since,expires\r\n", fx.read(csv))
    local before = entries()
    os.remove(db)
    os.remove(db .. "-wal")
    os.remove(db .. "-shm")
    out, code = mailcast("import " .. sh_quote(csv))
    assert.equal(0, code, out)
    assert.matches("imported 4 entries", out)
    local after = entries()
    for address, e in pairs(before) do
      assert.equal(e.reason, after[address].reason)
      assert.equal(math.floor(e.since), after[address].since)
      assert.equal(e.expires and math.floor(e.expires), after[address].expires)
    end
  end)

  it("imports the good rows of a file and reports the bad ones by line", function()
    local csv = dir .. "/in.csv"
    fx.write(csv, table.concat({
      "address,reason,since,expires",
      "one@example.org,complaint,2024-11-04T10:00:00Z,",
      "not an address,complaint,,",
      "two@example.org,\"hard bounce: user_unknown, said the server\",2024-11-04,2030-01-01",
      "three@example.org,,,",
      "four@example.org,manual,yesterday,",
      "five@example.org,manual",
      "six@example.org,manual,1730714400,",
      "", }, "\n"))
    local out, code = mailcast("import " .. sh_quote(csv))
    assert.equal(1, code)
    assert.matches("imported 3 entries from .*, 4 bad rows", out)
    assert.matches("in.csv:3: 'not an address' is not an email address", out)
    assert.matches("in.csv:5: no reason", out)
    assert.matches("in.csv:6: since 'yesterday' is not a time", out)
    assert.matches("in.csv:7: 2 fields where the header has 4", out)
    local e = entries()
    assert.equal(1730714400, e["one@example.org"].since)
    assert.is_nil(e["one@example.org"].expires)
    assert.equal("hard bounce: user_unknown, said the server", e["two@example.org"].reason)
    assert.equal(1893456000, e["two@example.org"].expires)
    assert.equal(1730714400, e["six@example.org"].since)
  end)

  it("reads a file that is not there as an error", function()
    local out, code = mailcast("import " .. sh_quote(dir .. "/none.csv"))
    assert.equal(1, code)
    assert.matches("none.csv", out)
  end)

  it("needs --store, and does not make one to list", function()
    local out, code = helper.sh(sh_quote(helper.runner) .. " suppress list")
    assert.equal(2, code)
    assert.matches("%-%-store FILE is required", out)
    out, code = helper.sh(sh_quote(helper.runner) .. " suppress list --store " .. sh_quote(dir .. "/none.db"))
    assert.equal(1, code)
    assert.is_nil(fx.read(dir .. "/none.db"))
  end)
end)


describe("mailcast.suppress.parse_time", function()
  it("reads dates, times with zones and seconds as UTC", function()
    assert.equal(1730678400, suppress.parse_time("2024-11-04"))
    assert.equal(1730714400, suppress.parse_time("2024-11-04T10:00:00Z"))
    assert.equal(1730714400, suppress.parse_time("2024-11-04 11:00:00+01:00"))
    assert.equal(1730714400, suppress.parse_time("2024-11-04T10:00:00.250Z"))
    assert.equal(1730714400, suppress.parse_time("1730714400"))
    assert.is_nil(suppress.parse_time(""))
    assert.is_false(suppress.parse_time("2024-13-01"))
    assert.is_false(suppress.parse_time("04/11/2024"))
  end)

  it("is what iso writes, read back", function()
    local t = 1730714400
    assert.equal(t, suppress.parse_time(suppress.iso(t)))
  end)
end)
