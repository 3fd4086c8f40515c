-- mailcast.send called by a hook of the engine: the engine sends the
-- hook's messages on its own loop while it goes on building and sending
-- the campaign's, and the hook waits for its results alone.
local helper = require "helper"
local mime = require "support.mime"
local servers = require "support.servers"
local campaign_run = require "support.campaign_run"

-- The runner in dir, with a time limit: a hook's wait that never ended
-- would hold the run for ever.
local function run(dir, args)
  return helper.sh("cd " .. mime.sh_quote(dir) .. " && timeout 120 " .. mime.sh_quote(helper.runner)
    .. " run campaign.lua " .. args)
end

-- After a run whose first recipient's hook waited on the slow server
-- with the subject given (and wrote the time of its answer to
-- dir/answered): it reached that server once, every other message went
-- out while it waited its 2 s, and the first one after; that message.
local function waited_alone(dir, sink, slow, subject)
  local notices = 0
  for _, line in ipairs(slow:transcript()) do
    if line == "Subject: " .. subject then notices = notices + 1 end
  end
  assert.equal(1, notices)
  local answered = tonumber(mime.try_read(dir .. "/answered"))
  assert.truthy(answered, "the hook never got its answer")
  local before, first = 0, nil
  for _, m in ipairs(sink:messages()) do
    if m.rcpt_tos[1] == "first@example.org" then first = m
    elseif m.time < answered - 1 then before = before + 1 end
  end
  assert.equal(20, before)
  assert.truthy(first, "the first recipient's message was not sent")
  assert.truthy(first.time > answered - 0.1)
  return first
end

describe("a campaign hook that sends with mailcast.send", function()
  local dir, sink, slow
  before_each(function()
    dir = mime.tmpdir()
    sink = servers.sink()
    -- The hook's server takes 2 s to answer the end of its data.
    slow = servers.fault("slow_reply", { command = "DOT", delay = 2 })
  end)
  after_each(function()
    sink:stop()
    slow:stop()
    mime.rmdir(dir)
  end)

  -- The personalize hook of the first recipient sends a notice to
  -- another server and waits for its reply, which is written into that
  -- recipient's own message.
  local function write(list)
    campaign_run.write_campaign(dir, "noticing", list, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  personalize = function(address, vars)
    vars.note = "none"
    if address ~= "first@example.org" then return end
    local results, state = mailcast.send({ host = "127.0.0.1", port = %d, tls = "none" }, {
      { from = "news@example.com", to = { "editor@example.net" },
        message = "Subject: sending to " .. address .. "\r\n\r\nA notice.\r\n" } })
    assert(results, state)
    vars.note = results[1].status .. " " .. results[1].recipients[1].code
    local f = assert(io.open(%q, "w"))
    f:write(string.format("%%.3f", require("socket").gettime()))
    f:close()
  end,]], sink.port, slow.port, dir .. "/answered"), "Message {{n}}, notice {{note}}.\n")
  end

  it("waits alone: the others are built and sent while its server takes its time", function()
    local list = { "first@example.org" }
    for i = 1, 20 do list[#list + 1] = "r" .. i .. "@example.org" end
    write(list)
    local out, code = run(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches("21 delivered", out)
    local first = waited_alone(dir, sink, slow, "sending to first@example.org")
    assert.matches("notice sent 250%.", first.data)
  end)

  it("gets each message's result as mailcast.send gives it, a recipient that is no address failed alone", function()
    campaign_run.write_campaign(dir, "splitting", { "a@example.org" }, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  personalize = function(address, vars)
    local results = assert(mailcast.send({ host = "127.0.0.1", port = %d, tls = "none" }, {
      { from = "news@example.com", to = { "editor@example.net", "no address" },
        message = "Subject: two\r\n\r\nA notice.\r\n" },
      { from = "news@example.com", message = { from = "news@example.com", to = "chief@example.net",
        subject = "built", text = "Built by the hook.\n" } } }))
    local r1, r2 = results[1], results[2]
    vars.note = table.concat({ r1.status, r1.recipients[1].status, r1.recipients[2].status,
      tostring(r1.recipients[2].code), r2.status, r2.recipients[1].address }, " ")
  end,]], sink.port, slow.port), "Notes: {{note}}.\n")
    local out, code = run(dir, "--quiet")
    assert.equal(0, code, out)
    local m = sink:messages()[1]
    assert.truthy(m, out)
    assert.matches("Notes: partial sent failed 553 sent chief@example.net%.", m.data)
    local subjects = {}
    for _, line in ipairs(slow:transcript()) do
      local subject = line:match("^Subject: (.*)$")
      if subject then subjects[#subjects + 1] = subject end
    end
    table.sort(subjects)
    assert.same({ "built", "two" }, subjects)
  end)

  it("raises in the hook what mailcast.send raises anywhere, and the run goes on without it", function()
    campaign_run.write_campaign(dir, "wrong", { "a@example.org", "b@example.org" }, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  personalize = function(address, vars)
    vars.note = "sent"
    if address ~= "a@example.org" then return end
    mailcast.send({ mx = true, port = %d, tls = "none", dns_server = "127.0.0.1:9" },
      { { from = "news@example.com", to = { 42 }, message = "Subject: x\r\n\r\nx\r\n" } })
    vars.note = "not raised"
  end,]], sink.port, slow.port), "Note: {{note}}.\n")
    local out, code = run(dir, "--progress quiet")
    assert.equal(0, code, out)
    assert.matches("hook personalize %([^)]*campaign.lua:%d+%) failed: [^\n]*", out)
    assert.matches("2 delivered", out)
    for _, m in ipairs(sink:messages()) do assert.matches("Note: sent%.", m.data) end
    assert.same({}, slow:transcript())
  end)
end)


describe("a campaign hook that sends at every call", function()
  local dir, sink, notices
  before_each(function()
    dir, sink, notices = mime.tmpdir(), servers.sink(), servers.fault("normal")
  end)
  after_each(function()
    sink:stop()
    notices:stop()
    mime.rmdir(dir)
  end)

  -- 30 recipients, each delivery noticed by on_delivered through
  -- mailcast.send with the options `options` (Lua source); the run's
  -- last --progress json line, and how often the notices' server saw
  -- each command.
  local function notice_each(options)
    local list = {}
    for i = 1, 30 do list[i] = "r" .. i .. "@example.org" end
    campaign_run.write_campaign(dir, "noticing", list, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  on_delivered = function(address)
    local said = {}
    local results = assert(mailcast.send({ host = "127.0.0.1", port = %d, tls = "none" }, {
      { from = "news@example.com", to = { "editor@example.net" },
        message = "Subject: delivered to " .. address .. "\r\n\r\nA notice.\r\n" } }, %s))
    assert(results[1].status == "sent", "not sent")
  end,]], sink.port, notices.port, options))
    local out, code = run(dir, "--progress json 2>&1")
    assert.equal(0, code, out)
    local lines = campaign_run.json_lines(out:match("(%{.*%})%s*$"))
    local counts = {}
    for _, l in ipairs(notices:transcript()) do counts[l] = (counts[l] or 0) + 1 end
    return lines[#lines], counts
  end

  it("sends every notice through one route it uses again", function()
    local last, counts = notice_each("nil")
    assert.equal(30, last.delivered)
    assert.equal(30, counts.DATA)
    assert.equal(2, last.destinations)   -- the campaign's relay and the hook's
  end)

  it("retires the routes a trace function made at each call makes new, past the few it keeps", function()
    local last, counts = notice_each([[{ trace = function(l) said[#said + 1] = l.line end }]])
    assert.equal(30, last.delivered)
    assert.equal(30, counts.DATA)
    -- Each call has a route of its own (the trace is part of it). The
    -- campaign's relay and at most the 8 last unused are kept: without
    -- retiring there would be 31.
    assert.is_true(last.destinations <= 1 + 8 + 1, "destinations left: " .. tostring(last.destinations))
    -- Every notice's session said QUIT: closed, not dropped.
    assert.equal(30, counts.QUIT)
    assert.equal(30, notices:connections())
  end)
end)

describe("a campaign hook that talks SMTP itself with mailcast.session", function()
  it("waits alone at each command: the others are built and sent meanwhile", function()
    local dir = mime.tmpdir()
    local sink = servers.sink()
    -- The hook's server takes 2 s to answer the end of its data.
    local slow = servers.fault("slow_reply", { command = "DOT", delay = 2 })
    finally(function() sink:stop() slow:stop() mime.rmdir(dir) end)
    local list = { "first@example.org" }
    for i = 1, 20 do list[#list + 1] = "r" .. i .. "@example.org" end
    campaign_run.write_campaign(dir, "talking", list, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  personalize = function(address, vars)
    vars.note = "none"
    if address ~= "first@example.org" then return end
    local s = assert(mailcast.session({ host = "127.0.0.1", port = %d, tls = "none" }))
    assert(s:mail("news@example.com"))
    assert(s:rcpt("editor@example.net"))
    local reply, err = s:data("Subject: about " .. address .. "\r\n\r\nA notice.\r\n")
    assert(reply, err)
    s:quit()
    vars.note = tostring(reply.code)
    local f = assert(io.open(%q, "w"))
    f:write(string.format("%%.3f", require("socket").gettime()))
    f:close()
  end,]], sink.port, slow.port, dir .. "/answered"), "Message {{n}}, notice {{note}}.\n")
    local out, code = run(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches("21 delivered", out)
    local first = waited_alone(dir, sink, slow, "about first@example.org")
    assert.matches("notice 250%.", first.data)
  end)
end)
