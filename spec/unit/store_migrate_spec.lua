-- A store made by any earlier version opens with this one: the schema is
-- a list of numbered migrations, recorded in PRAGMA user_version and
-- applied in order, each once in a transaction of its own; a store of a
-- newer version is refused and left as it is. The SQL below is what the
-- earlier versions wrote, kept as they wrote it; Python's sqlite3 module
-- writes and reads the stores behind mailcast's back.
local mailcast = require "mailcast"
local mime = require "support.mime"
local helper = require "helper"

local LATEST = 9

-- argv: database, file of SQL, "script" (run it) or "query" (print its
-- rows, one a line, columns between |).
local PY = [[
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
sql = open(sys.argv[2]).read()
if sys.argv[3] == "script":
    db.executescript(sql)
else:
    for row in db.execute(sql):
        print("|".join("" if v is None else str(v) for v in row))
db.close()
]]

local function python(path, mode, text)
  local file = path .. "." .. mode .. ".sql"
  mime.write(file, text)
  local out, code = helper.sh("/usr/bin/python3 -c " .. mime.sh_quote(PY) .. " " .. mime.sh_quote(path)
    .. " " .. mime.sh_quote(file) .. " " .. mode)
  os.remove(file)
  assert.equal(0, code, out)
  return out
end

local function sql(path, script) python(path, "script", script) end

local function query(path, q)
  local rows = {}
  for line in python(path, "query", q):gmatch("([^\n]*)\n") do rows[#rows + 1] = line end
  return rows
end

local function version(path) return tonumber(query(path, "PRAGMA user_version")[1]) end

-- The CREATE statements as SQLite keeps them, in the order they were
-- made (by = "rowid"), or by name.
local function schema(path, by)
  return query(path, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY " .. (by or "rowid"))
end

-- The schema of a store the previous version (before numbered
-- migrations) made, as `sqlite3 STORE .schema` printed it.
local PREVIOUS_SCHEMA = {
  "CREATE TABLE campaigns(  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, created REAL NOT NULL,"
    .. " list_read INTEGER NOT NULL DEFAULT 1)",
  "CREATE TABLE recipients(  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL REFERENCES campaigns(id),"
    .. "  address TEXT NOT NULL, data BLOB, state TEXT NOT NULL DEFAULT 'pending',"
    .. "  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0,"
    .. "  last_code INTEGER, last_enhanced TEXT, last_text TEXT, updated REAL, first_at REAL,"
    .. "  UNIQUE(campaign, address))",
  "CREATE INDEX recipients_due ON recipients(campaign, state, next_at)",
  "CREATE TABLE events(  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL, recipient INTEGER NOT NULL,"
    .. "  at REAL NOT NULL, kind TEXT NOT NULL, code INTEGER, enhanced TEXT, text TEXT, reason TEXT,"
    .. " category TEXT, hard INTEGER, counted INTEGER NOT NULL DEFAULT 0, link INTEGER, machine INTEGER)",
  "CREATE TABLE suppression(  address TEXT PRIMARY KEY COLLATE NOCASE, reason TEXT NOT NULL,"
    .. " since REAL NOT NULL,  expires REAL)",
  "CREATE TABLE bounce_seen(  key TEXT PRIMARY KEY, at REAL NOT NULL, outcome TEXT NOT NULL)",
  "CREATE TABLE secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL)",
  "CREATE INDEX recipients_address ON recipients(address COLLATE NOCASE)",
  "CREATE INDEX events_recipient ON events(recipient, at)",
  "CREATE TABLE links(  campaign INTEGER NOT NULL, idx INTEGER NOT NULL, url TEXT NOT NULL,"
    .. "  PRIMARY KEY(campaign, idx))",
  "CREATE TABLE recipient_links(  campaign INTEGER NOT NULL, recipient INTEGER NOT NULL,"
    .. " idx INTEGER NOT NULL,  url TEXT NOT NULL, PRIMARY KEY(campaign, recipient, idx)) WITHOUT ROWID",
}

-- A schema as the migrations after the previous version leave it:
-- segments and A/B tests (6) add columns to campaigns and recipients
-- and an index of the recipients held for an A/B test's winner; the
-- recipients' last transcripts (7) a table; the routes and servers of
-- attempts (8) columns to recipients and events, and a tag to links;
-- the variants' labels (9) a table.
local TRANSCRIPTS = "CREATE TABLE transcripts(  recipient INTEGER PRIMARY KEY, at REAL NOT NULL, text TEXT NOT NULL)"
local VARIANT_LABELS = "CREATE TABLE variant_labels(  campaign INTEGER NOT NULL, variant INTEGER NOT NULL,"
  .. " label TEXT NOT NULL,  PRIMARY KEY(campaign, variant))"
local function current(list)
  local out = {}
  for i, stmt in ipairs(list) do
    out[i] = stmt:gsub("list_read INTEGER NOT NULL DEFAULT 1%)$",
        "list_read INTEGER NOT NULL DEFAULT 1, test_sent REAL, test_winner INTEGER, test_picked REAL,"
        .. " segment_upto INTEGER)")
      :gsub("first_at REAL,  UNIQUE", "first_at REAL, variant INTEGER, route TEXT, host TEXT,  UNIQUE")
      :gsub("link INTEGER, machine INTEGER%)$", "link INTEGER, machine INTEGER, route TEXT)")
      :gsub("url TEXT NOT NULL,  PRIMARY KEY%(campaign, idx%)%)$", "url TEXT NOT NULL, tag TEXT,  PRIMARY KEY(campaign, idx))")
  end
  out[#out + 1] = "CREATE INDEX recipients_held ON recipients(campaign) WHERE variant = 0"
  out[#out + 1] = TRANSCRIPTS
  out[#out + 1] = VARIANT_LABELS
  return out
end

local CURRENT_SCHEMA = current(PREVIOUS_SCHEMA)

local function sorted(list)
  table.sort(list)
  return list
end

-- A store the previous version made and used (a campaign sent in part,
-- a bounce read, a suppression, links, an open and a click), as
-- `sqlite3 STORE .dump` printed it.
local PREVIOUS_STORE = [[
PRAGMA journal_mode=WAL;
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE campaigns(  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, created REAL NOT NULL, list_read INTEGER NOT NULL DEFAULT 1);
INSERT INTO campaigns VALUES(1,'november',1796623055.6437849998,1);
CREATE TABLE recipients(  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL REFERENCES campaigns(id),  address TEXT NOT NULL, data BLOB, state TEXT NOT NULL DEFAULT 'pending',  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0,  last_code INTEGER, last_enhanced TEXT, last_text TEXT, updated REAL, first_at REAL,  UNIQUE(campaign, address));
INSERT INTO recipients VALUES(1,1,'user1@example.org',X'6e616d653d557365722031','delivered',1,0.0,250,'2.0.0','Ok',1796623055.6440720558,1796623055.6440720558);
INSERT INTO recipients VALUES(2,1,'user2@example.org',X'6e616d653d557365722032','deferred',1,1796600600.0,451,'4.7.1','Try later',1796623055.6441328525,1796623055.6441328525);
INSERT INTO recipients VALUES(3,1,'user3@example.org',X'6e616d653d557365722033','failed',1,0.0,550,'5.1.1','No such user',1796623055.6441893577,1796623055.6441893577);
INSERT INTO recipients VALUES(4,1,'user4@example.org',X'6e616d653d557365722034','pending',0,0.0,NULL,NULL,NULL,NULL,NULL);
INSERT INTO recipients VALUES(5,1,'user5@example.org',X'6e616d653d557365722035','pending',0,0.0,NULL,NULL,NULL,NULL,NULL);
CREATE TABLE events(  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL, recipient INTEGER NOT NULL,  at REAL NOT NULL, kind TEXT NOT NULL, code INTEGER, enhanced TEXT, text TEXT, reason TEXT, category TEXT, hard INTEGER, counted INTEGER NOT NULL DEFAULT 0, link INTEGER, machine INTEGER);
INSERT INTO events VALUES(1,1,1,1796623055.6440720558,'delivered',250,'2.0.0','Ok',NULL,NULL,NULL,0,NULL,NULL);
INSERT INTO events VALUES(2,1,2,1796623055.6441328525,'deferred',451,'4.7.1','Try later',NULL,NULL,NULL,0,NULL,NULL);
INSERT INTO events VALUES(3,1,3,1796623055.6441893577,'failed',550,'5.1.1','No such user',NULL,NULL,NULL,0,NULL,NULL);
INSERT INTO events VALUES(4,1,3,1796600005.0,'bounced',550,'5.1.1','No such user','bad-mailbox','hard',1,1,NULL,NULL);
INSERT INTO events VALUES(5,1,1,1796600100.0,'opened',NULL,NULL,'first',NULL,NULL,NULL,0,NULL,0);
INSERT INTO events VALUES(6,1,1,1796600200.0,'clicked',NULL,NULL,NULL,NULL,NULL,NULL,0,1,0);
CREATE TABLE suppression(  address TEXT PRIMARY KEY COLLATE NOCASE, reason TEXT NOT NULL, since REAL NOT NULL,  expires REAL);
INSERT INTO suppression VALUES('Blocked@Example.org','complaint',1796600000.0,NULL);
CREATE TABLE bounce_seen(  key TEXT PRIMARY KEY, at REAL NOT NULL, outcome TEXT NOT NULL);
INSERT INTO bounce_seen VALUES('<b1@example.org>',1796600005.0,'bounced');
CREATE TABLE secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL);
INSERT INTO secrets VALUES('verp',X'4d8a363895f99f5ca3d29512a02a181cdfa5fd404e54023af4ef074a79a74ce9');
CREATE TABLE links(  campaign INTEGER NOT NULL, idx INTEGER NOT NULL, url TEXT NOT NULL,  PRIMARY KEY(campaign, idx));
INSERT INTO links VALUES(1,1,'https://example.com/news');
CREATE TABLE recipient_links(  campaign INTEGER NOT NULL, recipient INTEGER NOT NULL, idx INTEGER NOT NULL,  url TEXT NOT NULL, PRIMARY KEY(campaign, recipient, idx)) WITHOUT ROWID;
INSERT INTO recipient_links VALUES(1,2,1,'https://example.com/news?u=2');
CREATE INDEX recipients_due ON recipients(campaign, state, next_at);
CREATE INDEX recipients_address ON recipients(address COLLATE NOCASE);
CREATE INDEX events_recipient ON events(recipient, at);
COMMIT;
]]

-- What each version before numbered migrations ran on a store, in the
-- order they came: a store made by one of them has had the first few.
local STAGES = {
  { name = "the first campaign store", sql = [[
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS campaigns(  id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS recipients(  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL REFERENCES campaigns(id),  address TEXT NOT NULL, data BLOB, state TEXT NOT NULL DEFAULT 'pending',  attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0,  last_code INTEGER, last_enhanced TEXT, last_text TEXT, updated REAL, first_at REAL,  UNIQUE(campaign, address));
CREATE INDEX IF NOT EXISTS recipients_due ON recipients(campaign, state, next_at);
CREATE TABLE IF NOT EXISTS events(  id INTEGER PRIMARY KEY, campaign INTEGER NOT NULL, recipient INTEGER NOT NULL,  at REAL NOT NULL, kind TEXT NOT NULL, code INTEGER, enhanced TEXT, text TEXT);
CREATE TABLE IF NOT EXISTS suppression(  address TEXT PRIMARY KEY COLLATE NOCASE, reason TEXT NOT NULL, since REAL NOT NULL,  expires REAL);
]] },
  { name = "bounce processing", sql = [[
ALTER TABLE events ADD COLUMN reason TEXT;
ALTER TABLE events ADD COLUMN category TEXT;
ALTER TABLE events ADD COLUMN hard INTEGER;
ALTER TABLE events ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS bounce_seen(  key TEXT PRIMARY KEY, at REAL NOT NULL, outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS recipients_address ON recipients(address COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS events_recipient ON events(recipient, at);
]] },
  { name = "mailcast serve", sql = [[
ALTER TABLE events ADD COLUMN link INTEGER;
ALTER TABLE events ADD COLUMN machine INTEGER;
CREATE TABLE IF NOT EXISTS links(  campaign INTEGER NOT NULL, idx INTEGER NOT NULL, url TEXT NOT NULL,  PRIMARY KEY(campaign, idx));
]] },
  { name = "recipients' own links", sql = [[
CREATE TABLE IF NOT EXISTS recipient_links(  campaign INTEGER NOT NULL, recipient INTEGER NOT NULL, idx INTEGER NOT NULL,  url TEXT NOT NULL, PRIMARY KEY(campaign, recipient, idx)) WITHOUT ROWID;
]] },
  { name = "lists read while sending", sql = [[
ALTER TABLE campaigns ADD COLUMN list_read INTEGER NOT NULL DEFAULT 1;
]] },
}

-- Rows every stage's store can hold: a campaign with one recipient
-- delivered and one pending, and a suppressed address.
local ROWS = [[
INSERT INTO campaigns(id, name, created) VALUES (1, 'october', 1796500000);
INSERT INTO recipients(id, campaign, address, data, state, attempts, last_code, last_enhanced, last_text, updated, first_at)
  VALUES (1, 1, 'sent@example.org', X'6e616d653d53656e74', 'delivered', 1, 250, '2.0.0', 'Ok', 1796500100, 1796500100);
INSERT INTO recipients(id, campaign, address, data) VALUES (2, 1, 'next@example.org', X'6e616d653d4e657874');
INSERT INTO events(campaign, recipient, at, kind, code, enhanced, text) VALUES (1, 1, 1796500100, 'delivered', 250, '2.0.0', 'Ok');
INSERT INTO suppression VALUES ('gone@example.org', 'hard bounce', 1796500000, NULL);
]]

local function stages(n)
  local t = {}
  for i = 1, n do t[#t + 1] = STAGES[i].sql end
  return table.concat(t)
end

local function list_read(store, campaign)
  for _, c in ipairs(store:report("campaigns")) do
    if c.id == campaign then return c.list_read end
  end
end

describe("store migrations", function()
  local dir, store
  before_each(function() dir = mime.tmpdir() end)
  after_each(function()
    if store then store:close() end
    store = nil
    mime.rmdir(dir)
  end)

  it("make a new store with the schema the previous version made and the later migrations, numbered " .. LATEST, function()
    local path = dir .. "/new.mailcast.db"
    store = assert(mailcast.store(path))
    assert(store:campaign("november"))
    store:close()
    store = nil
    assert.equal(LATEST, version(path))
    assert.same(CURRENT_SCHEMA, schema(path))
    assert.same({ "wal" }, query(path, "PRAGMA journal_mode"))
  end)

  it("open a store the previous version made and used, keeping every row", function()
    local path = dir .. "/previous.mailcast.db"
    sql(path, PREVIOUS_STORE)
    assert.equal(0, version(path))
    local before = schema(path, "name")
    store = assert(mailcast.store(path))
    local campaign = store:find_campaign("november")
    assert.equal(1, campaign)
    local n = store:counts(campaign)
    assert.same({ 1, 1, 1, 2, 0 }, { n.delivered, n.deferred, n.failed, n.pending, n.in_flight })
    assert.equal(1, list_read(store, campaign))
    assert.equal("complaint", store:suppressed("blocked@example.org"))
    assert.equal("bounced", store:seen("<b1@example.org>"))
    assert.equal(1, store:soft_bounces("USER3@example.org", 1796600000))
    assert.equal("4d8a363895f99f5ca3d29512a02a181cdfa5fd404e54023af4ef074a79a74ce9",
      (store:secret("verp"):gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
    assert.equal("https://example.com/news?u=2", store:link_for(campaign, 2, 1))
    assert.equal("https://example.com/news", store:link_for(campaign, 4, 1))
    assert.same({ 1, 0, 1 }, { store:hits(campaign, "opened") })
    assert.same({ 1, 0, 0 }, { store:hits(campaign, "clicked") })
    -- The deferred one is due at 1796600600, then the pending ones in order.
    local claimed = store:claim(campaign, 10, 1796600600)
    assert.same({ "user2@example.org", "user4@example.org", "user5@example.org" },
      { claimed[1].address, claimed[2].address, claimed[3].address })
    assert.same({ 1, "name=User 2" }, { claimed[1].attempts, claimed[1].data })
    store:close()
    store = nil
    assert.equal(LATEST, version(path))
    assert.same(sorted(current(before)), sorted(schema(path, "name")))
  end)

  for level = 1, #STAGES do
    it("bring a store made when the store had " .. STAGES[level].name .. " up to date", function()
      local path = dir .. "/old.mailcast.db"
      sql(path, stages(level) .. ROWS)
      assert.equal(0, version(path))
      store = assert(mailcast.store(path))
      local campaign = store:find_campaign("october")
      local n = store:counts(campaign)
      assert.same({ 1, 1 }, { n.delivered, n.pending })
      assert.equal("hard bounce", store:suppressed("GONE@example.org"))
      assert.equal(1, list_read(store, campaign))   -- those versions read the whole list first
      local claimed = store:claim(campaign, 10)
      assert.same({ 1, "next@example.org", "name=Next" }, { #claimed, claimed[1].address, claimed[1].data })
      -- What the later migrations added works.
      assert(store:finish(claimed[1].id, "failed", { code = 550, text = "No such user" }))
      assert(store:event{ campaign = campaign, recipient = claimed[1].id, kind = "bounced", code = 550,
        at = 1796500200, counted = true })
      assert.equal(1, store:soft_bounces("next@example.org", 1796500000))
      assert(store:mark_seen("<b2@example.org>", "bounced"))
      assert.equal("bounced", store:seen("<b2@example.org>"))
      assert.equal(32, #store:secret("verp"))
      assert(store:link(campaign, 1, "https://example.com/a"))
      assert(store:link(campaign, 1, "https://example.com/a?u=2", 2))
      assert.equal("https://example.com/a?u=2", store:link_for(campaign, 2, 1))
      assert(store:list_read(campaign, false))
      assert.equal(0, list_read(store, campaign))
      assert(store:keep_transcript(claimed[1].id, 1796500200, "S: 550 No such user\n"))
      assert.equal("S: 550 No such user\n", store:transcript("next@example.org").text)
      store:close()
      store = nil
      assert.equal(LATEST, version(path))
      assert.same(CURRENT_SCHEMA, schema(path))
    end)
  end

  it("open a store at the last version as it is, many times", function()
    local path = dir .. "/c.mailcast.db"
    for _ = 1, 3 do
      store = assert(mailcast.store(path))
      assert(store:campaign("november"))
      store:close()
      store = nil
    end
    assert.equal(LATEST, version(path))
    assert.same(CURRENT_SCHEMA, schema(path))
  end)

  it("refuse a store of a newer version and leave it as it was", function()
    local path = dir .. "/newer.mailcast.db"
    store = assert(mailcast.store(path))
    store:close()
    store = nil
    sql(path, "CREATE TABLE future(x); PRAGMA user_version = " .. (LATEST + 1) .. ";")
    local bytes = mime.read(path)
    local s, err = mailcast.store(path)
    assert.is_nil(s)
    assert.matches("newer mailcast", err, 1, true)
    assert.matches("schema version " .. (LATEST + 1), err, 1, true)
    assert.equal(bytes, mime.read(path))
    assert.equal(LATEST + 1, version(path))
  end)

  it("apply each migration in a transaction of its own: one that fails leaves those before it", function()
    -- Numbered 3, yet with the column migration 5 adds: 4 is applied, 5 fails.
    local path = dir .. "/odd.mailcast.db"
    sql(path, stages(3) .. STAGES[5].sql .. ROWS .. "PRAGMA user_version = 3;")
    local s, err = mailcast.store(path)
    assert.is_nil(s)
    assert.matches("migration 5", err, 1, true)
    assert.matches("duplicate column name: list_read", err, 1, true)
    assert.equal(4, version(path))
    assert.same({ "1" }, query(path, "SELECT count(*) FROM sqlite_master WHERE name = 'recipient_links'"))
    assert.same({ "sent@example.org" }, query(path, "SELECT address FROM recipients WHERE state = 'delivered'"))
  end)

  it("migrate an old store once when several processes open it at the same moment", function()
    local path = dir .. "/shared.mailcast.db"
    sql(path, stages(1) .. ROWS)
    local script = dir .. "/open.lua"
    mime.write(script, [[
local s, err = require("mailcast").store(arg[1])
if not s then io.stderr:write(err, "\n"); os.exit(1) end
s:close()
]])
    local cmd = {}
    for i = 1, 4 do
      cmd[#cmd + 1] = mime.sh_quote(helper.runner) .. " run " .. mime.sh_quote(script) .. " "
        .. mime.sh_quote(path) .. " > " .. mime.sh_quote(dir .. "/out" .. i) .. " 2>&1 & p" .. i .. "=$!;"
    end
    local out, code = helper.sh(table.concat(cmd, " ") .. " fail=0;"
      .. " for p in $p1 $p2 $p3 $p4; do wait $p || fail=1; done;"
      .. " cat " .. mime.sh_quote(dir) .. "/out*; [ $fail = 0 ]")
    assert.equal(0, code, out)
    assert.equal(LATEST, version(path))
    assert.same(CURRENT_SCHEMA, schema(path))
  end)
end)
