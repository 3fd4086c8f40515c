-- Hooks called with an outcome (on_reply, on_delivered, on_deferred,
-- on_failed) that wait: a look-up with mailcast.mx, a notice sent with
-- mailcast.send. The engine goes on recording and sending the others
-- while one such hook waits, and an outcome whose on_reply hook is still
-- waiting when the run is paused is recorded all the same: a message
-- sent is never sent again for want of its record.
local helper = require "helper"
local socket = require "socket"
local mime = require "support.mime"
local servers = require "support.servers"
local campaign_run = require "support.campaign_run"

local q = mime.sh_quote

-- The times the campaign's hooks wrote to dir/hooks.log, one line each:
-- "asked T", "answered T", "delivered ADDRESS T".
local function hook_log(dir)
  local asked, answered, delivered = nil, nil, {}
  for line in (mime.try_read(dir .. "/hooks.log") or ""):gmatch("[^\n]+") do
    local what, rest = line:match("^(%S+) (.*)$")
    if what == "asked" then asked = tonumber(rest)
    elseif what == "answered" then answered = tonumber(rest)
    elseif what == "delivered" then
      local address, t = rest:match("^(%S+) (%S+)$")
      delivered[#delivered + 1] = { address = address, time = tonumber(t) }
    end
  end
  return asked, answered, delivered
end

-- Lua source for the campaign's script: a function note(line) that adds
-- a line with the time to dir/hooks.log.
local function noting(dir)
  return string.format([[
local function note(line)
  local f = assert(io.open(%q, "a"))
  f:write(line, " ", string.format("%%.3f", require("socket").gettime()), "\n")
  f:close()
end
]], dir .. "/hooks.log")
end

-- Writes campaign.lua: the prelude (Lua before the campaign table) and
-- the campaign's fields.
local function write(dir, name, list, prelude, fields)
  campaign_run.write_campaign(dir, name, list, fields)
  local path = dir .. "/campaign.lua"
  local script = mime.read(path)
  mime.write(path, script:gsub('local mailcast = require "mailcast"\n',
    function(m) return m .. prelude end, 1))
end

local function addresses(first, n)
  local list = { first }
  for i = 1, n do list[#list + 1] = "r" .. i .. "@fast.test" end
  return list
end

-- Delivered recipients other than first whose on_delivered hook ran
-- while the waiting hook waited.
local function recorded_meanwhile(dir, first)
  local asked, answered, delivered = hook_log(dir)
  assert.truthy(asked, "the hook never asked")
  assert.truthy(answered, "the hook never got its answer")
  local n = 0
  for _, d in ipairs(delivered) do
    if d.address ~= first and d.time > asked and d.time < answered - 0.2 then n = n + 1 end
  end
  return n, delivered
end

describe("an on_reply hook that waits for a look-up", function()
  local dir, sink, resolver
  before_each(function()
    dir = mime.tmpdir()
    sink = servers.sink()
  end)
  after_each(function()
    sink:stop()
    if resolver then resolver:stop() end
    resolver = nil
    mime.rmdir(dir)
  end)

  local function campaign(delay, extra, port, decision)
    resolver = servers.fault_dns{
      mx = { ["slow.test"] = { { 10, "mx.slow.test" } } }, a = { ["mx.slow.test"] = "127.0.0.1" },
      delay = { ["slow.test"] = delay },
    }
    local prelude = noting(dir)
    write(dir, "replying", addresses("s@slow.test", 60), prelude, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  %s
  on_reply = function(address, reply)
    if address ~= "s@slow.test" then return end
    note("asked")
    local mx = assert(mailcast.mx("slow.test", { server = %q }))
    note("answered")
    assert(mx.status == "ok", tostring(mx.status))
    return %s
  end,
  on_delivered = function(address) note("delivered " .. address) end,]], port or sink.port, extra or "", resolver.server,
      decision and string.format("%q", decision) or "nil"))
  end

  it("holds up only its own outcome: the others are recorded while it waits", function()
    -- 20 a second: the sending lasts 3 s, the hook's answer takes 2.
    campaign(2, 'limits = { rate = "20/s" },')
    local out, code = campaign_run.run_campaign(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches("61 delivered", out)
    local meanwhile, delivered = recorded_meanwhile(dir, "s@slow.test")
    assert.is_true(meanwhile >= 10, "recorded while the hook waited: " .. meanwhile)
    assert.equal(61, #delivered)
    assert.equal(61, #sink:messages())
  end)

  it("still waiting when the run is paused: its recipient is recorded, and never sent again", function()
    campaign(60)
    os.execute(string.format("cd %s && (sh -c 'echo $$ > pid; exec \"$0\" run campaign.lua --quiet' %s > out 2>&1; echo $? > code) &",
      q(dir), q(helper.runner)))
    -- Ctrl-C once the hook has asked and every message has gone.
    for _ = 1, 1500 do
      local asked = hook_log(dir)
      if asked and #sink:messages() == 61 then break end
      socket.sleep(0.02)
    end
    assert.equal(61, #sink:messages())
    os.execute("kill -INT " .. mime.read(dir .. "/pid"))
    local code
    for _ = 1, 1500 do
      code = tonumber(mime.try_read(dir .. "/code") or "")
      if code then break end
      socket.sleep(0.02)
    end
    local out = mime.try_read(dir .. "/out") or ""
    assert.equal(130, code, out)
    local status, scode = helper.sh("cd " .. q(dir) .. " && " .. q(helper.runner) .. " status campaign.lua --json")
    assert.equal(0, scode, status)
    local st = campaign_run.decode(status:match("[^\n]+"))
    assert.equal(61, st.delivered, status)
    assert.equal(0, st.pending, status)
    -- The next run has nothing to send.
    local again, acode = campaign_run.run_campaign(dir, "--quiet")
    assert.equal(0, acode, again)
    assert.equal(61, #sink:messages())
  end)
end)

describe("an on_reply hook's answer after its wait", function()
  it("decides its recipient's outcome: a deferral it says to suppress is suppressed", function()
    local dir = mime.tmpdir()
    local server = servers.fault("rcpt_codes", { codes = { ["s@slow.test"] = "450 4.2.0 Mailbox busy" } })
    local resolver = servers.fault_dns{
      mx = { ["slow.test"] = { { 10, "mx.slow.test" } } }, a = { ["mx.slow.test"] = "127.0.0.1" },
      delay = { ["slow.test"] = 1 },
    }
    finally(function() server:stop() resolver:stop() mime.rmdir(dir) end)
    write(dir, "deciding", addresses("s@slow.test", 3), noting(dir), string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  on_reply = function(address, reply)
    if address ~= "s@slow.test" then return end
    note("asked")
    assert(mailcast.mx("slow.test", { server = %q }))
    note("answered")
    return "suppress"
  end,]], server.port, resolver.server))
    local out, code = campaign_run.run_campaign(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches("3 delivered, 0 deferred, 0 failed, 0 skipped, 1 suppressed", out)
    local asked, answered = hook_log(dir)
    assert.truthy(asked and answered, "the hook did not wait")
    local list = helper.sh("cd " .. q(dir) .. " && " .. q(helper.runner) .. " suppress list --store deciding.mailcast.db")
    assert.matches("s@slow.test", list, 1, true)
  end)
end)

describe("an on_delivered hook that sends a notice", function()
  it("waits alone for its server while the others are sent and recorded", function()
    local dir = mime.tmpdir()
    local sink = servers.sink()
    -- The notice's server takes 2 s to answer the end of its data.
    local slow = servers.fault("slow_reply", { command = "DOT", delay = 2 })
    finally(function() sink:stop() slow:stop() mime.rmdir(dir) end)
    local prelude = noting(dir)
    write(dir, "noticing", addresses("first@fast.test", 60), prelude, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  limits = { rate = "20/s" },
  on_delivered = function(address)
    note("delivered " .. address)
    if address ~= "first@fast.test" then return end
    note("asked")
    local results = assert(mailcast.send({ host = "127.0.0.1", port = %d, tls = "none" }, {
      { from = "news@example.com", to = { "editor@example.net" },
        message = "Subject: delivered to " .. address .. "\r\n\r\nA notice.\r\n" } }))
    note("answered")
    assert(results[1].status == "sent", results[1].status)
  end,]], sink.port, slow.port))
    local out, code = campaign_run.run_campaign(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches("61 delivered", out)
    local meanwhile = recorded_meanwhile(dir, "first@fast.test")
    assert.is_true(meanwhile >= 10, "recorded while the hook waited: " .. meanwhile)
    local notices = 0
    for _, line in ipairs(slow:transcript()) do
      if line == "Subject: delivered to first@fast.test" then notices = notices + 1 end
    end
    assert.equal(1, notices)
  end)
end)
