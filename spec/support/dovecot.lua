-- A private Dovecot (Debian's dovecot-core, -imapd, -pop3d) for the POP3
-- and IMAP specs: its own configuration in a temporary directory,
-- listening on 127.0.0.1 only on four free high ports (POP3 with STLS,
-- POP3S, IMAP with STARTTLS, IMAPS), users from a passwd file, Maildirs
-- in the directory, a throw-away certificate from support.certs, and a
-- log file. It runs in a process group of its own and is stopped with
-- it (or by `timeout` after opts.lifetime seconds).
--
--   local dovecot = require "support.dovecot"
--   local dc <close> = dovecot.start { users = { bounces = "s3cret" } }
--   dc.ports.pop3, dc.ports.pop3s, dc.ports.imap, dc.ports.imaps, dc.ca
--   dc:deliver("bounces", raw)      -- into INBOX (a Maildir's new/)
--   dc:messages("bounces", "Processed") -- the files of a folder
--   dc:stop()
local socket = require "socket"
local certs = require "support.certs"
local mime = require "support.mime"

local dovecot = {}

dovecot.BIN = "/usr/sbin/dovecot"
dovecot.HOST = "127.0.0.1"
dovecot.LIFETIME = 120

local Server = {}
Server.__index = Server
Server.__close = function(self) self:stop() end
Server.__gc = function(self) self:stop() end


local sh_quote = mime.sh_quote


local function capture(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return (out:gsub("%s+$", ""))
end


local write = mime.write

-- A file's contents, "" while it does not exist.
local function read(path) return mime.try_read(path) or "" end


--- available() -> true | false, why: whether Dovecot is installed.
function dovecot.available()
  local f = io.open(dovecot.BIN, "rb")
  if not f then return false, dovecot.BIN .. " is not installed (apt-get install dovecot-core dovecot-imapd dovecot-pop3d)" end
  f:close()
  return true
end


-- Ports nothing listens on, just released (the kernel picks them).
local function free_ports(n)
  local socks, ports = {}, {}
  for i = 1, n do
    socks[i] = assert(socket.bind(dovecot.HOST, 0))
    ports[i] = select(2, socks[i]:getsockname())
  end
  for _, s in ipairs(socks) do s:close() end
  return ports
end


-- Who owns the mail: as root, nobody (Dovecot refuses uid 0 for mail);
-- otherwise the user running the specs, who is also Dovecot's own.
local function accounts()
  if capture("id -u") == "0" then
    return { uid = "nobody", gid = "nogroup", internal = "dovecot", login = "dovenull", root = true }
  end
  local me = capture("id -un")
  return { uid = capture("id -u"), gid = capture("id -g"), internal = me, login = me, root = false }
end


local function config(dir, ports, acct, opts, cert, key)
  return table.concat({
    "base_dir = " .. dir .. "/run",
    "state_dir = " .. dir .. "/state",
    "instance_name = mailcast-spec-" .. ports[1],
    "listen = " .. dovecot.HOST,
    "protocols = imap pop3",
    "hostname = localhost",   -- not looked up in DNS when a mail process starts
    "log_path = " .. dir .. "/dovecot.log",
    "default_internal_user = " .. acct.internal,
    "default_login_user = " .. acct.login,
    "first_valid_uid = 1",
    "ssl = " .. (opts.ssl == false and "no" or "yes"),
    opts.ssl == false and "" or ("ssl_cert = <" .. cert),
    opts.ssl == false and "" or ("ssl_key = <" .. key),
    "ssl_min_protocol = TLSv1.2",
    "disable_plaintext_auth = no",   -- the client decides: it is what is tested
    "auth_mechanisms = plain login",
    "auth_failure_delay = 0",
    "passdb {",
    "  driver = passwd-file",
    "  args = scheme=PLAIN username_format=%u " .. dir .. "/passwd",
    "}",
    "userdb {",
    "  driver = static",
    "  args = uid=" .. acct.uid .. " gid=" .. acct.gid .. " home=" .. dir .. "/mail/%u",
    "}",
    "mail_location = maildir:" .. dir .. "/mail/%u/Maildir",
    "service imap-login {",
    "  inet_listener imap {\n    port = " .. ports[1] .. "\n  }",
    "  inet_listener imaps {\n    port = " .. (opts.ssl == false and 0 or ports[2]) .. "\n    ssl = yes\n  }",
    "}",
    "service pop3-login {",
    "  inet_listener pop3 {\n    port = " .. ports[3] .. "\n  }",
    "  inet_listener pop3s {\n    port = " .. (opts.ssl == false and 0 or ports[4]) .. "\n    ssl = yes\n  }",
    "}",
    "service stats {\n  inet_listener http {\n    port = 0\n  }\n}",
    -- no growing delay after a failed login: the specs fail logins on purpose
    "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}",
    "",
  }, "\n")
end


local function listening(port)
  local s = socket.tcp()
  s:settimeout(0.2)
  local ok = s:connect(dovecot.HOST, port)
  s:close()
  return ok ~= nil
end


--- start{users = {name = password...}, ssl = true, cert_kind =
-- "localhost" | "wrong_name" | "self_signed", lifetime = 120} -> Server
-- with ports {pop3=, pop3s=, imap=, imaps=}, ca (the CA file that signed
-- its certificate), dir. Raises with Dovecot's log when it will not start.
function dovecot.start(opts)
  opts = opts or {}
  assert(dovecot.available())
  local dir = capture("mktemp -d -t mailcast-dovecot.XXXXXX")
  local acct = accounts()
  local set = certs.localhost(dir)
  local kind = opts.cert_kind or "localhost"
  local cert, key = set.cert, set.key
  if kind == "wrong_name" then cert, key = set.wrong_cert, set.wrong_key
  elseif kind == "self_signed" then cert, key = set.self_cert, set.self_key end
  local ports = free_ports(4)
  local lines = {}
  for name, password in pairs(opts.users or { bounces = "s3cret" }) do
    lines[#lines + 1] = string.format("%s:{PLAIN}%s::::::", name, password)
  end
  write(dir .. "/passwd", table.concat(lines, "\n") .. "\n")
  os.execute("mkdir -p " .. sh_quote(dir .. "/run") .. " " .. sh_quote(dir .. "/state") .. " " .. sh_quote(dir .. "/mail"))
  if acct.root then
    -- the login processes (dovenull) read nothing here; the mail user writes mail/
    os.execute("chmod 755 " .. sh_quote(dir) .. " && chown " .. acct.uid .. ":" .. acct.gid .. " " .. sh_quote(dir .. "/mail"))
  end
  write(dir .. "/dovecot.conf", config(dir, ports, acct, opts, cert, key))
  local self = setmetatable({
    dir = dir, ca = set.ca, acct = acct, host = dovecot.HOST,
    ports = { imap = ports[1], imaps = ports[2], pop3 = ports[3], pop3s = ports[4] },
  }, Server)
  -- setsid: a process group of its own, which stop() ends as a whole
  os.execute(string.format("setsid timeout -k 2 %d %s -F -c %s </dev/null >%s 2>&1 & echo $! >%s",
    opts.lifetime or dovecot.LIFETIME, dovecot.BIN, sh_quote(dir .. "/dovecot.conf"),
    sh_quote(dir .. "/stdout"), sh_quote(dir .. "/pid")))
  self.pid = tonumber(read(dir .. "/pid"):match("%d+"))
  local limit = socket.gettime() + 10
  while not (listening(self.ports.imap) and listening(self.ports.pop3)) do
    if socket.gettime() > limit then
      local why = read(dir .. "/stdout") .. read(dir .. "/dovecot.log")
      self:stop()
      error("dovecot did not start:\n" .. why, 2)
    end
    socket.sleep(0.05)
  end
  return self
end


--- server:maildir(user [, folder]) -> the Maildir of a user's folder
-- (INBOX when folder is nil), made if needed.
function Server:maildir(user, folder)
  local path = self.dir .. "/mail/" .. user .. "/Maildir"
  if folder and folder ~= "INBOX" then path = path .. "/." .. folder end
  os.execute(string.format("mkdir -p %s/new %s/cur %s/tmp", sh_quote(path), sh_quote(path), sh_quote(path)))
  return path
end


local serial = 0

--- server:deliver(user, raw [, folder]) -> the new message's path.
function Server:deliver(user, raw, folder)
  local dir = self:maildir(user, folder)
  serial = serial + 1
  local name = string.format("%d.M%dP%d.spec", os.time(), serial, self.pid or 0)
  write(dir .. "/tmp/" .. name, raw)
  assert(os.rename(dir .. "/tmp/" .. name, dir .. "/new/" .. name))
  if self.acct.root then
    os.execute("chown -R " .. self.acct.uid .. ":" .. self.acct.gid .. " " .. sh_quote(self.dir .. "/mail/" .. user))
  end
  return dir .. "/new/" .. name
end


--- server:messages(user [, folder]) -> {{name=, path=, raw=}...}: the
-- messages in a folder's new/ and cur/, sorted by name.
function Server:messages(user, folder)
  local dir = self:maildir(user, folder)
  local out = {}
  for _, sub in ipairs { "new", "cur" } do
    for name in capture("ls -1 " .. sh_quote(dir .. "/" .. sub)):gmatch("[^\n]+") do
      local path = dir .. "/" .. sub .. "/" .. name
      out[#out + 1] = { name = name, path = path, raw = read(path) }
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end


--- server:log() -> what Dovecot logged.
function Server:log()
  return read(self.dir .. "/dovecot.log")
end


-- True while a process of group pgid runs (zombies do not count: where
-- PID 1 does not reap, orphans stay as zombies).
local function group_alive(pgid)
  for line in capture("cat /proc/[0-9]*/stat 2>/dev/null"):gmatch("[^\n]+") do
    local state, pgrp = line:match("^%d+ %(.*%) (%S) %d+ (%d+)")
    if tonumber(pgrp) == pgid and state ~= "Z" and state ~= "X" then return true end
  end
  return false
end


--- server:stop(): ends its process group and removes its directory.
function Server:stop()
  if self.stopped then return end
  self.stopped = true
  if self.pid then
    os.execute(string.format("kill -TERM -%d 2>/dev/null", self.pid))
    local limit = socket.gettime() + 5
    while socket.gettime() < limit and group_alive(self.pid) do
      socket.sleep(0.05)
    end
    if group_alive(self.pid) then os.execute(string.format("kill -KILL -%d 2>/dev/null", self.pid)) end
  end
  self.kept_log = self:log()
  os.execute("rm -rf " .. sh_quote(self.dir))
end

return dovecot
