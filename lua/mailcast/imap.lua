-- A small IMAP4rev1 client (RFC 3501; MOVE from RFC 6851, UIDPLUS's UID
-- EXPUNGE from RFC 4315): enough to read a bounce folder and move, flag
-- or delete what was processed. Literals ({n} and the n bytes after)
-- are read wherever a server sends them and sent when a string needs
-- one. LOGIN goes over TLS only unless the caller allows plaintext; the
-- password never appears in an error message.
local tlsconn = require "mailcast.tlsconn"

local M = {}

M.PORT, M.PORT_TLS = 143, 993
M.KEYWORD = "$MailcastProcessed"      -- what flagging marks processed messages with
M.MAX_LITERAL = 256 * 1024 * 1024    -- no message a bounce folder holds is larger

local Client = {}
Client.__index = Client


-- Reads one response: its text (the lines of a response with literals
-- joined, each literal left out where it was) and its literals in order.
local function read_response(self)
  local parts, literals = {}, {}
  while true do
    local line, err = self.conn:line()
    if not line then return nil, "imap: " .. err end
    parts[#parts + 1] = line
    local n = line:match("{(%d+)%+?}$")
    if not n then return table.concat(parts), literals end
    n = tonumber(n)
    if n > M.MAX_LITERAL then return nil, "imap: a literal of " .. n .. " bytes is too large" end
    local data, derr = self.conn:bytes(n)
    if not data then return nil, "imap: " .. derr end
    literals[#literals + 1] = data
  end
end


--- quote(s) -> s as an IMAP quoted string, or nil when it needs a
-- literal (a line break, a NUL or a byte outside ASCII).
function M.quote(s)
  if s:find("[%z\r\n\128-\255]") then return nil end
  return '"' .. s:gsub('[\\"]', "\\%0") .. '"'
end


-- Sends a command: words are strings put as they are, or {string = s}
-- for an argument quoted or sent as a literal (waiting for the server's
-- "+" before the bytes). Reads the responses up to the tagged one.
-- Returns ok (true for OK), the tagged text, the untagged responses
-- ({text=, literals=}...); or nil, message when the connection fails.
-- shown names the command in errors (so a password is never quoted).
local function command(self, words, shown)
  self.seq = self.seq + 1
  local tag = string.format("m%d", self.seq)
  shown = shown or (type(words[1]) == "string" and words[1] or "command")
  local line = { tag }
  local function flush(last)
    local ok, err = self.conn:send(table.concat(line, " ") .. (last and "\r\n" or ""))
    if not ok then return nil, string.format("imap: %s: %s", shown, err) end
    return true
  end
  for _, w in ipairs(words) do
    if type(w) == "table" then
      local q = M.quote(w.string)
      if q then line[#line + 1] = q
      else
        line[#line + 1] = "{" .. #w.string .. "}\r\n"
        local ok, err = flush(false)
        if not ok then return nil, err end
        local cont, cerr = read_response(self)
        if not cont then return nil, cerr end
        if cont:sub(1, 1) ~= "+" then
          return false, cont:match("^%S+%s+%u+%s*(.*)$") or cont, {}
        end
        -- the literal's bytes, then the rest of the line: no space in between
        local ok2, err2 = self.conn:send(w.string)
        if not ok2 then return nil, string.format("imap: %s: %s", shown, err2) end
        line = { "" }
      end
    else
      line[#line + 1] = w
    end
  end
  local ok, err = flush(true)
  if not ok then return nil, err end
  local untagged = {}
  while true do
    local text, literals = read_response(self)
    if not text then return nil, literals end
    if text:sub(1, #tag + 1) == tag .. " " then
      local result, rest = text:sub(#tag + 2):match("^(%u+)%s*(.*)$")
      return result == "OK", rest or text, untagged
    end
    untagged[#untagged + 1] = { text = text, literals = literals }
  end
end


local function parse_capabilities(self, text)
  local caps = text:match("%[CAPABILITY ([^%]]*)%]") or text:match("^%* CAPABILITY (.*)$")
  if not caps then return false end
  self.caps = {}
  for c in caps:gmatch("%S+") do self.caps[c:upper()] = true end
  return true
end


--- client:capabilities() -> {NAME = true...}, asked of the server.
function Client:capabilities()
  local ok, text, untagged = command(self, { "CAPABILITY" })
  if ok == nil then return nil, text end
  for _, u in ipairs(untagged) do parse_capabilities(self, u.text) end
  return self.caps
end


--- connect{host=, port=, tls = "starttls" (default) | "implicit" |
-- "none", ca_file=, insecure=, timeout=} -> Client | nil, message
-- With "starttls", STARTTLS is used when the server offers it; login
-- decides whether to go on without it.
function M.connect(opts)
  local implicit = opts.tls == "implicit"
  local conn, err = tlsconn.open("imap", opts, M.PORT, M.PORT_TLS)
  if not conn then return nil, err end
  local self = setmetatable({ conn = conn, seq = 0, caps = {}, deleted = {} }, Client)
  local greeting, gerr = read_response(self)
  if not greeting then conn:close() return nil, gerr end
  if not greeting:match("^%* OK") and not greeting:match("^%* PREAUTH") then
    conn:close()
    return nil, "imap: greeting: " .. greeting:sub(1, 200)
  end
  if not parse_capabilities(self, greeting) then
    local ok, cerr = self:capabilities()
    if not ok then conn:close() return nil, cerr end
  end
  if opts.tls ~= "none" and not implicit and self.caps.STARTTLS then
    local ok, text = command(self, { "STARTTLS" })
    if not ok then conn:close() return nil, "imap: STARTTLS: " .. tostring(text) end
    local tok, terr = conn:starttls()
    if not tok then return nil, "imap: " .. terr end
    local cok, cerr = self:capabilities()   -- to be asked again once secure (RFC 3501 6.2.1)
    if not cok then conn:close() return nil, cerr end
  end
  return self
end


function Client:secure()
  return self.conn.tls
end


--- client:login(user, password [, allow_plaintext]) -> true | nil, message
function Client:login(user, password, allow_plaintext)
  if not self:secure() and not allow_plaintext then
    return nil, "imap: the server offers no STARTTLS: use IMAPS (--imaps), or --allow-plaintext to"
      .. " send the password unencrypted"
  end
  if self.caps.LOGINDISABLED then return nil, "imap: the server refuses LOGIN on this connection (LOGINDISABLED)" end
  local ok, text = command(self, { "LOGIN", { string = user }, { string = password } }, "LOGIN")
  if ok == nil then return nil, text end
  if not ok then return nil, "imap: login failed: " .. text end
  if not parse_capabilities(self, text) then self:capabilities() end
  return true
end


--- client:select(folder) -> {exists=, uidvalidity=} | nil, message
function Client:select(folder)
  local ok, text, untagged = command(self, { "SELECT", { string = folder } })
  if not ok then return nil, string.format("imap: SELECT %s: %s", folder, tostring(text)) end
  local info = {}
  for _, u in ipairs(untagged) do
    local n = u.text:match("^%* (%d+) EXISTS")
    if n then info.exists = tonumber(n) end
    local v = u.text:match("%[UIDVALIDITY (%d+)%]")
    if v then info.uidvalidity = tonumber(v) end
  end
  return info
end


--- client:create(folder) -> true | nil, message; true too when it exists.
function Client:create(folder)
  local ok, text = command(self, { "CREATE", { string = folder } })
  if ok == nil then return nil, text end
  if not ok and not text:find("ALREADYEXISTS", 1, true) and not text:lower():find("exists", 1, true) then
    return nil, string.format("imap: CREATE %s: %s", folder, text)
  end
  return true
end


--- client:search(criteria) -> {uid...} (UID SEARCH; criteria as IMAP text)
function Client:search(criteria)
  local ok, text, untagged = command(self, { "UID SEARCH", criteria })
  if not ok then return nil, "imap: SEARCH: " .. tostring(text) end
  local uids = {}
  for _, u in ipairs(untagged) do
    local list = u.text:match("^%* SEARCH(.*)$")
    if list then
      for n in list:gmatch("%d+") do uids[#uids + 1] = tonumber(n) end
    end
  end
  table.sort(uids)
  return uids
end


--- client:fetch(uid) -> the whole message | nil, message. BODY.PEEK:
-- reading sets no \Seen, so what is left alone stays as it was.
function Client:fetch(uid)
  local ok, text, untagged = command(self, { "UID FETCH", tostring(uid), "BODY.PEEK[]" })
  if not ok then return nil, string.format("imap: FETCH %d: %s", uid, tostring(text)) end
  for _, u in ipairs(untagged) do
    if u.text:match("^%* %d+ FETCH") and u.literals[1] and tonumber(u.text:match("UID (%d+)")) == uid then
      return u.literals[1]
    end
  end
  for _, u in ipairs(untagged) do   -- a server that leaves UID out of its answer
    if u.text:match("^%* %d+ FETCH") and u.literals[1] then return u.literals[1] end
  end
  return nil, string.format("imap: FETCH %d: no message in the answer", uid)
end


--- client:store(uid, flags) -> true | nil, message (adds flags, "(...)")
function Client:store(uid, flags)
  local ok, text = command(self, { "UID STORE", tostring(uid), "+FLAGS.SILENT", flags })
  if not ok then return nil, string.format("imap: STORE %d: %s", uid, tostring(text)) end
  return true
end


--- client:move(uid, folder) -> true | nil, message: MOVE where the
-- server has it, else COPY and a \Deleted flag (expunge removes it).
function Client:move(uid, folder)
  if self.caps.MOVE then
    local ok, text = command(self, { "UID MOVE", tostring(uid), { string = folder } })
    if not ok then return nil, string.format("imap: MOVE %d: %s", uid, tostring(text)) end
    return true
  end
  local ok, text = command(self, { "UID COPY", tostring(uid), { string = folder } })
  if not ok then return nil, string.format("imap: COPY %d: %s", uid, tostring(text)) end
  self.deleted[#self.deleted + 1] = uid
  return self:store(uid, "(\\Deleted)")
end


--- client:delete(uid) -> true | nil, message (gone at expunge)
function Client:delete(uid)
  self.deleted[#self.deleted + 1] = uid
  return self:store(uid, "(\\Deleted)")
end


--- client:expunge() -> true | nil, message: removes the messages this
-- client marked deleted (only those, where the server has UIDPLUS).
function Client:expunge()
  if #self.deleted == 0 then return true end
  local words = self.caps.UIDPLUS and { "UID EXPUNGE", table.concat(self.deleted, ",") } or { "EXPUNGE" }
  local ok, text = command(self, words)
  if not ok then return nil, "imap: EXPUNGE: " .. tostring(text) end
  self.deleted = {}
  return true
end


function Client:logout()
  local ok, text = command(self, { "LOGOUT" })
  self.conn:close()
  if ok == nil then return nil, text end
  return true
end


function Client:close()
  self.conn:close()
end


-- The folder as a source of bounce messages --------------------------------

local Source = {}
Source.__index = Source


--- source{host=, port=, tls=, ca_file=, insecure=, timeout=, user=,
-- password=, allow_plaintext=, folder = "INBOX", move_to=, delete=}
-- -> a source for mailcast.bounces. Processed messages are moved to
-- move_to, or deleted (delete = true), or else flagged \Seen and
-- $MailcastProcessed; the others are left as they were (not even \Seen).
-- Flagged ones are not read again.
function M.source(opts)
  return setmetatable({ opts = opts, folder = opts.folder or "INBOX",
    name = "imap " .. opts.host .. " " .. (opts.folder or "INBOX") }, Source)
end


function Source:open()
  local client, err = M.connect(self.opts)
  if not client then return nil, err end
  local ok, lerr = client:login(self.opts.user, self.opts.password, self.opts.allow_plaintext)
  if ok and self.opts.move_to then ok, lerr = client:create(self.opts.move_to) end
  local info
  if ok then info, lerr = client:select(self.folder) end
  if not info then client:close() return nil, lerr end
  self.uidvalidity = info.uidvalidity
  self.client = client
  return true
end


function Source:list()
  local uids, err = self.client:search("UNKEYWORD " .. M.KEYWORD)
  if not uids then return nil, err end
  local out = {}
  -- UIDs name a message for as long as the folder's UIDVALIDITY stays
  local prefix = self.uidvalidity and string.format("imap:%s:%s:%s:%s:%d:", self.opts.host,
    tostring(self.opts.port or ""), self.opts.user, self.folder, self.uidvalidity)
  for i, uid in ipairs(uids) do out[i] = { id = "uid " .. uid, uid = uid, key = prefix and (prefix .. uid) } end
  return out
end


function Source:fetch(h)
  return self.client:fetch(h.uid)
end


function Source:settle(h, processed)
  if not processed then return true end
  if self.opts.move_to then return self.client:move(h.uid, self.opts.move_to) end
  if self.opts.delete then return self.client:delete(h.uid) end
  return self.client:store(h.uid, "(\\Seen " .. M.KEYWORD .. ")")
end


function Source:close()
  if not self.client then return true end
  local client = self.client
  self.client = nil
  local ok, err = client:expunge()
  local lok, lerr = client:logout()
  if not ok then return nil, err end
  if not lok then return nil, lerr end
  return true
end


function Source:abort()
  if self.client then self.client:close() self.client = nil end
end

return M
