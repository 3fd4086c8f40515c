-- The parts cache (mailcast.parts): a part used by many messages is
-- encoded once, and again only when its file changes. Streaming
-- (stream = true) and the ways a message is written out.
local mailcast = require "mailcast"
local mime = require "support.mime"

local DATA = mime.random_bytes(10000, 21) .. mime.all_bytes()

local function spec(t)
  local m = { from = "sender@example.com", to = "rcpt@example.org", subject = "s", text = "Hello" }
  for k, v in pairs(t or {}) do m[k] = v end
  return m
end

-- The bytes of the first attachment of a message, as parsed back.
local function attachment(raw)
  return mailcast.parse(raw).parts[2].body
end

-- An ltn12-style sink that collects chunks; returns it and the list.
local function collector()
  local chunks, finished = {}, false
  local function sink(chunk, err)
    assert(not finished, "sink called after the end")
    if chunk == nil then finished = true else chunks[#chunks + 1] = chunk end
    return 1
  end
  return sink, chunks, function() return finished end
end


describe("mailcast.parts", function()
  local dir
  before_each(function() dir = mime.tmpdir() end)
  after_each(function() mime.rmdir(dir) end)

  it("encodes the same data once for two uses", function()
    local cache = mailcast.parts()
    local a = assert(cache:part { data = DATA, filename = "a.bin" })
    local b = assert(cache:part { data = DATA, filename = "a.bin" })
    assert.equal(a, b)
    assert.equal(1, cache.misses)
    assert.equal(1, cache.hits)
  end)

  it("encodes a data attachment once across two messages", function()
    local cache = mailcast.parts()
    local raw1 = assert(mailcast.message(spec { to = "a@example.org", cache = cache, attachments = { { data = DATA, filename = "a.bin" } } }))
    local raw2 = assert(mailcast.message(spec { to = "b@example.org", cache = cache, attachments = { { data = DATA, filename = "a.bin" } } }))
    assert.equal(1, cache.misses)
    assert.equal(1, cache.hits)
    assert.equal(DATA, attachment(raw1))
    assert.equal(DATA, attachment(raw2))
  end)

  it("encodes a file once across two messages", function()
    local path = dir .. "/brochure.pdf"
    mime.write(path, DATA)
    local cache = mailcast.parts()
    for _ = 1, 2 do
      assert(mailcast.message(spec { cache = cache, attachments = { { path = path } } }))
    end
    assert.equal(1, cache.misses)
    assert.equal(1, cache.hits)
  end)

  it("keeps parts apart that differ in filename, type or cid", function()
    local cache = mailcast.parts()
    assert(cache:part { data = DATA, filename = "a.bin" })
    assert(cache:part { data = DATA, filename = "b.bin" })
    assert(cache:part { data = DATA, filename = "a.bin", content_type = "image/png" })
    assert(cache:part { data = DATA, filename = "a.bin", cid = "x" })
    assert.equal(4, cache.misses)
    assert.equal(0, cache.hits)
  end)

  it("encodes a file again when its size changed", function()
    local path = dir .. "/list.txt"
    mime.write(path, "version one\r\n")
    local cache = mailcast.parts()
    local raw1 = assert(mailcast.message(spec { cache = cache, attachments = { { path = path } } }))
    mime.write(path, "version two, longer\r\n")
    local raw2 = assert(mailcast.message(spec { cache = cache, attachments = { { path = path } } }))
    assert.equal(2, cache.misses)
    assert.equal(0, cache.hits)
    assert.equal("version one\r\n", attachment(raw1))
    assert.equal("version two, longer\r\n", attachment(raw2))
  end)

  it("encodes a file again when only its modification time changed", function()
    local path = dir .. "/same-size.txt"
    mime.write(path, "AAAA\r\n")
    os.execute("touch -d '2001-01-01 00:00:00' " .. mime.sh_quote(path))
    local cache = mailcast.parts()
    assert(mailcast.message(spec { cache = cache, attachments = { { path = path } } }))
    mime.write(path, "BBBB\r\n")
    os.execute("touch -d '2002-02-02 00:00:00' " .. mime.sh_quote(path))
    local raw = assert(mailcast.message(spec { cache = cache, attachments = { { path = path } } }))
    assert.equal(2, cache.misses)
    assert.equal("BBBB\r\n", attachment(raw))
  end)

  it("reports a file that is not there", function()
    local cache = mailcast.parts()
    local part, err = cache:part { path = dir .. "/missing.pdf" }
    assert.is_nil(part)
    assert.matches("cannot open '.*/missing%.pdf'", err)
  end)

  it("does not cache streamed parts", function()
    local path = dir .. "/big.bin"
    mime.write(path, DATA)
    local cache = mailcast.parts()
    for _ = 1, 2 do
      assert(mailcast.message(spec { cache = cache, attachments = { { path = path, stream = true } } }))
    end
    assert.equal(0, cache.misses)
    assert.equal(0, cache.hits)
  end)

  it("passes Part objects through as they are", function()
    local cache = mailcast.parts()
    local part = assert(mailcast.part { data = DATA })
    assert.equal(part, cache:part(part))
    assert.equal(0, cache.misses + cache.hits)
  end)

  it("encodes afresh when cache is false", function()
    local cache = mailcast.parts()
    assert(mailcast.message(spec { cache = false, attachments = { { data = DATA, filename = "a.bin" } } }))
    assert.equal(0, cache.misses + cache.hits)
  end)

  it("starts afresh when it holds max_entries parts", function()
    local cache = mailcast.parts { max_entries = 1 }
    assert(cache:part { data = "one" })
    assert(cache:part { data = "two" })
    assert(cache:part { data = "one" })
    assert.equal(3, cache.misses)
    assert.equal(1, cache.entries)
  end)

  it("keeps a part alive in a message after the cache dropped it", function()
    local cache = mailcast.parts()
    local msg = assert(mailcast.build(spec { cache = cache, attachments = { { data = DATA, filename = "a.bin" } } }))
    cache:clear()
    collectgarbage()
    collectgarbage()
    assert.equal(DATA, attachment(msg:tostring()))
    msg:close()
  end)

  it("gives the same bytes for a part in every message that uses it", function()
    local part = assert(mailcast.part { data = DATA, filename = "a.bin" })
    local raw1 = assert(mailcast.message(spec { attachments = { part } }))
    local raw2 = assert(mailcast.message(spec { to = "other@example.org", attachments = { part } }))
    local head = part:head()
    assert.truthy(raw1:find(head, 1, true))
    assert.truthy(raw2:find(head, 1, true))
    assert.equal(attachment(raw1), attachment(raw2))
  end)

  it("reports a part's size as the bytes it takes in a message", function()
    local part = assert(mailcast.part { data = DATA, filename = "a.bin" })
    local raw = assert(mailcast.message(spec { attachments = { part } }))
    local at = raw:find(part:head(), 1, true)
    local len = #part:head() + 2 + #mailcast.b64(DATA, true)
    assert.equal(len, part:size())
    assert.equal("\r\n--", raw:sub(at + len, at + len + 3))
  end)
end)


describe("streamed attachments and writing messages out", function()
  local dir, path
  before_each(function()
    dir = mime.tmpdir()
    path = dir .. "/big.bin"
    mime.write(path, DATA)
  end)
  after_each(function() mime.rmdir(dir) end)

  local function streamed()
    return spec { attachments = { { path = path, stream = true, filename = "big.bin" } } }
  end

  it("encodes a streamed file into the message", function()
    local raw = assert(mailcast.message(streamed()))
    assert.equal(mailcast.b64(DATA), mailcast.b64(attachment(raw)))
    assert.equal("big.bin", mailcast.parse(raw).parts[2].filename)
  end)

  it("writes to an open file the same bytes as tostring", function()
    local msg = assert(mailcast.build(streamed()))
    local out = dir .. "/out.eml"
    local f = assert(io.open(out, "wb"))
    assert.is_true(msg:write(f))
    f:close()
    assert.equal(msg:tostring(), mime.read(out))
    msg:close()
  end)

  it("writes to an ltn12 sink the same bytes as tostring, then calls it with nil", function()
    local msg = assert(mailcast.build(streamed()))
    local sink, chunks, finished = collector()
    assert.is_true(msg:write(sink))
    assert.is_true(finished())
    assert.is_true(#chunks > 1)
    assert.equal(msg:tostring(), table.concat(chunks))
    msg:close()
  end)

  it("reports as its size the length of what it writes", function()
    local shapes = {
      spec {},
      spec { html = "<p>x</p>" },
      spec { html = "<p>x</p>", inline = { { data = DATA, cid = "c" } } },
      spec { attachments = { { data = DATA, filename = "d.bin" } } },
      streamed(),
      spec { text = "no final break" },
    }
    for _, t in ipairs(shapes) do
      local msg = assert(mailcast.build(t))
      assert.equal(#msg:tostring(), msg:size())
      msg:close()
    end
  end)

  it("streams files of every size around the encoder's line and chunk lengths", function()
    for _, n in ipairs { 0, 1, 56, 57, 58, 57 * 1024 - 1, 57 * 1024, 57 * 1024 + 1, 200000 } do
      local data = mime.random_bytes(n, n)
      mime.write(path, data)
      local msg = assert(mailcast.build(streamed()))
      local sink, chunks = collector()
      assert.is_true(msg:write(sink))
      local raw = table.concat(chunks)
      assert.equal(msg:size(), #raw)
      assert.equal(msg:tostring(), raw)
      assert.equal(mailcast.b64(data), mailcast.b64(attachment(raw)), "size " .. n)
      msg:close()
    end
  end)

  it("writes a message with mailcast.write_message to a file", function()
    local out = dir .. "/out.eml"
    local f = assert(io.open(out, "wb"))
    assert.is_true(mailcast.write_message(streamed(), f))
    f:close()
    assert.equal(mailcast.b64(DATA), mailcast.b64(attachment(mime.read(out))))
  end)

  it("writes a message with mailcast.write_message to a sink", function()
    local sink, chunks = collector()
    assert.is_true(mailcast.write_message(streamed(), sink))
    assert.equal(mailcast.b64(DATA), mailcast.b64(attachment(table.concat(chunks))))
  end)

  it("stops when the sink reports an error and returns it", function()
    local msg = assert(mailcast.build(streamed()))
    local calls = 0
    local ok, err = msg:write(function() calls = calls + 1; return nil, "disk full" end)
    assert.is_nil(ok)
    assert.equal("sink: disk full", err)
    assert.equal(1, calls)
    msg:close()
  end)

  it("returns an error raised by the sink", function()
    local msg = assert(mailcast.build(streamed()))
    local ok, err = msg:write(function() error("sink broke") end)
    assert.is_nil(ok)
    assert.matches("^sink: .*sink broke", err)
    msg:close()
  end)

  it("fails when a streamed file changed size after the build", function()
    local msg = assert(mailcast.build(streamed()))
    mime.write(path, DATA .. "more")
    local ok, err = msg:tostring()
    assert.is_nil(ok)
    assert.matches("changed size", err)
    msg:close()
  end)

  it("fails when a streamed file is gone when written", function()
    local msg = assert(mailcast.build(streamed()))
    os.remove(path)
    local ok, err = msg:write(function() return 1 end)
    assert.is_nil(ok)
    assert.matches("cannot open", err)
    msg:close()
  end)

  it("refuses to stream something that is not a regular file", function()
    local raw, err = mailcast.message(spec { attachments = { { path = dir, stream = true } } })
    assert.is_nil(raw)
    assert.matches("^attachments%[1%]: cannot stream .*not a regular file", err)
  end)

  it("refuses an encoding other than base64 for a streamed file", function()
    local raw, err = mailcast.message(spec { attachments = { { path = path, stream = true, encoding = "quoted-printable" } } })
    assert.is_nil(raw)
    assert.equal("attachments[1]: a streamed file is always base64", err)
  end)

  it("raises when writing to a closed file", function()
    local msg = assert(mailcast.build(spec {}))
    local f = assert(io.open(dir .. "/closed.eml", "wb"))
    f:close()
    assert.has_error(function() msg:write(f) end, "attempt to use a closed file")
    msg:close()
  end)

  it("raises when writing to something that is neither a file nor a function", function()
    local msg = assert(mailcast.build(spec {}))
    assert.has_error(function() msg:write("out.eml") end)
    msg:close()
  end)

  it("raises when a closed message is used, and closes twice safely", function()
    local msg = assert(mailcast.build(spec {}))
    msg:close()
    msg:close()
    assert.has_error(function() msg:tostring() end, "attempt to use a closed message")
    assert.has_error(function() msg:size() end, "attempt to use a closed message")
  end)
end)
