#!/usr/bin/env lua5.4
-- A fault-injecting SMTP server for the SMTP client's specs, run as its
-- own process by spec/support/servers.lua (servers.fault):
--
--   lua5.4 spec/support/fault_smtp.lua --scenario NAME [--opts FILE]
--     [--log FILE] [--port-file FILE] [--lifetime SECONDS]
--
-- It listens on 127.0.0.1 (never anywhere else) on a port the kernel
-- picks, writes that port to --port-file (or "port N" on stdout), serves
-- any number of connections at once (coroutines over socket.select), and
-- exits by itself after --lifetime seconds (default 30) or once it has
-- served opts.connections connections.
--
-- Apart from the named fault it speaks correct SMTP: 220 greeting; EHLO
-- answers 250 with PIPELINING, SIZE 1000000, 8BITMIME, ENHANCEDSTATUSCODES
-- (and STARTTLS when TLS is configured); HELO, MAIL, RCPT, DATA, RSET,
-- NOOP, VRFY, QUIT; input is processed line by line in order, so pipelined
-- commands that arrive in one packet get their replies in order. MAIL and
-- RCPT parameters that were not advertised get 555, as a strict server
-- does, and only "." CRLF ends the message (a bare-LF ".\n" is a line of it).
--
-- The --opts file holds a Lua table constructor ("{ delay = 2 }"), see
-- SCENARIOS below. Options every scenario takes:
--   connections = N    serve N connections, then exit (default: until lifetime)
--   hostname = "x"     name in the greeting and EHLO (default "fault.test")
--   greeting = "..."   the greeting line (default "220 <hostname> ESMTP fault_smtp")
--   replies = {VERB = "line", ...}  fixed reply for a command (EHLO, HELO,
--                      MAIL, RCPT, DATA, DOT (end of data), RSET, NOOP, QUIT);
--                      the session moves on only if the code means success
--   tls = true, cert = path, key = path   offer STARTTLS (LuaSec)
--   implicit_tls = true                   TLS from the first byte (port 465 style)
--   eol = "\r\n"       line ending of replies
--   chunking = true    offer CHUNKING and take BDAT (RFC 3030)
--   oauth = {user =, token =}   offer AUTH XOAUTH2 (plaintext: for tests only)
--
-- The log (--log) has one record per line, "<conn> <kind> <payload>", the
-- payload with bytes outside printable ASCII and "%" written as %XX:
--   accept  peer address         C  a line the client sent, as received
--   S       a reply (cut at 300 bytes)   tls  "<protocol> <cipher>"
--   tls-error  message           event  what a fault did
--   close   reason               (conn 0) listen / exit
-- Client lines are written before any reply to them goes out, so once a
-- client has a reply, the log has the line it answered.
local socket = require "socket"

local HOST = "127.0.0.1"
local MAX_LINE = 1024 * 1024      -- a longer "line" is logged in pieces
local LOG_REPLY_MAX = 300

-- Scenario names and the options each one reads (besides the common ones).
local SCENARIOS = {
  normal = true,
  slow_greeting = true,         -- delay (s, default 5): wait before the 220
  silent_greeting = true,       -- accept, read and log, never say anything
  stall_after = true,           -- command (EHLO|HELO|MAIL|RCPT|DATA|DOT|RSET|QUIT|STARTTLS):
                                --   never answer it nor anything after it
  stop_reading_in_data = true,  -- after the 354, stop reading for delay seconds (default:
                                --   for good); rcvbuf (default 4096) shrinks the socket buffer
  greeting_421 = true,          -- 421 instead of 220, then close
  rcpt_codes = true,            -- codes = {["addr"] = "452 4.2.2 Mailbox full", ...}
  data_end_code = true,         -- reply (default "554 5.7.1 Rejected") after the final dot
  drop_in_data = true,          -- bytes (default 1): close after that much message data;
                                --   reset = true sends a RST (SO_LINGER 0); after = N: in
                                --   the message after N delivered on the connection (default 0)
  extra_reply = true,           -- command (default "MAIL"): its first instance gets two
                                --   replies; reply = the second one (default: the same)
  enormous_reply = true,        -- size (default 1 MiB): EHLO reply of that many bytes
  endless_line = true,          -- command (default "EHLO", or "CONNECT" for the greeting),
                                --   size (default 1 MiB): one reply line without CRLF
  garbage = true,               -- command (default "EHLO", or "CONNECT"), size (default 512),
                                --   seed: random binary bytes instead of the reply
  no_esmtp = true,              -- 500 to EHLO; HELO works; no MAIL/RCPT parameters
  tls_bad_cert = true,          -- STARTTLS with the certificate servers.lua gives
                                --   (self-signed or signed for the wrong name)
  starttls_plain = true,        -- (with tls = true) 220 to STARTTLS, then no TLS: a
                                --   plain-text greeting again, as a broken proxy does
  max_messages = true,          -- n (default 1): 421 and close at the MAIL after n
                                --   transactions on one connection
  disconnect_after = true,      -- command: close without answering it
  slow_reply = true,            -- command, delay (s, default 2): wait before answering it
  idle_timeout = true,          -- idle (s, default 1): 421 4.4.2 and close after that
                                --   long without a command
  rcpt_codes_once = true,       -- codes as in rcpt_codes, each given only to the first RCPT
                                --   for its address (over all connections); later ones get 250
  connection_limit = true,      -- max (default 2) sessions at once, as an ISP relay allows;
                                --   one more is refused: refuse = "421" (default: "421 4.7.0
                                --   Too many connections", then close) or "close" (closed at
                                --   once, nothing said); events "session N" (N open, this one
                                --   included) and "refused"
  rate_limit = true,            -- rate (messages per second, default 10) over every
                                --   connection, burst (default: rate) at once: a token
                                --   bucket; at (MAIL|RCPT|DATA, default MAIL) beyond it gets
                                --   reply (default "451 4.7.1 Rate limit exceeded, try again
                                --   later"); event "rate_limited" for each
}


-- Arguments ------------------------------------------------------------

local function parse_args(argv)
  local a = { lifetime = 30 }
  local i = 1
  while i <= #argv do
    local k, v = argv[i], argv[i + 1]
    if k == "--scenario" then a.scenario = v
    elseif k == "--opts" then a.opts = v
    elseif k == "--log" then a.log = v
    elseif k == "--port-file" then a.port_file = v
    elseif k == "--lifetime" then a.lifetime = assert(tonumber(v), "--lifetime needs a number")
    else error("unknown argument: " .. tostring(k)) end
    i = i + 2
  end
  a.scenario = a.scenario or "normal"
  if not SCENARIOS[a.scenario] then error("unknown scenario: " .. a.scenario) end
  return a
end


local function load_opts(path)
  if not path then return {} end
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  local chunk = assert(load("return " .. text, "=opts", "t", {}))
  return chunk() or {}
end


local args = parse_args(arg)
local opts = load_opts(args.opts)
local scenario = args.scenario
local EOL = opts.eol or "\r\n"
local HOSTNAME = opts.hostname or "fault.test"
local deadline = socket.gettime() + args.lifetime


-- Log ------------------------------------------------------------------

local logf = io.stderr
if args.log then logf = assert(io.open(args.log, "ab")) end

local function escape(s)
  return (s:gsub("[%%%c\127-\255]", function(c) return string.format("%%%02X", c:byte()) end))
end


local function record(id, kind, payload)
  logf:write(id, " ", kind, " ", escape(payload or ""), "\n")
  logf:flush()
end


-- Scheduler: one coroutine per connection. A task waits by yielding
-- (mode, sock, wake): mode "r"/"w" waits for the socket, wake (absolute
-- time) bounds the wait; the task is resumed with "ready" or "timeout". --

local tasks = {}


local function wait(mode, sock, wake)
  return coroutine.yield(mode, sock, wake)
end


local function sleep(seconds)
  wait(nil, nil, socket.gettime() + seconds)
end


local function step(t, ...)
  local ok, mode, sock, wake = coroutine.resume(t.co, ...)
  if not ok then
    io.stderr:write("fault_smtp: task failed: ", debug.traceback(t.co, tostring(mode)), "\n")
    t.dead = true
  elseif coroutine.status(t.co) == "dead" then
    t.dead = true
  else
    t.mode, t.sock, t.wake = mode, sock, wake
  end
end


local function spawn(fn, ...)
  local t = { co = coroutine.create(fn) }
  tasks[#tasks + 1] = t
  step(t, ...)
end


-- Runs tasks until the lifetime ends or done() says so; on_accept is
-- called when the listening socket (if any) is readable.
local function run(listener, on_accept, done)
  while true do
    local now = socket.gettime()
    if now >= deadline then return "lifetime" end
    if done() then return "done" end
    local recvt, sendt, wake = {}, {}, deadline
    if listener() then recvt[#recvt + 1] = listener() end
    for _, t in ipairs(tasks) do
      if t.mode == "r" then recvt[#recvt + 1] = t.sock
      elseif t.mode == "w" then sendt[#sendt + 1] = t.sock end
      if t.wake and t.wake < wake then wake = t.wake end
    end
    local r, w = socket.select(recvt, sendt, math.max(0, wake - now))
    now = socket.gettime()
    local server = listener()
    if server and r[server] then on_accept(server) end
    local live = {}
    for _, t in ipairs(tasks) do
      if not t.dead then
        if (t.mode == "r" and r[t.sock]) or (t.mode == "w" and w[t.sock]) then
          step(t, "ready")
        elseif t.wake and now >= t.wake then
          step(t, "timeout")
        end
      end
      if not t.dead then live[#live + 1] = t end
    end
    tasks = live
  end
end


-- Connections ----------------------------------------------------------

local Conn = {}
Conn.__index = Conn


local function new_conn(id, sock)
  sock:settimeout(0)
  return setmetatable({ id = id, sock = sock, buf = "", pos = 1, eof = false }, Conn)
end


-- Reads what the socket has now (up to 512 KiB); returns true if anything
-- arrived or the peer closed.
function Conn:fill()
  local parts, got = {}, false
  for _ = 1, 64 do
    local data, err, partial = self.sock:receive(8192)
    local chunk = data or partial
    if chunk and #chunk > 0 then parts[#parts + 1] = chunk; got = true end
    if not data then
      if err ~= "timeout" and err ~= "wantread" and err ~= "wantwrite" then
        self.eof, got = true, true
      end
      break
    end
  end
  if #parts > 0 then
    self.buf = self.buf:sub(self.pos) .. table.concat(parts)
    self.pos = 1
  end
  return got
end


-- The next line as received, with its line ending (a last piece without
-- one when the peer closed); nil, "closed" or nil, "timeout" (wake).
function Conn:readline(wake)
  while true do
    local e = self.buf:find("\n", self.pos, true)
    if e then
      local line = self.buf:sub(self.pos, e)
      self.pos = e + 1
      return line
    end
    if #self.buf - self.pos + 1 >= MAX_LINE then
      local line = self.buf:sub(self.pos, self.pos + MAX_LINE - 1)
      self.pos = self.pos + MAX_LINE
      return line
    end
    if self.eof then
      if self.pos <= #self.buf then
        local line = self.buf:sub(self.pos)
        self.pos = #self.buf + 1
        return line
      end
      return nil, "closed"
    end
    if not self:fill() then
      if wait("r", self.sock, wake) == "timeout" then return nil, "timeout" end
    end
  end
end


-- Sends all of data, waiting while the peer does not read; true or nil, err.
-- Exactly n bytes (BDAT chunks); nil, "closed" when the peer closes first.
function Conn:readbytes(n)
  while #self.buf - self.pos + 1 < n do
    if self.eof then return nil, "closed" end
    if not self:fill() then wait("r", self.sock) end
  end
  local data = self.buf:sub(self.pos, self.pos + n - 1)
  self.pos = self.pos + n
  return data
end


function Conn:send(data)
  local i = 1
  while i <= #data do
    local last, err, partial = self.sock:send(data, i)
    if last then
      i = last + 1
    else
      if partial and partial >= i then i = partial + 1 end
      if err == "timeout" or err == "wantwrite" then wait("w", self.sock)
      elseif err == "wantread" then wait("r", self.sock)
      else return nil, err end
    end
  end
  return true
end


-- Sends one reply (a line or a list of lines) and logs it.
function Conn:reply(text)
  if type(text) == "table" then text = table.concat(text, EOL) end
  local wire = text .. EOL
  record(self.id, "S", #wire > LOG_REPLY_MAX and wire:sub(1, LOG_REPLY_MAX) or wire)
  return self:send(wire)
end


function Conn:close(reason)
  if self.closed then return end
  self.closed = true
  record(self.id, "close", reason)
  self.sock:close()
end


-- Reads and logs lines until the peer closes (or the lifetime ends);
-- never answers.
function Conn:drain()
  while true do
    local line = self:readline()
    if not line then return end
    record(self.id, "C", line)
  end
end


-- TLS ------------------------------------------------------------------

local ssl, tls_ctx
if opts.tls or opts.implicit_tls or scenario == "tls_bad_cert" then
  ssl = require "ssl"
  assert(opts.cert and opts.key, "TLS needs opts.cert and opts.key")
  tls_ctx = assert(ssl.newcontext({
    mode = "server",
    protocol = opts.tls_protocol or "any",
    key = opts.key,
    certificate = opts.cert,
    options = { "all" },
  }))
end


-- Runs the server side of a TLS handshake on conn; true or nil, err.
function Conn:handshake()
  local tls, err = ssl.wrap(self.sock, tls_ctx)
  if not tls then return nil, err end
  tls:settimeout(0)
  self.sock = tls
  local wake = socket.gettime() + 10
  while true do
    local ok, herr = tls:dohandshake()
    if ok then break end
    local mode = (herr == "wantread" and "r") or (herr == "wantwrite" and "w")
    if not mode then return nil, herr end
    if wait(mode, tls, wake) == "timeout" then return nil, "handshake timeout" end
  end
  local info = tls:info() or {}
  record(self.id, "tls", tostring(info.protocol) .. " " .. tostring(info.cipher))
  return true
end


-- The SMTP session -----------------------------------------------------

local function ok_code(text, first)
  local c = tostring(text):sub(1, 1)
  return c == "2" or (first ~= nil and c == first)
end


local function ehlo_lines(st, arg)
  if scenario == "enormous_reply" then
    local size = opts.size or 1024 * 1024
    local head = "250-" .. HOSTNAME .. " Hello " .. arg
    local tail = { "250-PIPELINING", "250-SIZE 1000000", "250-8BITMIME", "250 ENHANCEDSTATUSCODES" }
    local lines, total = { head }, #head + 2
    for _, l in ipairs(tail) do total = total + #l + 2 end
    local i = 0
    while total < size do
      i = i + 1
      local l = string.format("250-X-FILLER-%08d %s", i, string.rep("x", 60))
      lines[#lines + 1] = l
      total = total + #l + 2
    end
    for _, l in ipairs(tail) do lines[#lines + 1] = l end
    return lines
  end
  local lines = { "250-" .. HOSTNAME .. " Hello " .. arg, "250-PIPELINING", "250-SIZE 1000000",
    "250-8BITMIME" }
  if opts.chunking then lines[#lines + 1] = "250-CHUNKING" end
  if opts.oauth then lines[#lines + 1] = "250-AUTH XOAUTH2" end
  if tls_ctx and not st.tls then lines[#lines + 1] = "250-STARTTLS" end
  lines[#lines + 1] = "250 ENHANCEDSTATUSCODES"
  return lines
end


-- Random bytes that cannot be read as a reply (first byte >= 0x80).
local function garbage(size)
  math.randomseed(opts.seed or 42)
  local t = { string.char(math.random(128, 255)) }
  for i = 2, size do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end


-- Parses "FROM:<addr> PARAMS" / "TO:<addr> PARAMS" (word case-insensitive);
-- returns addr, params or nil.
local function path_arg(arg, word)
  if arg:sub(1, #word + 1):upper() ~= word .. ":" then return nil end
  local addr, params = arg:sub(#word + 2):match("^%s*<([^>]*)>%s*(.-)%s*$")
  return addr, params
end


-- Checks MAIL/RCPT parameters against what was advertised; returns an
-- error reply or nil.
local function check_params(st, params, allowed)
  if params == "" then return nil end
  if not st.esmtp then return "501 5.5.4 Syntax error in parameters (no ESMTP)" end
  for p in params:gmatch("%S+") do
    local key, value = p:match("^([^=]+)=?(.*)$")
    key = key:upper()
    if not allowed[key] then return "555 5.5.4 Unsupported option: " .. p end
    if key == "SIZE" and (tonumber(value) or math.huge) > 1000000 then
      return "552 5.3.4 Message size exceeds fixed maximum message size"
    end
    if key == "BODY" and value:upper() ~= "7BIT" and value:upper() ~= "8BITMIME" then
      return "501 5.5.4 Unsupported BODY value"
    end
  end
  return nil
end

local MAIL_PARAMS = { SIZE = true, BODY = true }
local RCPT_PARAMS = {}

-- Addresses that have had their reply from rcpt_codes_once.
local answered_once = {}

-- rate_limit's bucket: tokens, refilled at opts.rate per second.
local bucket = { tokens = opts.burst or opts.rate or 10, at = socket.gettime() }

-- Whether rate_limit lets one more message through now.
local function take_token()
  local rate = opts.rate or 10
  local now = socket.gettime()
  bucket.tokens = math.min(opts.burst or rate, bucket.tokens + (now - bucket.at) * rate)
  bucket.at = now
  if bucket.tokens < 1 then return false end
  bucket.tokens = bucket.tokens - 1
  return true
end


-- What a scenario does instead of (or before) the normal reply to verb
-- ("CONNECT" for the greeting, "DOT" for the end of data). Returns "done"
-- when it ended the session, else nil and the fixed reply from
-- opts.replies, if any.
local function inject(conn, verb)
  local want = opts.command and opts.command:upper()
  if scenario == "stall_after" and verb == want then
    record(conn.id, "event", "stall " .. verb)
    conn:drain()
    return "done"
  elseif scenario == "disconnect_after" and verb == want then
    record(conn.id, "event", "disconnect " .. verb)
    conn:close("disconnect_after " .. verb)
    return "done"
  elseif scenario == "slow_reply" and verb == want then
    record(conn.id, "event", "slow " .. verb)
    sleep(opts.delay or 2)
  elseif scenario == "endless_line" and verb == (want or "EHLO") then
    local code = verb == "CONNECT" and "220 " or "250 "
    record(conn.id, "event", "endless line " .. verb)
    conn:send(code .. string.rep("x", (opts.size or 1024 * 1024) - #code))
    conn:drain()
    return "done"
  elseif scenario == "garbage" and verb == (want or "EHLO") then
    record(conn.id, "event", "garbage " .. verb)
    conn:send(garbage(opts.size or 512))
    conn:drain()
    return "done"
  elseif scenario == "rate_limit" and verb == (opts.at or "MAIL"):upper() and not take_token() then
    record(conn.id, "event", "rate_limited")
    return nil, opts.reply or "451 4.7.1 Rate limit exceeded, try again later"
  end
  if verb ~= "CONNECT" and opts.replies and opts.replies[verb] then
    return nil, opts.replies[verb]
  end
  return nil
end


-- Answers verb with text, unless a scenario takes over; returns false when
-- the session is over, else true and the reply sent.
local function answer(conn, st, verb, text)
  local how, fixed = inject(conn, verb)
  if how == "done" then return false end
  text = fixed or text
  if not conn:reply(text) then return false end
  if scenario == "extra_reply" and not st.extra_done and verb == (opts.command or "MAIL"):upper() then
    st.extra_done = true
    record(conn.id, "event", "extra reply " .. verb)
    if not conn:reply(opts.reply or text) then return false end
  end
  return true, text
end


local function reset(st)
  st.mail, st.accepted = nil, 0
end


-- Receives the message after a 354; returns false when the session is over.
local function data_phase(conn, st)
  if scenario == "stop_reading_in_data" then
    record(conn.id, "event", "stop reading")
    if opts.delay then sleep(opts.delay) else wait(nil, nil, deadline + 1); return false end
    record(conn.id, "event", "reading again")
  end
  local bytes = 0
  while true do
    local line = conn:readline()
    if not line then return false end
    record(conn.id, "C", line)
    if line == ".\r\n" then break end           -- only CRLF.CRLF ends the data (RFC 5321)
    bytes = bytes + #line
    if scenario == "drop_in_data" and bytes >= (opts.bytes or 1) and st.transactions >= (opts.after or 0) then
      record(conn.id, "event", "drop after " .. bytes .. " bytes")
      if opts.reset then pcall(conn.sock.setoption, conn.sock, "linger", { on = true, timeout = 0 }) end
      conn:close("drop_in_data")
      return false
    end
  end
  local text = "250 2.0.0 Ok: queued as " .. string.format("%X%04X", conn.id, st.transactions + 1)
  if scenario == "data_end_code" then text = opts.reply or "554 5.7.1 Rejected" end
  local going, sent = answer(conn, st, "DOT", text)
  if not going then return false end
  if ok_code(sent) then st.transactions = st.transactions + 1 end
  reset(st)
  return true
end


-- One command line; returns false when the session is over.
local function command(conn, st, line)
  local text = line:gsub("\r?\n$", "")
  local verb, arg = text:match("^(%S+)%s?(.*)$")
  verb = (verb or ""):upper()
  arg = arg or ""

  if verb == "EHLO" then
    if scenario == "no_esmtp" then return answer(conn, st, verb, "500 Command unrecognized") end
    if arg == "" then return answer(conn, st, verb, "501 5.5.4 Syntax: EHLO hostname") end
    local going, sent = answer(conn, st, verb, ehlo_lines(st, arg))
    if going and ok_code(type(sent) == "table" and sent[1] or sent) then
      st.helo, st.esmtp = arg, true
      reset(st)
    end
    return going
  elseif verb == "HELO" then
    if arg == "" then return answer(conn, st, verb, "501 Syntax: HELO hostname") end
    local going, sent = answer(conn, st, verb, "250 " .. HOSTNAME)
    if going and ok_code(sent) then st.helo, st.esmtp = arg, false; reset(st) end
    return going
  elseif verb == "STARTTLS" then
    if not tls_ctx or not st.esmtp then return answer(conn, st, verb, "502 5.5.1 Error: command not implemented") end
    if st.tls then return answer(conn, st, verb, "554 5.5.1 Error: TLS already active") end
    local going, sent = answer(conn, st, verb, "220 2.0.0 Ready to start TLS")
    if not going or not sent:match("^220") then return going end
    if conn.pos <= #conn.buf then
      record(conn.id, "event", "discarded " .. (#conn.buf - conn.pos + 1) .. " plaintext bytes after STARTTLS")
      conn.buf, conn.pos = "", 1
    end
    if scenario == "starttls_plain" then
      conn:reply("220 " .. HOSTNAME .. " ESMTP still in plain text")
      return true
    end
    local ok, err = conn:handshake()
    if not ok then
      record(conn.id, "tls-error", tostring(err))
      conn:close("tls failed")
      return false
    end
    st.tls, st.helo, st.esmtp = true, nil, false
    reset(st)
    return true
  elseif verb == "MAIL" then
    if scenario == "max_messages" and st.transactions >= (opts.n or 1) then
      conn:reply("421 4.7.0 " .. HOSTNAME .. " Error: too many messages on one connection")
      conn:close("max_messages")
      return false
    end
    if not st.helo then return answer(conn, st, verb, "503 5.5.1 Error: send HELO/EHLO first") end
    if st.mail then return answer(conn, st, verb, "503 5.5.1 Error: nested MAIL command") end
    local addr, params = path_arg(arg, "FROM")
    if not addr then return answer(conn, st, verb, "501 5.5.4 Syntax: MAIL FROM:<address>") end
    local bad = check_params(st, params, MAIL_PARAMS)
    if bad then return answer(conn, st, verb, bad) end
    local going, sent = answer(conn, st, verb, "250 2.1.0 Ok")
    if going and ok_code(sent) then st.mail = addr end
    return going
  elseif verb == "RCPT" then
    if not st.mail then return answer(conn, st, verb, "503 5.5.1 Error: need MAIL command") end
    local addr, params = path_arg(arg, "TO")
    if not addr then return answer(conn, st, verb, "501 5.5.4 Syntax: RCPT TO:<address>") end
    local bad = check_params(st, params, RCPT_PARAMS)
    if bad then return answer(conn, st, verb, bad) end
    local reply = "250 2.1.5 Ok"
    if scenario == "rcpt_codes" and opts.codes then
      reply = opts.codes[addr] or opts.codes[addr:lower()] or reply
    end
    if scenario == "rcpt_codes_once" and opts.codes and not answered_once[addr:lower()] then
      local code = opts.codes[addr] or opts.codes[addr:lower()]
      if code then
        answered_once[addr:lower()] = true
        record(conn.id, "event", "once " .. addr)
        reply = code
      end
    end
    local going, sent = answer(conn, st, verb, reply)
    if going and ok_code(sent) then st.accepted = st.accepted + 1 end
    return going
  elseif verb == "DATA" then
    if arg ~= "" then return answer(conn, st, verb, "501 5.5.4 Syntax: DATA") end
    if not st.mail then return answer(conn, st, verb, "503 5.5.1 Error: need RCPT command") end
    if st.accepted == 0 then return answer(conn, st, verb, "554 5.5.1 Error: no valid recipients") end
    local going, sent = answer(conn, st, verb, "354 End data with <CR><LF>.<CR><LF>")
    if not going then return false end
    if sent:match("^354") then return data_phase(conn, st) end
    return true
  elseif verb == "AUTH" and opts.oauth then
    -- XOAUTH2 as Gmail and Microsoft 365 take it: a bad token gets 334
    -- with a JSON error, the client's empty line, then 535.
    local mech, initial = arg:match("^(%S+)%s*(%S*)$")
    if (mech or ""):upper() ~= "XOAUTH2" then return answer(conn, st, verb, "504 5.5.4 Unrecognized authentication type") end
    local decoded = (require("mime").unb64(initial or "")) or ""
    local user, token = decoded:match("^user=([^\1]*)\1auth=Bearer ([^\1]*)\1\1$")
    record(conn.id, "event", "auth XOAUTH2 " .. tostring(user))
    if user == opts.oauth.user and token == opts.oauth.token then
      st.login = user
      return answer(conn, st, verb, "235 2.7.0 Accepted")
    end
    local going = answer(conn, st, verb, "334 eyJzdGF0dXMiOiI0MDEifQ==")
    if not going then return false end
    local line = conn:readline()
    if not line then return false end
    record(conn.id, "C", line)
    return answer(conn, st, verb, "535 5.7.8 Username and Password not accepted")
  elseif verb == "BDAT" and opts.chunking then
    -- RFC 3030: the chunk is read whatever the state, then answered.
    local size, last = arg:match("^(%d+)%s*(%a*)%s*$")
    if not size then return answer(conn, st, verb, "501 5.5.4 Syntax: BDAT size [LAST]") end
    local data = conn:readbytes(tonumber(size))
    if not data then return false end
    for l in data:gmatch("[^\n]*\n?") do if l ~= "" then record(conn.id, "C", l) end end
    if not st.mail or st.accepted == 0 then
      reset(st)
      return answer(conn, st, verb, "554 5.5.1 Error: no valid recipients")
    end
    if last:upper() ~= "LAST" then return answer(conn, st, verb, "250 2.0.0 " .. size .. " bytes") end
    local text = "250 2.0.0 Ok: queued as " .. string.format("%X%04X", conn.id, st.transactions + 1)
    if scenario == "data_end_code" then text = opts.reply or "554 5.7.1 Rejected" end
    local going, sent = answer(conn, st, "DOT", text)
    if going and ok_code(sent) then st.transactions = st.transactions + 1 end
    reset(st)
    return going
  elseif verb == "RSET" then
    local going, sent = answer(conn, st, verb, "250 2.0.0 Ok")
    if going and ok_code(sent) then reset(st) end
    return going
  elseif verb == "NOOP" then
    return answer(conn, st, verb, "250 2.0.0 Ok")
  elseif verb == "VRFY" then
    return answer(conn, st, verb, "252 2.0.0 Cannot VRFY user")
  elseif verb == "QUIT" then
    local going = answer(conn, st, verb, "221 2.0.0 Bye")
    if going then conn:close("quit") end
    return false
  elseif verb == "" then
    return answer(conn, st, verb, "500 5.5.2 Error: bad syntax")
  end
  return answer(conn, st, verb, "502 5.5.2 Error: command not recognized")
end


-- Sessions of connection_limit open now.
local open_sessions = 0


-- connection_limit: the session, unless max are open already.
local function limited(conn, run_session)
  if open_sessions >= (opts.max or 2) then
    record(conn.id, "event", "refused")
    if opts.refuse == "close" then return conn:close("refused") end
    conn:reply("421 4.7.0 " .. HOSTNAME .. " Error: too many connections from " .. tostring(conn.sock:getpeername()))
    return conn:close("refused")
  end
  open_sessions = open_sessions + 1
  record(conn.id, "event", "session " .. open_sessions)
  local ok, err = pcall(run_session, conn)
  open_sessions = open_sessions - 1
  if not ok then error(err, 0) end
end


local function session(conn)
  local st = { transactions = 0, accepted = 0, tls = false, esmtp = false }
  if opts.implicit_tls then
    local ok, err = conn:handshake()
    if not ok then
      record(conn.id, "tls-error", tostring(err))
      return conn:close("tls failed")
    end
    st.tls = true
  end
  if scenario == "silent_greeting" then
    record(conn.id, "event", "silent")
    conn:drain()
    return conn:close("peer closed")
  elseif scenario == "slow_greeting" then
    record(conn.id, "event", "slow greeting")
    sleep(opts.delay or 5)
  elseif scenario == "greeting_421" then
    conn:reply("421 4.3.2 " .. HOSTNAME .. " Service not available, closing transmission channel")
    return conn:close("greeting_421")
  end
  if inject(conn, "CONNECT") == "done" then return conn:close("peer closed") end
  if not conn:reply(opts.greeting or ("220 " .. HOSTNAME .. " ESMTP fault_smtp")) then
    return conn:close("send failed")
  end
  while true do
    local wake = scenario == "idle_timeout" and socket.gettime() + (opts.idle or 1) or nil
    local line, err = conn:readline(wake)
    if not line then
      if err == "timeout" then
        conn:reply("421 4.4.2 " .. HOSTNAME .. " Error: timeout exceeded")
        return conn:close("idle timeout")
      end
      return conn:close("peer closed")
    end
    record(conn.id, "C", line)
    if not command(conn, st, line) then return conn:close("session over") end
  end
end


-- Main -----------------------------------------------------------------

local server = assert(socket.tcp4())
assert(server:setoption("reuseaddr", true))
if scenario == "stop_reading_in_data" then
  -- inherited by accepted sockets, so the client's writes block soon
  server:setoption("recv-buffer-size", opts.rcvbuf or 4096)
end
assert(server:bind(HOST, 0))
assert(server:listen(64))
server:settimeout(0)
local _, port = server:getsockname()

if args.port_file then
  local tmp = args.port_file .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(port, "\n")
  f:close()
  assert(os.rename(tmp, args.port_file))
else
  io.stdout:write("port ", port, "\n")
  io.stdout:flush()
end
record(0, "listen", HOST .. ":" .. port .. " " .. scenario)

local accepted = 0
local limit = opts.connections

local function on_accept(s)
  local c = s:accept()
  if not c then return end
  accepted = accepted + 1
  local peer_ip, peer_port = c:getpeername()
  record(accepted, "accept", tostring(peer_ip) .. ":" .. tostring(peer_port))
  if scenario == "connection_limit" then spawn(limited, new_conn(accepted, c), session)
  else spawn(session, new_conn(accepted, c)) end
  if limit and accepted >= limit then
    server:close()
    server = nil
  end
end

local reason = run(function() return server end, on_accept, function()
  return limit and accepted >= limit and #tasks == 0
end)
record(0, "exit", reason)
if server then server:close() end
os.exit(0, true)
