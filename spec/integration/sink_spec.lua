-- `mailcast sink`, the built-in SMTP server, run as a user runs it and
-- fed by mailcast.send and by a plain LuaSocket client.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local socket = require "socket"

local start = require("support.builtin_sink").start

local function route(srv) return { host = "127.0.0.1", port = srv.port, tls = "none" } end

describe("mailcast sink", function()
  it("stores each message it accepts in the Maildir's new/, with its envelope", function()
    local srv = start("--count 2")
    local results = assert(mailcast.send(route(srv), {
      { message = { from = "a@example.com", to = "x@example.org", subject = "one", text = ".dot\nline" } },
      { message = { from = "a@example.com", to = { "y@example.org", "z@example.org" }, subject = "two", text = "hi" } },
    }))
    local out = srv.wait()
    local files = srv.files()
    srv.cleanup()
    assert.equal("sent", results[1].status)
    assert.equal("sent", results[2].status)
    assert.matches("2 messages stored", out)
    assert.equal(2, #files)
    local one = files[1]:match("Subject: one") and files[1] or files[2]
    assert.matches("^Return%-Path: <a@example.com>\r\nDelivered%-To: x@example.org\r\n", one)
    assert.equal(".dot\r\nline\r\n", mailcast.parse(one).body)
  end)

  it("answers the recipients it is told to reject with their reply", function()
    local srv = start('--count 1 --reject gone@example.org="550 5.1.1 No such user" --reject @slow.example="451 4.7.1 Try again later"')
    local results = assert(mailcast.send(route(srv), { { message = { from = "a@example.com",
      to = { "ok@example.org", "gone@example.org", "b@slow.example" }, subject = "s", text = "t" } } }))
    srv.wait()
    local files = srv.files()
    srv.cleanup()
    local r = results[1].recipients
    assert.same({ "sent", "failed", "deferred" }, { r[1].status, r[2].status, r[3].status })
    assert.same({ 550, "5.1.1", "No such user" }, { r[2].code, r[2].enhanced, r[2].text })
    assert.equal(451, r[3].code)
    assert.equal(1, #files)
    assert.not_matches("Delivered%-To: gone", files[1])
  end)

  it("answers pipelined commands in order and refuses what is out of place", function()
    local srv = start("--count 1")
    local c = assert(socket.connect("127.0.0.1", srv.port))
    c:settimeout(5)
    assert.matches("^220 ", c:receive("*l"))
    c:send("EHLO t\r\n")
    repeat local l = c:receive("*l") until l:match("^250 ")
    c:send("RCPT TO:<x@example.org>\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<not an address>\r\nRCPT TO:<x@example.org>\r\nDATA\r\n")
    local replies = {}
    for i = 1, 5 do replies[i] = c:receive("*l"):sub(1, 3) end
    assert.same({ "503", "250", "501", "250", "354" }, replies)
    c:send("Subject: raw\r\n\r\n..stuffed\r\n.\r\nQUIT\r\n")
    assert.matches("^250 2%.0%.0 Ok: stored as", c:receive("*l"))
    assert.matches("^221", c:receive("*l"))
    c:close()
    srv.wait()
    local files = srv.files()
    srv.cleanup()
    assert.matches("\r\n\r\n%.stuffed\r\n$", files[1])
  end)

  it("refuses a message over its size limit without storing it", function()
    local srv = start("--count 1")
    local big = string.rep("x", 70000)   -- one line over the 64 KB line limit
    local results = assert(mailcast.send(route(srv), {
      { message = "Subject: big\r\n\r\n" .. big .. "\r\n", from = "a@example.com", to = "x@example.org" },
      { message = "Subject: small\r\n\r\nok\r\n", from = "a@example.com", to = "x@example.org" },
    }))
    srv.wait()
    local files = srv.files()
    srv.cleanup()
    assert.same({ "failed", 552 }, { results[1].status, results[1].recipients[1].code })
    assert.equal("sent", results[2].status)
    assert.equal(1, #files)
  end)

  it("says what is wrong with its arguments", function()
    local p = io.popen(mime.sh_quote(helper.runner) .. " sink --listen 127.0.0.1:0 2>&1; echo \"exit:$?\"")
    local out = p:read("a")
    p:close()
    assert.matches("sink: %-%-maildir DIR is required", out)
    assert.matches("exit:2", out)
  end)
end)
