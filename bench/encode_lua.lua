-- Context rows for bench/encode: base64 from Lua, in MB/s of raw bytes
-- (10^6 per second): LuaSocket's mime.b64 (one line; a MIME body also
-- needs mime.wrp) and mailcast.b64.encode through the binding.
--
--   lua5.4 encode_lua.lua MB     (LUA_PATH and LUA_CPATH set by bench/encode)
local socket = require "socket"
local mime = require "mime"
local mailcast = require "mailcast"

local MIN_SECONDS = 0.5
local ROUNDS = 3
local mb = math.tointeger(tonumber(arg[1])) or 16


local function random_bytes(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local data = f:read(n)
  f:close()
  return data
end


-- Best of ROUNDS rounds of passes until MIN_SECONDS, as encode.c does.
local function measure(label, encode, data)
  encode(data)   -- untimed
  local best_passes, best_seconds
  for _ = 1, ROUNDS do
    local passes, t0, seconds = 0, socket.gettime(), 0
    repeat
      encode(data)
      passes = passes + 1
      seconds = socket.gettime() - t0
    until seconds >= MIN_SECONDS
    if not best_passes or passes / seconds > best_passes / best_seconds then
      best_passes, best_seconds = passes, seconds
    end
  end
  print(string.format("%-44s %10.0f %6d %7.2f", label, #data * best_passes / best_seconds / 1e6,
                      best_passes, best_seconds))
  io.stdout:flush()
end


local data = random_bytes(mb << 20)
measure("LuaSocket mime.b64 (one line)", function(s) return (mime.b64(s)) end, data)
measure("LuaSocket mime.b64 + mime.wrp (76-char CRLF)", function(s)
  return (mime.wrp(76, (mime.b64(s))))
end, data)
measure("mailcast.b64.encode(s, true) from Lua", function(s)
  return mailcast.b64.encode(s, true)
end, data)
