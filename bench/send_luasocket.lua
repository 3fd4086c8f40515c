-- The LuaSocket contender of bench/send: socket.smtp.send, one call per
-- message, which is how it is used (each call connects, says EHLO, sends
-- one transaction and QUIT). The message is the prebuilt one
-- (FIXTURE_DIR/prebuilt.eml, CRLF) as an ltn12 string source.
--
--   lua5.4 send_luasocket.lua FIXTURE_DIR PORT COUNT
--
-- Sends COUNT messages to 127.0.0.1:PORT, recipient i being
-- reader<i>@example.org, and prints "messages=M seconds=S peak_kb=K".
local smtp = require "socket.smtp"
local socket = require "socket"
local ltn12 = require "ltn12"

local dir, port, count = arg[1], tonumber(arg[2]), math.tointeger(tonumber(arg[3]))
assert(dir and port and count, "usage: send_luasocket.lua FIXTURE_DIR PORT COUNT")


local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end


local function peak_kb()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s*(%d+)")
    if kb then return tonumber(kb) end
  end
  return 0
end


local raw = read(dir .. "/prebuilt.eml")
local t0 = socket.gettime()
for i = 0, count - 1 do
  local ok, err = smtp.send{
    from = "<news@example.com>",
    rcpt = { string.format("<reader%d@example.org>", i) },
    source = ltn12.source.string(raw),
    server = "127.0.0.1",
    port = port,
    domain = "localhost",
  }
  if not ok then
    io.stderr:write("send_luasocket.lua: message ", i, ": ", tostring(err), "\n")
    os.exit(1)
  end
end
local seconds = socket.gettime() - t0
print(string.format("messages=%d seconds=%.6f peak_kb=%d", count, seconds, peak_kb()))
