-- Sending to a real Exim (spec/support/exim_smtpd.sh: Debian's exim4 in
-- a root of its own, offering PIPELINING, CHUNKING and STARTTLS, with
-- SMTP synchronization enforced), the other server most mail goes to
-- besides Postfix. With its defaults (the next transaction sent ahead,
-- BDAT where CHUNKING is offered) mailcast must hand Exim every message
-- once and intact, over connections it reuses and ends with QUIT, and
-- Exim must log no complaint about the dialogue.
local helper = require "helper"
local mime = require "support.mime"
local servers = require "support.servers"

local q = mime.sh_quote
local files_in, header = mime.files_in, mime.maildir_field
local SCRIPT = helper.root .. "/spec/support/exim_smtpd.sh"

-- A body larger than Exim's input buffer, with lines a server must not
-- change: a lone dot, dots that open a line, and a long line. Its source
-- goes into the scripts the specs run too.
local BODY_LINES = [[function(i)
  local lines = { ".", "..two dots" }
  for k = 1, 80 do lines[#lines + 1] = string.format("line %d of message %d %s", k, i, string.rep("y", 60)) end
  lines[#lines + 1] = string.rep("z", 990)
  lines[#lines + 1] = "end " .. i
  return lines
end]]
local body_lines = load("return " .. BODY_LINES)()

-- Checks what Exim logged and delivered for messages 1..n to r<i>@dest.test:
-- each once, intact, sent with BDAT (Exim's "K"), over TLS when tls,
-- over at most max_connections connections, each ended by QUIT.
local function check_received(dir, n, tls, max_connections)
  local log = mime.read(dir .. "/received/mainlog")
  local rejects = mime.read(dir .. "/received/rejectlog") or ""
  assert.not_matches("synchronization error", log)
  assert.not_matches("protocol error", log)
  assert.equal("", rejects)
  local received, chunked, encrypted = 0, 0, 0
  for line in log:gmatch("[^\n]+") do
    if line:find(" <= ", 1, true) then
      received = received + 1
      if line:find(" K ", 1, true) then chunked = chunked + 1 end
      if line:find(" X=TLS", 1, true) then encrypted = encrypted + 1 end
    end
  end
  assert.same({ n, n, tls and n or 0 }, { received, chunked, encrypted })
  -- (the connection of exim_smtpd.sh that waited for it to listen said no EHLO)
  local connections = 0
  for ending in log:gmatch("SMTP connection from %(client%.sender%.test%) %[127%.0%.0%.1%] ([^\n]*)") do
    assert.equal("closed by QUIT", ending)
    connections = connections + 1
  end
  assert.is_true(connections >= 1 and connections <= max_connections, connections .. " connections")

  local seen = {}
  for _, name in ipairs(files_in(dir .. "/received/Maildir/new")) do
    local msg = mime.read(dir .. "/received/Maildir/new/" .. name)
    local i = tonumber(header(msg, "X%-Number"))
    assert.is_nil(seen[i], "message " .. tostring(i) .. " twice")
    seen[i] = true
    assert.equal("r" .. i .. "@dest.test", header(msg, "Envelope%-to"))
    local want = "\n\n" .. table.concat(body_lines(i), "\n") .. "\n"
    assert.equal(want, msg:sub(-#want))
  end
  for i = 1, n do assert.is_true(seen[i], "nothing for message " .. i) end
end

describe("sending to a real Exim", function()
  local out, code = helper.sh("sh " .. q(SCRIPT) .. " --check")
  if code ~= 0 then
    pending("Exim cannot run here: " .. out:gsub("%s+$", ""))
    return
  end

  local dir
  before_each(function() dir = mime.tmpdir() end)
  after_each(function() mime.rmdir(dir) end)

  local function exim(command)
    return helper.sh("cd " .. q(dir) .. " && sh " .. q(SCRIPT) .. " " .. servers.closed_port() .. " "
      .. q(dir .. "/received") .. " " .. command)
  end

  for _, tls in ipairs { "none", "required" } do
    it("takes a batch from mailcast.send with tls = '" .. tls .. "', each message once and intact", function()
      local n = 60
      mime.write(dir .. "/send.lua", string.format([[
local body_lines = %s
local n = %d
local msgs = {}
for i = 1, n do
  msgs[i] = { from = "a@sender.test", to = { "r" .. i .. "@dest.test" },
    message = "Subject: batch " .. i .. "\r\nX-Number: " .. i .. "\r\n\r\n"
      .. table.concat(body_lines(i), "\r\n") .. "\r\n" }
end
local res = require("mailcast").send({ host = "127.0.0.1", port = tonumber(os.getenv("MC_EXIM_PORT")),
  tls = %q, helo = "client.sender.test" }, msgs, { connections = 3, messages_per_connection = 25 })
local sent = 0
for i, r in ipairs(res) do
  if r.status == "sent" then sent = sent + 1
  else print(i, r.status, r.recipients[1].code, r.recipients[1].text) end
end
print("sent " .. sent)
]], BODY_LINES, n, tls))
      local got, rc = exim(q(helper.runner) .. " run send.lua")
      assert.equal(0, rc, got)
      assert.matches("sent " .. n .. "\n", got, 1, true)
      check_received(dir, n, tls == "required", 6)
    end)
  end

  it("takes a campaign from the runner, its defaults unchanged", function()
    local n = 40
    local list = {}
    for i = 1, n do list[i] = string.format('{ email = "r%d@dest.test", number = "%d" }', i, i) end
    local text = table.concat(body_lines(0), "\n"):gsub("message 0", "message {{number}}")
      :gsub("end 0$", "end {{number}}")
    mime.write(dir .. "/campaign.lua", string.format([[
return require("mailcast").campaign{
  name = "to-exim",
  from = "News <news@sender.test>",
  subject = "Hello {{number}}",
  text = %q,
  recipients = { %s },
  route = { host = "127.0.0.1", port = tonumber(os.getenv("MC_EXIM_PORT")), tls = "required",
            helo = "client.sender.test" },
  limits = { connections = 2, messages_per_connection = 15 },
}
]], text, table.concat(list, ",\n    ")))
    local got, rc = exim(q(helper.runner) .. " run campaign.lua --quiet")
    assert.equal(0, rc, got)
    assert.matches("to-exim: " .. n .. " delivered, 0 deferred, 0 failed", got, 1, true)
    local log = mime.read(dir .. "/received/mainlog")
    local _, received = log:gsub(" <= news@sender%.test [^\n]* K ", "")
    assert.equal(n, received)
    local seen = {}
    for _, name in ipairs(files_in(dir .. "/received/Maildir/new")) do
      local msg = mime.read(dir .. "/received/Maildir/new/" .. name)
      local to = header(msg, "Envelope%-to")
      assert.is_nil(seen[to], tostring(to) .. " twice")
      seen[to] = true
      local i = tonumber(to:match("^r(%d+)@"))
      assert.equal("Hello " .. i, header(msg, "Subject"))
      assert.matches("\n.\n..two dots\n", msg, 1, true)
      assert.matches("\nend " .. i .. "\n", msg, 1, true)
    end
    for i = 1, n do assert.is_true(seen["r" .. i .. "@dest.test"], "nothing for r" .. i) end
  end)
end)
