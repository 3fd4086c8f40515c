-- Messages per second for a personalised campaign message: text + HTML,
-- a 100 KB inline image and a 1 MB PDF attachment, each with its own
-- recipient name and subject. mailcast (parts cache on, then off) against
-- Python's email.message.EmailMessage (encoding every part again, or
-- reusing parts it made once) and LuaSocket's smtp.message, in
-- interleaved rounds ($MAILCAST_BENCH_ROUNDS, 3), each output checked
-- once. Run it through bench/mime:
--
--   bench/mime [N]     N messages for mailcast (default 2000 or
--                      $MAILCAST_BENCH_N); the slower contenders do N/10
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")
local recipient, shell_quote, write_file, read_file, find_leaf =
  common.recipient, common.shell_quote, common.write_file, common.read_file, common.find_leaf
local NAMES = common.NAMES

local ok_socket, socket = pcall(require, "socket")

-- Wall-clock seconds; CPU seconds (same thing for this single-threaded
-- loop) when LuaSocket is missing.
local now = ok_socket and socket.gettime or os.clock

local here = arg[0]:match("^(.*)/") or "."
local N = math.tointeger(tonumber(arg[1] or os.getenv("MAILCAST_BENCH_N") or 2000))
assert(N and N > 0, "bench/mime: N must be a positive integer")
local MIN_SECONDS = tonumber(os.getenv("MAILCAST_BENCH_SECONDS") or 2)
local SLOW_N = math.max(10, N // 10)
local ROUNDS = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_ROUNDS") or 3))
local PYTHON = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
local LUA = os.getenv("MAILCAST_BENCH_LUA") or "lua5.4"

local IMAGE_BYTES = 100 * 1024
local PDF_BYTES = 1024 * 1024

-- The same names, bodies and subject for every contender: they read them
-- from the fixture directory and substitute {{name}}.
local TEXT = [[
Hello {{name}},

our November newsletter is here. This month: the new autumn catalogue
(attached as a PDF), opening hours over the holidays, and the winners of
the photo competition.

Catalogue: thirty-two pages of new products, with prices valid until the
end of January. Orders placed before 15 December arrive before Christmas.

Opening hours: Monday to Friday 9:00 to 18:00, Saturday 10:00 to 16:00.
We are closed on 25 and 26 December and on 1 January.

Photo competition: thank you to everyone who sent pictures. The winning
entries are on our website, and the winners have been told by mail.

You receive this mail because you subscribed at example.com with this
address. To stop receiving it, follow the link at the end of the HTML
version or reply with "unsubscribe".

Kind regards,
The Example team
]]

local HTML = [[
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>November news</title>
<style>body{font-family:Helvetica,Arial,sans-serif;color:#222}
h1{font-size:22px}.box{border:1px solid #ddd;padding:12px;margin:12px 0}</style>
</head><body>
<p><img src="cid:logo@example.com" alt="Example" width="160" height="48"></p>
<h1>Hello {{name}},</h1>
<p>our November newsletter is here. This month: the new autumn catalogue
(attached as a PDF), opening hours over the holidays, and the winners of
the photo competition.</p>
<div class="box"><h2>Catalogue</h2><p>Thirty-two pages of new products, with
prices valid until the end of January. Orders placed before 15 December
arrive before Christmas.</p></div>
<div class="box"><h2>Opening hours</h2><p>Monday to Friday 9:00 to 18:00,
Saturday 10:00 to 16:00. We are closed on 25 and 26 December and on
1 January.</p></div>
<div class="box"><h2>Photo competition</h2><p>Thank you to everyone who sent
pictures. The winning entries are <a href="https://example.com/photos">on our
website</a>, and the winners have been told by mail.</p></div>
<p style="font-size:12px;color:#777">You receive this mail because you
subscribed at example.com with this address.
<a href="https://example.com/unsubscribe">Unsubscribe</a>.</p>
<p>Kind regards,<br>The Example team</p>
</body></html>
]]

local FROM_NAME, FROM_ADDR = "Example News", "news@example.com"
local CID = "logo@example.com"


local function random_bytes(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local data = f:read(n)
  f:close()
  assert(data and #data == n, "cannot read /dev/urandom")
  return data
end


-- The fixture directory: random "PNG" and "PDF" bytes, bodies, names.
local function make_fixtures()
  local p = assert(io.popen("mktemp -d /tmp/mailcast-bench.XXXXXX"))
  local dir = p:read("l")
  p:close()
  assert(dir and dir ~= "", "mktemp failed")
  local fx = { dir = dir, png = random_bytes(IMAGE_BYTES), pdf = random_bytes(PDF_BYTES) }
  write_file(dir .. "/logo.png", fx.png)
  write_file(dir .. "/brochure.pdf", fx.pdf)
  write_file(dir .. "/text.txt", TEXT)
  write_file(dir .. "/body.html", HTML)
  write_file(dir .. "/names.txt", table.concat(NAMES, "\n") .. "\n")
  return fx
end


--- Runs mailcast.message for at least count messages and MIN_SECONDS.
-- cache: a parts cache or false. Returns messages, seconds, first message.
local function run_mailcast(fx, count, cache)
  local logo = { path = fx.dir .. "/logo.png", cid = CID }
  local pdf = { path = fx.dir .. "/brochure.pdf" }
  local from = { name = FROM_NAME, address = FROM_ADDR }
  local first
  local i = 0
  local t0 = now()
  local elapsed = 0
  repeat
    local name, email, subject = recipient(i)
    local raw, err = mailcast.message{
      from = from,
      to = { name = name, address = email },
      subject = subject,
      text = (TEXT:gsub("{{name}}", name)),
      html = (HTML:gsub("{{name}}", name)),
      inline = { logo },
      attachments = { pdf },
      cache = cache,
    }
    if not raw then error("mailcast.message: " .. tostring(err)) end
    first = first or raw
    i = i + 1
    elapsed = now() - t0
  until i >= count and elapsed >= MIN_SECONDS
  return i, elapsed, first
end


--- Runs an outside contender; it prints "messages=M seconds=S" and writes
-- its first message to dir/NAME.eml. Returns messages, seconds, first
-- message | nil, why.
local function run_outside(fx, label, command)
  local p = io.popen(command .. " 2>&1")
  local out = p:read("a")
  p:close()
  local m, s = out:match("messages=(%d+) seconds=([%d.]+)")
  if not m then
    return nil, "no result: " .. out:gsub("%s+$", ""):gsub("\n", "\n    ")
  end
  return tonumber(m), tonumber(s), read_file(fx.dir .. "/" .. label .. ".eml")
end


-- "multipart/mixed(multipart/alternative(text/plain,...),application/pdf)"
local function shape(entity)
  local kids = {}
  for i, part in ipairs(entity.parts or {}) do kids[i] = shape(part) end
  local ct = (entity.content_type or "?"):lower()
  if #kids == 0 then return ct end
  return ct .. "(" .. table.concat(kids, ",") .. ")"
end


local EXPECTED_SHAPE = "multipart/mixed(multipart/alternative(text/plain,"
  .. "multipart/related(text/html,image/png)),application/pdf)"

--- Checks a contender's first message: size, boundaries, structure, and
-- that the image, the PDF, the name and the subject survive. Returns a
-- short description | nil, what is wrong.
local function check(raw, fx)
  if not raw then return nil, "no message written" end
  local size = #raw
  local expected = (IMAGE_BYTES + PDF_BYTES) * 4 / 3 * 78 / 76
  if size < expected or size > expected * 1.1 then
    return nil, string.format("%d bytes, expected about %.0f", size, expected)
  end
  local boundaries = 0
  for b in raw:gmatch('[Bb][Oo][Uu][Nn][Dd][Aa][Rr][Yy]="?([^"\r\n;]+)') do
    boundaries = boundaries + 1
    local delimiters = select(2, raw:gsub("\n%-%-" .. b:gsub("%p", "%%%0") .. "\r?\n", ""))
    if delimiters < 2 or not raw:find("\n--" .. b .. "--", 1, true) then
      return nil, "boundary " .. b .. " not used as a delimiter"
    end
  end
  if boundaries ~= 3 then return nil, boundaries .. " boundaries, expected 3" end
  local ok, msg = pcall(mailcast.parse, raw)
  if not ok or type(msg) ~= "table" then return nil, "does not parse: " .. tostring(msg) end
  if shape(msg) ~= EXPECTED_SHAPE then return nil, "structure " .. shape(msg) end
  local name, email, subject = recipient(0)
  if (msg.header.subject or "") ~= subject then
    return nil, "subject decodes to " .. tostring(msg.header.subject)
  end
  if not (msg.header.to or ""):find(email, 1, true) then return nil, "To has no " .. email end
  local png, pdf = find_leaf(msg, "image/png"), find_leaf(msg, "application/pdf")
  if png.body ~= fx.png then return nil, "image does not decode to the original" end
  if pdf.body ~= fx.pdf then return nil, "PDF does not decode to the original" end
  for _, ct in ipairs{ "text/plain", "text/html" } do
    local body = find_leaf(msg, ct).body or ""
    if not body:find("Hello " .. name, 1, true) then return nil, ct .. " lost the name" end
  end
  return string.format("%d bytes, 3 boundaries, image and PDF decode to the originals", size)
end


local function main()
  local fx = make_fixtures()
  local q = shell_quote(fx.dir)
  print(string.format("bench/mime: personalised messages (text + HTML + %d KB inline image "
    .. "+ %d MB PDF), N = %d", IMAGE_BYTES // 1024, PDF_BYTES // (1024 * 1024), N))
  print(string.format("each contender: at least its count of messages and %g s; fixtures in %s",
    MIN_SECONDS, fx.dir))
  print()

  local rows = {}
  -- messages, seconds, first message | nil, why
  local function add(label, messages, seconds, first)
    local row = { label = label, messages = messages, seconds = seconds }
    if messages then
      local desc, err = check(first, fx)
      row.ok, row.check = desc ~= nil, desc or err
      row.rate = messages / seconds
      row.mbps = first and #first * row.rate / 1e6
    else
      row.ok, row.check = false, seconds
    end
    rows[label] = row
    rows[#rows + 1] = row
    io.stdout:write(string.format("  %-10s %s\n", label,
      row.rate and string.format("%.1f msg/s", row.rate) or "failed"))
    io.stdout:flush()
  end

  -- An error in a contender fails its row, not the run (and the fixtures
  -- are still removed).
  local function attempt(f, ...)
    local r = table.pack(pcall(f, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    return nil, tostring(r[2])
  end

  local cache = mailcast.parts()
  local py = string.format("%s %s %s %d %g", PYTHON, shell_quote(here .. "/mime_python.py"),
                           q, SLOW_N, MIN_SECONDS)
  local ls = string.format("%s %s %s %d %g", LUA, shell_quote(here .. "/mime_luasocket.lua"),
                           q, SLOW_N, MIN_SECONDS)
  local contenders = {
    { "mailcast", function() return attempt(run_mailcast, fx, N, cache) end },
    { "nocache", function() return attempt(run_mailcast, fx, SLOW_N, false) end },
    { "python", function() return run_outside(fx, "python", py) end },
    { "pycached", function() return run_outside(fx, "python_cached", py .. " cached") end },
    { "luasocket", function() return run_outside(fx, "luasocket", ls) end },
  }
  -- Rounds interleaved, each contender once a round; a contender's row is
  -- its best round (its first message is checked).
  local best = {}
  for round = 1, ROUNDS do
    print(string.format("round %d of %d:", round, ROUNDS))
    for _, c in ipairs(contenders) do
      local messages, seconds, first = c[2]()
      collectgarbage()
      local b = best[c[1]] or {}
      best[c[1]] = b
      b.first = b.first or (messages and first)
      if messages and (not b.messages or messages / seconds > b.messages / b.seconds) then
        b.messages, b.seconds = messages, seconds
      elseif not messages and not b.messages then
        b.why = seconds   -- what failed, while no round has worked
      end
      io.stdout:write(string.format("  %-10s %s\n", c[1],
        messages and string.format("%.1f msg/s", messages / seconds) or "failed"))
      io.stdout:flush()
    end
  end
  print("\nbest round of each:")
  for _, c in ipairs(contenders) do
    local b = best[c[1]]
    if b.messages then add(c[1], b.messages, b.seconds, b.first) else add(c[1], nil, b.why) end
  end
  os.execute("rm -rf " .. q)
  print()

  local titles = {
    mailcast = "mailcast.message, parts cache",
    nocache = "mailcast.message, cache=false",
    python = "Python email.message.EmailMessage",
    pycached = "Python EmailMessage, parts made once",
    luasocket = "LuaSocket smtp.message + mime",
  }
  print(string.format("%-36s %9s %8s %10s %9s", "contender", "messages", "seconds", "msg/s", "MB/s out"))
  for _, row in ipairs(rows) do
    if row.rate then
      print(string.format("%-36s %9d %8.2f %10.1f %9.1f", titles[row.label], row.messages,
                          row.seconds, row.rate, row.mbps))
    else
      print(string.format("%-36s %9s", titles[row.label], "failed"))
    end
  end
  print()
  print("output checks (first message of each):")
  local broken = false
  for _, row in ipairs(rows) do
    print(string.format("  %-10s %s: %s", row.label, row.ok and "ok" or "FAILED", row.check))
    broken = broken or not row.ok
  end
  print()

  local function ratio(a, b, label, target) common.ratio(rows, a, b, label, target, 34) end
  ratio("mailcast", "python", "mailcast / Python", 20)
  ratio("mailcast", "pycached", "mailcast / Python, parts made once")
  ratio("mailcast", "luasocket", "mailcast / LuaSocket")
  ratio("nocache", "python", "mailcast cache=false / Python")
  ratio("nocache", "luasocket", "mailcast cache=false / LuaSocket")
  ratio("mailcast", "nocache", "parts cache on / off")
  print(string.format("\nparts cache: %d encodings, %d reuses", cache.misses, cache.hits))
  return broken and 1 or 0
end

return main()
