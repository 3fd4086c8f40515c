-- A campaign script with a mistake in its tables, run as people run it:
-- `mailcast run` stops before anything is read or sent, and says which
-- line of the script and which key.
local helper = require "helper"
local mime = require "support.mime"

local q = mime.sh_quote

describe("mailcast run on a campaign with a misspelled key", function()
  local dir
  before_each(function() dir = mime.tmpdir() end)
  after_each(function() mime.rmdir(dir) end)

  it("exits non-zero, naming the script's line and the key meant, and sends nothing", function()
    -- The sink's port is closed: were anything sent, it would be refused,
    -- but the run must stop before it connects.
    mime.write(dir .. "/campaign.lua", [[
local mailcast = require "mailcast"

return mailcast.campaign{
  name = "typo",
  from = "News <news@example.com>",
  subject = "Hello",
  text = "Hello.\n",
  recipients = { { email = "a@example.org" } },
  route = { host = "127.0.0.1", port = 9, tls = "none" },
  limits = { messages_per_conection = 5 },
}
]])
    local out, code = helper.sh("cd " .. q(dir) .. " && " .. q(helper.runner) .. " run campaign.lua")
    assert.equal(1, code, out)
    assert.matches("campaign.lua:3: campaign limits: unknown key 'messages_per_conection' "
      .. "(did you mean 'messages_per_connection'?)", out, 1, true)
    assert.is_nil(io.open(dir .. "/typo.mailcast.db"), "a store was made")
  end)

  it("exits non-zero on a value out of range, naming the line of a table made apart", function()
    mime.write(dir .. "/campaign.lua", [[
local mailcast = require "mailcast"
local limits = { messages_per_connection = 0 }
local c = mailcast.campaign{
  name = "range", from = "news@example.com", subject = "Hello", text = "Hello.\n",
  recipients = { { email = "a@example.org" } }, limits = limits,
}
return c
]])
    local out, code = helper.sh("cd " .. q(dir) .. " && " .. q(helper.runner) .. " run campaign.lua --dry-run")
    assert.equal(1, code, out)
    assert.matches("campaign.lua:3: campaign limits: messages_per_connection must be an integer >= 1, not 0",
      out, 1, true)
  end)
end)
