-- Several campaigns in one engine (mailcast run a.lua b.lua): the relay
-- they share keeps its connection limit across both, and the small one
-- is not starved by the big one ahead of it.
local mime = require "support.mime"
local servers = require "support.servers"
local campaign_run = require "support.campaign_run"

-- A campaign script named NAME.lua for n recipients of domain, on the
-- relay at port with 2 connections.
local function write(dir, name, n, port, extra)
  local rows = {}
  for i = 1, n do rows[i] = string.format("{ email = %q }", string.format("%s%d@%s.example", name, i, name)) end
  mime.write(dir .. "/" .. name .. ".lua", string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = %q, from = "news@example.com", subject = "Hello", text = "Hi.\n",
  recipients = { %s },
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  limits = { connections = 2, messages_per_connection = 10 },
  %s
}
]], name, table.concat(rows, ",\n"), port, extra or ""))
end

-- The outcome records of a campaign's accounting log.
local function outcomes(dir, name)
  local list = {}
  for _, r in ipairs(campaign_run.log_records(dir .. "/" .. name .. ".log.jsonl")) do
    if r.type == "outcome" then list[#list + 1] = r end
  end
  return list
end

-- How many of campaign a's outcomes came before campaign b's last one.
local function sent_before_end(dir, a, b)
  local of_b = outcomes(dir, b)
  local b_end, n = of_b[#of_b].time, 0
  for _, r in ipairs(outcomes(dir, a)) do if r.time <= b_end then n = n + 1 end end
  return n
end

-- The most connections the server had open at once.
local function peak(srv)
  local open, most = 0, 0
  for _, e in ipairs(srv:events()) do
    if e.kind == "accept" then open = open + 1 most = math.max(most, open)
    elseif e.kind == "close" then open = open - 1 end
  end
  return most
end

describe("mailcast run with two campaigns on one relay", function()
  it("keeps the relay's two connections across both, delivers each once, and the small one ends first", function()
    local dir = mime.tmpdir()
    -- Every message takes the relay 30 ms: the big list needs seconds.
    local srv = servers.fault("slow_reply", { command = "DOT", delay = 0.03, lifetime = 60 })
    finally(function() srv:stop() mime.rmdir(dir) end)
    write(dir, "big", 200, srv.port)
    write(dir, "small", 20, srv.port)
    local out, code = require("helper").sh(campaign_run.runner(dir, "run big.lua small.lua", "--quiet"))
    assert.equal(0, code, out)
    assert.matches("big: 200 delivered", out)
    assert.matches("small: 20 delivered", out)
    assert.is_true(peak(srv) <= 2, "more than 2 connections at once")
    local seen = {}
    for _, line in ipairs(srv:transcript()) do
      local to = line:match("^RCPT TO:<([^>]+)>")
      if to then seen[to] = (seen[to] or 0) + 1 end
    end
    local n = 0
    for _, count in pairs(seen) do n = n + 1 assert.equal(1, count) end
    assert.equal(220, n)
    -- The small campaign shared the relay from the start: it ended while
    -- the big one had sent well under half of its list.
    local big_before = sent_before_end(dir, "big", "small")
    assert.is_true(big_before < 100, big_before .. " of the big campaign went before the small one ended")
  end)

  it("gives a campaign of higher priority the larger share", function()
    local dir = mime.tmpdir()
    local srv = servers.fault("slow_reply", { command = "DOT", delay = 0.03, lifetime = 60 })
    finally(function() srv:stop() mime.rmdir(dir) end)
    write(dir, "big", 120, srv.port)
    write(dir, "urgent", 40, srv.port, "priority = 4,")
    local out, code = require("helper").sh(campaign_run.runner(dir, "run big.lua urgent.lua", "--quiet"))
    assert.equal(0, code, out)
    local big_before = sent_before_end(dir, "big", "urgent")
    -- The big list is read first and fills the relay's window (two
    -- connections of ten) before the urgent one has a message; then four
    -- to one: about 20 + 10 of the big list while the 40 urgent ones go,
    -- where equal shares would let 20 + 40 go.
    assert.is_true(big_before < 40, big_before .. " of the big campaign went before the urgent one ended")
  end)

  it("refuses two campaigns of the same name", function()
    local dir = mime.tmpdir()
    finally(function() mime.rmdir(dir) end)
    write(dir, "twin", 1, 9)
    mime.write(dir .. "/other.lua", "return dofile('" .. dir .. "/twin.lua')\n")
    local out, code = require("helper").sh(campaign_run.runner(dir, "run twin.lua other.lua", "--quiet --no-log"))
    assert.equal(1, code, out)
    assert.matches("two campaigns are named 'twin'", out)
  end)

  it("refuses a second script that returns no campaign", function()
    local dir = mime.tmpdir()
    finally(function() mime.rmdir(dir) end)
    write(dir, "one", 1, 9)
    mime.write(dir .. "/nothing.lua", "return 42\n")
    local out, code = require("helper").sh(campaign_run.runner(dir, "run one.lua nothing.lua", "--quiet"))
    assert.equal(1, code, out)
    assert.matches("nothing.lua does not return a campaign", out)
  end)
end)
