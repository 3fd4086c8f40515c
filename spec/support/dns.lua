-- A real DNS server for the specs: dnsmasq on 127.0.0.1 (a free UDP
-- port), answering for the zones it is given and nothing else, and
-- stopping with the spec (or after `lifetime` seconds in any case).
--
--   local dns = require "support.dns"
--   local srv = dns.start{ mx = {{"example.test", "mx1.example.test", 10}},
--                          hosts = {{"mx1.example.test", "127.0.0.1"}},
--                          rr = {{"null.test", 15, "000000"}} }
--   mailcast.mx("example.test", { server = srv.server })
--   srv:stop()
local socket = require "socket"

local M = {}

local DNSMASQ = "/usr/sbin/dnsmasq"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- A UDP port nobody uses right now.
local function free_port()
  local u = assert(socket.udp())
  assert(u:setsockname("127.0.0.1", 0))
  local _, port = u:getsockname()
  u:close()
  return port
end

local Server = {}
Server.__index = Server

--- Stops the server (safe to call twice).
function Server:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null; wait " .. self.pid .. " 2>/dev/null")
    self.pid = nil
  end
end
Server.__close = Server.stop
Server.__gc = Server.stop

-- One try on a free port: the server, or nil when it did not answer
-- (dnsmasq also binds TCP on the port, which a connection of another
-- spec may hold as its local port).
local function try_start(opts)
  local port = free_port()
  local args = {
    "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
    "--listen-address=127.0.0.1", "--bind-interfaces", "--port=" .. port, "--log-facility=/dev/null",
  }
  for _, zone in ipairs(opts.zones or { "test" }) do args[#args + 1] = "--local=/" .. zone .. "/" end
  for _, m in ipairs(opts.mx or {}) do args[#args + 1] = string.format("--mx-host=%s,%s,%d", m[1], m[2], m[3]) end
  for _, h in ipairs(opts.hosts or {}) do args[#args + 1] = "--host-record=" .. table.concat(h, ",") end
  for _, r in ipairs(opts.rr or {}) do args[#args + 1] = string.format("--dns-rr=%s,%d,%s", r[1], r[2], r[3]) end
  for _, t in ipairs(opts.txt or {}) do args[#args + 1] = string.format("--txt-record=%s,%s", t[1], t[2]) end
  for _, p in ipairs(opts.ptr or {}) do args[#args + 1] = string.format("--ptr-record=%s,%s", p[1], p[2]) end
  for _, a in ipairs(opts.address or {}) do args[#args + 1] = string.format("--address=/%s/%s", a[1], a[2]) end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = sh_quote(a) end
  local cmd = string.format("timeout %d %s %s >/dev/null 2>&1 & echo $!", opts.lifetime or 30, DNSMASQ,
    table.concat(quoted, " "))
  local p = assert(io.popen(cmd))
  local pid = tonumber(p:read("l"))
  p:close()
  local srv = setmetatable({ port = port, server = "127.0.0.1:" .. port, pid = pid }, Server)
  -- Ready once it answers: ask for a name it knows, over UDP.
  local probe = assert(socket.udp())
  probe:settimeout(0.1)
  local query = "\0\1\1\0\0\1\0\0\0\0\0\0\5ready\4test\0\0\1\0\1"
  for _ = 1, 50 do
    probe:sendto(query, "127.0.0.1", port)
    if probe:receive() then probe:close() return srv end
  end
  probe:close()
  srv:stop()
  return nil, port
end

--- start{mx = {{domain, host, preference}...}, hosts = {{name, address...}...},
-- rr = {{name, type number, hex rdata}...}, txt = {{name, text}...},
-- ptr = {{"4.3.2.1.in-addr.arpa", name}...}, address = {{name, address}...}
-- (an address without the reverse record a host-record makes),
-- zones = {"test"}, lifetime = 30}
-- -> server with .port, .server ("127.0.0.1:PORT") and :stop().
function M.start(opts)
  local ports = {}
  for _ = 1, 5 do
    local srv, port = try_start(opts)
    if srv then return srv end
    ports[#ports + 1] = port
  end
  error("dnsmasq did not start on 127.0.0.1, ports " .. table.concat(ports, ", "))
end

return M
