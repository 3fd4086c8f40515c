-- A campaign's parts that need no server: its routes, hooks and messages.
local mailcast = require "mailcast"

local function campaign(extra)
  local t = { name = "unit", from = "News <news@example.com>", subject = "Hi {{name}}", text = "Hello {{name}}",
              recipients = { { email = "a@example.org", name = "A" } } }
  for k, v in pairs(extra or {}) do t[k] = v end
  if t.route == nil and t.routes == nil then t.route = { host = "127.0.0.1", port = 2525 } end
  return mailcast.campaign(t)
end

describe("a recipient row as the store keeps it", function()
  local campaign_mod = require "mailcast.campaign"

  it("keeps string and number fields, sorted by name, and leaves out _fields and others", function()
    local row = { name = "Ann", email = "a@example.org", n = 3, f = 1.5, _line = 7, vip = true, t = {}, [1] = "x" }
    assert.equal("email\0a@example.org\0f\0" .. "1.5\0n\0" .. "3\0name\0Ann", campaign_mod.encode(row))
  end)

  it("gives the row back, values as strings", function()
    assert.same({ a = "x", b = "", c = "10" }, campaign_mod.decode(campaign_mod.encode { b = "", a = "x", c = 10 }))
    assert.equal("", campaign_mod.encode {})
  end)

  it("refuses a field with a NUL byte, which would shift the fields after it", function()
    local data, err = campaign_mod.encode { email = "a@example.org", name = "Ann\0unsubscribe_url\0http://evil" }
    assert.is_nil(data)
    assert.equal("field 'name' has a NUL byte", err)
  end)
end)

describe("a campaign's routes", function()
  it("names a single route table 'default'", function()
    local c = campaign { route = { host = "127.0.0.1", port = 2525 } }
    assert.equal("default", c.default_route)
    assert.equal(2525, c.routes.default.port)
  end)

  -- A campaign without a route once sent to 127.0.0.1:2525 without a word.
  it("refuses a campaign that names no route, saying how to name one", function()
    local ok, err = pcall(mailcast.campaign, { name = "unit", from = "news@example.com", subject = "Hi",
                                               text = "Hello", recipients = {} })
    assert.is_false(ok)
    assert.matches("campaign_spec%.lua:%d+: campaign: it has no route: say where its mail goes", err)
    assert.matches("route = { mx = true }", err, 1, true)
  end)

  it("takes the only named route as the default", function()
    assert.equal("relay", campaign { routes = { relay = { host = "127.0.0.1" } } }.default_route)
  end)

  it("wants default_route when there are several and a hook picks", function()
    local ok, err = pcall(campaign, { routes = { a = { host = "127.0.0.1" }, b = { mx = true } },
                                      route = function() return "a" end })
    assert.is_false(ok)
    assert.matches("several routes (a, b)", err, 1, true)
    assert.matches("default_route", err, 1, true)
  end)

  it("refuses a default route it does not have", function()
    local ok, err = pcall(campaign, { routes = { a = { host = "127.0.0.1" } }, route = "b" })
    assert.is_false(ok)
    assert.matches("default route 'b' is not among its routes (a)", err, 1, true)
  end)

  it("asks the route hook, and falls back to the default when it names no route or raises", function()
    local c = campaign { routes = { a = { host = "127.0.0.1" }, b = { mx = true } }, default_route = "a",
      route = function(m)
        if m.domain == "example.net" then return "b" end
        if m.domain == "example.com" then return "nowhere" end
        if m.domain == "broken.example" then error("hook broke") end
      end }
    c.quiet = true
    assert.equal("b", c:route_for("x@Example.NET", {}, {}))
    assert.equal("a", c:route_for("x@example.org", {}, {}))
    assert.equal("a", c:route_for("x@example.com", {}, {}))
    assert.equal("a", c:route_for("x@broken.example", {}, {}))
    assert.equal(2, c.warnings)
  end)
end)

describe("a campaign's templates", function()
  -- "Hi {{name}" passed --dry-run and would have gone out as it was.
  it("stops the script at its line on a tag that is never closed", function()
    for _, field in ipairs { "subject", "text", "html" } do
      local ok, err = pcall(campaign, { [field] = "Hi {{name}" })
      assert.is_false(ok)
      assert.matches("campaign_spec%.lua:%d+: template " .. field .. ":1: '{{name' needs '}}'$", err)
    end
  end)
end)

describe("a campaign's hooks", function()
  it("stops one that runs away and applies the default", function()
    local c = campaign { hook_limit = 100000, personalize = function() while true do end end }
    c.quiet = true
    local msg = c:message("a@example.org", { name = "A" })
    assert.is_table(msg)
    assert.equal(1, c.warnings)
  end)

  it("skips a recipient when personalize gives a reason", function()
    local c = campaign { personalize = function() return "asked not to" end }
    local msg, why, state = c:message("a@example.org", { name = "A" })
    assert.is_nil(msg)
    assert.equal("skipped by personalize: asked not to", why)
    assert.equal("skipped", state)
  end)

  it("names the template, line and variable that is missing", function()
    local c = campaign { text = "Hello\n{{nickname}}" }
    local msg, why = c:message("a@example.org", { name = "A" })
    assert.is_nil(msg)
    assert.equal("template text:2: missing variable 'nickname'", why)
  end)
end)

describe("mailcast.hooks", function()
  local hooks = require "mailcast.hooks"

  it("runs a hook on a coroutine of its pool and gives back what it returns", function()
    local main = coroutine.running()
    local ok, a, b = hooks.call(function(x, y)
      local co, is_main = coroutine.running()
      assert(co ~= main and not is_main)
      return x + y, "two"
    end, nil, 1, 2)
    assert.same({ true, 3, "two" }, { ok, a, b })
  end)

  it("catches an error, an endless loop and a yield, and goes on with the next hook", function()
    assert.same({ false }, { (hooks.call(function() error("no") end)) })
    local ok, err = hooks.call(function() while true do end end, 10000)
    assert.is_false(ok)
    assert.matches("instruction limit", err)
    ok, err = hooks.call(function() coroutine.yield(1) end)
    assert.is_false(ok)
    assert.matches("cannot wait", err)
    assert.same({ true, "fine" }, { hooks.call(function() return "fine" end) })
  end)
end)
