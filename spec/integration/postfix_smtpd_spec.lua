-- A campaign to a real Postfix smtpd as strict about the SMTP dialogue
-- as Postfix gets (spec/support/postfix_smtpd.sh): it disconnects a
-- client that sends commands ahead where RFC 2920 does not allow it,
-- refuses DATA after improper pipelining and refuses a line ended by a
-- bare LF. The runner sends a connection's next MAIL, RCPT and DATA (or
-- BDAT) right behind the data of the message before (RFC 2920 3.1; that
-- it does so is checked against fault servers in smtp_spec, which see the
-- next MAIL before they answer the dot). Postfix must take every message,
-- each once and intact, and log no complaint; two control clients show
-- that it does complain about the real thing.
local helper = require "helper"
local mime = require "support.mime"

local q = mime.sh_quote
local files_in, header = mime.files_in, mime.maildir_field
local N = 40

local function can_run()
  local out, code = helper.sh("[ \"$(id -u)\" = 0 ] && command -v postfix && command -v ip && " ..
                              "unshare --mount --net --pid --fork true")
  return code == 0, out
end

-- Lines a server must not change: a lone dot, dots that open a line (the
-- DATA path stuffs them) and a long line.
local TEXT = "Hello {{name}},\n.\n..two dots\n." .. string.rep("x", 900) .. "\nThe end.\n"

local function write_campaign(dir, chunking)
  local list = {}
  for i = 1, N do list[i] = string.format('{ email = "r%d@dest.test", name = "Reader %d" }', i, i) end
  mime.write(dir .. "/campaign.lua", string.format([[
return require("mailcast").campaign{
  name = "strict",
  from = "News <news@sender.test>",
  subject = "Hello {{name}}",
  text = %q,
  html = "<p>Hello {{name}}</p>",
  recipients = { %s },
  route = { host = "127.0.0.1", port = 2526, tls = "none", chunking = %s },
  limits = { connections = 2, messages_per_connection = 15 },
}
]], TEXT, table.concat(list, ",\n    "), tostring(chunking)))
end

describe("a campaign to a strict Postfix smtpd", function()
  local ok, why = can_run()
  if not ok then
    pending("a private Postfix needs root, unshare and postfix: " .. (why or ""):gsub("%s+$", ""))
    return
  end

  local dir
  before_each(function() dir = mime.tmpdir() end)
  after_each(function() mime.rmdir(dir) end)

  local function postfix(command)
    return helper.sh("cd " .. q(dir) .. " && sh " .. q(helper.root .. "/spec/support/postfix_smtpd.sh")
      .. " " .. q(dir .. "/received") .. " " .. command)
  end

  -- Runs a client of 127.0.0.1:2526 that does what steps says (Lua, with
  -- c the connection and say(line) sending a line and printing the
  -- reply's first line) after the greeting, then prints every line the
  -- server sends until it hangs up. Its output and Postfix's log.
  local function client(steps)
    mime.write(dir .. "/rude.lua", [[
local c = assert(require("socket").connect("127.0.0.1", 2526))
c:settimeout(5)
local function say(line) c:send(line) print(c:receive("*l")) end
c:receive("*l")
]] .. steps .. [[

while true do
  local line = c:receive("*l")
  if not line then break end
  print(line)
end
]])
    return postfix(q(helper.runner) .. " run rude.lua"), mime.read(dir .. "/received/maillog")
  end

  -- The controls: this server does hang up on the real thing.
  it("drops a client that sends MAIL behind EHLO without waiting", function()
    local out, log = client([[c:send("EHLO rude.test\r\nMAIL FROM:<a@sender.test>\r\n")]])
    assert.matches("554 5.5.0 Error: SMTP protocol synchronization", out, 1, true)
    assert.matches("improper command pipelining after EHLO", log, 1, true)
  end)

  it("refuses a message with a line ended by a bare LF", function()
    -- one command at a time, each reply waited for; then data with a bare LF
    local out, log = client([[
say("HELO rude.test\r\n")
say("MAIL FROM:<a@sender.test>\r\n")
say("RCPT TO:<r1@dest.test>\r\n")
say("DATA\r\n")
c:send("Subject: bare\r\n\r\nline one\nline two\r\n.\r\n")]])
    assert.matches("bare <LF>", out .. log)
    assert.not_matches("status=sent", log)
  end)

  it("refuses a client that calls itself localhost", function()
    local out = client([[
say("EHLO localhost\r\n")
say("MAIL FROM:<a@sender.test>\r\n")
say("RCPT TO:<r1@dest.test>\r\n")
say("QUIT\r\n")]])
    assert.matches("504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", out, 1, true)
  end)

  -- What the runner should say in EHLO here: what `hostname --fqdn` finds
  -- when it is a dotted name, else the address literal of our end.
  local function our_name()
    local fqdn = helper.sh("hostname --fqdn 2>/dev/null"):gsub("%s+$", "")
    if fqdn:find(".", 1, true) and not fqdn:lower():find("^localhost%.") then return fqdn end
    return "[127.0.0.1]"
  end

  it("is told the machine's own name in EHLO when the route names none", function()
    mime.write(dir .. "/send.lua", [[
local res = require("mailcast").send({ host = "127.0.0.1", port = 2526, tls = "none" },
  { { from = "a@sender.test", to = { "r1@dest.test" }, message = "Subject: name\r\n\r\nhi\r\n" } })
print(res[1].status, res[1].recipients[1].code, res[1].recipients[1].text)
]])
    local out, code = postfix(q(helper.runner) .. " run send.lua")
    assert.equal(0, code, out)
    assert.matches("^sent\t250", out)
    local names = files_in(dir .. "/received/Maildir/new")
    assert.equal(1, #names)
    local msg = mime.read(dir .. "/received/Maildir/new/" .. names[1])
    assert.equal(our_name(), msg:match("\nReceived: from (%S+) %(localhost %[127%.0%.0%.1%]%)"))
  end)

  it("takes a batch from mailcast.send over STARTTLS, each message once and intact", function()
    local n = 60
    -- Bodies larger than Postfix's 4 KB input buffer, with dots that open
    -- lines and a long line, and each its own number.
    mime.write(dir .. "/send.lua", string.format([[
local n = %d
local msgs = {}
for i = 1, n do
  local body = {}
  for k = 1, 80 do body[k] = string.format("line %%d of message %%d %%s", k, i, string.rep("y", 60)) end
  msgs[i] = { from = "a@sender.test", to = { "r" .. i .. "@dest.test" },
    message = "Subject: batch " .. i .. "\r\nX-Number: " .. i .. "\r\n\r\n.\r\n..two\r\n"
      .. table.concat(body, "\r\n") .. "\r\n" .. string.rep("z", 990) .. "\r\nend " .. i .. "\r\n" }
end
local res = require("mailcast").send({ host = "127.0.0.1", port = 2526, tls = "required" }, msgs,
  { connections = 3, messages_per_connection = 25 })
local sent = 0
for i, r in ipairs(res) do
  if r.status == "sent" then sent = sent + 1
  else print(i, r.status, r.recipients[1].code, r.recipients[1].text) end
end
print("sent " .. sent)
]], n))
    local out, code = postfix(q(helper.runner) .. " run send.lua")
    assert.equal(0, code, out)
    assert.matches("sent " .. n .. "\n", out, 1, true)

    local log = mime.read(dir .. "/received/maillog")
    assert.not_matches("improper command pipelining", log)
    assert.not_matches("synchronization", log)
    local _, tls = log:gsub("disconnect from [^\n]* starttls=1 ", "")
    local _, connections = log:gsub("postfix/smtpd%[%d+%]: connect from", "")
    assert.equal(connections, tls)
    assert.is_true(connections >= 3 and connections <= 6, connections .. " connections")

    local seen = {}
    for _, name in ipairs(files_in(dir .. "/received/Maildir/new")) do
      local msg = mime.read(dir .. "/received/Maildir/new/" .. name)
      local i = tonumber(header(msg, "X%-Number"))
      assert.is_nil(seen[i], "message " .. tostring(i) .. " twice")
      seen[i] = true
      assert.equal("r" .. i .. "@dest.test", header(msg, "Delivered%-To"))
      assert.matches("%(using TLSv1%.[23] with cipher", msg)
      local body = {}
      for k = 1, 80 do body[k] = string.format("line %d of message %d %s", k, i, string.rep("y", 60)) end
      local want = "\n\n.\n..two\n" .. table.concat(body, "\n") .. "\n" .. string.rep("z", 990) .. "\nend " .. i .. "\n"
      assert.equal(want, msg:sub(-#want))
    end
    for i = 1, n do assert.is_true(seen[i], "nothing for message " .. i) end
  end)

  for _, chunking in ipairs { false, true } do
    local how = chunking and "BDAT" or "DATA"
    it("is taken whole with the next transaction sent ahead, over " .. how, function()
      write_campaign(dir, chunking)
      local out, code = postfix(q(helper.runner) .. " run campaign.lua --quiet")
      assert.equal(0, code, out)
      assert.matches("strict: " .. N .. " delivered, 0 deferred, 0 failed", out, 1, true)

      local log = mime.read(dir .. "/received/maillog")
      assert.not_matches("improper command pipelining", log)
      assert.not_matches("synchronization", log)
      assert.not_matches("bare <LF>", log)
      local _, connections = log:gsub("postfix/smtpd%[%d+%]: connect from", "")
      assert.is_true(connections <= N / 4, connections .. " connections for " .. N .. " messages")

      local seen = {}
      for _, name in ipairs(files_in(dir .. "/received/Maildir/new")) do
        local msg = mime.read(dir .. "/received/Maildir/new/" .. name)
        local to = header(msg, "Delivered%-To")
        assert.is_nil(seen[to], tostring(to) .. " twice")
        seen[to] = true
        local i = tonumber(to:match("^r(%d+)@"))
        assert.matches("Subject: Hello Reader " .. i .. "\n", msg, 1, true)
        assert.matches("\nHello Reader " .. i .. ",\n.\n..two dots\n." .. string.rep("x", 900) .. "\nThe end.\n",
          msg, 1, true)
      end
      for i = 1, N do assert.is_true(seen["r" .. i .. "@dest.test"], "nothing for r" .. i) end
    end)
  end
end)
