-- A campaign through the runner against the bare SMTP engine: the same
-- personalised newsletter (bench/campaign_script.lua) to N recipients of
-- a CSV, run as a user runs it (`mailcast run SCRIPT --store FILE
-- --quiet`, store and accounting log on), next to mailcast.send of one
-- prebuilt message (bench/send's baseline), the campaign's messages sent
-- without the runner, and Postfix's smtp-source, all to the same
-- counting smtp-sink; then a --dry-run of a much longer list. Run it
-- through bench/campaign, which starts and stops the sink:
--
--   bench/campaign [N]    N recipients (default 100000 or
--                         $MAILCAST_BENCH_N); the dry run has
--                         $MAILCAST_BENCH_DRY_N (default 1000000), the
--                         real run of a long list $MAILCAST_BENCH_LONG_N
--                         (default 1000000; 0: none)
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")
local socket = require "socket"
local recipient, shell_quote, read_file = common.recipient, common.shell_quote, common.read_file
local vm, reset_peak, cpus, wait_listening, attempt =
  common.vm, common.reset_peak, common.cpus, common.wait_listening, common.attempt
local counted_round, print_round = common.counted_round, common.print_round
local run_rounds, print_results = common.run_rounds, common.print_results
local send_list, all_sent, send_batches = common.send_list, common.all_sent, common.send_batches

local DIR, PORT, SINK_PID, RUNNER = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
assert(DIR and PORT and SINK_PID and RUNNER, "bench/campaign.lua: run it through bench/campaign")
local function count_of(value, what)
  local n = math.tointeger(tonumber(value))
  assert(n and n > 0, "bench/campaign: " .. what .. " must be a positive integer")
  return n
end
local N = count_of(arg[5] or os.getenv("MAILCAST_BENCH_N") or 100000, "N")
local DRY_N = count_of(os.getenv("MAILCAST_BENCH_DRY_N") or 1000000, "MAILCAST_BENCH_DRY_N")
-- The real run of a long list, for its memory (0: none).
local LONG_N = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_LONG_N") or 1000000))
assert(LONG_N and LONG_N >= 0, "bench/campaign: MAILCAST_BENCH_LONG_N must be a whole number")
local BATCH = count_of(os.getenv("MAILCAST_BENCH_BATCH") or 1000, "MAILCAST_BENCH_BATCH")
local ROUNDS = count_of(os.getenv("MAILCAST_BENCH_ROUNDS") or 3, "MAILCAST_BENCH_ROUNDS")
local CSV = os.getenv("MAILCAST_BENCH_CSV")          -- set by bench/campaign
local SCRIPT = "bench/campaign_script.lua"
local SOURCE = "/usr/sbin/smtp-source"
local TIME = "/usr/bin/time"

-- The workers row's --workers: one per CPU unless said otherwise.
local WORKERS = count_of(os.getenv("MAILCAST_BENCH_WORKERS") or cpus(), "MAILCAST_BENCH_WORKERS")
local CONNECTIONS = 10
local PAYLOAD = 5000        -- smtp-source -l: body bytes, without headers
local HOST = "127.0.0.1"    -- never anything else
local FROM_ADDR = dofile("bench/newsletter.lua").from.address
local SINK_LOG = DIR .. "/sink.log"   -- the counting sink's counts

local now = socket.gettime


local function trim(s) return (s:gsub("%s+$", "")) end


local CLOCK_TICKS
-- CPU seconds (user + system) the sink has used so far.
local function sink_cpu()
  if not CLOCK_TICKS then
    local p = io.popen("getconf CLK_TCK 2>/dev/null")
    CLOCK_TICKS = tonumber(p:read("l")) or 100
    p:close()
  end
  local stat = read_file("/proc/" .. SINK_PID .. "/stat") or ""
  -- Fields after the command name in parentheses: utime and stime are
  -- the 12th and 13th of them.
  local fields = {}
  for f in stat:gsub("^.*%)", ""):gmatch("%S+") do fields[#fields + 1] = f end
  return ((tonumber(fields[12]) or 0) + (tonumber(fields[13]) or 0)) / CLOCK_TICKS
end


local function load_average()
  return (read_file("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)") or "?"
end


-- A CSV field, quoted when it has to be (RFC 4180).
local function csv_field(s)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end


--- Writes count recipients (email,name) to path, as common.recipient
-- names them, so non-ASCII names come along.
local function write_csv(path, count)
  local f = assert(io.open(path, "wb"))
  f:setvbuf("full", 1 << 16)
  assert(f:write("email,name\n"))
  for i = 0, count - 1 do
    local name, address = recipient(i)
    f:write(address, ",", csv_field(name), "\n")
  end
  assert(f:close())
end


-- Seconds since the epoch of the log's "2026-11-29T04:05:06.789Z".
local function log_time(line)
  local y, mo, d, h, mi, s, ms = line:match('"time":"(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)%.(%d+)Z"')
  if not y then return nil end
  -- Days from the civil date (proleptic Gregorian), so no time zone enters.
  y, mo = tonumber(y), tonumber(mo)
  if mo <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((mo + 9) % 12) + 2) // 5 + tonumber(d) - 1
  local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) + tonumber(ms) / 1000
end


--- Reads the accounting log: the first and last record's times, the
-- transactions that say "sent" and the outcomes that say "delivered".
local function read_log(path)
  local first, last, sent, delivered, lines = nil, nil, 0, 0, 0
  for line in io.lines(path) do
    lines = lines + 1
    if not first then first = log_time(line) end
    last = line
    if line:find('"type":"transaction"', 1, true) then
      if line:find('"status":"sent"', 1, true) then sent = sent + 1 end
    elseif line:find('"state":"delivered"', 1, true) then
      delivered = delivered + 1
    end
  end
  return { first = first, last = last and log_time(last), sent = sent, delivered = delivered, lines = lines }
end


--- Runs a shell command under /usr/bin/time. Returns whether it
-- succeeded, {wall = s, cpu = user + system s, kb = peak RSS}, and what
-- it wrote to stdout and to stderr.
local function timed(command)
  local tfile, out, err = DIR .. "/time.txt", DIR .. "/run.out", DIR .. "/run.err"
  os.remove(tfile)
  local ok = os.execute(string.format("%s -o %s -f '%%e %%U %%S %%M' %s >%s 2>%s", TIME, shell_quote(tfile),
    command, shell_quote(out), shell_quote(err)))
  local wall, user, sys, kb = (read_file(tfile) or ""):match("([%d.]+) ([%d.]+) ([%d.]+) (%d+)%s*$")
  local t = wall and { wall = tonumber(wall), cpu = tonumber(user) + tonumber(sys), kb = tonumber(kb) }
  return ok and t ~= nil, t, read_file(out) or "", read_file(err) or ""
end


-- ---- the contenders: port, count -> messages, seconds, info | nil, why
-- info: cpu (the sender's CPU seconds), peak_kb, note, phases

--- mailcast.send of one prebuilt message to each recipient, over
-- CONNECTIONS reused connections: bench/send's baseline.
local function bare_engine(raw)
  return function(port, count)
    local t0, c0 = now(), os.clock()
    local list = {}
    for i = 1, count do
      local _, address = recipient(i - 1)
      list[i] = { from = FROM_ADDR, to = { address }, message = raw }
    end
    local results, state = send_list({ host = HOST, port = port, tls = "none" }, list, CONNECTIONS)
    local seconds, cpu = now() - t0, os.clock() - c0
    local ok, err = all_sent(results, state, count)
    if not ok then return nil, err end
    return count, seconds, { cpu = cpu, note = "every result \"sent\"" }
  end
end


--- What the campaign does without the runner, the store or the log:
-- each recipient's message made by the campaign (templates, then
-- mailcast.build) inside the timed loop, BATCH at a time, each batch one
-- mailcast.send (bench/send's building row, with the campaign's message).
local function building(c)
  return function(port, count)
    local route = mailcast.route { host = HOST, port = port, tls = "none" }
    local t0, c0 = now(), os.clock()
    local ok, why = send_batches(route, count, BATCH, CONNECTIONS, FROM_ADDR, function(i)
      local name, address = recipient(i)
      local msg, err = c:message(address, { email = address, name = name })
      local built
      if msg then built, err = mailcast.build(msg) end
      if not built then return nil, address .. ": " .. tostring(err) end
      return built, address
    end)
    if not ok then return nil, why end
    return count, now() - t0, { cpu = os.clock() - c0, note = "every result \"sent\"" }
  end
end


--- The campaign, as a user runs it: a fresh store, the accounting log
-- on, sent by one process or by `workers` (--workers).
local function campaign(port, count, workers)
  local store = DIR .. "/bench.mailcast.db"
  for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(store .. suffix) end
  os.remove(DIR .. "/bench.log.jsonl")
  local t0 = now()
  local ok, t, out, err = timed(string.format("%s run %s --store %s --quiet%s",
    shell_quote(RUNNER), shell_quote(SCRIPT), shell_quote(store), workers and (" --workers " .. workers) or ""))
  local t1 = now()
  local summary = trim(out)
  if not ok then
    return nil, string.format("the runner failed: %s %s", summary, trim(err):sub(1, 2000))
  end
  local expect = string.format("bench: %d delivered, 0 deferred, 0 failed, 0 skipped, 0 suppressed, 0 pending", count)
  if summary ~= expect then return nil, "the runner says: " .. summary .. " " .. trim(err):sub(1, 2000) end
  local log = read_log(DIR .. "/bench.log.jsonl")
  if log.sent ~= count or log.delivered ~= count then
    return nil, string.format("the accounting log has %d transactions sent and %d outcomes delivered",
      log.sent, log.delivered)
  end
  local phases
  if log.first and log.last then
    phases = { before = log.first - t0, sending = log.last - log.first, after = t1 - log.last, pipe = t1 - t0 }
  end
  return count, t.wall, {
    cpu = t.cpu, peak_kb = t.kb, phases = phases, log_lines = log.lines,
    note = string.format("the runner says \"%s\"; the log has %d transactions \"sent\" and %d outcomes \"delivered\"",
      summary, log.sent, log.delivered),
  }
end


--- Postfix's smtp-source: `sessions` parallel sessions, each sending
-- message after message over its connection (-d), no pipelining.
local function smtp_source(port, count)
  local t0 = now()
  local ok, t, out, err = timed(string.format("%s -d -s %d -m %d -l %d -M localhost -f %s -t reader@example.org %s:%d",
    SOURCE, math.min(CONNECTIONS, count), count, PAYLOAD, FROM_ADDR, HOST, port))
  local seconds = now() - t0
  if not ok then return nil, "smtp-source failed: " .. trim(out .. err) end
  return count, seconds, { cpu = t.cpu, peak_kb = t.kb }
end


-- ---- checks and the dry run

--- mailcast run SCRIPT --dry-run over a CSV of count rows.
-- Returns {wall=, cpu=, kb=}, the runner's summary | nil, why.
local function dry_run(count)
  local path = DIR .. "/dry.csv"
  write_csv(path, count)
  local ok, t, out, err = timed(string.format("env MAILCAST_BENCH_CSV=%s %s run %s --dry-run",
    shell_quote(path), shell_quote(RUNNER), shell_quote(SCRIPT)))
  os.remove(path)
  local summary = trim(out)
  if not ok or summary ~= string.format("bench: %d messages ready, 0 problems", count) then
    return nil, string.format("the runner says: %s %s", summary, trim(err):sub(1, 2000))
  end
  return t, summary
end


local function main()
  if not wait_listening(HOST, PORT) then
    io.stderr:write("bench/campaign: smtp-sink is not listening\n", read_file(DIR .. "/sink.log") or "", "\n")
    return 2
  end
  assert(CSV, "bench/campaign.lua: MAILCAST_BENCH_CSV is not set (run it through bench/campaign)")
  write_csv(CSV, N)
  -- The campaign itself, loaded here too: its message for recipient 0
  -- is the baseline's prebuilt message, and its limits are shown.
  local c = dofile(SCRIPT)
  local name, address = recipient(0)
  local raw = assert(mailcast.message(assert(c:message(address, { email = address, name = name }))))
  local checked, why = common.check_message(raw, 0)
  local broken = not checked

  print(string.format("bench/campaign: N = %d recipients, messages of about %.1f KB, to Postfix smtp-sink on %s:%d",
    N, #raw / 1000, HOST, PORT))
  print(string.format("campaign limits: connections = %d, messages_per_connection = %d; max_in_flight = %d; "
    .. "store and accounting log on", c.limits.connections, c.limits.messages_per_connection, c.max_in_flight))
  print(string.format("runner %s; %s CPUs shared by the senders and the sink; load average before: %s",
    RUNNER, cpus(), load_average()))
  print(string.format("recipient 0's message: %s", checked and "parses; subject, To and both bodies with the name"
    or ("FAILED: " .. why)))
  print()

  local rows = {
    { key = "bare", run = bare_engine(raw), mem = true,
      title = string.format("mailcast.send, prebuilt, %d conns", CONNECTIONS) },
    { key = "building", run = building(c), mem = true,
      title = string.format("campaign's messages + send, %d/batch", BATCH) },
    { key = "campaign", run = campaign, title = "campaign: mailcast run --quiet" },
    { key = "workers", run = function(port, count) return campaign(port, count, WORKERS) end,
      title = string.format("campaign: the same, --workers %d", WORKERS) },
    { key = "smtp-source", run = smtp_source,
      title = string.format("smtp-source -d -s %d (Postfix, C)", CONNECTIONS) },
  }
  for _, row in ipairs(rows) do rows[row.key] = row end

  -- One timed round, believed only if the sink counted what the
  -- contender says it sent. Keeps the row's best round.
  local function run_round(row, round)
    collectgarbage()
    collectgarbage()
    if row.mem then reset_peak() end
    local sink0 = sink_cpu()
    local sessions, messages, seconds, info = counted_round(SINK_LOG, function(...)
      local m, s, i = row.run(...)
      if m and row.mem then i.peak_kb = vm("VmHWM") end
      return m, s, i
    end, PORT, N)
    local rate
    if not sessions then
      row.broken, row.ok, row.check = true, false, messages   -- why
    else
      info.sink_cpu = sink_cpu() - sink0
      row.ok = true
      rate = messages / seconds
      row.counted, row.note = messages, info.note
      if not row.rate or rate > row.rate then
        row.messages, row.seconds, row.rate, row.sessions, row.info = messages, seconds, rate, sessions, info
      end
    end
    print_round(row.key, round, rate, row.check)
  end

  run_rounds(rows, ROUNDS, run_round)

  print(string.format("%-38s %8s %7s %9s %8s %8s %8s %7s", "contender", "messages", "seconds", "msg/s",
    "sessions", "CPU us/m", "sink us/m", "peak MB"))
  local function us(seconds, messages) return seconds and string.format("%.1f", seconds / messages * 1e6) or "-" end
  for _, row in ipairs(rows) do
    if row.rate then
      local i = row.info
      print(string.format("%-38s %8d %7.2f %9.1f %8d %8s %8s %7s", row.title, row.messages, row.seconds, row.rate,
        row.sessions, us(i.cpu, row.messages), us(i.sink_cpu, row.messages),
        i.peak_kb and string.format("%.1f", i.peak_kb / 1024) or "-"))
      if i.phases then
        print(string.format("%-38s %8d %7.2f %9.1f", "  of which sending (log first..last)", row.messages,
          i.phases.sending, row.messages / i.phases.sending))
      end
    else
      print(string.format("%-38s %8s", row.title, "failed"))
    end
  end
  print(string.format("(%s; messages and sessions as the sink counted them; seconds: wall clock, for\n"
    .. " the campaign /usr/bin/time's of the whole run; CPU us/m: the sender's user + system CPU per\n"
    .. " message, sink us/m the sink's; peak MB: VmHWM of this process during the row for the\n"
    .. " in-process rows, maximum RSS (/usr/bin/time %%M) of the runner and of smtp-source)",
    ROUNDS == 1 and "one round each" or string.format("the best of %d rounds", ROUNDS)))
  print()

  for _, key in ipairs { "campaign", "workers" } do
    local camp = rows[key]
    local ph = camp.ok and camp.info.phases
    if ph then
      print(string.format("the %s, split at the accounting log's first and last record (wall clock):",
        key == "campaign" and "campaign run" or ("run with --workers " .. WORKERS)))
      print(string.format("  %-56s %7.2f s", "start, CSV into the store, first messages until a commit", ph.before))
      print(string.format("  %-56s %7.2f s  (%.1f msg/s)", "sending: first record to last", ph.sending, N / ph.sending))
      print(string.format("  %-56s %7.2f s", "after the last record: QUIT, summary, exit", ph.after))
      print(string.format("  %-56s %7.2f s  (%d log lines)", "whole run as this process saw it", ph.pipe,
        camp.info.log_lines))
      print()
    end
  end

  local failed = print_results(rows, function(row)
    return string.format("the sink counted %d%s", row.counted, row.note and ("; " .. row.note) or "")
  end)
  broken = broken or failed

  local function ratio(a, b, label, target) common.ratio(rows, a, b, label, target, 42) end
  ratio("campaign", "bare", "campaign / bare engine (whole run)", 0.85)
  -- The target holds --workers to it only when the workers and the sink
  -- each have a core: more processes than cores only take turns on them.
  local spare = (tonumber(cpus()) or 0) > WORKERS
  ratio("workers", "bare", string.format("--workers %d / bare engine (whole run)", WORKERS), spare and 0.7 or nil)
  if not spare then
    print(string.format("  (no target for --workers %d: the parent, %d workers and the sink share %s CPUs)",
      WORKERS, WORKERS, cpus()))
  end
  for _, key in ipairs { "campaign", "workers" } do
    local ph = rows[key].ok and rows[key].info.phases
    if ph and rows.bare.ok then
      print(string.format("%-42s %8.2fx", (key == "campaign" and "campaign" or ("--workers " .. WORKERS))
        .. " sending phase / bare engine", N / ph.sending / rows.bare.rate))
    end
  end
  ratio("campaign", "smtp-source", "campaign / smtp-source")
  ratio("campaign", "building", "campaign / its messages + send")
  ratio("building", "bare", "its messages + send / bare engine")
  ratio("bare", "smtp-source", "bare engine / smtp-source")
  for _, key in ipairs { "campaign", "workers" } do
    local camp = rows[key]
    if camp.ok then
      local mb = camp.info.peak_kb / 1024
      print(string.format("%-42s %8.1f MB   (target < 100 MB: %s)", key == "campaign" and "campaign peak RSS"
        or "--workers: largest process's peak RSS", mb, mb < 100 and "met" or "NOT MET"))
    end
  end
  print()

  print(string.format("dry run: %d recipients, mailcast run %s --dry-run (every message built, nothing sent):",
    DRY_N, SCRIPT))
  local t, summary = attempt(dry_run, DRY_N)
  if t then
    local mb = t.kb / 1024
    print(string.format("  %.2f s, %.1f messages checked/s, %.1f us CPU a message, peak RSS %.1f MB   (target < 100 MB: %s)",
      t.wall, DRY_N / t.wall, t.cpu / DRY_N * 1e6, mb, mb < 100 and "met" or "NOT MET"))
    print(string.format("  the runner says \"%s\"", summary))
  else
    print("  FAILED: " .. tostring(summary))
    broken = true
  end
  print()

  if LONG_N > 0 then
    -- What a million costs in memory when it is sent, not only built:
    -- the store, the log and the list read as the run goes.
    print(string.format("a real run of %d recipients, mailcast run %s --quiet (store and log on, to the sink):",
      LONG_N, SCRIPT))
    write_csv(CSV, LONG_N)
    local sessions, messages, seconds, info = counted_round(SINK_LOG, campaign, PORT, LONG_N)
    if sessions then
      local mb = info.peak_kb / 1024
      print(string.format("  %.1f s, %.1f msg/s, %.1f us CPU a message, peak RSS %.1f MB   (target < 100 MB: %s)",
        seconds, messages / seconds, info.cpu / messages * 1e6, mb, mb < 100 and "met" or "NOT MET"))
      print("  " .. info.note)
    else
      print("  FAILED: " .. tostring(messages))
      broken = true
    end
    print()
  end
  print("load average after: " .. load_average())
  return broken and 1 or 0
end

return main()
