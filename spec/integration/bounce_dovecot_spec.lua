-- A real rejection from Dovecot's LDA for a mailbox over its quota, read
-- by mailcast.bounce.parse: the saved one in spec/support/bounces/dovecot/
-- always, a fresh one from spec/support/bounces/dovecot_capture.sh when
-- this machine allows it (root and dovecot-core; nothing on the network).
local mailcast = require "mailcast"
local helper = require "helper"

local read = require("support.mime").read


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

  local out, code = helper.sh("[ \"$(id -u)\" = 0 ] && test -x /usr/lib/dovecot/dovecot-lda && command -v setpriv")
  if code ~= 0 then
    pending("a fresh rejection needs root and dovecot-lda: " .. out:gsub("%s+$", ""))
    return
  end

  it("reads the rejection the LDA just wrote the same way", function()
    local p = assert(io.popen("mktemp -d /tmp/mailcast-bounces-dovecot.XXXXXX"))
    local dir = p:read("l")
    p:close()
    local log, rc = helper.sh("sh spec/support/bounces/dovecot_capture.sh " .. dir)
    local f = io.open(dir .. "/quota-full.eml", "rb")
    local raw = f and f:read("a")
    if f then f:close() end
    helper.sh("rm -rf " .. dir)
    assert.equal(0, rc, log)
    check(raw)
  end)
end)
