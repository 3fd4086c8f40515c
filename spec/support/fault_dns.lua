-- A DNS server that misbehaves on purpose, for the specs: it answers
-- MX and A queries from the zone it is given, but can answer NXDOMAIN for
-- every name (a captive portal, a sandbox, a broken forwarder) or hold
-- back its answers for some names (a slow authoritative server).
--
--   lua5.4 fault_dns.lua --opts OPTS.lua --port-file F --lifetime S [--log F]
--
-- OPTS.lua holds a table constructor: {mode = "zone" | "nxdomain",
--   mx = {["a.test"] = {{10, "mx.a.test"}...}}, a = {["mx.a.test"] = "127.0.0.1"},
--   delay = {["slow.test"] = 3}}  -- seconds before the answers for a name
-- UDP on 127.0.0.1 only; every query is logged (time, name, type) when
-- --log is given, so a spec can see when an answer went out.
local socket = require "socket"

local args = {}
for i = 1, #arg, 2 do args[arg[i]:gsub("^%-%-", "")] = arg[i + 1] end
local opts
do
  local f = assert(io.open(args.opts, "rb"))
  opts = assert(load("return " .. f:read("a"), "=opts", "t", {}))()
  f:close()
end
local lifetime = tonumber(args.lifetime or "30")
local log = args.log and assert(io.open(args.log, "a"))
log = log and log:setvbuf("line") and log

local TYPE = { A = 1, MX = 15, TXT = 16, SOA = 6, NS = 2, AAAA = 28 }

-- The query's id, flags, question name (lower case) and type, and the
-- question section's bytes, or nil for what is not one question.
local function parse(q)
  if #q < 12 then return nil end
  local id, flags, qd = string.unpack(">I2I2I2", q)
  if qd ~= 1 then return nil end
  local pos, labels = 13, {}
  while true do
    local len = q:byte(pos)
    if not len or len > 63 then return nil end
    pos = pos + 1
    if len == 0 then break end
    labels[#labels + 1] = q:sub(pos, pos + len - 1):lower()
    pos = pos + len
  end
  if #q < pos + 3 then return nil end
  local qtype = string.unpack(">I2", q, pos)
  return id, flags, table.concat(labels, "."), qtype, q:sub(13, pos + 3)
end

local function encode_name(name)
  local out = {}
  for label in name:gmatch("[^.]+") do out[#out + 1] = string.char(#label) .. label end
  return table.concat(out) .. "\0"
end

-- A resource record for the name in the question (a pointer to it).
local function rr(rtype, rdata)
  return "\192\12" .. string.pack(">I2I2I4s2", rtype, 1, 60, rdata)
end

local function answer(q)
  local id, flags, name, qtype, question = parse(q)
  if not id then return nil end
  local rcode, records = 0, {}
  if opts.mode == "nxdomain" then
    rcode = 3
  else
    local mx, a = (opts.mx or {})[name], (opts.a or {})[name]
    if qtype == TYPE.MX and mx then
      for _, m in ipairs(mx) do records[#records + 1] = rr(TYPE.MX, string.pack(">I2", m[1]) .. encode_name(m[2])) end
    elseif qtype == TYPE.A and a then
      local b = {}
      for n in a:gmatch("%d+") do b[#b + 1] = string.char(tonumber(n)) end
      records[1] = rr(TYPE.A, table.concat(b))
    elseif not mx and not a and name ~= "" and name ~= "test" then
      rcode = 3   -- unknown names do not exist; the root and "test" do
    end
  end
  -- response, recursion desired copied, recursion available
  local rflags = 0x8000 | (flags & 0x0100) | 0x0080 | rcode
  return string.pack(">I2I2I2I2I2I2", id, rflags, 1, #records, 0, 0) .. question .. table.concat(records), name, qtype
end

local udp = assert(socket.udp())
assert(udp:setsockname("127.0.0.1", 0))
local _, port = udp:getsockname()
do
  local f = assert(io.open(args["port-file"] .. ".tmp", "w"))
  f:write(port, "\n")
  f:close()
  os.rename(args["port-file"] .. ".tmp", args["port-file"])
end

local started = socket.gettime()
local held = {}   -- {due=, data=, ip=, port=}
while socket.gettime() - started < lifetime do
  local now = socket.gettime()
  local wait = 0.2
  for _, h in ipairs(held) do wait = math.min(wait, math.max(0, h.due - now)) end
  udp:settimeout(wait)
  local q, ip, from_port = udp:receivefrom()
  now = socket.gettime()
  if q then
    local reply, name, qtype = answer(q)
    if reply then
      local delay = (opts.delay or {})[name] or 0
      if log then log:write(string.format("%.3f query %s %d delay %g\n", now, name, qtype, delay)) end
      held[#held + 1] = { due = now + delay, data = reply, ip = ip, port = from_port, name = name }
    end
  end
  for i = #held, 1, -1 do
    local h = held[i]
    if h.due <= now then
      udp:sendto(h.data, h.ip, h.port)
      if log then log:write(string.format("%.3f answer %s\n", socket.gettime(), h.name)) end
      table.remove(held, i)
    end
  end
end
