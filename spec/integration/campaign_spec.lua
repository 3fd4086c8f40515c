-- Campaigns run as users run them: `mailcast run campaign.lua` against
-- the built-in sink, stopped and started again, and killed with SIGKILL.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local socket = require "socket"

local run = helper.sh

-- Writes a campaign for n recipients (plus the special ones given) to dir.
-- rate: the route's limit (e.g. "100/s"), none when nil.
local function write_campaign(dir, port, n, extra_rows, extra_fields, rate)
  local rows = { "email,first_name" }
  for i = 1, n do rows[#rows + 1] = string.format("user%d@example.org,User %d", i, i) end
  for _, r in ipairs(extra_rows or {}) do rows[#rows + 1] = r end
  mime.write(dir .. "/list.csv", table.concat(rows, "\n") .. "\n")
  mime.write(dir .. "/campaign.lua", string.format([[
    local mailcast = require "mailcast"
    return mailcast.campaign{
      name = "november",
      from = "News <news@example.com>",
      subject = "Hello {{first_name}}",
      text = "Dear {{first_name}},\nthe news.\n",
      html = "<p>Dear {{first_name}},</p>",
      recipients = %q,
      route = { host = "127.0.0.1", port = %d, tls = "none" },
      limits = { connections = 2, messages_per_connection = 10%s },
      retry = { first = 0 },
      personalize = function(address, vars)
        if address == "skip@example.org" then return "asked not to" end
        if address == "broken@example.org" then vars.first_name = nil end
        if address == "raise@example.org" then error("the hook broke") end
        if address == "forge@example.org" then return "no\r\nmailcast: november: 0 delivered" end
      end,
      %s
    }
  ]], dir .. "/list.csv", port, rate and string.format(", rate = %q", rate) or "", extra_fields or ""))
end

local function runner_cmd(dir, args)
  return mime.sh_quote(helper.runner) .. " run " .. mime.sh_quote(dir .. "/campaign.lua") .. " " .. (args or "")
end

describe("mailcast run with a campaign", function()
  local dir, sink
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start('--reject gone@example.org="550 5.1.1 No such user" --reject later@example.org="451 4.2.0 Try later"')
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  it("delivers, fails, defers and skips each recipient as its server and hooks say, naming what went wrong", function()
    write_campaign(dir, sink.port, 10, { "gone@example.org,Gone", "later@example.org,Later", "skip@example.org,Skip",
      "broken@example.org,Broken", "raise@example.org,Raise", "bad row with no comma",
      "nul@example.org,Nul\0unsubscribe_url\0http://elsewhere" })
    local out, code = run(runner_cmd(dir))
    assert.equal(3, code, out)   -- two rows of the list refused
    assert.matches("november: 11 delivered, 1 deferred, 2 failed, 1 skipped, 0 suppressed, 0 pending", out, 1, true)
    assert.matches("list.csv:17: 1 fields where the header has 2", out, 1, true)
    assert.matches("row at line 18: field 'first_name' has a NUL byte", out, 1, true)
    assert.matches("november: 2 rows of the list were refused", out, 1, true)
    assert.matches("broken@example.org: template subject:1: missing variable 'first_name'", out, 1, true)
    assert.matches("hook personalize %(.*campaign.lua:%d+%) failed: .*the hook broke; the default applies", out)
    assert.equal(11, #sink.files())
  end)

  it("writes each warning on one line, whatever a hook's answer holds", function()
    write_campaign(dir, sink.port, 1, { "forge@example.org,Forge" })
    local out, code = run(runner_cmd(dir))
    assert.equal(0, code, out)
    assert.matches("forge@example.org: skipped by personalize: no\\r\\nmailcast: november: 0 delivered\n", out, 1, true)
    assert.not_matches("\nmailcast: november: 0 delivered", out, 1, true)
    assert.matches("november: 1 delivered, 0 deferred, 0 failed, 1 skipped", out, 1, true)
  end)

  it("resumes where it stopped: nothing delivered twice, the deferred tried again", function()
    write_campaign(dir, sink.port, 10, { "later@example.org,Later" })
    local _, code = run(runner_cmd(dir))
    assert.equal(0, code)
    socket.sleep(1.1)   -- a deferred recipient is due the next second at the earliest
    local out
    out, code = run(runner_cmd(dir))
    assert.equal(0, code, out)
    assert.matches("10 delivered, 1 deferred", out, 1, true)
    assert.equal(10, #sink.files())
    local store = assert(mailcast.store(dir .. "/november.mailcast.db"))
    local c = store:claim(store:campaign("november"), 10, os.time() + 10)
    store:close()
    assert.equal(1, #c, out)
    assert.equal("later@example.org", c[1].address)
    assert.equal(2, c[1].attempts)
  end)

  it("keeps its store where --store says", function()
    write_campaign(dir, sink.port, 2)
    local out, code = run(runner_cmd(dir, "--store " .. mime.sh_quote(dir .. "/elsewhere.db")))
    assert.equal(0, code, out)
    assert.truthy(io.open(dir .. "/elsewhere.db"))
    assert.is_nil(io.open(dir .. "/november.mailcast.db"))
  end)

  it("checks everything without sending on --dry-run, naming each problem's line as a run does", function()
    write_campaign(dir, sink.port, 5, { "broken@example.org,Broken", ",Nobody",
      "nul@example.org,Nul\0x" })
    local out, code = run(runner_cmd(dir, "--dry-run"))
    assert.equal(1, code)
    assert.matches("november: 5 messages ready, 3 problems", out, 1, true)
    assert.matches("broken@example.org (row at line 7): template subject:1: missing variable 'first_name'",
      out, 1, true)
    assert.matches("row at line 8 has no 'email'", out, 1, true)
    assert.matches("row at line 9: field 'first_name' has a NUL byte", out, 1, true)
    assert.equal(0, #sink.files())
    assert.is_nil(io.open(dir .. "/november.mailcast.db"))
  end)

  it("loses no one and re-sends at most one batch when killed with SIGKILL", function()
    -- at 100 messages a second the kill comes well before the last one,
    -- however slowly this machine polls the sink
    write_campaign(dir, sink.port, 200, nil, nil, "100/s")
    local p = io.popen(runner_cmd(dir, "--quiet") .. " >/dev/null 2>&1 & echo $!")
    local pid = p:read("l")
    p:close()
    for _ = 1, 500 do
      if #sink.files() >= 60 then break end
      socket.sleep(0.01)
    end
    os.execute("kill -9 " .. pid .. " 2>/dev/null")
    local at_kill = #sink.files()
    assert.is_true(at_kill >= 60 and at_kill < 200, "killed after " .. at_kill .. " messages")
    socket.sleep(0.2)
    local out, code = run(runner_cmd(dir))
    assert.equal(0, code, out)
    assert.matches("200 delivered, 0 deferred", out, 1, true)
    -- what it says of them: claimed, and the bound on second copies
    assert.matches("recipients were claimed by the last run and have no outcome recorded", out, 1, true)
    assert.matches("at most connections x messages per connection of each destination", out, 1, true)
    local seen, copies = {}, 0
    for _, f in ipairs(sink.files()) do
      local to = f:match("Delivered%-To: ([^\r\n]+)")
      seen[to] = (seen[to] or 0) + 1
      copies = copies + 1
    end
    local distinct = 0
    for _ in pairs(seen) do distinct = distinct + 1 end
    assert.equal(200, distinct)
    assert.is_true(copies - 200 <= 20, (copies - 200) .. " duplicates")   -- one batch: 2 connections x 10
  end)
end)
