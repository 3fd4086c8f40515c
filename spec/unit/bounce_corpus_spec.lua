-- Every notice of our own corpus (spec/support/bounces/manifest.lua):
-- its kind, every failed recipient, and each one's reason and hardness.
local bounce = require "mailcast.bounce"
local manifest = dofile("spec/support/bounces/manifest.lua")

local function read(path)
  local f = assert(io.open("spec/support/bounces/" .. path, "rb"))
  local raw = f:read("a")
  f:close()
  return raw
end


local function failed(b)
  local out = {}
  for _, r in ipairs(b.recipients) do
    if r.action == "failed" then out[#out + 1] = r end
  end
  return out
end


describe("mailcast.bounce.parse on our own corpus", function()
  for _, case in ipairs(manifest) do
    it("reads " .. case.file .. " as " .. case.kind .. " for " .. #case.recipients .. " recipient(s)", function()
      local b = assert(bounce.parse(read(case.file)))
      assert.equal(case.kind, b.kind)
      local got = failed(b)
      local addresses = {}
      for i, r in ipairs(got) do addresses[i] = r.address end
      local want = {}
      for i, r in ipairs(case.recipients) do want[i] = r.address end
      assert.same(want, addresses)
      for i, r in ipairs(case.recipients) do
        assert.equal(r.reads or r.reason, got[i].reason, r.address .. "'s reason")
        assert.equal(r.hard, got[i].hard, r.address .. "'s hardness")
      end
    end)
  end

  it("has a file for every entry and an entry for every file", function()
    local listed = {}
    for _, case in ipairs(manifest) do listed[case.file] = true end
    local p = assert(io.popen("cd spec/support/bounces && find . -name '*.eml' | sed 's|^./||'"))
    local files = 0
    for path in p:lines() do
      files = files + 1
      assert.is_true(listed[path] ~= nil, path .. " is not in the manifest")
    end
    p:close()
    assert.equal(#manifest, files)
  end)
end)
