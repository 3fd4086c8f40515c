-- mailcast: scriptable bulk mail. The C core (mailcast.core) does the
-- work; this module gives it the shape users call.
local core = require "mailcast.core"
local schema = require "mailcast.schema"
local config = require "mailcast.config"

local M = {}

M.version = core.version

local parts = require "mailcast.parts"
local assemble = require "mailcast.assemble"
local hooks = require "mailcast.hooks"

--- Base64: mailcast.b64(s) or .encode(s [, wrap]) and .decode(s).
-- wrap = true gives 76-character lines ended by CRLF (RFC 2045).
M.b64 = setmetatable({
  encode = core.b64_encode,
  decode = core.b64_decode,
}, { __call = function(_, s, wrap) return core.b64_encode(s, wrap) end })

--- Quoted-printable: mailcast.qp(s) or .encode(s [, binary]) and .decode(s).
-- Text mode makes every line break CRLF; binary mode keeps every byte.
M.qp = setmetatable({
  encode = core.qp_encode,
  decode = core.qp_decode,
}, { __call = function(_, s, binary) return core.qp_encode(s, binary) end })

--- encode_header(name, value) -> "Name: value" folded at 78 columns with
-- RFC 2047 encoded-words where needed | nil, message.
M.encode_header = core.encode_header

--- decode_header(value) -> value with its encoded-words decoded to UTF-8.
M.decode_header = core.decode_header

--- utf8_valid(s) -> true | false, position of the first bad byte.
M.utf8_valid = core.utf8_valid

--- parse(raw) -> a tree of the message (see README).
M.parse = core.parse

--- part{path= | data=, filename=, content_type=, ...} -> Part | nil, message.
-- A Part is encoded once and can go into any number of messages. Its
-- keys are checked (mailcast.config.PART_TABLE); its values are the C
-- side's, which returns nil and a message for bad data.
function M.part(t)
  if type(t) == "table" then schema.check_keys(config.PART_TABLE, t, "mailcast.part") end
  return core.part(t)
end

--- parts([opts]) -> a new cache of encoded parts (one per campaign).
M.parts = parts.new

local smtp = require "mailcast.smtp"

--- route{host=, port=, tls=, user=, password=, ...} -> Route | nil, message.
-- tls: "none", "opportunistic" (default), "required", "verify" (default
-- when user is set); implicit_tls = true for port 465. See README; the
-- table is checked against mailcast.config.SMTP_ROUTE.
function M.route(t)
  if type(t) == "table" then t = schema.check(config.SMTP_ROUTE, t, "mailcast.route") end
  return core.route(t)
end

--- session(route) -> Session (connected, EHLO, TLS and AUTH done) | nil,
-- message, code. Methods: mail, rcpt, data, rset, noop, command, quit,
-- extensions, tls, auth; each returns {code=, enhanced=, text=} | nil, message.
function M.session(route, ...)
  if type(route) == "table" then route = schema.check(config.SMTP_ROUTE, route, "mailcast.session route") end
  return core.session(route, ...)
end

--- send(route, messages [, opts]) -> results, state | nil, message.
-- The route (a table), each entry of messages and opts are checked
-- against mailcast.config's SEND_ROUTE, SEND_ENTRY and SEND_OPTIONS
-- (LIMITS and trace, a function told each line of every session:
-- mailcast.smtp.tracer).
function M.send(route, messages, opts)
  if type(route) == "table" then route = schema.check(config.SEND_ROUTE, route, "mailcast.send route") end
  if type(messages) ~= "table" then
    schema.fail("mailcast.send", "messages must be a list of {message=, from=, to=}, not " .. type(messages))
  end
  for i, entry in ipairs(messages) do
    if type(entry) == "table" then
      schema.check_keys(config.SEND_ENTRY, entry, string.format("mailcast.send messages[%d]", i))
    end
  end
  if opts ~= nil then opts = schema.check(config.SEND_OPTIONS, opts, "mailcast.send options") end
  -- In a hook of the engine: sent by the engine, which goes on with its
  -- other work meanwhile (mailcast.hooks); the messages are built here.
  if hooks.can_wait() then
    local plan = smtp.prepare(messages, opts, M.build)
    local sent, state, wrong = hooks.wait("send", route, plan.jobs, plan.opts)
    if not sent then
      smtp.finish(plan)
      if wrong then error(state, 2) end
      return nil, state
    end
    return smtp.finish(plan, sent), smtp.traced(plan, state)
  end
  return smtp.send(route, messages, opts, M.build)
end

--- smtp.send{...}: LuaSocket's socket.smtp.send with the same arguments.
M.smtp = { send = smtp.compat_send }

--- mx(domain [, {server = "host:port", timeout = s, tries = n}]) -> {status =
-- "ok"|"null_mx"|"no_domain"|"no_address"|"temporary", implicit=, error=,
-- hosts = {{name=, preference=, addresses={...}}...}} | nil, message.
function M.mx(domain, opts)
  if opts ~= nil then opts = schema.check(config.MX_OPTIONS, opts, "mailcast.mx options") end
  -- In a hook of the engine: asked on the engine's loop, which goes on
  -- with other work meanwhile (mailcast.hooks).
  if hooks.can_wait() then
    if type(domain) ~= "string" then error("mailcast.mx: domain must be a string", 2) end
    return hooks.wait("mx", domain, opts)
  end
  return core.mx(domain, opts)
end

--- store(path) -> Store | nil, message: the campaign store (SQLite, WAL):
-- campaign, add, begin/commit, claim, finish, recover, counts, suppress,
-- unsuppress, suppressed, close.
M.store = core.store

--- addresses(s) -> {{name=, address=}...} | nil, message.
M.addresses = core.addresses

M.csv = require "mailcast.csv"
M.template = require "mailcast.template"
M.track = require "mailcast.track"
M.dkim = require "mailcast.dkim"
M.bounce = require "mailcast.bounce"
M.bounces = require "mailcast.bounces"

--- campaign{...} -> a campaign; campaign:run{store=, dry_run=, quiet=}
-- (see mailcast/campaign.lua). Loaded on first use: it needs M itself.
function M.campaign(t)
  return require("mailcast.campaign").new(t)
end

--- segment{campaign=, delivered=, opened=, clicked=, failed=, reason=,
-- machine_opens=, store=} -> a campaign's recipients made of an earlier
-- campaign's (see mailcast/segment.lua).
function M.segment(t)
  return require("mailcast.segment").new(t)
end

-- The keys of a message's parts (tables; a Part is as it is).
local function check_part_keys(list, what)
  if type(list) ~= "table" then return end
  for i, spec in ipairs(list) do
    if type(spec) == "table" then schema.check_keys(config.PART_TABLE, spec, string.format("%s[%d]", what, i)) end
  end
end

--- build(t) -> mailcast.Message | nil, message
-- t: from, to, cc, reply_to, subject, headers, text, html, inline,
-- attachments, message_id, date, allow_8bit, html_file (a web page sent
-- as it is: mailcast.page), base_url, embed_remote, and cache (a parts cache,
-- or false to encode every part afresh). Bad data (an address, a CR in
-- a header value) is returned as an error naming the field.
function M.build(t)
  schema.check_keys(config.MESSAGE, t, "message")
  check_part_keys(t.inline, "message inline")
  check_part_keys(t.attachments, "message attachments")
  if t.html_file ~= nil or t.base_url ~= nil or t.embed_remote ~= nil then
    t = schema.check(config.MESSAGE, t, "message")
    if t.html_file == nil then return nil, "base_url and embed_remote go with html_file" end
    -- The page is the script's, as a campaign's files are.
    local dir = require("mailcast.script_paths").dir() or ""
    local path = t.html_file:sub(1, 1) == "/" and t.html_file or dir .. t.html_file
    local err
    t, err = require("mailcast.page").for_message(t, path)
    if not t then return nil, err end
  end
  return assemble(t)
end

--- message(t) -> the message as a string | nil, message
function M.message(t)
  local msg, err = M.build(t)
  if not msg then return nil, err end
  local raw, werr = msg:tostring()
  msg:close()
  return raw, werr
end

--- write_message(t, sink) -> true | nil, message
-- sink: an open file, or an ltn12 sink (called with each chunk, then nil).
-- Attachments marked stream = true are encoded from their file on the way.
function M.write_message(t, sink)
  local msg, err = M.build(t)
  if not msg then return nil, err end
  local ok, werr = msg:write(sink)
  msg:close()
  return ok, werr
end

-- The functions a script calls with a table it wrote are entered
-- through C (core.entry): a call in tail position (`return
-- mailcast.campaign{...}`) then keeps the script's frame, and an error
-- about the table names the script's line (mailcast.schema.where).
for _, name in ipairs { "campaign", "segment", "route", "session", "send", "mx", "part", "build", "message", "write_message" } do
  M[name] = core.entry(M[name])
end

return M
