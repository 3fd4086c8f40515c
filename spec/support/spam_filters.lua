-- Real spam filters for the specs, on 127.0.0.1 and a free port each,
-- with their own directories and nothing fetched from the network:
--
--   local filters = require "support.spam_filters"
--   local rspamd = filters.rspamd()   -- nil, why when not installed
--   -- rspamd.url is "http://127.0.0.1:PORT"
--   local spamd = filters.spamd()     -- spamd.address is "127.0.0.1:PORT"
--   rspamd:stop(); spamd:stop()
--
-- Rspamd gets the Debian configuration with the modules that ask the
-- network turned off (RBLs, fuzzy hashes, map downloads, reputation) and
-- a DNS server that answers nothing, so no look-up leaves the machine;
-- its compiled Hyperscan rules are kept between runs (the first start
-- compiles them for about 30 s, later ones start in about 3 s).
-- spamd runs with -L (local tests only) and no user preferences.
local socket = require "socket"
local mime = require "support.mime"
local servers = require "support.servers"

local M = {}

M.START_TIMEOUT = 120   -- seconds; a first Rspamd start compiles its rules
M.LIFETIME = 600        -- a hard limit on each server, should a spec forget it

local RSPAMD_CACHE = (os.getenv("TMPDIR") or "/tmp") .. "/mailcast-spec-rspamd-hs"

-- Modules that ask the network (or Redis, which the specs do not run).
local RSPAMD_OFF = {
  "rbl", "surbl", "fuzzy_check", "asn", "emails", "rspamd_update", "multimap", "dcc", "neural", "ratelimit",
  "reputation", "greylist", "history_redis", "url_redirector", "spamtrap", "replies", "bimi", "mx_check",
  "p0f", "antivirus", "external_services", "metadata_exporter", "clickhouse", "elastic", "whitelist",
  "dmarc", "spf", "dkim", "arc", "maillist", "external_relay", "aws_s3",
}

local sh_quote, write = mime.sh_quote, mime.write
local capture = servers.capture
local free_port = servers.closed_port   -- a port just released: free for the filter to take

local function installed(program)
  return capture("command -v " .. program .. " 2>/dev/null") ~= ""
end

local Server = {}
Server.__index = Server

--- Stops the server and everything it started (its process group), and
-- removes its directory. Safe to call twice.
function Server:stop()
  if self.pid then
    os.execute(string.format("kill -TERM -%d 2>/dev/null; sleep 0.2; kill -KILL -%d 2>/dev/null", self.pid, self.pid))
    self.pid = nil
  end
  if self.dir then
    os.execute("rm -rf " .. sh_quote(self.dir))
    self.dir = nil
  end
end
Server.__close = Server.stop
Server.__gc = Server.stop

-- Starts cmd (a shell command) in a process group of its own under a
-- hard time limit; returns its pid.
local function launch(dir, cmd)
  local line = string.format("setsid timeout -k 2 %d %s >%s 2>&1 </dev/null & echo $!", M.LIFETIME, cmd,
    sh_quote(dir .. "/output"))
  return tonumber(capture(line):match("%d+"))
end

-- Waits until ready() is true, the process dies or START_TIMEOUT passes.
local function await(srv, ready)
  local limit = socket.gettime() + M.START_TIMEOUT
  while socket.gettime() < limit do
    if ready() then return srv end
    if not os.execute("kill -0 " .. srv.pid .. " 2>/dev/null") then break end
    socket.sleep(0.1)
  end
  local f = io.open(srv.dir .. "/output", "rb")
  local out = f and f:read("a") or ""
  if f then f:close() end
  srv:stop()
  return nil, "did not start: " .. out:sub(-2000)
end

-- Whether the server on port answers request with a reply that holds
-- token (read with pattern: "*a" the whole reply, "*l" its first line).
local function answers(port, request, pattern, token)
  local c = socket.tcp()
  c:settimeout(1)
  if not c:connect("127.0.0.1", port) then c:close() return false end
  c:send(request)
  local answer = c:receive(pattern) or ""
  c:close()
  return answer:find(token, 1, true) ~= nil
end

--- rspamd() -> server with .url, .port, :stop() | nil, why
function M.rspamd()
  if not installed("rspamd") then return nil, "rspamd is not installed (apt-get install rspamd)" end
  local dir = capture("mktemp -d -t mailcast-rspamd.XXXXXX"):gsub("%s+$", "")
  os.execute("mkdir -p " .. sh_quote(dir .. "/local.d") .. " " .. sh_quote(dir .. "/db") .. " " ..
    sh_quote(RSPAMD_CACHE))
  local port = free_port()
  write(dir .. "/rspamd.conf", string.format([[
.include "$CONFDIR/common.conf"
options {
  pidfile = "%s/rspamd.pid";
  .include "$CONFDIR/options.inc"
  .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging { type = "file"; filename = "%s/rspamd.log"; level = "warning"; }
worker "normal" {
  bind_socket = "127.0.0.1:%d";
  mime = true;
  count = 1;
}
]], dir, dir, port))
  -- Port 9 (discard) on loopback answers no DNS: nothing is looked up.
  write(dir .. "/local.d/options.inc", string.format([[
dns { nameserver = ["127.0.0.1:9"]; timeout = 0.1s; retransmits = 1; }
map_watch_interval = 1000d;
hs_cache_dir = "%s/";
control_socket = "%s/db/rspamd.sock mode=0600";
]], RSPAMD_CACHE, dir))
  for _, m in ipairs(RSPAMD_OFF) do write(dir .. "/local.d/" .. m .. ".conf", "enabled = false;\n") end
  write(dir .. "/local.d/classifier-bayes.conf", "enabled = false;\n")
  local cmd = string.format("rspamd -f -i -u root -g root -c %s --var CONFDIR=/etc/rspamd --var LOCAL_CONFDIR=%s " ..
    "--var DBDIR=%s --var RUNDIR=%s --var LOGDIR=%s", sh_quote(dir .. "/rspamd.conf"), sh_quote(dir),
    sh_quote(dir .. "/db"), sh_quote(dir), sh_quote(dir))
  local srv = setmetatable({ dir = dir, port = port, url = "http://127.0.0.1:" .. port }, Server)
  srv.pid = launch(dir, cmd)
  return await(srv, function() return answers(port, "GET /ping HTTP/1.0\r\n\r\n", "*a", "pong") end)
end

--- spamd() -> server with .address ("127.0.0.1:PORT"), .port, :stop() |
-- nil, why
function M.spamd()
  if not installed("spamd") then return nil, "spamd is not installed (apt-get install spamassassin spamd)" end
  local dir = capture("mktemp -d -t mailcast-spamd.XXXXXX"):gsub("%s+$", "")
  local port = free_port()
  local cmd = string.format("spamd -L -x -i 127.0.0.1 -p %d -A 127.0.0.1 -m 1 --min-spare=1 --max-spare=1 " ..
    "-u nobody -s stderr -r %s", port, sh_quote(dir .. "/spamd.pid"))
  local srv = setmetatable({ dir = dir, port = port, address = "127.0.0.1:" .. port }, Server)
  srv.pid = launch(dir, cmd)
  return await(srv, function() return answers(port, "PING SPAMC/1.5\r\n\r\n", "*l", "PONG") end)
end

return M
