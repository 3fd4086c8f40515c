-- The runner as people use it on a campaign: Ctrl-C to pause and a second
-- run to resume, --wait for deferred recipients, `mailcast status`, the
-- machine-readable outputs and the accounting log.
local helper = require "helper"
local mailcast = require "mailcast"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local servers = require "support.servers"
local socket = require "socket"
local json = require "dkjson"

local run = helper.sh
local q = mime.sh_quote

local campaign_run = require "support.campaign_run"
local write_campaign, relay, concat_list, addresses = campaign_run.write_campaign, campaign_run.relay,
  campaign_run.concat_list, campaign_run.addresses
local runner, run_campaign, decode, json_lines = campaign_run.runner, campaign_run.run_campaign,
  campaign_run.decode, campaign_run.json_lines
local log_records, exists, by_recipient, delivered_to = campaign_run.log_records, campaign_run.exists,
  campaign_run.by_recipient, campaign_run.delivered_to

local ISO = "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"


describe("mailcast run on a long list", function()
  -- The list goes into the store a part at a time while the first
  -- messages go out, not all of it before the first one: the recipients
  -- iterator looks at the accounting log when it hands out its last row.
  -- The campaign keeps the default limits (one connection, ten messages
  -- each): the dispatcher once waited for hundreds of outcomes at a time
  -- from a window of ten, spinning until its timeout for every ten
  -- messages, and this list outlived the sink.
  it("sends the first messages before it has read the whole list, each once", function()
    local dir, sink = mime.tmpdir(), builtin_sink.start("")
    finally(function() sink.cleanup() mime.rmdir(dir) end)
    local n = 6000
    mime.write(dir .. "/campaign.lua", string.format([[
local mailcast = require "mailcast"
local i = 0
return mailcast.campaign{
  name = "long",
  from = "News <news@example.com>",
  subject = "Hello {{n}}",
  text = "Message {{n}}.\n",
  recipients = function()
    i = i + 1
    if i == %d then
      local lines, f = 0, io.open("long.log.jsonl", "rb")
      if f then for _ in f:lines() do lines = lines + 1 end f:close() end
      local seen = assert(io.open("seen", "wb"))
      seen:write(tostring(lines))
      seen:close()
    end
    if i > %d then return nil end
    return { email = "user" .. i .. "@example.org", n = i }
  end,
  %s
}
]], n, n, relay(sink.port)))
    local out, code = run_campaign(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches(n .. " delivered", out, 1, true)
    assert.is_true(tonumber(mime.read(dir .. "/seen")) > 0, "nothing was sent before the list was read")
    local to = {}
    for _, r in ipairs(log_records(dir .. "/long.log.jsonl")) do
      if r.type == "outcome" then
        assert.is_nil(to[r.recipient], r.recipient .. " twice")
        to[r.recipient] = true
      end
    end
    assert.equal(n, #sink.files())
  end)
end)


describe("mailcast run's options", function()
  -- A mistyped --dry-run must not send the campaign: an option the runner
  -- does not know stops it before anything is read or sent.
  local dir, sink
  before_each(function()
    dir, sink = mime.tmpdir(), builtin_sink.start("")
    write_campaign(dir, "opts", addresses(3), relay(sink.port))
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  local function refused(args, says)
    local out, code = run_campaign(dir, args)
    assert.equal(2, code, out)
    assert.matches(says, out, 1, true)
    assert.equal(0, #sink.files())
    assert.is_false(exists(dir .. "/opts.mailcast.db"), "the store was made")
  end

  it("refuses an option it does not know, and sends nothing", function()
    refused("--dryrun", "run: unknown option --dryrun (the runner's options: --store FILE, --dry-run,")
    refused("-n", "run: unknown option -n")
  end)

  it("refuses an option without its value", function()
    refused("--store", "run: --store needs a value (--store FILE)")
    refused("--store ''", "run: --store needs a value (--store FILE)")
    refused("--store=", "run: --store needs a value (--store FILE)")
    refused("--log --dry-run", "run: --log needs a value (--log FILE)")
  end)

  it("refuses a number of workers it cannot use", function()
    for _, n in ipairs { "0", "-1", "1.5", "x", "65" } do
      refused("--workers " .. n, "run: --workers must be a whole number from 1 to 64")
    end
  end)

  local function sends(args)
    local out, code = run_campaign(dir, args)
    assert.equal(0, code, out)
    assert.matches("opts: 3 delivered", out, 1, true)
    assert.equal(3, #sink.files())
  end

  it("takes --name=value and leaves what follows -- to the script", function()
    sends("--store=other.db --quiet -- --dry-run")
    assert.is_true(exists(dir .. "/other.db"))
  end)

  it("refuses a progress mode it does not know", function()
    refused("--progress fancy", "run: --progress fancy: the mode is bar, lines, json or quiet")
  end)

  it("leaves the script's own words alone", function()
    sends("extra words --quiet")
  end)

  -- `mailcast run c.lua dry-run` once sent the campaign for real.
  it("refuses a bare word that is one of its options without the dashes, and sends nothing", function()
    refused("dry-run", "run: 'dry-run' is not an option: did you mean --dry-run? (words for the script go after --)")
    refused("wait", "did you mean --wait?")
    refused("extra quiet", "did you mean --quiet?")
    refused("workers 2", "did you mean --workers?")
    refused("no_log", "did you mean --no-log?")
  end)

  it("leaves an option's name to the script after --", function()
    sends("--quiet -- dry-run wait")
  end)

  it("takes the options a script took out of arg as its own", function()
    mime.write(dir .. "/campaign.lua", string.format([[
local only = 3
for i = #arg, 1, -1 do
  if arg[i] == "--first" then only = tonumber(arg[i + 1]) table.remove(arg, i) table.remove(arg, i) end
end
local list = {}
for i = 1, only do list[i] = { email = "user" .. i .. "@example.org" } end
return require("mailcast").campaign{
  name = "opts", from = "news@example.com", subject = "Hi", text = "Hello\n",
  recipients = list, %s
}
]], relay(sink.port)))
    local out, code = run_campaign(dir, "--first 2 --quiet")
    assert.equal(0, code, out)
    assert.matches("opts: 2 delivered", out, 1, true)
  end)
end)


describe("mailcast run on a list with an address that is no address", function()
  -- "a@x, victim@y" in the email column was deferred and retried until
  -- retry.max_age.
  it("fails it at once with why, and sends the others", function()
    local dir, sink = mime.tmpdir(), builtin_sink.start("")
    finally(function() sink.cleanup() mime.rmdir(dir) end)
    write_campaign(dir, "lists", { "a@example.org, victim@example.net", "ok@example.org" }, relay(sink.port))
    local out, code = run_campaign(dir, "--quiet")
    assert.equal(0, code, out)
    assert.matches("lists: 1 delivered, 0 deferred, 1 failed", out, 1, true)
    local outcomes = by_recipient(log_records(dir .. "/lists.log.jsonl"))["a@example.org, victim@example.net"].outcome
    assert.equal(1, #outcomes)
    local outcome = outcomes[1]
    assert.same({ "failed", 553 }, { outcome.state, outcome.code })
    assert.matches("a list of addresses (',') where one address goes", outcome.text, 1, true)
    assert.equal(1, #sink.files())
  end)
end)


describe("mailcast run, paused with Ctrl-C", function()
  local dir, sink
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("")
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  -- Runs the campaign in the background (its pid in a file, its exit
  -- code in another) and sends it Ctrl-C once the sink has `sent`
  -- messages; returns the exit code and what the run printed.
  local function pause_after(sent, args)
    os.execute(string.format("cd %s && (sh -c 'echo $$ > pid; exec \"$0\" run campaign.lua %s' %s > out 2>&1; echo $? > code) &",
      q(dir), args or "", q(helper.runner)))
    local sent_before = 0
    for _ = 1, 500 do
      sent_before = #sink.files()
      if sent_before >= sent then break end
      socket.sleep(0.02)
    end
    assert.is_true(sent_before >= sent, "the run did not start sending")
    local pid = assert(tonumber(mime.read(dir .. "/pid")))
    os.execute("kill -INT " .. pid)
    local code
    for _ = 1, 1500 do
      code = exists(dir .. "/code") and tonumber(mime.read(dir .. "/code"))
      if code then break end
      socket.sleep(0.02)
    end
    return code, mime.read(dir .. "/out")
  end

  it("finishes what is in flight, exits 130, and the next run sends the rest: nothing twice", function()
    local list = addresses(300)
    write_campaign(dir, "paused", list, relay(sink.port, 'limits = { rate = "100/s" },'))
    local code, out = pause_after(40)
    assert.equal(130, code, out)
    assert.matches("pausing", out, 1, true)
    assert.matches("paused: run the same command again to resume", out, 1, true)
    local at_pause = #sink.files()
    assert.is_true(at_pause < 300, "everything was sent before the pause")
    -- the store agrees with the server: what it says was delivered arrived
    local status, scode = run(runner(dir, "status campaign.lua --json"))
    assert.equal(0, scode, status)
    local st = decode(status:match("[^\n]+"))
    assert.equal("paused", st.campaign)
    assert.equal(at_pause, st.delivered)
    assert.equal(300 - at_pause, st.pending)
    assert.is_true(st.pending > 0)
    local text
    text, scode = run(runner(dir, "status campaign.lua"))
    assert.equal(0, scode, text)
    assert.matches("pending%s+" .. (300 - at_pause) .. "\n", text)
    -- the second run resumes
    local again, code2 = run_campaign(dir)
    assert.equal(0, code2, again)
    assert.matches("paused: 300 delivered, 0 deferred, 0 failed, 0 skipped, 0 suppressed, 0 pending", again, 1, true)
    local seen, n = delivered_to(sink)
    assert.equal(300, n)
    for _, a in ipairs(list) do assert.equal(1, seen[a], a) end
    -- and the log has each recipient's one transaction and one outcome
    local by = by_recipient(log_records(dir .. "/paused.log.jsonl"))
    for _, a in ipairs(list) do
      assert.equal(1, #by[a].transaction, a)
      assert.equal(1, #by[a].outcome, a)
    end
  end)

  -- The list is read while the run sends: a pause before its end leaves
  -- the rest for the next run, and says so, as status does meanwhile.
  for _, args in ipairs { "", "--workers 2" } do
    it("says so when it pauses before the whole list was read, and the next run reads the rest " .. args, function()
      mime.write(dir .. "/slow", "")
      mime.write(dir .. "/campaign.lua", string.format([[
local core = require "mailcast.core"
local i, slow = 0, io.open("slow") ~= nil
return require("mailcast").campaign{
  name = "partly", from = "news@example.com", subject = "Hi", text = "Hello\n",
  -- past the first part, a row every 20 ms while the file "slow" is there
  recipients = function()
    i = i + 1
    if i > 2000 then return nil end
    if slow and i > 1000 then core.sleep(0.02) end
    return { email = "user" .. i .. "@example.org" }
  end,
  %s
}
]], relay(sink.port, "limits = { connections = 2 },")))
      local code, out = pause_after(20, args)
      assert.equal(130, code, out)
      assert.matches("paused before the whole list was read: run the same command again to resume and read the rest",
        out, 1, true)
      local text = run(runner(dir, "status campaign.lua"))
      assert.matches("^partly: %d+ recipients so far %(the list is read in part: a run reads the rest%)\n", text)
      local st = decode(run(runner(dir, "status campaign.lua --json")):match("[^\n]+"))
      assert.is_false(st.list_read)
      assert.is_true(st.delivered + st.pending < 2000, st.delivered + st.pending .. " recipients")
      os.remove(dir .. "/slow")
      local again, code2 = run_campaign(dir, "--quiet " .. args)
      assert.equal(0, code2, again)
      assert.matches("partly: 2000 delivered, 0 deferred, 0 failed, 0 skipped, 0 suppressed, 0 pending", again, 1, true)
      text = run(runner(dir, "status campaign.lua"))
      assert.matches("^partly: 2000 recipients\n", text)
      st = decode(run(runner(dir, "status campaign.lua --json")):match("[^\n]+"))
      assert.is_true(st.list_read)
      local seen, n = delivered_to(sink)
      assert.equal(2000, n)
      for k = 1, 2000 do assert.equal(1, seen["user" .. k .. "@example.org"], k) end
    end)
  end
end)


describe("mailcast run --wait", function()
  local dir, srv
  before_each(function()
    dir = mime.tmpdir()
    srv = servers.fault("rcpt_codes_once", { codes = { ["later@example.org"] = "451 4.2.0 Try later" } })
  end)
  after_each(function()
    srv:stop()
    mime.rmdir(dir)
  end)

  local list = { "a@example.org", "b@example.org", "later@example.org", "c@example.org" }

  local function count(lines, pattern)
    local n = 0
    for _, l in ipairs(lines) do if l:match(pattern) then n = n + 1 end end
    return n
  end

  it("stays until a deferred recipient is retried and delivered", function()
    write_campaign(dir, "waiting", list, relay(srv.port, "retry = { first = 1 },"))
    local out, code = run_campaign(dir, "--wait")
    assert.equal(0, code, out)
    assert.matches("waiting: 4 delivered, 0 deferred, 0 failed, 0 skipped, 0 suppressed, 0 pending", out, 1, true)
    assert.not_matches("run again", out)
    srv:stop()
    local lines = srv:transcript()
    assert.equal(2, count(lines, "^RCPT TO:<later@example%.org>"))
    assert.equal(1, count(lines, "^RCPT TO:<a@example%.org>"))
    assert.equal(4, count(srv:replies(), "^250 2%.0%.0 Ok: queued"))
  end)

  it("without --wait leaves it deferred, logging its transaction but no outcome until it is final", function()
    write_campaign(dir, "later", list, relay(srv.port, "retry = { first = 1 },"))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.matches("later: 3 delivered, 1 deferred, 0 failed", out, 1, true)
    assert.matches("1 deferred: the next retry is due in %d+ s", out)
    local by = by_recipient(log_records(dir .. "/later.log.jsonl"))
    local t = by["later@example.org"].transaction
    assert.equal(1, #t)
    assert.same({ "deferred", 451, "4.2.0", "Try later", 1 }, { t[1].status, t[1].code, t[1].enhanced, t[1].text, t[1].attempt })
    assert.equal(0, #by["later@example.org"].outcome)
    assert.equal(1, #by["a@example.org"].outcome)
    -- the next run with --wait sends it when it is due
    out, code = run_campaign(dir, "--wait")
    assert.equal(0, code, out)
    assert.matches("later: 4 delivered, 0 deferred", out, 1, true)
    by = by_recipient(log_records(dir .. "/later.log.jsonl"))
    t = by["later@example.org"].transaction
    assert.equal(2, #t)
    assert.same({ "sent", 250, 2 }, { t[2].status, t[2].code, t[2].attempt })
    local o = by["later@example.org"].outcome
    assert.equal(1, #o)
    assert.same({ "delivered", 250, 2 }, { o[1].state, o[1].code, o[1].attempts })
    assert.equal(1, #by["a@example.org"].transaction)
  end)

  it("gives up on a recipient still deferred after retry.max_age, as expired", function()
    local sink = builtin_sink.start('--reject never@example.org="451 4.2.0 Try later"')
    write_campaign(dir, "expiry", { "never@example.org", "a@example.org" },
      relay(sink.port, "retry = { first = 1, max_age = 1 },"))
    local out, code = run_campaign(dir, "--wait")
    sink.cleanup()
    assert.equal(0, code, out)
    assert.matches("expiry: 1 delivered, 0 deferred, 1 failed", out, 1, true)
    local by = by_recipient(log_records(dir .. "/expiry.log.jsonl"))
    local t, o = by["never@example.org"].transaction, by["never@example.org"].outcome
    assert.is_true(#t >= 2, #t .. " transactions")
    for i, r in ipairs(t) do
      assert.equal(i, r.attempt)
      assert.equal(451, r.code)
    end
    assert.equal(1, #o)
    assert.equal(#t, o[1].attempts)
    assert.equal(451, o[1].code)
    assert.matches("^expired: ", o[1].text)
  end)

  it("closes idle sessions after idle_timeout while it waits for the retry", function()
    write_campaign(dir, "idle", list, relay(srv.port, "retry = { first = 1 }, limits = { idle_timeout = 0.2 },"))
    local out, code = run_campaign(dir, "--wait")
    assert.equal(0, code, out)
    assert.matches("idle: 4 delivered", out, 1, true)
    srv:stop()
    -- the retry came a second or more after the first pass: by then the
    -- first session had said QUIT and a new one carried it
    local first = srv:transcript(1)
    assert.equal(1, count(first, "^RCPT TO:<later@example%.org>"), "the retry went out on the first session")
    assert.equal("QUIT", first[#first])
    assert.equal(2, srv:connections())
  end)
end)


describe("mailcast status", function()
  local dir, sink
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start('--reject gone@example.org="550 5.1.1 No such user"'
      .. ' --reject gone2@example.org="550 5.1.1 No such user"'
      .. ' --reject later@example.org="451 4.2.0 Try later"'
      .. ' --reject odd@example.org="554 5.7.1 Refused for policy"')
    write_campaign(dir, "report", concat_list(addresses(5),
      { "gone@example.org", "gone2@example.org", "odd@example.org", "later@example.org" }),
      relay(sink.port, "retry = { first = 300 },"))
    local out, code = run_campaign(dir, "--quiet")
    assert(code == 0, out)
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  it("shows counts by state, the next retry and the commonest replies", function()
    local out, code = run(runner(dir, "status campaign.lua"))
    assert.equal(0, code, out)
    assert.matches("report: 9 recipients\n", out, 1, true)
    assert.matches("\n  delivered%s+5\n", out)
    assert.matches("\n  deferred%s+1  %(next retry in %d+ s%)\n", out)
    assert.matches("\n  failed%s+3\n", out)
    assert.not_matches("pending", out)
    local deferred = out:match("commonest replies, deferred:\n(.-)\n  %S") or out:match("commonest replies, deferred:\n(.*)$")
    assert.is_string(deferred, out)
    assert.matches("1  451 Try later", deferred, 1, true)
    local failed = out:match("commonest replies, failed:\n(.*)$")
    assert.is_string(failed, out)
    -- the commonest first
    local first, second = failed:match("^%s+(%d+)  ([^\n]+)\n%s+%d+  ([^\n]+)")
    assert.equal("2", first, out)
    assert.equal("550 No such user", second)
    assert.matches("1  554 Refused for policy", failed, 1, true)
  end)

  it("answers the same for the store file", function()
    local by_script = run(runner(dir, "status campaign.lua"))
    local by_store, code = run(runner(dir, "status report.mailcast.db"))
    assert.equal(0, code, by_store)
    -- a second may pass between the two calls (slow under the sanitizers),
    -- so the seconds to the next retry are left out of the comparison
    local function steady(out) return (out:gsub("next retry in %d+ s", "next retry in N s")) end
    assert.matches("next retry in %d+ s", by_store)
    assert.equal(steady(by_script), steady(by_store))
  end)

  it("writes one JSON line with --json", function()
    local out, code = run(runner(dir, "status campaign.lua --json"))
    assert.equal(0, code, out)
    local lines = json_lines(out)
    assert.equal(1, #lines)
    local st = lines[1]
    assert.same({ "report", 5, 1, 3, 0, 0, 0 },
      { st.campaign, st.delivered, st.deferred, st.failed, st.skipped, st.suppressed, st.pending })
    assert.equal("number", type(st.next_retry))
    assert.is_true(st.next_retry > 100 and st.next_retry <= 300, tostring(st.next_retry))
  end)

  -- The text listed those in flight apart while --json counted them as
  -- pending: they now agree, and both say how many are in flight.
  it("counts recipients in flight as pending in the text and in --json alike, and says how many", function()
    local store = assert(mailcast.store(dir .. "/report.mailcast.db"))
    local cid = assert(store:find_campaign("report"))
    assert(store:begin())
    assert(store:add(cid, "held1@example.org", "email\0held1@example.org"))
    assert(store:add(cid, "held2@example.org", "email\0held2@example.org"))
    assert(store:commit())
    assert.equal(2, #store:claim(cid, 2))   -- as a run stopped with kill -9 leaves them
    store:close()
    local out, code = run(runner(dir, "status campaign.lua"))
    assert.equal(0, code, out)
    assert.matches("report: 11 recipients\n", out, 1, true)
    assert.matches("\n  pending%s+2  %(2 of them in flight: ", out)
    assert.not_matches("in flight%s+%d", out)
    out, code = run(runner(dir, "status campaign.lua --json"))
    assert.equal(0, code, out)
    local st = json_lines(out)[1]
    assert.same({ 2, 2 }, { st.pending, st.in_flight })
  end)

  it("says so when there is no store yet", function()
    local other = mime.tmpdir()
    write_campaign(other, "never", { "a@example.org" }, relay(sink.port))
    local out, code = run(runner(other, "status campaign.lua"))
    mime.rmdir(other)
    assert.equal(1, code)
    assert.matches("no store at", out, 1, true)
  end)
end)


describe("mailcast run's machine-readable output", function()
  local dir, sink
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start('--reject gone@example.org="550 5.1.1 No such user"')
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  it("ends --json with a summary line, every line on stdout JSON", function()
    write_campaign(dir, "machine", concat_list(addresses(20), { "gone@example.org" }), relay(sink.port))
    local out, code = run(runner(dir, "run campaign.lua --json 2>/dev/null"))
    assert.equal(0, code, out)
    local lines = json_lines(out)
    assert.is_true(#lines >= 1)
    local last = lines[#lines]
    assert.same({ "machine", 20, 0, 1, 0, 0, 0 },
      { last.campaign, last.delivered, last.deferred, last.failed, last.skipped, last.suppressed, last.pending })
    assert.is_nil(last.paused)
  end)

  it("writes --progress json lines with delivered going up to the total", function()
    write_campaign(dir, "progress", addresses(150), relay(sink.port, 'limits = { rate = "100/s" },'))
    local out, code = run(runner(dir, "run campaign.lua --progress json 2>/dev/null"))
    assert.equal(0, code, out)
    local progress = {}
    for line in out:gmatch("[^\n]+") do
      if line:sub(1, 1) == "{" then progress[#progress + 1] = decode(line) end
    end
    assert.is_true(#progress >= 2, out)
    for i, p in ipairs(progress) do
      assert.equal("progress", p.campaign)
      assert.matches(ISO, p.time)
      if i > 1 then assert.is_true(p.delivered >= progress[i - 1].delivered, out) end
    end
    local first, last = progress[1], progress[#progress]
    assert.is_true(first.delivered < last.delivered, out)
    assert.equal(150, last.delivered)
    assert.equal(0, last.remaining)
    assert.is_true(last.done)
    assert.is_nil(first.done)
  end)

  it("keeps stdout to JSON lines with --progress json", function()
    write_campaign(dir, "pure", addresses(5), relay(sink.port))
    local out, code = run(runner(dir, "run campaign.lua --progress json 2>/dev/null"))
    assert.equal(0, code, out)
    for line in out:gmatch("[^\n]+") do decode(line) end
  end)
end)


describe("the accounting log", function()
  local dir, sink
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start('--reject gone@example.org="550 5.1.1 No such user"')
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  local list = { "a@example.org", "b@example.org", "c@example.org", "gone@example.org" }

  it("has one transaction and one outcome record per recipient, beside the store", function()
    write_campaign(dir, "acct", list, relay(sink.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    local records = log_records(dir .. "/acct.log.jsonl")
    assert.equal(8, #records)
    local by = by_recipient(records)
    for _, a in ipairs(list) do
      assert.equal(1, #by[a].transaction, a)
      assert.equal(1, #by[a].outcome, a)
      local t, o = by[a].transaction[1], by[a].outcome[1]
      for _, r in ipairs { t, o } do
        assert.matches(ISO, r.time)
        assert.equal("acct", r.campaign)
        assert.equal("number", type(r.code))
      end
      assert.equal("default", t.route)
      assert.equal("127.0.0.1", t.ip)
      assert.equal("number", type(t.duration))
      assert.is_true(t.duration >= 0 and t.duration < 30)
      assert.equal(1, t.attempt)
      assert.equal(1, o.attempts)
    end
    local ok, bad = by["a@example.org"], by["gone@example.org"]
    assert.same({ "sent", 250, "2.0.0" }, { ok.transaction[1].status, ok.transaction[1].code, ok.transaction[1].enhanced })
    assert.same({ "delivered", 250, "2.0.0" }, { ok.outcome[1].state, ok.outcome[1].code, ok.outcome[1].enhanced })
    assert.same({ "failed", 550, "5.1.1", "No such user" },
      { bad.transaction[1].status, bad.transaction[1].code, bad.transaction[1].enhanced, bad.transaction[1].text })
    assert.same({ "failed", 550, "5.1.1", "No such user" },
      { bad.outcome[1].state, bad.outcome[1].code, bad.outcome[1].enhanced, bad.outcome[1].text })
  end)

  it("appends when a campaign resumes, never repeating a final outcome", function()
    write_campaign(dir, "twice", list, relay(sink.port))
    run_campaign(dir)
    local _, code = run_campaign(dir)
    assert.equal(0, code)
    assert.equal(8, #log_records(dir .. "/twice.log.jsonl"))
  end)

  it("writes none with --no-log", function()
    write_campaign(dir, "nolog", list, relay(sink.port))
    local out, code = run_campaign(dir, "--no-log")
    assert.equal(0, code, out)
    local ls = run("ls -A " .. q(dir))
    assert.not_matches("jsonl", ls)
    assert.equal(3, #sink.files())
  end)

  it("writes none when the campaign says log = false", function()
    write_campaign(dir, "nolog2", list, relay(sink.port, "log = false,"))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.not_matches("jsonl", (run("ls -A " .. q(dir))))
  end)

  it("writes where --log says, and nothing beside the store", function()
    write_campaign(dir, "elsewhere", list, relay(sink.port))
    local out, code = run_campaign(dir, "--log " .. q(dir .. "/custom.jsonl"))
    assert.equal(0, code, out)
    assert.is_false(exists(dir .. "/elsewhere.log.jsonl"))
    assert.equal(8, #log_records(dir .. "/custom.jsonl"))
  end)

  it("says once that the log could not be written, and delivers everyone", function()
    write_campaign(dir, "fulldisk", list, relay(sink.port))
    -- /dev/full: every write fails with "No space left on device"
    local out, code = run_campaign(dir, "--log /dev/full")
    assert.equal(0, code, out)
    local _, said = out:gsub("accounting log: [^\n]*No space left on device[^\n]*the store still records", "")
    assert.equal(1, said, out)
    assert.equal(3, #sink.files())
    assert.matches("fulldisk: 3 delivered", out, 1, true)
  end)

  it("follows --store: STORE.db's log is STORE.log.jsonl", function()
    write_campaign(dir, "stored", list, relay(sink.port))
    local out, code = run_campaign(dir, "--store " .. q(dir .. "/my.db"))
    assert.equal(0, code, out)
    assert.is_false(exists(dir .. "/stored.log.jsonl"))
    assert.equal(8, #log_records(dir .. "/my.log.jsonl"))
  end)
end)
