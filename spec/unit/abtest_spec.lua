-- The A/B test's arithmetic: which rows of a list are in the test group
-- and with which variant, the winner of a test's figures, and times.
local abtest = require "mailcast.abtest"

describe("mailcast.abtest", function()
  it("puts the test fraction of a list in the test group, spread along it, the variants in turn", function()
    local test = { fraction = 0.2, count = 2 }
    local counts, order = { [0] = 0, 0, 0 }, {}
    for k = 1, 1000 do
      local v = abtest.variant_at(test, k)
      counts[v] = counts[v] + 1
      if v > 0 and #order < 4 then order[#order + 1] = k .. ":" .. v end
    end
    assert.same({ [0] = 800, 100, 100 }, counts)
    assert.same({ "5:1", "10:2", "15:1", "20:2" }, order)
  end)

  it("splits a test evenly between three variants, and a whole list when the fraction is 1", function()
    local counts = { [0] = 0, 0, 0, 0 }
    for k = 1, 300 do
      local v = abtest.variant_at({ fraction = 0.5, count = 3 }, k)
      counts[v] = counts[v] + 1
    end
    assert.same({ [0] = 150, 50, 50, 50 }, counts)
    for k = 1, 10 do assert.is_true(abtest.variant_at({ fraction = 1, count = 2 }, k) > 0) end
  end)

  it("picks the best rate against delivered, the first on a tie, from the test groups only", function()
    local rows = {
      { variant = 1, test = 1, delivered = 10, opens_unique = 3, clicks_unique = 2 },
      { variant = 1, test = 0, delivered = 100, opens_unique = 90, clicks_unique = 90 },
      { variant = 2, test = 1, delivered = 5, opens_unique = 2, clicks_unique = 1 },
      { variant = 3, test = 1, delivered = 10, opens_unique = 3, clicks_unique = 2 },
      { variant = 0, test = 0, delivered = 0, opens_unique = 0, clicks_unique = 0 },
    }
    assert.equal(2, abtest.winner(rows, "opens"))    -- 40% against 30%
    assert.equal(1, abtest.winner(rows, "clicks"))   -- 20%, 20%, 20%: the first
    assert.equal(1, abtest.winner({}, "opens"))
    assert.equal(1, abtest.winner({ { variant = 2, test = 1, delivered = 0, opens_unique = 0 } }, "opens"))
  end)

  it("reads times as seconds", function()
    assert.same({ 2, 90, 900, 14400, 172800, 1.5, 30 },
      { abtest.seconds("2s"), abtest.seconds("90s"), abtest.seconds("15m"), abtest.seconds("4h"),
        abtest.seconds("2d"), abtest.seconds("1.5s"), abtest.seconds(30) })
  end)
end)
