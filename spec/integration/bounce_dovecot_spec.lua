-- A real rejection from Dovecot's LDA for a mailbox over its quota, read
-- by mailcast.bounce.parse: the saved one in spec/support/bounces/dovecot/
-- always, a fresh one from spec/support/bounces/dovecot_capture.sh when
-- this machine allows it (root and dovecot-core; nothing on the network).
local mailcast = require "mailcast"
local read = require("support.mime").read
local capture = require "support.bounce_capture"


local function check(raw)
  local b = assert(mailcast.bounce.parse(raw))
  assert.equal("dsn", b.kind)
  assert.equal(1, #b.recipients)
  local r = b.recipients[1]
  assert.equal("full@dest.test", r.address)
  assert.equal("failed", r.action)
  assert.equal("5.2.2", r.status)
  assert.equal("mailbox_full", r.reason)
  assert.is_false(r.hard)
  assert.matches("Quota exceeded", r.diagnostic)
  assert.equal("quota-full", b.verp)
  assert.equal("<quota-full.20241104@sender.test>", b.message_id)
  assert.equal("mx.dest.test", b.reporting_mta)
end


describe("the rejection Dovecot's LDA sends", function()
  it("reads the saved quota-full.eml as a full mailbox", function()
    check(read("spec/support/bounces/dovecot/quota-full.eml"))
  end)

  local ok, why = capture.can_run("[ \"$(id -u)\" = 0 ] && test -x /usr/lib/dovecot/dovecot-lda && command -v setpriv")
  if not ok then
    pending("a fresh rejection needs root and dovecot-lda: " .. why)
    return
  end

  it("reads the rejection the LDA just wrote the same way", function()
    check(capture.run("dovecot", { "quota-full" })["quota-full"])
  end)
end)
