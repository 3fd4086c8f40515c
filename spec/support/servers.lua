-- SMTP servers for the SMTP client's specs. Each runs as a separate
-- process (the specs run inside the process under test, whose blocking
-- calls run an event loop), listens on 127.0.0.1 only on a port the
-- kernel picks, logs what it saw to a file the spec reads, and exits by
-- itself after opts.lifetime seconds (default 30) even if never stopped.
--
--   local servers = require "support.servers"
--   local srv <close> = servers.fault("rcpt_codes", { codes = { ["full@x"] = "452 4.2.2 Mailbox full" } })
--   ... point the client at 127.0.0.1:srv.port ...
--   assert.same({ "EHLO ...", ... }, srv:transcript())
--
-- servers.fault(scenario, opts)  spec/support/fault_smtp.lua (see its header
--                                for the scenarios and their opts)
-- servers.sink(opts)             Postfix's smtp-sink, storing each message
-- servers.aiosmtpd(opts)         spec/support/aiosmtpd_server.py: STARTTLS,
--                                implicit TLS, AUTH PLAIN/LOGIN, JSON log
--
-- servers.stop_all()            stops whatever is still running
-- servers.closed_port()          a port nothing listens on
--
-- Every server has: port, host ("127.0.0.1"), dir (its temporary
-- directory), pid (its process group), and the methods stop(), alive(),
-- wait(pred, timeout), stderr(). A server is a to-be-closed value
-- (`local srv <close> = ...`); any left running is stopped when the Lua
-- state closes. Reading methods keep working after stop() (the log is
-- read first). Linux only: it reads /proc.
local socket = require "socket"
local certs = require "support.certs"
local mime = require "support.mime"

local servers = {}

servers.HOST = "127.0.0.1"              -- the only address used, ever
servers.LIFETIME = 30                   -- seconds, when opts.lifetime is not given
servers.START_TIMEOUT = 10              -- seconds to wait for a port
servers.LUA = "lua5.4"
servers.PYTHON = "/usr/bin/python3"     -- Debian's: has python3-aiosmtpd
servers.SMTP_SINK = "/usr/sbin/smtp-sink"

local started = {}                      -- servers not yet stopped


-- Helpers ----------------------------------------------------------------

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end


local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

--- capture(cmd) -> what the shell command cmd writes to stdout.
servers.capture = capture


local read_file, write_file = mime.try_read, mime.write


local function tmpdir(tag)
  local dir = capture("mktemp -d -t mailcast-" .. tag .. ".XXXXXX"):gsub("%s+$", "")
  assert(dir ~= "", "mktemp failed")
  return dir
end


local HERE = (function()
  local src = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
  if src:sub(1, 1) ~= "/" then src = capture("pwd"):gsub("%s+$", "") .. "/" .. src end
  return src
end)()

local IS_ROOT = capture("id -u"):match("^0%s*$") ~= nil


-- Every process on the machine: {pid=, state=, ppid=, pgrp=}.
local function processes()
  local list = {}
  for line in capture("cat /proc/[0-9]*/stat 2>/dev/null"):gmatch("[^\n]+") do
    local pid, state, ppid, pgrp = line:match("^(%d+) %(.*%) (%S) (%d+) (%d+)")
    if pid then
      list[#list + 1] = { pid = tonumber(pid), state = state, ppid = tonumber(ppid), pgrp = tonumber(pgrp) }
    end
  end
  return list
end


-- True while process pid, or a process of the group it leads, runs
-- (zombies do not count: where PID 1 does not reap, orphans stay as
-- zombies). Until `timeout` has made its group, the group is pid alone.
local function group_alive(pgid)
  for _, p in ipairs(processes()) do
    if (p.pgrp == pgid or p.pid == pgid) and p.state ~= "Z" and p.state ~= "X" then return true end
  end
  return false
end


-- What the descriptors of group pgid's live processes point to (readlink
-- of /proc/PID/fd/*): "socket:[inode]", file paths, ...
local function group_fds(pgid)
  local links = {}
  for _, p in ipairs(processes()) do
    if p.pgrp == pgid and p.state ~= "Z" then
      for l in capture("readlink /proc/" .. p.pid .. "/fd/* 2>/dev/null"):gmatch("[^\n]+") do
        links[#links + 1] = l
      end
    end
  end
  return links
end


-- The 127.0.0.1 port a process of group pgid listens on, found through
-- /proc (for programs that cannot report the port they were given).
local function listening_port(pgid)
  local inodes = {}
  for _, l in ipairs(group_fds(pgid)) do
    local inode = l:match("^socket:%[(%d+)%]$")
    if inode then inodes[inode] = true end
  end
  for line in (read_file("/proc/net/tcp") or ""):gmatch("[^\n]+") do
    local f = {}
    for w in line:gmatch("%S+") do f[#f + 1] = w end
    if f[4] == "0A" and inodes[f[10]] then
      local port = f[2]:match("^0100007F:(%x+)$")
      if port then return tonumber(port, 16) end
    end
  end
  return nil
end


-- Makes opts into a Lua table constructor for fault_smtp.lua --opts.
local function serialize(v)
  local t = type(v)
  if t == "string" or t == "number" then return string.format("%q", v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "table" then
    local out = {}
    for k, x in pairs(v) do out[#out + 1] = "[" .. serialize(k) .. "]=" .. serialize(x) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  error("cannot pass a " .. t .. " to a server", 3)
end


-- Run by bash in the new process: close every inherited descriptor above
-- stderr (sockets of the process under test would otherwise stay open in
-- the server, and a close there would never reach the peer), write the
-- pid, exec the command. (No redirection on the loop: bash would save
-- stderr on a descriptor above 2, the loop would close it, and stderr
-- would be lost.)
local CLOSE_AND_EXEC = [[
for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done
echo $$ >"$0"
exec "$@"
]]


local function argv_text(argv)
  local q = {}
  for i, a in ipairs(argv) do q[i] = sh_quote(a) end
  return table.concat(q, " ")
end


-- Server objects ---------------------------------------------------------

local Server = {}
Server.__index = Server


local function class(parent)
  local c = setmetatable({}, { __index = parent })
  c.__index = c
  c.__close = function(self) self:stop() end
  c.__gc = function(self) self:stop() end
  return c
end

local Fault = class(Server)
local Sink = class(Server)
local Aio = class(Server)


-- Starts argv under `timeout` (a hard limit a little past the server's
-- own, and a process group of its own) as a child of this process, with
-- stdout/stderr in dir. Returns the server object (port still unknown).
local function launch(cls, dir, argv, hard_limit)
  local cmd = string.format("exec /bin/bash -c %s %s timeout -k 2 %s %s </dev/null >%s 2>%s",
    sh_quote(CLOSE_AND_EXEC), sh_quote(dir .. "/pid"), tostring(hard_limit), argv_text(argv),
    sh_quote(dir .. "/stdout"), sh_quote(dir .. "/stderr"))
  local handle = assert(io.popen(cmd, "r"))
  local srv = setmetatable({ host = servers.HOST, dir = dir, handle = handle }, cls)
  started[srv] = true
  local limit = socket.gettime() + servers.START_TIMEOUT
  while true do
    local pid = tonumber(read_file(dir .. "/pid") or "")
    if pid then srv.pid = pid; break end
    if socket.gettime() > limit then srv:stop(); error("server did not start: " .. argv_text(argv), 3) end
    socket.sleep(0.005)
  end
  return srv
end


-- Waits until find_port() gives a port; raises (with the server's stderr)
-- if the server dies or takes longer than START_TIMEOUT.
local function await_port(srv, find_port)
  local limit = socket.gettime() + servers.START_TIMEOUT
  while true do
    local port = find_port()
    if port then srv.port = port; return srv end
    if not group_alive(srv.pid) or socket.gettime() > limit then
      local err = srv:stderr()
      srv:stop()
      error("server did not listen: " .. (err ~= "" and err or "(no output)"), 3)
    end
    socket.sleep(0.01)
  end
end


local function port_file(dir)
  return function()
    return tonumber((read_file(dir .. "/port") or ""):match("^(%d+)\n"))
  end
end


--- True while the server's process (or any process it started) runs.
function Server:alive()
  return self.pid ~= nil and group_alive(self.pid)
end


--- Stops the server: SIGTERM to its process group, SIGKILL after 3 s;
-- keeps what it logged and removes its directory. Safe to call twice.
function Server:stop()
  if self.stopped then return end
  self.stopped = true
  started[self] = nil
  self:before_stop()
  if self.pid then
    local pid = self.pid
    os.execute(string.format("kill -TERM -%d %d 2>/dev/null", pid, pid))
    local limit = socket.gettime() + 3
    while group_alive(pid) and socket.gettime() < limit do socket.sleep(0.01) end
    if group_alive(pid) then os.execute(string.format("kill -KILL -%d %d 2>/dev/null", pid, pid)) end
  end
  if self.handle then self.handle:close() end   -- reaps the direct child
  self.kept = self:keep()
  self.kept_stderr = read_file(self.dir .. "/stderr") or ""
  os.execute("rm -rf " .. sh_quote(self.dir))
end


-- Called by stop() before it kills the server.
function Server:before_stop() end


-- What stop() keeps before removing the directory (the log's text).
function Server:keep()
  return read_file(self.dir .. "/log") or ""
end


function Server:log_text()
  if self.stopped then return self.kept end
  return read_file(self.dir .. "/log") or ""
end


--- What the server wrote on stderr (for failure messages).
function Server:stderr()
  if self.stopped then return self.kept_stderr or "" end
  return read_file(self.dir .. "/stderr") or ""
end


--- Calls pred(server) every 20 ms until it returns a true value, for at
-- most timeout seconds (default 5). Returns that value, or nil, "timeout".
function Server:wait(pred, timeout)
  local limit = socket.gettime() + (timeout or 5)
  while true do
    local v = pred(self)
    if v then return v end
    if socket.gettime() > limit then return nil, "timeout" end
    socket.sleep(0.02)
  end
end


-- Certificates for a TLS server: opts.cert/opts.key (and opts.ca) if
-- given, else a set made in dir (or opts.certs, a set from certs.localhost)
-- of which opts.cert_kind picks the server's: "localhost" (signed by the
-- CA for localhost/127.0.0.1), "wrong_name" (signed by the CA for
-- wrong.example), "self_signed" (self-signed for wrong.example).
local function tls_files(dir, opts, default_kind)
  if opts.cert then return opts.cert, opts.key, opts.ca end
  local set = opts.certs or certs.localhost(dir)
  local kind = opts.cert_kind or default_kind
  if kind == "localhost" then return set.cert, set.key, set.ca
  elseif kind == "wrong_name" then return set.wrong_cert, set.wrong_key, set.ca
  elseif kind == "self_signed" then return set.self_cert, set.self_key, set.ca end
  error("unknown cert_kind: " .. tostring(kind), 3)
end


-- The fault server ---------------------------------------------------------

--- Starts spec/support/fault_smtp.lua with a scenario (see that file for
-- the list) and its options; opts.lifetime (s), opts.connections, and
-- for TLS (opts.tls, opts.implicit_tls, scenario "tls_bad_cert")
-- opts.cert_kind / opts.certs / opts.cert+opts.key as in tls_files above
-- ("tls_bad_cert" defaults to "self_signed").
-- Returns the server: port, ca, cert, key (TLS only), transcript(),
-- connections(), events(), stop().
function servers.fault(scenario, opts)
  opts = opts or {}
  local dir = tmpdir("fault")
  local lifetime = opts.lifetime or servers.LIFETIME
  local sopts = {}
  for k, v in pairs(opts) do
    if k ~= "certs" and k ~= "cert_kind" and k ~= "ca" and k ~= "lifetime" then sopts[k] = v end
  end
  local ca
  if opts.tls or opts.implicit_tls or scenario == "tls_bad_cert" then
    sopts.cert, sopts.key, ca = tls_files(dir, opts, scenario == "tls_bad_cert" and "self_signed" or "localhost")
  end
  write_file(dir .. "/opts.lua", serialize(sopts))
  local srv = launch(Fault, dir, {
    servers.LUA, HERE .. "/fault_smtp.lua", "--scenario", scenario, "--opts", dir .. "/opts.lua",
    "--log", dir .. "/log", "--port-file", dir .. "/port", "--lifetime", tostring(lifetime),
  }, lifetime + 3)
  srv.scenario, srv.ca, srv.cert, srv.key = scenario, ca, sopts.cert, sopts.key
  return await_port(srv, port_file(dir))
end


--- Starts spec/support/fault_dns.lua (see its header): opts.mode
-- ("zone" or "nxdomain"), opts.mx, opts.a, opts.delay, opts.lifetime.
-- Returns the server: port, server ("127.0.0.1:PORT" for a route's
-- dns_server), log() (its lines: "TIME query NAME TYPE ..." and
-- "TIME answer NAME"), stop().
function servers.fault_dns(opts)
  opts = opts or {}
  local dir = tmpdir("dns")
  local lifetime = opts.lifetime or servers.LIFETIME
  local sopts = {}
  for k, v in pairs(opts) do if k ~= "lifetime" then sopts[k] = v end end
  write_file(dir .. "/opts.lua", serialize(sopts))
  local srv = launch(Fault, dir, {
    servers.LUA, HERE .. "/fault_dns.lua", "--opts", dir .. "/opts.lua", "--log", dir .. "/log",
    "--port-file", dir .. "/port", "--lifetime", tostring(lifetime),
  }, lifetime + 3)
  await_port(srv, port_file(dir))
  srv.server = servers.HOST .. ":" .. srv.port
  srv.log = function() return read_file(dir .. "/log") or "" end
  return srv
end


local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end


--- Every log record in order: {conn = n, kind = "accept"|"C"|"S"|"tls"|
-- "tls-error"|"event"|"close"|"listen"|"exit", text = payload}.
function Fault:events()
  local list = {}
  for line in self:log_text():gmatch("[^\n]+") do
    local conn, kind, text = line:match("^(%d+) (%S+) ?(.*)$")
    if conn then list[#list + 1] = { conn = tonumber(conn), kind = kind, text = unescape(text) } end
  end
  return list
end


--- The lines the client sent, in order: commands and, for DATA, the
-- message lines as received (dot-stuffing kept, the final "." included).
-- which: nil for all connections, a connection number (1, 2, ...), or
-- {conn = n, raw = true}; raw keeps each line's ending ("\r\n", a bare
-- "\n", or none for a last piece before the peer closed).
function Fault:transcript(which)
  local conn, raw = which, false
  if type(which) == "table" then conn, raw = which.conn, which.raw end
  local out = {}
  for _, e in ipairs(self:events()) do
    if e.kind == "C" and (conn == nil or e.conn == conn) then
      out[#out + 1] = raw and e.text or (e.text:gsub("\r?\n$", ""))
    end
  end
  return out
end


--- The number of connections the server accepted.
function Fault:connections()
  local n = 0
  for _, e in ipairs(self:events()) do
    if e.kind == "accept" then n = n + 1 end
  end
  return n
end


--- The replies the server sent (each as sent, multi-line replies in one
-- string, cut at 300 bytes), for the whole run or connection which.
function Fault:replies(which)
  local out = {}
  for _, e in ipairs(self:events()) do
    if e.kind == "S" and (which == nil or e.conn == which) then out[#out + 1] = e.text end
  end
  return out
end


-- smtp-sink ---------------------------------------------------------------

-- smtp-sink flags for boolean opts that turn a feature off when false.
local SINK_OFF = {
  esmtp = "-e", pipelining = "-p", eightbitmime = "-8", auth = "-a", enhancedstatuscodes = "-E",
  dsn = "-N", xclient = "-C", xforward = "-F",
}
-- smtp-sink flags that take a value.
local SINK_VALUE = {
  hostname = "-h", reject = "-f", soft_reject = "-r", disconnect = "-q", reply_421 = "-Q",
  hard_reply = "-B", soft_reply = "-b", data_delay = "-w", abort_data = "-A", max_messages = "-M",
  max_sessions = "-n", timeout = "-t", read_delay = "-H",
}


--- Starts Postfix's smtp-sink on 127.0.0.1, storing each message in its
-- own file (-d). Options (all optional):
--   esmtp, pipelining, eightbitmime, auth, enhancedstatuscodes, dsn,
--   xclient, xforward = false   do not announce that (-e -p -8 -a -E -N -C -F)
--   hostname (-h), reject = "RCPT,DATA" (-f, 5xx; implies no PIPELINING),
--   soft_reject (-r, 4xx; same), disconnect (-q), reply_421 (-Q),
--   hard_reply (-B), soft_reply (-b), data_delay (-w s), abort_data (-A s),
--   read_delay (-H s), max_messages (-M), max_sessions (-n), timeout (-t s),
--   wait = {"RCPT:1", ...} (-W command:delay[:odds]), args = {...} (more argv),
--   lifetime (s, default 30).
-- Returns the server: port, messages(), stop().
function servers.sink(opts)
  opts = opts or {}
  local dir = tmpdir("sink")
  local mail = dir .. "/mail"
  assert(os.execute("mkdir " .. sh_quote(mail)))
  local argv = { servers.SMTP_SINK }
  if IS_ROOT then
    -- smtp-sink insists on dropping privileges when run as root
    os.execute("chmod 755 " .. sh_quote(dir) .. " && chmod 1777 " .. sh_quote(mail))
    argv[#argv + 1] = "-u"
    argv[#argv + 1] = opts.user or "nobody"
  end
  for k, flag in pairs(SINK_OFF) do
    if opts[k] == false then argv[#argv + 1] = flag end
  end
  for k, flag in pairs(SINK_VALUE) do
    if opts[k] ~= nil then argv[#argv + 1] = flag; argv[#argv + 1] = tostring(opts[k]) end
  end
  for _, w in ipairs(opts.wait or {}) do argv[#argv + 1] = "-W"; argv[#argv + 1] = w end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  for _, a in ipairs({ "-d", mail .. "/%Y%m%d%H%M%S.", servers.HOST .. ":0", tostring(opts.backlog or 64) }) do
    argv[#argv + 1] = a
  end
  local lifetime = opts.lifetime or servers.LIFETIME
  local srv = launch(Sink, dir, argv, lifetime)
  srv.mail = mail
  return await_port(srv, function() return listening_port(srv.pid) end)
end


-- Parses one smtp-sink dump file (see DUMP FILE FORMAT in smtp-sink(1)).
local function parse_dump(raw, path)
  local m = { raw = raw, file = path, rcpt_args = {}, rcpt_tos = {} }
  local pos = 1
  local in_received = false
  while pos <= #raw do
    local e = raw:find("\n", pos, true) or #raw
    local line = raw:sub(pos, e - 1)
    if in_received and not line:match("^[ \t]") then break end
    pos = e + 1
    local name, value = line:match("^([%w-]+): ?(.*)$")
    if name == "X-Client-Addr" then m.client_addr = value
    elseif name == "X-Client-Proto" then m.proto = value
    elseif name == "X-Helo-Args" then m.helo = value
    elseif name == "X-Mail-Args" then
      m.mail_args = value
      m.mail_from = value:match("^<(.-)>")
    elseif name == "X-Rcpt-Args" then
      m.rcpt_args[#m.rcpt_args + 1] = value
      m.rcpt_tos[#m.rcpt_tos + 1] = value:match("^<(.-)>") or value
    elseif name == "Received" then in_received = true end
  end
  -- smtp-sink appends one empty line after the message
  local data = raw:sub(pos)
  if data:sub(-1) == "\n" then data = data:sub(1, -2) end
  m.data = data
  return m
end


-- The files smtp-sink has open: transactions still in progress (it
-- closes a message's file before it answers the final dot, and removes
-- the file of a transaction that does not end with one).
local function in_progress(srv)
  local open = {}
  for _, l in ipairs(group_fds(srv.pid)) do
    if l:sub(1, #srv.mail + 1) == srv.mail .. "/" then open[l] = true end
  end
  return open
end


function Sink:before_stop()
  self.unfinished = in_progress(self)
end


-- The finished messages, by file time then name.
function Sink:keep()
  local skip = self.unfinished or in_progress(self)
  local files = {}
  local out = capture("find " .. sh_quote(self.mail) .. " -type f -printf '%T@ %p\\n' 2>/dev/null")
  for t, path in out:gmatch("(%S+) ([^\n]+)") do
    if not skip[path] then files[#files + 1] = { t = tonumber(t), path = path } end
  end
  table.sort(files, function(a, b)
    if a.t ~= b.t then return a.t < b.t end
    return a.path < b.path
  end)
  local list = {}
  for _, f in ipairs(files) do
    local raw = read_file(f.path)
    if raw then
      local m = parse_dump(raw, f.path)
      m.time = f.t   -- when its file was last written (seconds since the epoch)
      list[#list + 1] = m
    end
  end
  return list
end


--- The messages smtp-sink stored (transactions still in progress left
-- out), ordered by the time their file was last written. File system
-- clocks are coarse (a few ms): messages finished that close together
-- come in no particular order, so find a message by its envelope or
-- content rather than by position. Each one is {mail_from=, rcpt_tos={},
-- mail_args=, rcpt_args={}, helo=, client_addr=, proto=, data=, raw=, file=,
-- time= (when its file was last written, seconds since the epoch)}.
-- data is the message as smtp-sink wrote it: dot-stuffing removed and
-- lines ending in "\n" (CRLF becomes LF); raw is the whole file with
-- smtp-sink's own X-* and Received: header lines.
function Sink:messages()
  if self.stopped then return self.kept end
  return self:keep()
end


-- aiosmtpd -------------------------------------------------------------------

--- Starts spec/support/aiosmtpd_server.py (aiosmtpd). Options (all optional):
--   tls = true            offer STARTTLS
--   implicit_tls = true   TLS from the first byte (port 465 style)
--   cert_kind, certs, cert/key/ca   which certificate (see tls_files above)
--   auth = {user =, password =}   AUTH PLAIN and LOGIN with these
--   auth_require_tls (default true: AUTH only after STARTTLS),
--   auth_required (default true when auth is given: MAIL needs AUTH first),
--   require_starttls      refuse everything but EHLO/STARTTLS/QUIT before TLS
--   pipelining = true     announce PIPELINING (aiosmtpd does not by default)
--   smtputf8 = true, size_limit (bytes, default 32 MiB), tls_max = "1.2",
--   hostname (default "aiosmtpd.test"), lifetime (s, default 30).
-- Returns the server: port, ca, cert, key (TLS only), messages(),
-- connections(), auths(), stop().
function servers.aiosmtpd(opts)
  opts = opts or {}
  local dir = tmpdir("aiosmtpd")
  local lifetime = opts.lifetime or servers.LIFETIME
  local argv = {
    servers.PYTHON, HERE .. "/aiosmtpd_server.py", "--log", dir .. "/log",
    "--port-file", dir .. "/port", "--lifetime", tostring(lifetime),
  }
  local function add(...) for _, a in ipairs({ ... }) do argv[#argv + 1] = tostring(a) end end
  local cert, key, ca
  if opts.tls or opts.implicit_tls then
    cert, key, ca = tls_files(dir, opts, "localhost")
    add(opts.implicit_tls and "--implicit-tls" or "--tls", "--cert", cert, "--key", key)
  end
  if opts.auth then add("--user", opts.auth.user, "--password", opts.auth.password or "") end
  if opts.auth_require_tls == false then add("--auth-require-tls", "no") end
  if opts.auth_required ~= nil then add("--auth-required", opts.auth_required and "yes" or "no") end
  if opts.require_starttls then add("--require-starttls") end
  if opts.pipelining then add("--pipelining") end
  if opts.smtputf8 then add("--smtputf8") end
  if opts.size_limit then add("--size-limit", opts.size_limit) end
  if opts.tls_max then add("--tls-max", opts.tls_max) end
  if opts.hostname then add("--hostname", opts.hostname) end
  local srv = launch(Aio, dir, argv, lifetime + 3)
  srv.ca, srv.cert, srv.key = ca, cert, key
  return await_port(srv, port_file(dir))
end


local json
local b64

--- Every JSON record the server logged, in order (type "connect", "auth"
-- or "message"); a message's data is the exact bytes received (after
-- dot-unstuffing, CRLF kept), decoded from data_b64.
function Aio:records()
  json = json or require "dkjson"
  b64 = b64 or require("mime").unb64
  local list = {}
  for line in self:log_text():gmatch("[^\n]+") do
    local r = assert(json.decode(line, 1, nil))
    if r.type == "message" then
      r.data = b64(r.data_b64) or ""
      r.data_b64 = nil
    end
    list[#list + 1] = r
  end
  return list
end


local function of_type(srv, t)
  local out = {}
  for _, r in ipairs(srv:records()) do
    if r.type == t then out[#out + 1] = r end
  end
  return out
end


--- The messages received: {mail_from=, rcpt_tos={}, mail_options={},
-- rcpt_options={}, data=, helo=, peer=, tls=bool, tls_version=, tls_cipher=,
-- implicit_tls=bool, login= (nil when not authenticated)}.
function Aio:messages() return of_type(self, "message") end

--- The AUTH attempts: {mechanism=, login=, success=bool}.
function Aio:auths() return of_type(self, "auth") end

--- The number of connections accepted.
function Aio:connections() return #of_type(self, "connect") end


-- Module functions --------------------------------------------------------

--- Stops every server this module started and has not stopped yet.
function servers.stop_all()
  local list = {}
  for srv in pairs(started) do list[#list + 1] = srv end
  for _, srv in ipairs(list) do srv:stop() end
end


--- A 127.0.0.1 port nothing listens on (just released), for "connection
-- refused" cases.
function servers.closed_port()
  local s = assert(socket.bind(servers.HOST, 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

return servers
