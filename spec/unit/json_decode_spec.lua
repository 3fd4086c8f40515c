-- mailcast.json_decode: the reader of the JSON answers of services.
local json = require "mailcast.json_decode"

describe("json_decode", function()
  it("reads objects, arrays, strings with escapes, numbers and literals", function()
    local v = assert(json.decode([[ {"a": [1, -2.5, 3e2, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00", "o": {}} ]]))
    assert.are.same({ 1, -2.5, 300, true, false, json.null }, v.a)
    assert.are.equal('x"\\/\né😀', v.s)
    assert.are.same({}, v.o)
  end)

  it("leaves a null member out of its object", function()
    assert.are.same({ b = 1 }, json.decode('{"a": null, "b": 1}'))
  end)

  it("refuses what is not JSON, saying where", function()
    for _, bad in ipairs({ "", "{", '{"a" 1}', "[1,]", '"open', "[1] x", "{'a': 1}", '"\\q"' }) do
      local v, err = json.decode(bad)
      assert.is_nil(v, bad)
      assert.matches("^json: .* at byte %d+$", err)
    end
  end)

  it("refuses nesting deeper than it reads, without exhausting the stack", function()
    local v, err = json.decode(string.rep("[", 100000))
    assert.is_nil(v)
    assert.matches("too deep", err)
  end)
end)
