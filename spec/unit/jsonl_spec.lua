-- JSON lines as the accounting log and the machine-readable progress
-- write them: every line must be valid JSON whatever a server's reply holds.
local jsonl = require "mailcast.jsonl"
local json = require "dkjson"

-- Decodes one line; fails the test when it is not a JSON object.
local function decode(line)
  local value, _, err = json.decode(line, 1, nil)
  assert(err == nil, "not JSON: " .. tostring(err) .. ": " .. line)
  assert.equal("table", type(value))
  return value
end

describe("mailcast.jsonl", function()
  it("writes a string with quotes and backslashes escaped", function()
    assert.equal([["say \"hi\" C:\\tmp"]], jsonl.string([[say "hi" C:\tmp]]))
  end)

  it("writes the usual control characters with their short escapes", function()
    assert.equal([["a\nb\rc\td\be\ff"]], jsonl.string("a\nb\rc\td\be\ff"))
  end)

  it("writes every other control character as \\u00XX", function()
    assert.equal([["\u0000\u0001\u001b\u001f\u007f"]], jsonl.string("\0\1\27\31\127"))
  end)

  it("round-trips every ASCII byte through a JSON parser", function()
    local all = {}
    for i = 0, 127 do all[#all + 1] = string.char(i) end
    local s = table.concat(all)
    local line = jsonl.encode({ text = s }, { "text" })
    assert.equal(s, decode(line).text)
  end)

  it("keeps valid UTF-8 as it is", function()
    assert.equal('"Grüße, 日本 ✉"', jsonl.string("Grüße, 日本 ✉"))
  end)

  it("turns bytes that are not UTF-8 into characters, so the line stays valid", function()
    local s = "550 caf\233 \255\254 end"   -- Latin-1 é, then two bytes no UTF-8 has
    local out = jsonl.string(s)
    assert.is_truthy(utf8.len(out))
    assert.equal("550 café ÿþ end", decode('{"t":' .. out .. "}").t)
  end)

  it("keeps a line valid when a truncated UTF-8 sequence ends the text", function()
    local out = jsonl.string("reply \226\130")   -- the first two bytes of "€"
    assert.is_truthy(utf8.len(out))
    decode('{"t":' .. out .. "}")
  end)

  it("writes the fields in the order given, leaving out nil ones", function()
    local line = jsonl.encode({ b = 2, a = "x", c = true, z = "not listed" }, { "c", "missing", "a", "b" })
    assert.equal('{"c":true,"a":"x","b":2}', line)
  end)

  it("writes an empty object when no field is set", function()
    assert.equal("{}", jsonl.encode({}, { "a", "b" }))
  end)

  it("writes integers as integers and floats with a fraction", function()
    local line = jsonl.encode({ i = 250, n = -3, f = 0.25, w = 2.0, big = 1234567.5 }, { "i", "n", "f", "w", "big" })
    assert.equal('{"i":250,"n":-3,"f":0.25,"w":2.0,"big":1234567.5}', line)
    local v = decode(line)
    assert.same({ 250, -3, 0.25, 2, 1234567.5 }, { v.i, v.n, v.f, v.w, v.big })
  end)

  it("writes false as false, and NaN and infinities as null", function()
    local line = jsonl.encode({ a = false, b = 0 / 0, c = math.huge, d = -math.huge }, { "a", "b", "c", "d" })
    assert.equal('{"a":false,"b":null,"c":null,"d":null}', line)
  end)

  it("writes a time as ISO 8601 UTC with milliseconds", function()
    assert.equal("1970-01-01T00:00:00.000Z", jsonl.iso_time(0))
    assert.equal("2001-09-09T01:46:40.250Z", jsonl.iso_time(1000000000.25))
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", jsonl.iso_time(os.time() + 0.999))
  end)

  it("produces one line: no raw line break whatever the values hold", function()
    local line = jsonl.encode({ text = "a\r\nb\nc", other = "\n" }, { "text", "other" })
    assert.is_nil(line:find("[\r\n]"))
    assert.equal("a\r\nb\nc", decode(line).text)
  end)

  it("writes values given in the order of the fields as encode writes the same record", function()
    local fields = { "a", "b", "c", "d", "e" }
    local record = { a = "x\n", c = 2.5, d = true, e = 7 }
    assert.equal(jsonl.encode(record, fields), jsonl.values(fields, "x\n", nil, 2.5, true, 7))
    assert.equal('{"a":1}', jsonl.values(fields, 1, nil, nil))
    assert.equal("{}", jsonl.values(fields))
    assert.has_error(function() jsonl.values({ "a" }, 1, 2) end)
  end)
end)
