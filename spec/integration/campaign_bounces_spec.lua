-- A campaign with a bounce domain, and its bounces coming back: each
-- recipient's envelope sender names it (VERP), so `mailcast bounces`
-- finds the recipient of a DSN even when the DSN does not say who it was.
local mailcast = require "mailcast"
local bounces = require "mailcast.bounces"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"

local q = mime.sh_quote

-- A DSN as a remote MTA sends it later: to the envelope sender, naming
-- the recipient only by an alias the list never had.
local function dsn(to, message_id)
  return table.concat({
    "From: MAILER-DAEMON@mx.example.net",
    "To: " .. to,
    "Subject: Undelivered Mail Returned to Sender",
    "Message-ID: <dsn-1@mx.example.net>",
    "MIME-Version: 1.0",
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
    "",
    "--b",
    "Content-Type: text/plain",
    "",
    "The mailbox is gone.",
    "--b",
    "Content-Type: message/delivery-status",
    "",
    "Reporting-MTA: dns; mx.example.net",
    "",
    "Final-Recipient: rfc822; alias-that-forwarded@example.net",
    "Action: failed",
    "Status: 5.1.1",
    "Diagnostic-Code: smtp; 550 5.1.1 User unknown",
    "",
    "--b",
    "Content-Type: text/rfc822-headers",
    "",
    "Message-ID: " .. message_id,
    "Subject: Hello",
    "",
    "--b--",
    "",
  }, "\r\n")
end

-- Runs the two-recipient campaign to a sink; ben's stored message.
local function run_campaign(dir)
    local sink = builtin_sink.start("")
    mime.write(dir .. "/campaign.lua", string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = "verp", from = "News <news@example.com>", subject = "Hello", text = "Hello {{email}}\n",
  recipients = { { email = "anna@example.net" }, { email = "ben@example.net" } },
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  bounce_domain = "bounces.example.com",
}
]], sink.port))
    local out, code = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/campaign.lua"))
    local files = sink.files()
    sink.cleanup()
    assert.equal(0, code, out)
    assert.equal(2, #files)
    local ben
    for _, raw in ipairs(files) do
      assert.matches("Return%-Path: <bounces%+[%w-]+@bounces%.example%.com>\r\n", raw)
      assert.matches("X%-Mailcast%-Campaign: verp\r\n", raw)
      if raw:find("Delivered-To: ben@example.net", 1, true) then ben = raw end
    end
    return ben
end

describe("a campaign with a bounce domain", function()
  it("sends each recipient from its own VERP address, and its later bounce suppresses it", function()
    local dir = mime.tmpdir()
    local ben = run_campaign(dir)
    local return_path = ben:match("Return%-Path: <(.-)>")
    local message_id = ben:match("\r\nMessage%-I[Dd]: (<mc%-.->)")
    assert.is_string(message_id)
    -- The tag checks out against the store's own secret: campaign 1, and
    -- ben's row.
    local db = dir .. "/verp.mailcast.db"
    local store = assert(mailcast.store(db))
    local campaign, recipient = bounces.check_tag(return_path:match("^bounces%+(.-)@"), store)
    local ben_id = store:recipients("ben@example.net")[1].id
    store:close()
    assert.equal(1, campaign)
    assert.equal(ben_id, recipient)

    -- The DSN comes back to that address and is read from a Maildir.
    local maildir = dir .. "/bounces"
    for _, sub in ipairs { "new", "cur", "tmp" } do os.execute("mkdir -p " .. q(maildir .. "/" .. sub)) end
    mime.write(maildir .. "/new/1.dsn", "Delivered-To: " .. return_path .. "\r\n" .. dsn(return_path, message_id))
    local bout, bcode = helper.sh(q(helper.runner) .. " bounces --store " .. q(db) .. " --maildir " .. q(maildir))
    store = assert(mailcast.store(db))
    local ben_reason, anna_reason = store:suppressed("ben@example.net"), store:suppressed("anna@example.net")
    store:close()
    mime.rmdir(dir)
    assert.equal(0, bcode, bout)
    assert.is_string(ben_reason, bout)
    assert.matches("hard bounce", ben_reason)
    assert.is_nil(anna_reason)
  end)
end)


describe("mailcast sink --bounces", function()
  it("processes each bounce as it arrives over SMTP", function()
    local dir = mime.tmpdir()
    local ben = run_campaign(dir)
    local return_path = ben:match("Return%-Path: <(.-)>")
    local message_id = ben:match("\r\nMessage%-I[Dd]: (<mc%-.->)")
    local db = dir .. "/verp.mailcast.db"
    local listener = builtin_sink.start("--bounces " .. q(db))
    local results = assert(mailcast.send({ host = "127.0.0.1", port = listener.port, tls = "none" },
      { { from = "", to = { return_path }, message = dsn(return_path, message_id) } }))
    -- The 250 goes out before the message is processed: wait for it.
    local reason
    for _ = 1, 100 do
      local store = assert(mailcast.store(db))
      reason = store:suppressed("ben@example.net")
      store:close()
      if reason then break end
      require("socket").sleep(0.05)
    end
    local out = mime.try_read(listener.dir .. "/out") or ""
    listener.stop()
    listener.cleanup()
    mime.rmdir(dir)
    assert.equal("sent", results[1].status, results[1].recipients[1].text)
    assert.is_string(reason, out)
    assert.matches("hard bounce", reason)
  end)

  -- It printed "bounce: hard X user_unknown" for a bounce it had not
  -- recorded, as for one it had.
  it("says so of a bounce that matched no recipient and was not recorded", function()
    local dir = mime.tmpdir()
    local db = dir .. "/empty.mailcast.db"
    assert(mailcast.store(db)):close()
    local listener = builtin_sink.start("--count 1 --bounces " .. q(db))
    local results = assert(mailcast.send({ host = "127.0.0.1", port = listener.port, tls = "none" },
      { { from = "", to = { "bounces@example.com" }, message = dsn("bounces@example.com", "<unknown@example.com>") } }))
    local out = listener.wait() or ""
    listener.cleanup()
    mime.rmdir(dir)
    assert.equal("sent", results[1].status, results[1].recipients[1].text)
    assert.matches("bounce: hard alias-that-forwarded@example.net user_unknown (matched no recipient of the store:"
      .. " not recorded)\n", out, 1, true)
  end)
end)
