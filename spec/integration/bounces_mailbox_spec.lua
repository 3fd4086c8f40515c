-- Bounce mailboxes over POP3 and IMAP (mailcast.pop3, mailcast.imap and
-- `mailcast bounces --pop3/--imap`) against a real Dovecot on 127.0.0.1
-- (spec/support/dovecot.lua): STLS / STARTTLS and implicit TLS, the
-- certificate checked, a wrong password, only processed messages
-- deleted, moved or flagged, and a second run that sees nothing new.
local bounces = require "mailcast.bounces"
local pop3 = require "mailcast.pop3"
local imap = require "mailcast.imap"
local dovecot = require "support.dovecot"
local fx = require "support.bounce_store"
local helper = require "helper"

local available, why = dovecot.available()
if not available then
  describe("bounce mailboxes on Dovecot", function()
    pending("needs Dovecot: " .. why)
  end)
  return
end

local PASSWORD = "s3cret-Pa55"
local USERS = {}
for _, u in ipairs { "p1", "p2", "p3", "p4", "p5", "i1", "i2", "i3", "i4", "i5", "i6", "c1", "c2" } do
  USERS[u] = PASSWORD
end

-- The messages each mailbox gets: two bounces to process, two to leave.
local MESSAGES = { "qmail_unknown", "arf_provider", "vacation_rfc3834", "newsletter" }


local sh_quote = require("support.mime").sh_quote


describe("bounce mailboxes on Dovecot", function()
  local dc, dir, db, store

  setup(function()
    dc = dovecot.start { users = USERS }
    dir = fx.tmpdir()
    db = dir .. "/november.mailcast.db"
    store = fx.store(db)
  end)

  teardown(function()
    store:close()
    fx.rmrf(dir)
    dc:stop()
  end)

  -- Fills user's folder with the messages, rendered for a store of the
  -- user's own (so that no other test has read them); returns the store.
  local function fill(user, folder)
    local own = fx.store(dir .. "/" .. user .. ".db")
    for _, name in ipairs(MESSAGES) do
      dc:deliver(user, (fx.render(own, name, fx.index(name))), folder)
    end
    return own
  end

  local function pop3_opts(user, extra)
    local o = { host = "127.0.0.1", port = dc.ports.pop3, ca_file = dc.ca, user = user, password = PASSWORD }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  local function imap_opts(user, extra)
    local o = { host = "127.0.0.1", port = dc.ports.imap, ca_file = dc.ca, user = user, password = PASSWORD }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  local function subjects(user, folder)
    local out = {}
    for _, m in ipairs(dc:messages(user, folder)) do out[#out + 1] = m.raw:match("\nSubject: ([^\r\n]*)") end
    table.sort(out)
    return out
  end

  local function process(t, own)
    t.store, t.warn = own or store, function() end
    return bounces.process(t)
  end

  -- The subjects of the two messages left alone.
  local LEFT = { "Our November offers: delivery failed? Never with us!", "Re: Your November news" }

  describe("over POP3", function()
    it("uses STLS, deletes only the processed messages, and a second run sees nothing new", function()
      local own = fill("p1")
      local s = assert(process({ pop3 = pop3_opts("p1") }, own))
      assert.equal(4, s.processed)
      assert.equal(1, s.hard)
      assert.equal(1, s.complaints)
      assert.equal(2, s.suppressed)
      assert.same(LEFT, subjects("p1"))
      assert.matches("pop3%-login: Info: Login: user=<p1>.*TLS", dc:log())
      local again = assert(process({ pop3 = pop3_opts("p1") }, own))
      assert.equal(0, again.processed)
      assert.equal(2, again.seen_before)
      assert.same(LEFT, subjects("p1"))
      local last
      for line in dc:log():gmatch("pop3%(p1%)[^\n]*Logged out[^\n]*") do last = line end
      assert.matches("retr=0/0, del=0/2", last)   -- known by UIDL: not fetched again
    end)

    it("uses POP3S, TLS from the first byte", function()
      local own = fill("p2")
      local s = assert(process({ pop3 = pop3_opts("p2", { port = dc.ports.pop3s, tls = "implicit" }) }, own))
      assert.equal(4, s.processed)
      assert.equal(2, s.suppressed)
      assert.same(LEFT, subjects("p2"))
      assert.matches("pop3%-login: Info: Login: user=<p2>.*TLS", dc:log())
    end)

    it("reads messages as sent: dot-stuffed lines come back unstuffed", function()
      dc:deliver("p3", "From: a@example.org\r\nSubject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nend\r\n")
      local c = assert(pop3.connect(pop3_opts("p3")))
      assert(c:login("p3", PASSWORD))
      assert.equal("From: a@example.org\r\nSubject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nend\r\n", c:retr(1))
      c:quit()
    end)

    it("says clearly when the password is wrong, and deletes nothing", function()
      fill("p4")
      local ok, err = process { pop3 = pop3_opts("p4", { password = "wrong" }) }
      assert.is_nil(ok)
      assert.equal("pop3: login failed: [AUTH] Authentication failed.", err)
      assert.equal(4, #dc:messages("p4"))
    end)

    it("refuses a server whose certificate is not signed by a trusted CA", function()
      local ok, err = process { pop3 = pop3_opts("p4", { ca_file = "/etc/ssl/certs/ca-certificates.crt" }) }
      assert.is_nil(ok)
      assert.matches("^pop3: tls: certificate verify failed", err)
      assert.equal(4, #dc:messages("p4"))
    end)

    it("works without a check only when told --insecure", function()
      local c = assert(pop3.connect(pop3_opts("p5", { ca_file = false, insecure = true })))
      assert.is_true(c:secure())
      assert(c:login("p5", PASSWORD))
      c:quit()
    end)
  end)

  describe("over IMAP", function()
    local function flagged(user)
      local c = assert(imap.connect(imap_opts(user)))
      assert(c:login(user, PASSWORD))
      assert(c:select("INBOX"))
      local done = assert(c:search("KEYWORD " .. imap.KEYWORD .. " SEEN"))
      local unseen = assert(c:search("UNSEEN"))
      c:logout()
      return #done, #unseen
    end

    it("uses STARTTLS, flags the processed messages, and a second run sees nothing new", function()
      local own = fill("i1")
      local s = assert(process({ imap = imap_opts("i1") }, own))
      assert.equal(4, s.processed)
      assert.equal(2, s.suppressed)
      local done, unseen = flagged("i1")
      assert.equal(2, done)
      assert.equal(2, unseen)   -- left alone: not even marked seen
      assert.matches("imap%-login: Info: Login: user=<i1>.*TLS", dc:log())
      local again = assert(process({ imap = imap_opts("i1") }, own))
      assert.equal(0, again.processed)
      assert.equal(2, again.seen_before)   -- the flagged ones are not read again
      assert.equal(4, #dc:messages("i1"))
    end)

    it("moves the processed messages to --move-to, and leaves the rest", function()
      local other = fill("i2")
      local s = assert(bounces.process { store = other, imap = imap_opts("i2", { move_to = "Processed" }), warn = function() end })
      assert.equal(4, s.processed)
      assert.equal(2, s.suppressed)
      assert.same(LEFT, subjects("i2"))
      assert.same({ "Complaint about message from 192.0.2.10", "failure notice" }, subjects("i2", "Processed"))
      local again = assert(bounces.process { store = other, imap = imap_opts("i2", { move_to = "Processed" }), warn = function() end })
      assert.equal(0, again.processed)
      assert.equal(2, again.seen_before)
      other:close()
    end)

    it("deletes the processed messages with delete, over IMAPS", function()
      local other = fill("i3")
      local s = assert(bounces.process { store = other, warn = function() end,
        imap = imap_opts("i3", { port = dc.ports.imaps, tls = "implicit", delete = true }) })
      assert.equal(4, s.processed)
      assert.same(LEFT, subjects("i3"))
      other:close()
    end)

    it("reads the folder it is given", function()
      local other = fx.store(dir .. "/i4.db")
      dc:deliver("i4", (fx.render(other, "qmail_unknown", fx.index("qmail_unknown"))), "Bounces")
      dc:deliver("i4", "From: a@example.org\r\nSubject: inbox\r\n\r\nnot read\r\n")
      local s = assert(bounces.process { store = other, warn = function() end,
        imap = imap_opts("i4", { folder = "Bounces", delete = true }) })
      assert.equal(1, s.processed)
      assert.equal(1, s.hard)
      assert.equal(0, #dc:messages("i4", "Bounces"))
      assert.equal(1, #dc:messages("i4"))
      other:close()
    end)

    it("reads literals in answers and sends a password that needs one", function()
      local c = assert(imap.connect(imap_opts("i5")))
      local ok, err = c:login("i5", "line\r\nbreak and \255")
      assert.is_nil(ok)
      assert.equal("imap: login failed: [AUTHENTICATIONFAILED] Authentication failed.", err)
      c:close()
    end)

    it("says clearly when the password is wrong", function()
      local ok, err = process { imap = imap_opts("i5", { password = "wrong" }) }
      assert.is_nil(ok)
      assert.equal("imap: login failed: [AUTHENTICATIONFAILED] Authentication failed.", err)
    end)

    it("refuses a server whose certificate names another host", function()
      local wrong = dovecot.start { users = { i6 = PASSWORD }, cert_kind = "wrong_name" }
      local ok, err = process { imap = { host = "127.0.0.1", port = wrong.ports.imaps, tls = "implicit",
        ca_file = wrong.ca, user = "i6", password = PASSWORD } }
      wrong:stop()
      assert.is_nil(ok)
      assert.equal("imap: tls: certificate verify failed: the certificate is for wrong.example, not 127.0.0.1", err)
    end)

    it("refuses a self-signed certificate", function()
      local self_signed = dovecot.start { users = { i6 = PASSWORD }, cert_kind = "self_signed" }
      local ok, err = process { imap = { host = "127.0.0.1", port = self_signed.ports.imap,
        ca_file = self_signed.ca, user = "i6", password = PASSWORD } }
      self_signed:stop()
      assert.is_nil(ok)
      assert.matches("^imap: tls: certificate verify failed", err)
    end)
  end)

  describe("without TLS", function()
    local plain

    setup(function() plain = dovecot.start { users = { x1 = PASSWORD }, ssl = false } end)
    teardown(function() plain:stop() end)

    it("does not send a password unless plaintext is allowed", function()
      plain:deliver("x1", "From: a@example.org\r\nSubject: plain\r\n\r\nhello\r\n")
      local ok, err = process { pop3 = { host = "127.0.0.1", port = plain.ports.pop3, user = "x1", password = PASSWORD } }
      assert.is_nil(ok)
      assert.matches("^pop3: the server offers no STLS", err)
      ok, err = process { imap = { host = "127.0.0.1", port = plain.ports.imap, user = "x1", password = PASSWORD } }
      assert.is_nil(ok)
      assert.matches("^imap: the server offers no STARTTLS", err)
      assert.not_matches("Login: user=<x1>", plain:log())
      local s = assert(process { pop3 = { host = "127.0.0.1", port = plain.ports.pop3, user = "x1",
        password = PASSWORD, allow_plaintext = true } })
      assert.equal(1, s.not_bounces)
    end)
  end)

  describe("mailcast bounces --pop3 / --imap", function()
    local function run(user, args, env)
      return helper.sh(string.format("%s %s bounces --store %s --ca-file %s %s",
        env or string.format("MAILCAST_POP3_USER=%s MAILCAST_POP3_PASSWORD=%s MAILCAST_IMAP_USER=%s MAILCAST_IMAP_PASSWORD=%s",
          user, sh_quote(PASSWORD), user, sh_quote(PASSWORD)),
        sh_quote(helper.runner), sh_quote(dir .. "/" .. user .. ".db"), sh_quote(dc.ca), args))
    end

    it("reads a POP3 mailbox with the credentials of the environment", function()
      fill("c1"):close()
      local out, code = run("c1", "--pop3 127.0.0.1:" .. dc.ports.pop3)
      assert.equal(0, code, out)
      assert.matches("^processed 4 messages: 1 hard bounces, 0 soft bounces, 1 complaints", out)
      assert.same(LEFT, subjects("c1"))
    end)

    it("reads an IMAPS folder, moving what it processed", function()
      fill("c2"):close()
      local out, code = run("c2", "--imaps 127.0.0.1:" .. dc.ports.imaps .. " --move-to Done --json")
      assert.equal(0, code, out)
      assert.matches('"processed":4,', out)
      assert.equal(2, #dc:messages("c2", "Done"))
    end)

    it("never shows the password, even when it is refused", function()
      local out, code = run("c2", "--imap 127.0.0.1:" .. dc.ports.imap,
        "MAILCAST_IMAP_USER=c2 MAILCAST_IMAP_PASSWORD=Wr0ng-s3cret")
      assert.equal(1, code)
      assert.matches("imap: login failed", out)
      assert.not_matches("Wr0ng", out)
      assert.not_matches("Wr0ng", dc:log())
    end)
  end)
end)
