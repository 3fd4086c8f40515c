-- Bounce processing (mailcast.bounces and `mailcast bounces`) on the
-- labelled samples of spec/support/bounce_samples.lua, from a Maildir
-- and an mbox, against a store that holds their campaign and recipients:
-- what is suppressed, counted, left alone, and that a second run counts
-- nothing twice.
local bounces = require "mailcast.bounces"
local samples = require "support.bounce_samples"
local fx = require "support.bounce_store"
local helper = require "helper"

local DAY = 86400

-- What the samples must come to: per recipient, the kind and reason.
local HARD, SOFT_COUNTED, SOFT_SENDER, DELAYED, COMPLAINTS, LEFT_ALONE, UNMATCHED = {}, {}, {}, {}, {}, {}, {}
for i, s in ipairs(samples.samples) do
  local e = s.expect
  if e.kind == "autoreply" or e.kind == "none" then LEFT_ALONE[#LEFT_ALONE + 1] = i
  elseif s.name:match("^rfc") then UNMATCHED[#UNMATCHED + 1] = i   -- the RFCs' own addresses
  elseif e.kind == "complaint" then COMPLAINTS[#COMPLAINTS + 1] = i
  else
    local r = e.recipients[1]
    if r.action == "delayed" then DELAYED[#DELAYED + 1] = i
    elseif r.hard then HARD[#HARD + 1] = { i, r.reason }
    elseif bounces.sender_reasons[r.reason] then SOFT_SENDER[#SOFT_SENDER + 1] = i
    else SOFT_COUNTED[#SOFT_COUNTED + 1] = i end
  end
end


local function address(i) return string.format("reader%d@example.org", i) end


local sh_quote = require("support.mime").sh_quote


describe("mailcast.bounces.process on a Maildir of every labelled sample", function()
  local dir, store, summary, details, files

  setup(function()
    dir = fx.tmpdir()
    store = fx.store(dir .. "/november.mailcast.db")
    fx.maildir(dir .. "/mail")
    files = {}
    for i, s in ipairs(samples.samples) do
      files[i] = fx.deliver(dir .. "/mail", (fx.render(store, s.name, i)), i % 2 == 0 and "cur" or "new")
    end
    summary, details = bounces.process { store = store, maildir = dir .. "/mail", warn = function() end }
  end)

  teardown(function()
    store:close()
    fx.rmrf(dir)
  end)

  it("reads every message", function()
    assert.is_table(summary, details)
    assert.equal(#samples.samples, summary.processed)
    assert.equal(0, summary.errors)
    assert.equal(0, summary.seen_before)
  end)

  it("suppresses every hard bounce's recipient for ever, with its reason", function()
    assert.is_true(#HARD >= 14)
    for _, h in ipairs(HARD) do
      local entry = store:suppression(address(h[1]))
      assert.is_table(entry, samples.samples[h[1]].name)
      assert.equal("hard bounce: " .. h[2], entry.reason)
      assert.is_nil(entry.expires)
    end
  end)

  it("suppresses every complaint's recipient as a complaint", function()
    assert.is_true(#COMPLAINTS >= 2)
    for _, i in ipairs(COMPLAINTS) do
      assert.equal("complaint", store:suppressed(address(i)), samples.samples[i].name)
    end
    assert.equal(#COMPLAINTS + 1, summary.complaints)   -- RFC 5965's own names no recipient of ours
  end)

  it("counts a soft bounce without suppressing the address", function()
    assert.is_true(#SOFT_COUNTED >= 4)
    for _, i in ipairs(SOFT_COUNTED) do
      assert.is_nil(store:suppressed(address(i)), samples.samples[i].name)
      assert.equal(1, store:soft_bounces(address(i), 0), samples.samples[i].name)
    end
  end)

  it("records bounces that say something about the sender without counting them", function()
    assert.is_true(#SOFT_SENDER >= 5)
    for _, i in ipairs(SOFT_SENDER) do
      assert.is_nil(store:suppressed(address(i)))
      assert.equal(0, store:soft_bounces(address(i), 0), samples.samples[i].name)
    end
  end)

  it("records delay warnings, neither suppressing nor counting them", function()
    assert.equal(#DELAYED + 1, summary.delayed)   -- and RFC 3464's delayed recipient, unmatched
    for _, i in ipairs(DELAYED) do
      assert.is_nil(store:suppressed(address(i)))
      assert.equal(0, store:soft_bounces(address(i), 0))
    end
  end)

  it("finds each recipient by the VERP tag of its bounce address", function()
    local matched = 0
    for _, d in ipairs(details) do
      if d.campaign then
        matched = matched + 1
        assert.equal("verp", d.matched_by, d.message)
        assert.equal(fx.CAMPAIGN, d.campaign)
      end
    end
    assert.is_true(matched >= #HARD + #COMPLAINTS, matched .. " bounces matched")
  end)

  it("leaves auto-replies and ordinary mail where they were, and their senders alone", function()
    assert.equal(5, summary.autoreplies)
    assert.equal(5, summary.not_bounces)
    for _, i in ipairs(LEFT_ALONE) do
      assert.is_not_nil(fx.read(files[i]), samples.samples[i].name)
      assert.is_nil(store:suppressed(address(i)))
    end
  end)

  it("reports the bounces no recipient of the store matches, and keeps their messages", function()
    assert.equal(5, summary.unmatched)   -- RFC 3464's four recipients and RFC 5965's
    for _, i in ipairs(UNMATCHED) do assert.is_not_nil(fx.read(files[i]), samples.samples[i].name) end
    assert.is_nil(store:suppressed("arathib@vnet.ibm.com"))
  end)

  it("moves the processed messages to the .processed subfolder, flagged seen", function()
    local moved = fx.files(dir .. "/mail/.processed/cur")
    assert.equal(#samples.samples - #LEFT_ALONE - #UNMATCHED, #moved)
    for _, name in ipairs(moved) do assert.matches(":2,S$", name) end
    local left = #fx.files(dir .. "/mail/new") + #fx.files(dir .. "/mail/cur")
    assert.equal(#LEFT_ALONE + #UNMATCHED, left)
  end)

  it("counts nothing twice when run again", function()
    local events = store:soft_bounces(address(SOFT_COUNTED[1]), 0)
    local again = assert(bounces.process { store = store, maildir = dir .. "/mail", warn = function() end })
    assert.equal(0, again.processed)
    assert.equal(#LEFT_ALONE + #UNMATCHED, again.seen_before)
    assert.equal(0, again.hard + again.soft + again.complaints + again.suppressed)
    assert.equal(events, store:soft_bounces(address(SOFT_COUNTED[1]), 0))
  end)
end)


describe("mailcast.bounces.process deciding", function()
  local dir, store

  before_each(function()
    dir = fx.tmpdir()
    store = fx.store(dir .. "/store.db", 60)
  end)

  after_each(function()
    store:close()
    fx.rmrf(dir)
  end)

  local function run(messages, opts)
    opts = opts or {}
    opts.store, opts.messages, opts.warn = store, messages, opts.warn or function() end
    return assert(bounces.process(opts))
  end

  it("suppresses an address after its third soft bounce within the window, for 30 days", function()
    local now = os.time()
    local s1 = run({ (fx.render(store, "qmail_full", 7)) }, { now = now - 2 * DAY })
    local s2 = run({ (fx.render(store, "gmail_text_full", 7)) }, { now = now - DAY })
    assert.equal(0, s1.suppressed + s2.suppressed)
    assert.is_nil(store:suppressed(address(7)))
    local s3, d3 = run({ (fx.render(store, "gmail_over_quota", 7)) }, { now = now })
    assert.equal(1, s3.suppressed)
    assert.equal(3, d3[1].soft_bounces)
    local entry = store:suppression(address(7))
    assert.equal("soft bounces: mailbox_full", entry.reason)
    assert.near(now + 30 * DAY, entry.expires, 1)
  end)

  it("does not count soft bounces older than the window", function()
    local now = os.time()
    run({ (fx.render(store, "qmail_full", 7)) }, { now = now - 40 * DAY })
    run({ (fx.render(store, "gmail_text_full", 7)) }, { now = now - 35 * DAY })
    local s = run({ (fx.render(store, "gmail_over_quota", 7)) }, { now = now })
    assert.equal(0, s.suppressed)
  end)

  it("takes the limit, the window and the time to keep from its options", function()
    local s, d = run({ (fx.render(store, "qmail_full", 7)) }, { soft_limit = 1, keep = { soft = 2 * DAY } })
    assert.equal(1, s.suppressed)
    assert.equal(1, d[1].soft_bounces)
    assert.near(os.time() + 2 * DAY, store:suppression(address(7)).expires, 2)
  end)

  it("lets a suppression expire: after it the address may be sent to again", function()
    local now = os.time()
    run({ (fx.render(store, "qmail_full", 7)) }, { soft_limit = 1, keep = { soft = DAY }, now = now })
    assert.is_not_nil(store:suppressed(address(7), now + DAY - 10))
    assert.is_nil(store:suppressed(address(7), now + DAY + 10))
    assert.equal(0, #store:suppression_list { now = now + DAY + 10 })
    assert.equal(1, #store:suppression_list { now = now + DAY + 10, all = true })
  end)

  it("keeps a hard bounce's suppression when a soft bounce limit is reached later", function()
    run({ (fx.render(store, "qmail_unknown", 6)) })
    run({ (fx.render(store, "qmail_full", 6)) }, { soft_limit = 1 })
    local entry = store:suppression(address(6))
    assert.equal("hard bounce: user_unknown", entry.reason)
    assert.is_nil(entry.expires)
  end)

  it("makes a soft-bounce suppression permanent when a hard bounce follows", function()
    run({ (fx.render(store, "qmail_full", 6)) }, { soft_limit = 1 })
    run({ (fx.render(store, "qmail_unknown", 6)) })
    assert.is_nil(store:suppression(address(6)).expires)
  end)

  it("keeps complaints for the time its options say", function()
    run({ (fx.render(store, "arf_provider", 5)) }, { keep = { complaint = 10 * DAY } })
    assert.near(os.time() + 10 * DAY, store:suppression(address(5)).expires, 2)
  end)

  it("finds the recipient by the notice's address when the VERP tag is not ours", function()
    local _, d = run({ (fx.render(store, "gmail_not_found", 16, { foreign = true })) })
    assert.equal("address", d[1].matched_by)
    assert.equal("hard bounce: user_unknown", store:suppressed(address(16)))
  end)

  it("does not trust a tag with a forged signature", function()
    local raw = fx.render(store, "gmail_not_found", 16)
    local rec = fx.recipient(store, 17)
    local forged = string.format("%s-%s-aaaaaaaa", bounces.tag(rec.campaign, rec.id, store):match("^(%w+)-(%w+)"))
    raw = raw:gsub("bounces%+[%w-]+@", "bounces+" .. forged .. "@")
    local _, d = run({ raw })
    assert.equal("address", d[1].matched_by)
    assert.equal(address(16), d[1].address)
    assert.is_nil(store:suppressed(address(17)))
  end)

  it("looks the address up in the campaign the returned X-Mailcast-Campaign names", function()
    local other = store:campaign("december")
    store:add(other, address(16))
    local _, d = run({ (fx.render(store, "gmail_not_found", 16, { foreign = true })) })
    assert.equal(fx.CAMPAIGN, d[1].campaign)
    local _, d2 = run({ (fx.render(store, "m365_not_found", 16, { foreign = true })) })
    assert.equal(fx.CAMPAIGN, d2[1].campaign)
  end)

  it("finds the recipient by the returned Message-ID when nothing else names it", function()
    local rec = fx.recipient(store, 20)
    local raw = table.concat({
      "From: MAILER-DAEMON@mx.example.org", "To: postmaster@news.example.com",
      "Subject: Undeliverable: Your November news", "MIME-Version: 1.0",
      "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"", "",
      "--b1", "Content-Type: text/plain", "", "Delivery failed.", "",
      "--b1", "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; mx.example.org", "",
      "Final-Recipient: rfc822; forwarded@elsewhere.example", "Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 user unknown", "",
      "--b1", "Content-Type: text/rfc822-headers", "",
      "From: news@news.example.com", "Subject: Your November news",
      "Message-ID: " .. bounces.message_id(rec.campaign, rec.id, "news.example.com", store), "",
      "--b1--", "" }, "\r\n")
    local s, d = run({ raw })
    assert.equal(1, s.hard)
    assert.equal("message-id", d[1].matched_by)
    assert.equal(address(20), d[1].address)
    assert.equal("hard bounce: user_unknown", store:suppressed(address(20)))
  end)

  it("lets on_bounce ignore a bounce: nothing is recorded, the message is processed", function()
    local s, d = run({ (fx.render(store, "qmail_unknown", 6)) }, { on_bounce = function() return "ignore" end })
    assert.equal(1, s.ignored)
    assert.equal("ignore", d[1].action)
    assert.is_nil(store:suppressed(address(6)))
  end)

  it("lets on_bounce suppress on a soft bounce, for the time soft ones are kept", function()
    run({ (fx.render(store, "qmail_full", 7)) }, { on_bounce = function(b)
      if b.type == "soft" and b.reason == "mailbox_full" then return "suppress" end
    end })
    local entry = store:suppression(address(7))
    assert.equal("soft bounces: mailbox_full", entry.reason)
    assert.is_not_nil(entry.expires)
  end)

  it("lets on_bounce count a hard bounce instead of suppressing it", function()
    run({ (fx.render(store, "qmail_unknown", 6)) }, { on_bounce = function() return "count" end })
    assert.is_nil(store:suppressed(address(6)))
    assert.equal(1, store:soft_bounces(address(6), 0))
  end)

  it("shows on_bounce the bounce, its recipient and the default", function()
    local seen
    run({ (fx.render(store, "gmail_not_found", 16)) }, { on_bounce = function(b) seen = b end })
    assert.equal("hard", seen.type)
    assert.equal(address(16), seen.address)
    assert.equal("user_unknown", seen.reason)
    assert.equal("bad-mailbox", seen.category)
    assert.equal(fx.CAMPAIGN, seen.campaign)
    assert.equal(fx.recipient(store, 16).id, seen.recipient_id)
    assert.equal("verp", seen.matched_by)
    assert.equal("suppress", seen.default)
    assert.equal("dsn", seen.kind)
    assert.matches("5.1.1", seen.diagnostic)
  end)

  it("fails a source that raises, aborting it, with what was processed kept", function()
    local aborted = false
    local raw = fx.render(store, "qmail_unknown", 6)
    local src = {
      open = function() return true end,
      list = function() return { { id = "#1" } } end,
      fetch = function() return raw end,
      settle = function() error("the mailbox went away") end,
      close = function() return true end,
      abort = function() aborted = true end,
    }
    local ok, err = bounces.process { store = store, source = src, warn = function() end }
    assert.is_nil(ok)
    assert.matches("the mailbox went away", err)
    assert.is_true(aborted)
    assert.is_not_nil(store:suppressed(address(6)))   -- committed before the source's own step
  end)

  it("classifies with the core's rules when the script's classify hook raises or loops, and says so", function()
    local warnings = {}
    local warn = function(m) warnings[#warnings + 1] = m end
    local s = run({ (fx.render(store, "qmail_unknown", 6)) }, { warn = warn, classify = function() error("oops") end })
    assert.equal(1, s.processed)
    assert.equal("hard bounce: user_unknown", store:suppressed(address(6)))
    assert.matches("classify hook failed: .*oops.*classified without the script", warnings[1])
    run({ (fx.render(store, "exim_unknown", 8)) }, { warn = warn, classify = function() while true do end end })
    assert.matches("instruction limit", warnings[2])
    assert.is_not_nil(store:suppressed(address(8)))
  end)

  it("applies the default when on_bounce raises or answers nonsense, and says so", function()
    local warnings = {}
    local warn = function(m) warnings[#warnings + 1] = m end
    run({ (fx.render(store, "qmail_unknown", 6)) }, { warn = warn, on_bounce = function() error("oops") end })
    run({ (fx.render(store, "exim_unknown", 8)) }, { warn = warn, on_bounce = function() return "delete" end })
    assert.is_not_nil(store:suppressed(address(6)))
    assert.is_not_nil(store:suppressed(address(8)))
    assert.matches("on_bounce failed: .*oops", warnings[1])
    assert.matches("on_bounce answered 'delete'", warnings[2])
  end)

  it("lets on_bounce suppress an address no recipient of the store has", function()
    local s = run({ (fx.render(store, "rfc3464_multi", 2)) }, { on_bounce = function(b)
      if b.type == "hard" then return "suppress" end
    end })
    assert.equal(0, s.unmatched - 1)   -- the delayed one stays unmatched
    assert.equal("hard bounce: user_unknown", store:suppressed("wsnell@sdcc13.ucsd.edu"))
  end)

  it("leaves auto-replies alone: on_bounce never sees them", function()
    local called = false
    local s = run({ (fx.render(store, "vacation_rfc3834", 40)) }, { on_bounce = function() called = true end })
    assert.equal(1, s.autoreplies)
    assert.is_false(called)
  end)
end)


describe("mailcast.bounces.process on an mbox", function()
  local dir, store, path

  setup(function()
    dir = fx.tmpdir()
    store = fx.store(dir .. "/store.db")
    path = dir .. "/bounces.mbox"
    local list = {}
    for i, s in ipairs(samples.samples) do list[i] = (fx.render(store, s.name, i)) end
    -- a body line that starts with "From " is quoted in an mbox
    list[#list + 1] = "From: a@example.org\nSubject: quoting\n\nFrom here on\n>From there\n"
    fx.mbox(path, list)
  end)

  teardown(function()
    store:close()
    fx.rmrf(dir)
  end)

  it("reads every message and leaves the file as it was", function()
    local before = fx.read(path)
    local s = assert(bounces.process { store = store, mbox = path, warn = function() end })
    assert.equal(#samples.samples + 1, s.processed)
    assert.equal(#HARD + 2, s.hard)   -- and RFC 3464's two, unmatched
    assert.equal(6, s.not_bounces)
    assert.equal(before, fx.read(path))
  end)

  it("unquotes lines that start with From", function()
    local mbox = require("mailcast.mailbox").mbox(path)
    assert(mbox:open())
    local list = mbox:list()
    assert.equal(#samples.samples + 1, #list)
    assert.equal("From: a@example.org\nSubject: quoting\n\nFrom here on\n>From there\n", mbox:fetch(list[#list]))
    mbox:close()
  end)

  it("counts nothing twice when run again", function()
    local s = assert(bounces.process { store = store, mbox = path, warn = function() end })
    assert.equal(0, s.processed)
    assert.equal(#samples.samples + 1, s.seen_before)
    assert.equal(0, s.suppressed)
  end)
end)


describe("mailcast bounces (the command)", function()
  local dir, db

  before_each(function()
    dir = fx.tmpdir()
    db = dir .. "/november.mailcast.db"
    local store = fx.store(db)
    fx.maildir(dir .. "/mail")
    for _, name in ipairs { "qmail_unknown", "qmail_full", "arf_provider", "vacation_rfc3834", "newsletter" } do
      local i = fx.index(name)
      fx.deliver(dir .. "/mail", (fx.render(store, name, i)))
    end
    store:close()
  end)

  after_each(function() fx.rmrf(dir) end)

  local function mailcast(args)
    return helper.sh(sh_quote(helper.runner) .. " bounces " .. args)
  end

  it("prints a summary line", function()
    local out, code = mailcast("--store " .. sh_quote(db) .. " --maildir " .. sh_quote(dir .. "/mail"))
    assert.equal(0, code, out)
    assert.equal("processed 5 messages: 1 hard bounces, 1 soft bounces, 1 complaints, 0 delayed,"
      .. " 1 auto-replies, 1 not bounces, 0 unmatched; 2 addresses suppressed, 0 ignored, 0 seen before\n", out)
  end)

  it("prints JSON with --json, and a line per bounce with --verbose", function()
    local out, code = mailcast("--json --verbose --store " .. sh_quote(db) .. " --maildir " .. sh_quote(dir .. "/mail"))
    assert.equal(0, code, out)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(4, #lines)
    assert.matches('"type":"hard","address":"reader%d+@example.org","reason":"user_unknown"', out)
    assert.equal('{"processed":5,"hard":1,"soft":1,"complaints":1,"delayed":0,"autoreplies":1,"not_bounces":1,'
      .. '"unmatched":0,"suppressed":2,"ignored":0,"seen_before":0,"errors":0}', lines[4])
  end)

  it("takes on_bounce from --script", function()
    local script = dir .. "/hooks.lua"
    fx.write(script, 'return { on_bounce = function(b) if b.type == "complaint" then return "ignore" end end }\n')
    local out, code = mailcast("--script " .. sh_quote(script) .. " --store " .. sh_quote(db) .. " --maildir " .. sh_quote(dir .. "/mail"))
    assert.equal(0, code, out)
    assert.matches("1 addresses suppressed, 1 ignored", out)
  end)

  it("takes --soft-limit and --keep", function()
    local out, code = mailcast("--soft-limit 1 --keep soft=7 --store " .. sh_quote(db) .. " --maildir " .. sh_quote(dir .. "/mail"))
    assert.equal(0, code, out)
    assert.matches("3 addresses suppressed", out)
    local list = helper.sh(sh_quote(helper.runner) .. " suppress list --store " .. sh_quote(db))
    assert.matches("until .* soft bounces: mailbox_full", list)
  end)

  it("refuses a password on the command line", function()
    local out, code = mailcast("--store " .. sh_quote(db) .. " --pop3 127.0.0.1 --password hunter2")
    assert.equal(2, code)
    assert.matches("a password is never taken on the command line", out)
  end)

  it("says which variable to set when the password is missing", function()
    local out, code = helper.sh("env -u MAILCAST_POP3_PASSWORD MAILCAST_POP3_USER=u " .. sh_quote(helper.runner)
      .. " bounces --store " .. sh_quote(db) .. " --pop3 127.0.0.1")
    assert.equal(2, code)
    assert.matches("no password: set MAILCAST_POP3_PASSWORD", out)
  end)

  it("does not make a store that is not there", function()
    local out, code = mailcast("--store " .. sh_quote(dir .. "/typo.db") .. " --maildir " .. sh_quote(dir .. "/mail"))
    assert.equal(1, code)
    assert.matches("no store at", out)
    assert.is_nil(fx.read(dir .. "/typo.db"))
  end)

  it("refuses what it cannot use, with status 2 and why", function()
    local script = dir .. "/broken.lua"
    fx.write(script, "return 42\n")
    local store, mail = " --store " .. sh_quote(db), " --maildir " .. sh_quote(dir .. "/mail")
    for _, case in ipairs {
      { mail .. store .. " --frobnicate", "unknown option '%-%-frobnicate'" },
      { mail .. store .. " --soft-limit many", "%-%-soft%-limit wants a number, not 'many'" },
      { mail, "%-%-store FILE is required" },
      { mail .. store .. " --move-to Done --delete", "%-%-move%-to and %-%-delete exclude each other" },
      { mail .. store .. " --keep soft=often", "%-%-keep soft: 'often' is not a number of days or forever" },
      { mail .. store .. " --keep bogus=3", "%-%-keep: no kind 'bogus'" },
      { mail .. store .. " --script " .. sh_quote(script), "must return a table of hooks" },
    } do
      local out, code = mailcast(case[1])
      assert.equal(2, code, case[1] .. ": " .. out)
      assert.matches(case[2], out)
    end
  end)

  it("wants exactly one source", function()
    local out, code = mailcast("--store " .. sh_quote(db))
    assert.equal(2, code)
    assert.matches("give one source", out)
  end)

  it("polls with --every until interrupted", function()
    -- Stopped once it has printed two passes (within 20 s), not after a
    -- fixed time a slow machine might spend starting up. SIGTERM, which
    -- it takes as Ctrl-C: a background job of sh may ignore SIGINT until
    -- the poller traps it. timeout ends it whatever happens.
    local log = dir .. "/every.out"
    helper.sh(": > " .. sh_quote(log) .. "; timeout 60 " .. sh_quote(helper.runner) .. " bounces --every 0.3 --store "
      .. sh_quote(db) .. " --maildir " .. sh_quote(dir .. "/mail") .. " > " .. sh_quote(log) .. " 2>&1 & pid=$!; i=0; "
      .. "while n=$(grep -c '^processed' " .. sh_quote(log) .. "); [ \"${n:-0}\" -lt 2 ] && [ $i -lt 200 ]; do "
      .. "sleep 0.1; i=$((i + 1)); done; kill -TERM $pid; wait $pid")
    local out = assert(io.open(log)):read("a")
    local runs = select(2, out:gsub("processed %d+ messages", ""))
    assert.is_true(runs >= 2, out)
    assert.matches("^processed 5 messages", out)
    assert.matches("\nprocessed 0 messages: .* 2 seen before", out)
  end)
end)
