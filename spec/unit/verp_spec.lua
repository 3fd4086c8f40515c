-- VERP tags (mailcast.bounces.tag, verp, message_id, check_tag) and the
-- key bounce processing remembers a message by.
local bounces = require "mailcast.bounces"
local core = require "mailcast.core"

local SECRET = "a secret of the tests, long enough"


describe("mailcast.bounces VERP tags", function()
  it("spell the campaign and recipient ids in base32hex with a 40-bit MAC", function()
    local tag = bounces.tag(1, 12345, SECRET)
    assert.matches("^1%-c1p%-[0-9a-v]+$", tag)
    assert.equal(8, #tag:match("%-([0-9a-v]+)$"))
  end)

  it("give back the ids they were made from", function()
    for _, ids in ipairs { { 1, 1 }, { 7, 99999 }, { 123456789, 987654321 }, { math.maxinteger, math.maxinteger } } do
      local c, r = bounces.check_tag(bounces.tag(ids[1], ids[2], SECRET), SECRET)
      assert.same(ids, { c, r })
    end
  end)

  it("are read in any case, since some MTAs change the case of local parts", function()
    local tag = bounces.tag(3, 42, SECRET)
    assert.same({ 3, 42 }, { bounces.check_tag(tag:upper(), SECRET) })
  end)

  it("are refused when made with another secret", function()
    local tag = bounces.tag(3, 42, "another secret entirely, also long")
    assert.same({ nil, "verp: bad signature" }, { bounces.check_tag(tag, SECRET) })
  end)

  it("are refused when an id is changed", function()
    local tag = bounces.tag(3, 42, SECRET)
    local forged = tag:gsub("^3%-", "4-")
    assert.same({ nil, "verp: bad signature" }, { bounces.check_tag(forged, SECRET) })
  end)

  it("refuse what is not a tag at all", function()
    for _, bad in ipairs { "", "r000001", "1-2", "1-2-abc", "0-2-aaaaaaaa", "01-2-aaaaaaaa", "1-2-aaaaaaaw",
                           "1--aaaaaaaa", "1-2-aaaaaaaa-1", string.rep("1", 14) .. "-2-aaaaaaaa" } do
      assert.same({ nil, "verp: malformed" }, { bounces.check_tag(bad, SECRET) }, bad)
    end
  end)

  it("make a bounce address and a Message-ID that carry the tag", function()
    local tag = bounces.tag(2, 5, SECRET)
    assert.equal("bounces+" .. tag .. "@news.example.com", bounces.verp(2, 5, "news.example.com", SECRET))
    assert.equal("<mc-" .. tag .. "@news.example.com>", bounces.message_id(2, 5, "news.example.com", SECRET))
  end)

  it("are found again by the bounce parser in a bounce address", function()
    local address = bounces.verp(2, 5, "news.example.com", SECRET)
    local b = assert(require("mailcast.bounce").parse(table.concat({
      "From: MAILER-DAEMON@mx.example.org", "To: " .. address, "Subject: Undelivered Mail",
      "", "<reader@example.org>: 550 5.1.1 user unknown", "" }, "\r\n")))
    assert.same({ 2, 5 }, { bounces.check_tag(b.verp, SECRET) })
  end)

  it("take MAILCAST_VERP_SECRET over a store's own secret when it is set", function()
    local helper = require "helper"
    local mime = require "support.mime"
    local dir = mime.tmpdir()
    local script = dir .. "/tag.lua"
    mime.write(script, string.format([[
local bounces = require "mailcast.bounces"
local store = assert(require("mailcast.core").store(%q))
io.write(bounces.tag(1, 2, store))
store:close()
]], dir .. "/s.db"))
    local out, code = helper.sh(string.format("MAILCAST_VERP_SECRET=%s %s run %s", mime.sh_quote(SECRET),
      mime.sh_quote(helper.runner), mime.sh_quote(script)))
    mime.rmdir(dir)
    assert.equal(0, code, out)
    assert.equal(bounces.tag(1, 2, SECRET), out)
  end)

  it("take the store's own secret, made once and kept", function()
    local path = os.tmpname()
    local store = assert(core.store(path))
    local tag = bounces.tag(1, 2, store)
    store:close()
    store = assert(core.store(path))
    assert.same({ 1, 2 }, { bounces.check_tag(tag, store) })
    assert.equal(32, #store:secret("verp"))
    store:close()
    os.remove(path)
    os.remove(path .. "-wal")
    os.remove(path .. "-shm")
  end)

  it("refuse ids that are not positive", function()
    assert.has_error(function() bounces.tag(0, 1, SECRET) end)
    assert.has_error(function() bounces.tag(1, -1, SECRET) end)
  end)

  it("need a secret", function()
    if os.getenv("MAILCAST_VERP_SECRET") then
      pending("MAILCAST_VERP_SECRET is set in this environment")
      return
    end
    assert.has_error(function() bounces.tag(1, 1) end,
      "mailcast.bounces: a VERP secret is needed: a string, a store, or MAILCAST_VERP_SECRET")
  end)
end)


describe("mailcast.bounces.key", function()
  local head = "From: MAILER-DAEMON@mx.example.org\r\nMessage-ID: <n1@mx.example.org>\r\n"

  it("is the same for a message delivered again with another Received field", function()
    local body = "\r\n<a@example.org>: user unknown\r\n"
    assert.equal(bounces.key(head .. body), bounces.key("Received: from elsewhere\r\n" .. head .. body))
  end)

  it("differs for notices that share a Message-ID but not a body", function()
    assert.are_not.equal(bounces.key(head .. "\r\nuser a\r\n"), bounces.key(head .. "\r\nuser b\r\n"))
  end)

  it("hashes the whole message when it has no Message-ID", function()
    local raw = "From: x@example.org\n\nhello\n"
    assert.equal("sha256:" .. core.sha256_hex(raw), bounces.key(raw))
  end)
end)
