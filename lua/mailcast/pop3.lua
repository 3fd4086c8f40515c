-- A small POP3 client (RFC 1939, STLS from RFC 2595, CAPA from RFC
-- 2449): enough to read a bounce mailbox and delete what was processed,
-- as the old bulk mailers did. The password goes over TLS only, unless
-- the caller allows plaintext; it is never put in an error message.
local tlsconn = require "mailcast.tlsconn"

local M = {}

M.PORT, M.PORT_TLS = 110, 995

local Client = {}
Client.__index = Client


-- One reply line: true, text for +OK; nil, "pop3: ..." for -ERR or a
-- broken connection.
local function status(self, what)
  local line, err = self.conn:line()
  if not line then return nil, string.format("pop3: %s: %s", what, err) end
  if line:sub(1, 3) == "+OK" then return true, line:sub(5) end
  if line:sub(1, 4) == "-ERR" then
    return nil, string.format("pop3: %s: %s", what, line:sub(6) ~= "" and line:sub(6) or "-ERR")
  end
  return nil, string.format("pop3: %s: not a POP3 reply: %s", what, line:sub(1, 200))
end


-- Sends a command (line is what goes on the wire; shown is what an error
-- may say of it) and reads its status line.
local function command(self, line, shown)
  local ok, err = self.conn:send(line .. "\r\n")
  if not ok then return nil, string.format("pop3: %s: %s", shown or line, err) end
  return status(self, shown or line)
end


-- The lines of a multi-line reply up to the lone ".", dot-unstuffed
-- (RFC 1939 3: a line that starts with "." has had one more put before it).
local function multiline(self, what)
  local lines = {}
  while true do
    local line, err = self.conn:line()
    if not line then return nil, string.format("pop3: %s: %s", what, err) end
    if line == "." then return lines end
    if line:sub(1, 1) == "." then line = line:sub(2) end
    lines[#lines + 1] = line
  end
end


--- connect{host=, port=, tls = "starttls" (default) | "implicit" |
-- "none", ca_file=, insecure=, timeout=} -> Client | nil, message
-- With "starttls", STLS is used when the server offers it; the caller
-- decides (login's allow_plaintext) whether to go on without it.
function M.connect(opts)
  local implicit = opts.tls == "implicit"
  local conn, err = tlsconn.open("pop3", opts, M.PORT, M.PORT_TLS)
  if not conn then return nil, err end
  local self = setmetatable({ conn = conn, capa = {} }, Client)
  local ok, gerr = status(self, "greeting")
  if not ok then conn:close() return nil, gerr end
  self:capabilities()
  if opts.tls ~= "none" and not implicit and self.capa.STLS then
    local sok, serr = command(self, "STLS")
    if not sok then conn:close() return nil, serr end
    local tok, terr = conn:starttls()
    if not tok then return nil, "pop3: " .. terr end
    self:capabilities()   -- they may change once the session is secure
  end
  return self
end


--- client:capabilities() -> {NAME = "arguments"...} (empty when the
-- server has no CAPA).
function Client:capabilities()
  self.capa = {}
  if command(self, "CAPA") then
    for _, line in ipairs(multiline(self, "CAPA") or {}) do
      local name, args = line:match("^(%S+)%s*(.*)$")
      if name then self.capa[name:upper()] = args end
    end
  end
  return self.capa
end


--- client:secure() -> whether the session is encrypted.
function Client:secure()
  return self.conn.tls
end


--- client:login(user, password [, allow_plaintext]) -> true | nil, message
-- USER/PASS; refused before sending anything when the session is not
-- encrypted and plaintext is not allowed.
function Client:login(user, password, allow_plaintext)
  if not self:secure() and not allow_plaintext then
    return nil, "pop3: the server offers no STLS: use POP3S (--pop3s), or --allow-plaintext to"
      .. " send the password unencrypted"
  end
  if tostring(user):find("[\r\n]") or tostring(password):find("[\r\n]") then
    return nil, "pop3: a user name or password cannot hold a line break"
  end
  local ok, err = command(self, "USER " .. user, "USER")
  if ok then ok, err = command(self, "PASS " .. password, "PASS") end
  if not ok then return nil, (err:gsub("^pop3: %u+: ", "pop3: login failed: ")) end
  return true
end


--- client:list() -> {{number=, size=}...}
function Client:list()
  local ok, err = command(self, "LIST")
  if not ok then return nil, err end
  local lines, lerr = multiline(self, "LIST")
  if not lines then return nil, lerr end
  local out = {}
  for _, line in ipairs(lines) do
    local n, size = line:match("^(%d+)%s+(%d+)")
    if n then out[#out + 1] = { number = tonumber(n), size = tonumber(size) } end
  end
  return out
end


--- client:uidl() -> {[number] = unique id} (empty when the server has no UIDL)
function Client:uidl()
  if not command(self, "UIDL") then return {} end
  local out = {}
  for _, line in ipairs(multiline(self, "UIDL") or {}) do
    local n, id = line:match("^(%d+)%s+(%S+)")
    if n then out[tonumber(n)] = id end
  end
  return out
end


--- client:retr(n) -> the message, lines ended by CRLF | nil, message
function Client:retr(n)
  local what = "RETR " .. n
  local ok, err = command(self, what)
  if not ok then return nil, err end
  local lines, lerr = multiline(self, what)
  if not lines then return nil, lerr end
  lines[#lines + 1] = ""
  return table.concat(lines, "\r\n")
end


--- client:dele(n) -> true | nil, message (takes effect at quit)
function Client:dele(n)
  return command(self, "DELE " .. n)
end


--- client:quit() -> true | nil, message: the deletions are made now.
function Client:quit()
  local ok, err = command(self, "QUIT")
  self.conn:close()
  return ok, err
end


function Client:close()
  self.conn:close()
end


-- The mailbox as a source of bounce messages -------------------------------

local Source = {}
Source.__index = Source


--- source{host=, port=, tls=, ca_file=, insecure=, timeout=, user=,
-- password=, allow_plaintext=} -> a source for mailcast.bounces: the
-- messages of the mailbox; the processed ones are deleted (DELE, made
-- at close by QUIT), the others left as they were.
function M.source(opts)
  return setmetatable({ opts = opts, name = "pop3 " .. opts.host }, Source)
end


function Source:open()
  local client, err = M.connect(self.opts)
  if not client then return nil, err end
  local ok, lerr = client:login(self.opts.user, self.opts.password, self.opts.allow_plaintext)
  if not ok then client:close() return nil, lerr end
  self.client = client
  return true
end


function Source:list()
  local list, err = self.client:list()
  if not list then return nil, err end
  local uidl = self.client:uidl()
  local prefix = string.format("pop3:%s:%s:%s:", self.opts.host, tostring(self.opts.port or ""), self.opts.user)
  local out = {}
  for i, m in ipairs(list) do
    out[i] = { id = "#" .. m.number, number = m.number, key = uidl[m.number] and (prefix .. uidl[m.number]) }
  end
  return out
end


function Source:fetch(h)
  return self.client:retr(h.number)
end


function Source:settle(h, processed)
  if not processed then return true end
  return self.client:dele(h.number)
end


function Source:close()
  if not self.client then return true end
  local client = self.client
  self.client = nil
  return client:quit()
end


--- abort(): closes without QUIT, so nothing is deleted.
function Source:abort()
  if self.client then self.client:close() self.client = nil end
end

return M
