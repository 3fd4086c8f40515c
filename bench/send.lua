-- Messages per second over SMTP: mailcast.send (prebuilt messages, and
-- messages built per recipient) against Postfix's smtp-source, Python's
-- smtplib (building with EmailMessage, and sending prebuilt bytes) and
-- LuaSocket's smtp.send, all to the same local Postfix smtp-sink, in one
-- run; then mailcast.send against smtp-source (plain) and smtplib with
-- starttls() (10 threads) to a real Postfix smtpd in front of that sink,
-- when bench/send could start one. Each contender first sends a few messages to a second sink that
-- stores them, and they are checked; then the timed run goes to the
-- counting sink, whose counts must match what the contender says it sent.
-- Run it through bench/send, which starts and stops the sinks:
--
--   bench/send [N]    N messages for mailcast and smtp-source (default
--                     20000 or $MAILCAST_BENCH_N); Python at least N/10,
--                     LuaSocket N/100
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")
local recipient, shell_quote, write_file, read_file =
  common.recipient, common.shell_quote, common.write_file, common.read_file
local vm, reset_peak, cpus, wait_listening, attempt =
  common.vm, common.reset_peak, common.cpus, common.wait_listening, common.attempt
local counted_round, print_round = common.counted_round, common.print_round
local run_rounds, print_results = common.run_rounds, common.print_results
local send_list, all_sent, send_batches = common.send_list, common.all_sent, common.send_batches
local NAMES = common.NAMES
local socket = require "socket"

local here = arg[0]:match("^(.*)/") or "."
local DIR, PORT, CHECK_PORT = arg[1], tonumber(arg[2]), tonumber(arg[3])
assert(DIR and PORT and CHECK_PORT, "bench/send.lua: run it through bench/send")
local N = math.tointeger(tonumber(arg[4] or os.getenv("MAILCAST_BENCH_N") or 20000))
assert(N and N > 0, "bench/send: N must be a positive integer")
local MIN_SECONDS = tonumber(os.getenv("MAILCAST_BENCH_SECONDS") or 2)
local BATCH = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_BATCH") or 1000))
assert(BATCH and BATCH > 0, "bench/send: MAILCAST_BENCH_BATCH must be a positive integer")
local ROUNDS = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_ROUNDS") or 3))
assert(ROUNDS and ROUNDS > 0, "bench/send: MAILCAST_BENCH_ROUNDS must be a positive integer")
local PYTHON = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
local LUA = os.getenv("MAILCAST_BENCH_LUA") or "lua5.4"
local SOURCE = "/usr/sbin/smtp-source"
local RUNNER = "build/bin/mailcast"   -- bench/send runs this from the project's root

local CONNECTIONS = 10
-- The Postfix smtpd in front of each sink (bench/send), when there is one.
local PF_PORT = tonumber(os.getenv("MAILCAST_BENCH_POSTFIX_PORT") or "")
local PF_CHECK_PORT = tonumber(os.getenv("MAILCAST_BENCH_POSTFIX_CHECK_PORT") or "")
-- A real Exim (spec/support/exim_smtpd.sh --queue-only, started by
-- bench/send around this script when it can run): the same rows as the
-- Postfix smtpd's, counted from Exim's log.
local EXIM_PORT = tonumber(os.getenv("MC_EXIM_PORT") or "")
local EXIM_LOG, EXIM_SPOOL = os.getenv("MC_EXIM_LOG"), os.getenv("MC_EXIM_SPOOL")
local PF_N = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_POSTFIX_N") or math.max(100, N // 4)))
assert(PF_N and PF_N > 0, "bench/send: MAILCAST_BENCH_POSTFIX_N must be a positive integer")
local PY_N = math.max(100, N // 10)
local LS_N = math.max(20, N // 100)
local CHECK_N = 3           -- messages per contender stored and checked
local PAYLOAD = 5000        -- smtp-source -l: body bytes, without headers
local HOST = "127.0.0.1"    -- never anything else

local now = socket.gettime

-- The newsletter (bench/newsletter.lua): text and HTML alternatives of
-- about 5 KB once built, the recipient's name in both; a line of the text
-- starts with a dot, for dot-stuffing.
local NEWSLETTER = dofile("bench/newsletter.lua")
local FROM_ADDR = NEWSLETTER.from.address
local SINK_LOG = DIR .. "/sink.log"   -- the counting sink's counts


-- The table mailcast.message builds recipient i's message from.
local function campaign_message(i)
  local name, address, subject = recipient(i)
  return {
    from = NEWSLETTER.from,
    to = { name = name, address = address },
    subject = subject,
    text = (NEWSLETTER.text:gsub("{{name}}", name)),
    html = (NEWSLETTER.html:gsub("{{name}}", name)),
  }
end


-- ---- the contenders: (port, count) -> messages, seconds, peak kB | nil, why

local function route_for(port)
  return { host = HOST, port = port, tls = "none" }
end


--- (a) mailcast.send of one prebuilt message to each recipient, over
-- CONNECTIONS reused connections.
local function mailcast_prebuilt(raw)
  return function(port, count)
    local t0 = now()
    local list = {}
    for i = 1, count do
      local address = string.format("reader%d@example.org", i - 1)
      list[i] = { from = FROM_ADDR, to = { address }, message = raw }
    end
    local results, state = send_list(route_for(port), list, CONNECTIONS)
    local seconds = now() - t0
    local ok, err = all_sent(results, state, count)
    if not ok then return nil, err end
    return count, seconds
  end
end


--- (a2) What a campaign does: each recipient's message built with
-- mailcast.message, BATCH at a time, each batch handed to mailcast.send.
local function mailcast_building(port, count)
  local route = mailcast.route(route_for(port))
  local t0 = now()
  local ok, err = send_batches(route, count, BATCH, CONNECTIONS, FROM_ADDR, function(i)
    local raw, why = mailcast.message(campaign_message(i))
    if not raw then return nil, "mailcast.message: " .. tostring(why) end
    local _, address = recipient(i)
    return raw, address
  end)
  if not ok then return nil, err end
  return count, now() - t0
end


-- Runs a command that prints "messages=M seconds=S [peak_kb=K]".
local function run_outside(command)
  local p = io.popen(command .. " 2>&1")
  local out = p:read("a")
  p:close()
  local m, s = out:match("messages=(%d+) seconds=([%d.]+)")
  if not m then
    out = out:gsub("%s+$", ""):gsub("\n", "\n    ")
    return nil, "no result: " .. (out ~= "" and out or "no output")
  end
  return tonumber(m), tonumber(s), tonumber(out:match("peak_kb=(%d+)"))
end


--- (b) Postfix's smtp-source: `sessions` parallel sessions, each sending
-- message after message over its connection (-d), no pipelining.
-- distinct: a recipient of its own for each message (-N), as mailcast's
-- rows have; an SMTP server resolves each new one (a sink does not care).
local function smtp_source(distinct)
  return function(port, count)
    local sessions = math.min(CONNECTIONS, count)
    local cmd = string.format("%s -d%s -s %d -m %d -l %d -M localhost -f %s -t reader@example.org %s:%d",
                              SOURCE, distinct and " -N" or "", sessions, count, PAYLOAD, FROM_ADDR, HOST, port)
    local t0 = now()
    local p = io.popen(cmd .. " 2>&1")
    local out = p:read("a")
    local ok = p:close()
    local seconds = now() - t0
    if not ok then return nil, "smtp-source failed: " .. out:gsub("%s+$", "") end
    return count, seconds
  end
end


--- (c) and (d) Python's smtplib over one connection: "build" makes an
-- EmailMessage per recipient, "prebuilt" sends the prebuilt bytes.
local function python(mode)
  return function(port, count, min_seconds)
    return run_outside(string.format("%s %s %s %s %d %d %g", PYTHON,
      shell_quote(here .. "/send_python.py"), mode, shell_quote(DIR), port, count, min_seconds or 0))
  end
end


--- (a3) mailcast_prebuilt's send in a runner of its own
-- (bench/send_smtpd.lua): OpenSSL and these rows' buffers stay out of
-- this process's peak memory, which the other rows are measured by.
local function mailcast_outside(tls)
  return function(port, count)
    return run_outside(string.format("%s run %s %s %d %d %s %d", RUNNER, shell_quote(here .. "/send_smtpd.lua"),
      shell_quote(DIR), port, count, tls, CONNECTIONS))
  end
end


--- (c2) smtplib with starttls(), CONNECTIONS threads each with its own
-- connection, the prebuilt message.
local function python_starttls(port, count)
  return run_outside(string.format("%s %s starttls %s %d %d 0 %d", PYTHON,
    shell_quote(here .. "/send_python.py"), shell_quote(DIR), port, count, CONNECTIONS))
end


--- A contender of the sinks sent through the Postfix smtpd in front of
-- the sink it is given instead.
local function via_postfix(run)
  local smtpd = { [PORT] = PF_PORT, [CHECK_PORT] = PF_CHECK_PORT }
  return function(port, ...) return run(assert(smtpd[port]), ...) end
end


--- A contender of the sinks sent to Exim instead.
local function via_exim(run)
  return function(_, ...) return run(EXIM_PORT, ...) end
end


--- (e) LuaSocket's socket.smtp.send, one call (one connection) a message.
local function luasocket(port, count)
  return run_outside(string.format("%s %s %s %d %d", LUA,
    shell_quote(here .. "/send_luasocket.lua"), shell_quote(DIR), port, count))
end


-- ---- output checks, on what the check sink stored ----

local function list_dumps()
  local p = io.popen("ls -1 " .. shell_quote(DIR .. "/dump"))
  local names = {}
  for name in p:lines() do names[#names + 1] = DIR .. "/dump/" .. name end
  p:close()
  return names
end


-- A stored transaction: the recipients, and the message as received
-- (smtp-sink writes LF line ends, after its own X-* and Received lines).
local function split_dump(text)
  local rcpts = {}
  for a in text:gmatch("\nX%-Rcpt%-Args: <([^>\n]*)>") do rcpts[#rcpts + 1] = a end
  local at = text:find("\nReceived: ", 1, true)
  if not at then return rcpts, nil end
  local eol = text:find("\n", at + 1, true)
  while eol and text:sub(eol + 1, eol + 1) == "\t" do eol = text:find("\n", eol + 1, true) end
  return rcpts, eol and text:sub(eol + 1)
end


local function lf(s) return (s:gsub("\r\n", "\n"):gsub("\n+$", "")) end


-- Bytes on the wire for a stored message (CRLF line ends).
local function wire_size(body)
  local body_lf = lf(body) .. "\n"
  return #body_lf + select(2, body_lf:gsub("\n", ""))
end


-- Checks one stored message of recipient i for each kind of contender.
local checkers = {
  raw = function(body, i, fx)
    if lf(body) ~= lf(fx.raw) then return nil, "differs from the prebuilt message" end
    return "identical to the prebuilt message (dot-stuffing undone)"
  end,
  -- Through Postfix smtpd: its Received header on top, then the message.
  relayed = function(body, i, fx)
    local rest = body:match("^Received: [^\n]*\n(.*)$")
    if not rest then return nil, "no Received header of Postfix's on top" end
    while rest:find("^[ \t]") do rest = rest:match("^[^\n]*\n(.*)$") or "" end   -- its folded lines
    if lf(rest) ~= lf(fx.raw) then return nil, "differs from the prebuilt message" end
    return "identical to the prebuilt message under Postfix's Received"
  end,
  built = function(body, i)
    local ok, why = common.check_message(body, i)
    if not ok then return nil, why end
    return "text and HTML with the name, subject and To decode"
  end,
  source = function(body)
    local _, sep = body:find("\n\n", 1, true)
    local payload = sep and wire_size(body:sub(sep + 1)) or 0
    if payload < PAYLOAD then return nil, payload .. " bytes of payload, expected " .. PAYLOAD end
    return string.format("payload of %d bytes", payload)
  end,
}


--- Sends CHECK_N messages to the check sink and checks what it stored.
-- Returns a description | nil, what is wrong.
local function check(contender, kind, fx)
  for _, path in ipairs(list_dumps()) do os.remove(path) end
  local messages, err = contender(CHECK_PORT, CHECK_N)
  if not messages then return nil, err end
  if messages ~= CHECK_N then return nil, string.format("sent %d, asked for %d", messages, CHECK_N) end
  local deadline, paths = now() + 3, nil
  repeat
    paths = list_dumps()
    if #paths >= CHECK_N then break end
    socket.sleep(0.02)
  until now() > deadline
  if #paths ~= CHECK_N then
    return nil, string.format("%d messages stored, expected %d", #paths, CHECK_N)
  end
  local size, desc
  local seen = {}
  for _, path in ipairs(paths) do
    local rcpts, body = split_dump(read_file(path) or "")
    if #rcpts ~= 1 or not body then
      return nil, "stored transaction without one recipient and a message"
    end
    -- smtp-source sends every message to the one address it is given.
    local i = tonumber(rcpts[1]:match("^reader(%d+)@example%.org$"))
    if kind ~= "source" and (not i or i >= CHECK_N or seen[i]) then
      return nil, "unexpected recipient " .. rcpts[1]
    end
    if i then seen[i] = true end
    local ok, why = checkers[kind](body, i, fx)
    if not ok then return nil, rcpts[1] .. ": " .. why end
    desc, size = ok, wire_size(body)
  end
  return string.format("%d stored, %d bytes, %s", CHECK_N, size, desc), size
end


local function main()
  if not (wait_listening(HOST, PORT) and wait_listening(HOST, CHECK_PORT)) then
    io.stderr:write("bench/send: smtp-sink is not listening (see ", DIR, "/*.log)\n")
    for _, log in ipairs { "sink.log", "check.log" } do
      io.stderr:write(read_file(DIR .. "/" .. log) or "", "\n")
    end
    return 2
  end
  if PF_PORT and not (wait_listening(HOST, PF_PORT) and wait_listening(HOST, PF_CHECK_PORT)) then
    io.stderr:write("bench/send: Postfix smtpd is not listening (see ", DIR, "/postfix/master.log)\n")
    io.stderr:write(read_file(DIR .. "/postfix/master.log") or "", "\n")
    return 2
  end
  local raw = assert(mailcast.message(campaign_message(0)))
  write_file(DIR .. "/prebuilt.eml", raw)
  write_file(DIR .. "/text.txt", NEWSLETTER.text)
  write_file(DIR .. "/body.html", NEWSLETTER.html)
  write_file(DIR .. "/names.txt", table.concat(NAMES, "\n") .. "\n")
  local fx = { raw = raw }
  local peaks_work = reset_peak()

  print(string.format("bench/send: N = %d messages of about %.1f KB to Postfix smtp-sink on %s:%d",
                      N, #raw / 1000, HOST, PORT))
  print(string.format("%s CPUs shared by the senders and the sink; Python at least %d messages "
    .. "and %g s, LuaSocket %d", cpus(), PY_N, MIN_SECONDS, LS_N))
  if PF_PORT then
    print(string.format("smtpd rows: %d messages each to a Postfix smtpd on %s:%d (STARTTLS offered, "
      .. "self-signed) passing them on to that sink", PF_N, HOST, PF_PORT))
  else
    print("no smtpd rows: bench/send could not start a Postfix smtpd (it needs root)")
  end
  if EXIM_PORT then
    print(string.format("exim rows: %d messages each to Exim on %s:%d (STARTTLS offered, self-signed), "
      .. "which spools them", PF_N, HOST, EXIM_PORT))
  else
    print("no exim rows: bench/send could not start Exim (it needs root and sh .ci/deps)")
  end
  print()

  -- kind: how check() reads the stored messages; mem: the row runs in
  -- this process, so its VmHWM is the row's peak.
  local rows = {
    { key = "mailcast", kind = "raw", run = mailcast_prebuilt(raw), count = N, rounds = ROUNDS,
      mem = true, title = string.format("mailcast.send, prebuilt, %d conns", CONNECTIONS) },
    { key = "building", kind = "built", run = mailcast_building, count = N, rounds = ROUNDS,
      mem = true, title = string.format("mailcast.message + send, %d/batch", BATCH) },
    { key = "smtp-source", kind = "source", run = smtp_source(false), count = N, rounds = ROUNDS,
      title = string.format("smtp-source -d -s %d (Postfix, C)", CONNECTIONS) },
    { key = "python", kind = "built", run = python("build"), count = PY_N, rounds = ROUNDS,
      min_seconds = MIN_SECONDS, title = "Python EmailMessage + smtplib, 1 conn" },
    { key = "python-raw", kind = "raw", run = python("prebuilt"), count = PY_N, rounds = ROUNDS,
      min_seconds = MIN_SECONDS, title = "Python smtplib, prebuilt, 1 conn" },
    { key = "luasocket", kind = "raw", run = luasocket, count = LS_N, rounds = 1,
      title = "LuaSocket smtp.send, conn per message" },
  }
  if PF_PORT then
    for _, row in ipairs {
      { key = "pf-mailcast", kind = "relayed", run = via_postfix(mailcast_outside("none")), all_sent = true,
        title = string.format("smtpd: mailcast.send, %d conns", CONNECTIONS) },
      { key = "pf-source", kind = "source", run = via_postfix(smtp_source(true)),
        title = string.format("smtpd: smtp-source -d -N -s %d", CONNECTIONS) },
      { key = "pf-tls", kind = "relayed", run = via_postfix(mailcast_outside("required")), all_sent = true,
        title = string.format("smtpd STARTTLS: mailcast.send, %d conns", CONNECTIONS) },
      { key = "pf-smtplib", kind = "relayed", run = via_postfix(python_starttls),
        title = string.format("smtpd STARTTLS: smtplib, %d threads", CONNECTIONS) },
    } do
      row.count, row.rounds = PF_N, ROUNDS
      rows[#rows + 1] = row
    end
  end
  if EXIM_PORT then
    local counts = common.exim_counts(EXIM_LOG)
    for _, row in ipairs {
      { key = "ex-mailcast", run = via_exim(mailcast_outside("none")), all_sent = true,
        title = string.format("exim: mailcast.send, %d conns", CONNECTIONS) },
      { key = "ex-source", run = via_exim(smtp_source(true)),
        title = string.format("exim: smtp-source -d -N -s %d", CONNECTIONS) },
      { key = "ex-tls", run = via_exim(mailcast_outside("required")), all_sent = true,
        title = string.format("exim STARTTLS: mailcast.send, %d conns", CONNECTIONS) },
      { key = "ex-smtplib", run = via_exim(python_starttls),
        title = string.format("exim STARTTLS: smtplib, %d threads", CONNECTIONS) },
    } do
      -- What Exim makes of each message is checked by spec/integration/exim_spec.lua;
      -- here its log counts them.
      row.count, row.rounds, row.counter, row.unchecked = PF_N, ROUNDS, counts, true
      rows[#rows + 1] = row
    end
  end
  for _, row in ipairs(rows) do rows[row.key] = row end

  print(string.format("output checks (%d messages each, stored by a second smtp-sink):", CHECK_N))
  for _, row in ipairs(rows) do
    local desc, size
    if row.unchecked then
      desc = "not stored here (Exim's own output is checked by spec/integration/exim_spec.lua)"
    else
      desc, size = attempt(check, row.run, row.kind, fx)
    end
    row.ok, row.check, row.size = desc ~= nil, desc or size, desc and size
    print(string.format("  %-11s %s: %s", row.key, row.ok and "ok" or "FAILED", row.check))
  end
  print()

  local run_peak = vm("VmHWM")

  -- One timed round of a row, believed only if the sink counted what the
  -- contender says it sent. Keeps the row's best round.
  local function run_round(row, round)
    collectgarbage()
    collectgarbage()
    run_peak = math.max(run_peak, vm("VmHWM"))
    if peaks_work then reset_peak() end
    local sessions, messages, seconds, peak_kb = counted_round(row.counter or SINK_LOG, function(...)
      local m, s, kb = row.run(...)
      if row.mem then
        kb = vm("VmHWM")
        run_peak = math.max(run_peak, kb)
      end
      return m, s, kb
    end, PORT, row.count, row.min_seconds)
    local rate
    if not sessions then
      row.broken, row.ok, row.check = true, false, messages   -- why
    else
      rate = messages / seconds
      row.counted = (row.counted or 0) + messages
      row.rounds_run = round
      if peak_kb then row.peak_kb = math.max(row.peak_kb or 0, peak_kb) end
      if not row.rate or rate > row.rate then
        row.messages, row.seconds, row.rate, row.sessions = messages, seconds, rate, sessions
      end
    end
    print_round(row.key, round, rate, row.check)
    -- Exim keeps what it spooled (no queue runner takes it): a round's
    -- messages go before the next round.
    if row.counter then os.execute("find " .. shell_quote(EXIM_SPOOL .. "/input") .. " -type f -delete") end
  end

  run_rounds(rows, ROUNDS, run_round)
  run_peak = math.max(run_peak, vm("VmHWM"))

  print(string.format("%-39s %8s %7s %9s %8s %6s %8s", "contender", "messages", "seconds", "msg/s",
                      "sessions", "KB/msg", "peak MB"))
  for _, row in ipairs(rows) do
    if row.rate then
      print(string.format("%-39s %8d %7.2f %9.1f %8d %6s %8s", row.title, row.messages, row.seconds,
        row.rate, row.sessions, row.size and string.format("%.1f", row.size / 1000) or "-",
        row.peak_kb and string.format("%.1f", row.peak_kb / 1024) or "-"))
    else
      print(string.format("%-39s %8s", row.title, "failed"))
    end
  end
  print(string.format("(the best of %d round%s, LuaSocket one; messages and sessions as the sink "
    .. "counted them (for Exim, as its log did: sessions ended by QUIT);\n peak MB: the sender's VmHWM "
    .. "over its rounds)", ROUNDS, ROUNDS == 1 and "" or "s"))
  print()

  local broken = print_results(rows, function(row)
    return string.format("%s counted %d in %d round%s%s", row.counter and "Exim's log" or "the sink",
      row.counted, row.rounds_run,
      row.rounds_run == 1 and "" or "s", (row.mem or row.all_sent) and ", every result \"sent\"" or "")
  end)

  local function ratio(a, b, label, target) common.ratio(rows, a, b, label, target, 38) end
  ratio("mailcast", "smtp-source", "mailcast / smtp-source", 1)
  ratio("building", "python", "mailcast building / Python building", 10)
  ratio("mailcast", "python-raw", "mailcast / Python prebuilt", 2)
  ratio("mailcast", "luasocket", "mailcast / LuaSocket")
  ratio("building", "smtp-source", "mailcast building / smtp-source")
  ratio("building", "mailcast", "mailcast building / prebuilt")
  if PF_PORT then
    ratio("pf-mailcast", "pf-source", "smtpd: mailcast / smtp-source", 1)
    ratio("pf-tls", "pf-smtplib", "smtpd STARTTLS: mailcast / smtplib", 1.5)
  end
  if EXIM_PORT then
    ratio("ex-mailcast", "ex-source", "exim: mailcast / smtp-source", 1)
    ratio("ex-tls", "ex-smtplib", "exim STARTTLS: mailcast / smtplib", 1.5)
  end
  local mb = run_peak / 1024
  print(string.format("%-38s %8.1f MB   (target < 50 MB: %s)", "mailcast peak memory (VmHWM, whole run)",
                      mb, mb < 50 and "met" or "NOT MET"))
  return broken and 1 or 0
end

return main()
