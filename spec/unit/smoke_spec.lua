describe("smoke", function()
  it("loads the module", function()
    local mc = require "mailcast"
    assert.is_string(mc.version)
  end)
end)
