-- mailcast.bounce.explain and `mailcast explain`: a reply in plain words.
local bounce = require "mailcast.bounce"
local helper = require "helper"

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end


describe("mailcast.bounce.explain", function()
  it("says a 550 5.1.1 is a missing mailbox, hard, and to remove the address", function()
    local e = bounce.explain("550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in local recipient table")
    assert.equal("user_unknown", e.reason)
    assert.is_true(e.hard)
    assert.equal(550, e.code)
    assert.equal("5.1.1", e.status)
    assert.equal("permanent failure: the mailbox does not exist", e.status_meaning)
    assert.matches("^permanent failure", e.status_meaning)
    assert.matches("Remove the address", e.advice)
  end)

  it("keeps a temporary user unknown soft and says to retry", function()
    local e = bounce.explain("450 4.1.1 <x@example.com>: Recipient address rejected: User unknown")
    assert.equal("user_unknown", e.reason)
    assert.is_false(e.hard)
    assert.is_false(e.permanent)
    assert.matches("^temporary failure", e.status_meaning)
    assert.matches("retry", e.advice)
  end)

  it("tells a block of the sender from a bad address", function()
    local e = bounce.explain("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org")
    assert.equal("blocked", e.reason)
    assert.is_false(e.hard)
    assert.matches("Keep the recipient", e.advice)
    assert.matches("554", tostring(e.code))
  end)

  it("takes a reply table as classify does", function()
    local e = bounce.explain { code = 552, enhanced = "5.2.2", text = "Mailbox full" }
    assert.equal("mailbox_full", e.reason)
    assert.equal("refused: the message is too big or the mailbox is full", e.code_meaning)
    assert.equal("permanent failure: the mailbox is full", e.status_meaning)
  end)

  it("reads a Diagnostic-Code with its type", function()
    local e = bounce.explain("smtp; 552 5.2.2 <x@example.com>: mailbox full")
    assert.equal(552, e.code)
    assert.equal("5.2.2", e.status)
    assert.equal("mailbox_full", e.reason)
  end)

  it("says when no rule knows the reply", function()
    local e = bounce.explain("Computer says no")
    assert.equal("unknown", e.reason)
    assert.is_nil(e.code)
    assert.matches("add a rule", e.advice)
  end)
end)


describe("mailcast explain", function()
  it("prints the meaning, the verdict and the advice", function()
    local out, code = helper.sh(q(helper.runner) .. " explain " ..
      q("550 5.1.1 <x@example.com>: Recipient address rejected"))
    assert.equal(0, code)
    assert.matches("means:%s+the mailbox does not exist %(user_unknown%)", out)
    assert.matches("status:%s+5%.1%.1, permanent failure: the mailbox does not exist", out)
    assert.matches("verdict:%s+hard", out)
    assert.matches("do:%s+Remove the address", out)
  end)

  it("writes one JSON record with --json", function()
    local out, code = helper.sh(q(helper.runner) .. " explain --json " .. q("452 4.2.2 Mailbox full"))
    assert.equal(0, code)
    assert.matches('^{"reason":"mailbox_full",', out)
    assert.matches('"hard":false', out)
  end)

  it("refuses a missing reply with its usage and status 2", function()
    local out, code = helper.sh(q(helper.runner) .. " explain")
    assert.equal(2, code)
    assert.matches("usage: mailcast explain", out)
  end)
end)
