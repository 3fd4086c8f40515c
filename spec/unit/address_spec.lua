-- Mailboxes in from/to/cc/reply_to: RFC 5321 4.1.2 Mailbox syntax for
-- the address, RFC 5322 display names, and errors that name the field
-- and the address.
local mailcast = require "mailcast"
local mime = require "support.mime"

local function message(to)
  return mailcast.message { from = "sender@example.com", to = to, subject = "s", text = "t" }
end

-- The To field as written, unfolded.
local function to_field(to)
  local raw, err = message(to)
  assert(raw, err)
  return mime.field(raw, "To")
end

local function refused(to)
  local raw, err = message(to)
  assert.is_nil(raw)
  assert.is_string(err)
  return err
end


describe("addresses that are accepted", function()
  local valid = {
    { "a@example.com", "a@example.com" },
    { "Name <a@example.com>", "Name <a@example.com>" },
    { "<a@example.com>", "a@example.com" },
    { "  spaced@example.com  ", "spaced@example.com" },
    { "first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk" },
    { "!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com" },
    { "\"john doe\"@example.com", "\"john doe\"@example.com" },
    { "\"quoted\\\"pair\"@example.com", "\"quoted\\\"pair\"@example.com" },
    { "\"a@b,c\"@example.com", "\"a@b,c\"@example.com" },
    { "user@[192.0.2.1]", "user@[192.0.2.1]" },
    { "user@[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]" },
    { "user@xn--bcher-kva.example", "user@xn--bcher-kva.example" },
    { "user@localhost", "user@localhost" },
    { "user@1-2.example", "user@1-2.example" },
    { "\"Doe, John\" <john@example.com>", "\"Doe, John\" <john@example.com>" },
    { "\"Smith \\\"Jr\\\"\" <s@example.com>", "\"Smith \\\"Jr\\\"\" <s@example.com>" },
  }

  for _, case in ipairs(valid) do
    it("accepts " .. case[1], function()
      assert.equal(case[2], to_field(case[1]))
    end)
  end

  it("accepts a local part of exactly 64 octets", function()
    local addr = string.rep("l", 64) .. "@example.com"
    assert.equal(addr, to_field(addr))
  end)

  it("accepts a domain label of exactly 63 octets", function()
    local addr = "a@" .. string.rep("d", 63) .. ".example"
    assert.equal(addr, to_field(addr))
  end)

  it("accepts an address of exactly 254 octets", function()
    local addr = string.rep("l", 64) .. "@" .. string.rep("d", 63) .. "." .. string.rep("e", 63) .. "." .. string.rep("f", 61)
    assert.equal(254, #addr)
    assert.equal(addr, to_field(addr))
  end)

  it("splits a comma-separated list, keeping commas inside quotes", function()
    assert.equal("a@example.com, \"Doe, J\" <j@example.com>, b@example.org",
      to_field("a@example.com, \"Doe, J\" <j@example.com>,b@example.org"))
  end)

  it("takes a list mixing strings and {name=, address=} tables", function()
    assert.equal("a@example.com, Bob <b@example.com>, c@example.com, d@example.com",
      to_field { "a@example.com", { name = "Bob", address = "b@example.com" }, "c@example.com, d@example.com" })
  end)

  it("takes a single {name=, address=} table", function()
    assert.equal("Bob <b@example.com>", to_field { name = "Bob", address = "b@example.com" })
  end)

  it("quotes a display name given as a table when it has specials", function()
    assert.equal("\"Doe, John\" <j@example.com>", to_field { name = "Doe, John", address = "j@example.com" })
    assert.equal("\"J. R. (Bob)\" <j@example.com>", to_field { name = "J. R. (Bob)", address = "j@example.com" })
  end)

  it("escapes quotes and backslashes in a quoted display name", function()
    assert.equal([["A \"B\" \\ C" <j@example.com>]], to_field { name = [[A "B" \ C]], address = "j@example.com" })
  end)

  it("encodes a non-ASCII display name so that it decodes back", function()
    local raw = assert(message { name = "Åsa Lindqvist, Ph.D.", address = "asa@example.net" })
    assert.matches("^=%?UTF%-8%?", mime.field(raw, "To"))
    assert.equal("Åsa Lindqvist, Ph.D. <asa@example.net>", mailcast.parse(raw).header.to)
  end)

  it("encodes a display name that contains an encoded-word look-alike", function()
    local raw = assert(message { name = "=?utf-8?q?x?=", address = "a@example.net" })
    assert.equal("=?utf-8?q?x?= <a@example.net>", mailcast.parse(raw).header.to)
  end)

  it("drops an empty display name", function()
    assert.equal("a@example.com", to_field { name = "", address = "a@example.com" })
    assert.equal("a@example.com", to_field "\"\" <a@example.com>")
  end)

  it("checks cc and reply_to the same way", function()
    local raw = assert(mailcast.message { from = "s@example.com", to = "t@example.com", cc = "Carl <c@example.com>",
      reply_to = { name = "Replies", address = "r@example.com" }, text = "x" })
    assert.equal("Carl <c@example.com>", mime.field(raw, "Cc"))
    assert.equal("Replies <r@example.com>", mime.field(raw, "Reply-To"))
  end)
end)


describe("addresses that are refused", function()
  local invalid = {
    { "no at sign", "plainaddress", "no '@' in address" },
    { "two dots in a row in the local part", "a..b@example.com", "misplaced '.' in local part" },
    { "a leading dot in the local part", ".a@example.com", "misplaced '.' in local part" },
    { "a trailing dot in the local part", "a.@example.com", "misplaced '.' in local part" },
    { "a 65-octet local part", string.rep("l", 65) .. "@example.com", "local part longer than 64 octets" },
    { "a label with a leading hyphen", "a@-example.com", "character '-' not allowed in domain" },
    { "a label with a trailing hyphen", "a@example-.com", "domain label ends with '-'" },
    { "an empty label", "a@example..com", "empty label in domain" },
    { "a trailing dot in the domain", "a@example.com.", "empty label in domain" },
    { "a 64-octet label", "a@" .. string.rep("d", 64) .. ".example", "domain label longer than 63 octets" },
    { "a non-ASCII local part (no SMTPUTF8)", "jörg@example.com", "non-ASCII local part (needs SMTPUTF8, not supported)" },
    { "a non-ASCII domain", "a@bücher.example", "non-ASCII domain (use its A-label, xn--...)" },
    { "a space in the local part", "x y@y.example", "character ' ' not allowed in local part" },
    { "an underscore in the domain", "a@ex_ample.com", "character '_' not allowed in domain" },
    { "an empty local part", "@example.com", "empty local part" },
    { "an empty domain", "a@", "empty domain" },
    { "an unterminated quoted local part", "\"abc@example.com", "unterminated quoted local part" },
    { "a control character in a quoted local part", "\"a\1b\"@example.com", "bad character in quoted local part" },
    { "a bad address literal", "a@[192.0.2.1", "unterminated address literal" },
    { "an address over 254 octets", string.rep("l", 64) .. "@" .. string.rep("d.", 95) .. "example", "address longer than 254 octets" },
  }

  for _, case in ipairs(invalid) do
    it("refuses " .. case[1] .. " and names the address", function()
      local err = refused(case[2])
      local shown = #case[2] > 100 and case[2]:sub(1, 100) or case[2]
      shown = shown:gsub("%c", function(c)   -- control bytes are shown escaped
        return ({ ["\r"] = "\\r", ["\n"] = "\\n", ["\t"] = "\\t" })[c] or string.format("\\x%02x", c:byte())
      end)
      assert.equal("to: invalid address '" .. shown .. "': " .. case[3], err)
    end)
  end

  -- The address went into the message as it was: a CR LF in a list's
  -- email column forged lines of the warnings it was shown in.
  it("shows the control bytes of a refused address escaped, on one line", function()
    local err = refused { { address = "ann\r\nX-Forged: yes@example.com" } }
    assert.equal("to[1]: invalid address 'ann\\r\\nX-Forged: yes@example.com': control character 0x0d in local part", err)
    assert.not_matches("[\r\n]", err)
  end)

  it("names the position of a bad address in a list", function()
    assert.equal("to[2]: invalid address 'x y@y': character ' ' not allowed in local part",
      refused { "ok@example.com", "x y@y" })
  end)

  it("names the field of a bad address", function()
    local _, err = mailcast.message { from = "s@example.com", to = "t@example.com", cc = { "c@example.com", "bad" }, text = "x" }
    assert.equal("cc[2]: invalid address 'bad': no '@' in address", err)
    _, err = mailcast.message { from = "s@example.com", to = "t@example.com", reply_to = "bad@", text = "x" }
    assert.equal("reply_to: invalid address 'bad@': empty domain", err)
    _, err = mailcast.message { from = "Sender <sender@@example.com>", to = "t@example.com", text = "x" }
    assert.matches("^from: invalid address 'sender@@example.com'", err)
  end)

  it("refuses a bad address inside angle brackets after a display name", function()
    assert.equal("to: invalid address 'a..b@example.com': misplaced '.' in local part", refused "Name <a..b@example.com>")
  end)

  it("refuses a '>' without '<'", function()
    assert.equal("to: '>' without '<'", refused "a@example.com>")
  end)

  it("refuses an empty address string", function()
    assert.equal("to: no address given", refused "")
    assert.equal("to: no address given", refused " , ")
  end)

  it("refuses an empty list of recipients rather than sending to nobody", function()
    assert.equal("to: empty list of addresses", refused {})
  end)

  it("refuses an address table without an address", function()
    assert.equal("to[1]: address table without 'address'", refused { { name = "Nobody" } })
  end)

  it("refuses a single address table without an address rather than sending to nobody", function()
    -- e.g. a misspelt key: { name = "Bob", adress = "bob@example.com" }
    assert.matches("^to: .*'address'", refused { name = "Bob", adress = "bob@example.com" })
  end)

  it("refuses a bad address given in a table and names it", function()
    assert.equal("to[1]: invalid address 'a@b@': character '@' not allowed in local part",
      refused { { name = "X", address = "a@b@" } })
  end)

  it("refuses a list item that is neither a string nor a table", function()
    assert.matches("^to%[2%]: an address must be a string", refused { "a@example.com", 42 })
  end)

  it("refuses a whole list when one address is bad", function()
    local raw = message { "good@example.com", "Name <bad@>" }
    assert.is_nil(raw)
  end)
end)
