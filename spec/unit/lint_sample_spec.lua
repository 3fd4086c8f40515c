-- How `mailcast lint --sample N` picks its recipients: spread over the
-- whole list in one pass that keeps few rows.
local lint_sample = require "mailcast.lint_sample"

-- A campaign whose list has n rows, counting how many times it is read.
local function campaign(n)
  local c = { reads = 0 }
  function c:rows()
    self.reads = self.reads + 1
    local i = 0
    return function()
      i = i + 1
      if i <= n then return { email = "u" .. i .. "@example.org" } end
    end
  end
  return c
end

local function numbers(sample)
  local out = {}
  for i, s in ipairs(sample) do out[i] = s.n end
  return out
end

describe("lint --sample's spread", function()
  it("takes rows evenly spaced from the first of a short list", function()
    local sample, rows = lint_sample.spread(campaign(40), 4)
    assert.are.equal(40, rows)
    assert.same({ 1, 11, 21, 31 }, numbers(sample))
  end)

  it("takes every row of a list no longer than the sample", function()
    local sample, rows = lint_sample.spread(campaign(3), 10)
    assert.are.equal(3, rows)
    assert.same({ 1, 2, 3 }, numbers(sample))
  end)

  it("reads a long list once and lands each pick within a stride of its place", function()
    local c = campaign(100000)
    local sample, rows = lint_sample.spread(c, 10)
    assert.are.equal(1, c.reads)
    assert.are.equal(100000, rows)
    assert.are.equal(10, #sample)
    for k, n in ipairs(numbers(sample)) do
      local place = 1 + (k - 1) * 10000
      assert.is_true(n <= place and place - n < 100000 / 1024 * 2, string.format("pick %d is row %d", k, n))
      assert.are.equal("u" .. n .. "@example.org", sample[k].row.email)
    end
  end)

  it("gives an empty list an empty sample", function()
    local sample, rows = lint_sample.spread(campaign(0), 5)
    assert.are.equal(0, rows)
    assert.same({}, sample)
  end)
end)
