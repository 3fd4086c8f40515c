-- Bounce messages parsed and classified per second: mailcast.bounce.parse
-- against a Python reader built on the email package (bench/
-- bounce_python.py), over the same Maildir of N mixed, labelled samples,
-- and how far each agrees with the labels. Run it through bench/bounce:
--
--   bench/bounce [N]    N messages (default 10000 or $MAILCAST_BENCH_N)
package.path = "spec/?.lua;" .. package.path
local mailcast = require "mailcast"
local samples = require "support.bounce_samples"
local common = dofile("bench/common.lua")
local write_file, read_file, shell_quote = common.write_file, common.read_file, common.shell_quote

local ok_socket, socket = pcall(require, "socket")
local now = ok_socket and socket.gettime or os.clock

local N = math.tointeger(tonumber(arg[1] or os.getenv("MAILCAST_BENCH_N") or 10000))
assert(N and N > 0, "bench/bounce: N must be a positive integer")
local ROUNDS = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_ROUNDS") or 3))
local PYTHON = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
local TARGET = 20000

-- The real Postfix DSNs join the mix with what they are known to say.
local POSTFIX = {
  { "unknown-user", "nosuch@dest.test", "user_unknown" },
  { "mailbox-full", "full@dest.test", "mailbox_full" },
  { "unroutable", "someone@nowhere.invalid", "host_unknown" },
  { "remote-unknown", "nosuch@remote.test", "user_unknown" },
  { "expired", "user@refused.test", "expired" },
}


local function tmpdir()
  local p = assert(io.popen("mktemp -d /tmp/mailcast-bench-bounce.XXXXXX"))
  local dir = p:read("l")
  p:close()
  assert(dir and dir ~= "", "mktemp failed")
  return dir
end


-- Writes N messages to dir/new, cycling through the samples (and the
-- Postfix DSNs) with a new recipient each time. Returns the labels by
-- file name: {kind=, address=, reason=} of each file's first recipient.
local function make_maildir(dir)
  os.execute("mkdir -p " .. shell_quote(dir .. "/new") .. " " .. shell_quote(dir .. "/cur") .. " " .. shell_quote(dir .. "/tmp"))
  local postfix = {}
  for i, p in ipairs(POSTFIX) do
    postfix[i] = { raw = assert(read_file("spec/support/bounces/postfix/" .. p[1] .. ".eml")), address = p[2], reason = p[3] }
  end
  local labels, bytes = {}, 0
  local cycle = #samples.samples + #postfix
  for i = 1, N do
    local k = (i - 1) % cycle + 1
    local raw, label
    if k <= #samples.samples then
      local expect
      raw, expect = samples.render(samples.samples[k], samples.vars(i))
      local first = expect.recipients[1] or {}
      label = { kind = expect.kind, address = first.address or "-", reason = first.reason or "-" }
    else
      local p = postfix[k - #samples.samples]
      raw, label = p.raw, { kind = "dsn", address = p.address, reason = p.reason }
    end
    local name = string.format("1730714405.M%06dP1.bench", i)
    write_file(dir .. "/new/" .. name, raw)
    labels[name] = label
    bytes = bytes + #raw
  end
  return labels, bytes
end


local function list(dir)
  local p = assert(io.popen("ls " .. shell_quote(dir .. "/new")))
  local names = {}
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  table.sort(names)
  return names
end


-- The first recipient's (kind, address, reason) as the labels put it.
local function summary(b)
  local r = b.recipients[1]
  return b.kind, r and r.address or "-", r and r.reason or "-"
end


--- mailcast over the Maildir, ROUNDS times, best round. from_memory:
-- the files are read once before timing. Returns seconds, results.
local function run_mailcast(dir, names, from_memory)
  local raws = {}
  if from_memory then
    for i, name in ipairs(names) do raws[i] = read_file(dir .. "/new/" .. name) end
  end
  local best, results = math.huge, nil
  for _ = 1, ROUNDS do
    local out = {}
    local t0 = now()
    for i, name in ipairs(names) do
      local raw = raws[i]
      if not raw then
        local f = assert(io.open(dir .. "/new/" .. name, "rb"))
        raw = f:read("a")
        f:close()
      end
      local b = assert(mailcast.bounce.parse(raw))
      local kind, address, reason = summary(b)
      out[i] = { name, kind, address, reason }
    end
    local elapsed = now() - t0
    if elapsed < best then best, results = elapsed, out end
  end
  return best, results
end


local function run_python(dir)
  local res = dir .. "/python.tsv"
  local cmd = string.format("cd bench && %s bounce_python.py %s %s %d 2>&1", shell_quote(PYTHON),
    shell_quote(dir), shell_quote(res), ROUNDS)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  local m, s = out:match("messages=(%d+) seconds=([%d.]+)")
  if not m then return nil, "no result: " .. out:gsub("%s+$", "") end
  local results = {}
  for line in io.lines(res) do
    local name, kind, address, reason = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
    results[#results + 1] = { name, kind, address, reason }
  end
  return tonumber(s), results
end


-- Agreement with the labels: the kind, and for labelled recipients the
-- address and the reason. Returns a table of counts and a list of the
-- first few disagreements.
local function agreement(results, labels)
  local a = { files = 0, kind = 0, rcpts = 0, address = 0, reason = 0, all = 0 }
  local misses = {}
  for _, row in ipairs(results) do
    local label = labels[row[1]]
    a.files = a.files + 1
    local kind_ok = row[2] == label.kind
    if kind_ok then a.kind = a.kind + 1 end
    local addr_ok, reason_ok = true, true
    if label.address ~= "-" then
      a.rcpts = a.rcpts + 1
      addr_ok = row[3]:lower() == label.address:lower()
      reason_ok = row[4] == label.reason
      if addr_ok then a.address = a.address + 1 end
      if reason_ok then a.reason = a.reason + 1 end
    end
    if kind_ok and addr_ok and reason_ok then
      a.all = a.all + 1
    elseif #misses < 8 then
      misses[#misses + 1] = string.format("%s: %s %s %s, labelled %s %s %s", row[1], row[2], row[3], row[4],
        label.kind, label.address, label.reason)
    end
  end
  return a, misses
end


local function pct(x, n) return n > 0 and 100 * x / n or 100 end


-- Agreement with our own corpus (spec/support/bounces/manifest.lua):
-- notices whose every failed recipient is found (and no other), and
-- recipients whose reason and hardness are right. Written alongside the
-- reader, so it says what we know we handle, not how it does on the
-- world's bounces.
local function corpus_agreement()
  local manifest = dofile("spec/support/bounces/manifest.lua")
  local a = { files = #manifest, found = 0, rcpts = 0, reason = 0, hard = 0 }
  local misses = {}
  for _, case in ipairs(manifest) do
    local b = assert(mailcast.bounce.parse(assert(read_file("spec/support/bounces/" .. case.file))))
    local got = {}
    for _, r in ipairs(b.recipients) do
      if r.action == "failed" then got[r.address:lower()] = r end
    end
    local all, n = true, 0
    for _ in pairs(got) do n = n + 1 end
    for _, want in ipairs(case.recipients) do
      a.rcpts = a.rcpts + 1
      local r = got[want.address:lower()]
      if not r then all = false end
      if r and r.reason == want.reason then a.reason = a.reason + 1 end
      if r and r.hard == want.hard then a.hard = a.hard + 1 end
      if (not r or r.reason ~= want.reason) and #misses < 8 then
        misses[#misses + 1] = string.format("%s: %s %s, expected %s", case.file, want.address,
          r and r.reason or "not found", want.reason)
      end
    end
    if all and n == #case.recipients then a.found = a.found + 1 end
  end
  -- The folders whose notices real MTAs made here (their *_capture.sh).
  local captured = { postfix = true, exim = true, dovecot = true, opensmtpd = true,
                     ["sendmail-8"] = true, ["courier-mta"] = true, haraka = true }
  local real = 0
  for _, case in ipairs(manifest) do
    if captured[case.file:match("^([^/]+)/")] then real = real + 1 end
  end
  print(string.format("\nour own corpus (spec/support/bounces: %d notices made by a real Postfix, Exim, Dovecot, OpenSMTPD,"
    .. " Sendmail, Courier and Haraka here, %d written by hand"
    .. " alongside the reader; not an accuracy figure for real-world mail):", real, a.files - real))
  print(string.format("  every failed recipient found %6.2f%% (%d/%d notices)  reason right %6.2f%%  hard/soft right %6.2f%% (%d recipients)",
    pct(a.found, a.files), a.found, a.files, pct(a.reason, a.rcpts), pct(a.hard, a.rcpts), a.rcpts))
  for _, m in ipairs(misses) do print("      " .. m) end
end


local function report_agreement(name, a, misses)
  print(string.format("  %-26s kind %6.2f%%  recipient %6.2f%%  reason %6.2f%%  all %6.2f%% (%d/%d files)",
    name, pct(a.kind, a.files), pct(a.address, a.rcpts), pct(a.reason, a.rcpts), pct(a.all, a.files), a.all, a.files))
  for _, m in ipairs(misses) do print("      " .. m) end
end


local dir = tmpdir()
local okrun, err = pcall(function()
  io.write(string.format("bench/bounce: writing %d messages to %s/new ... ", N, dir))
  io.flush()
  local labels, bytes = make_maildir(dir)
  local names = list(dir)
  assert(#names == N, "maildir has " .. #names .. " files, expected " .. N)
  print(string.format("%.1f MB, %d sample kinds", bytes / 1e6, #samples.samples + #POSTFIX))

  print("load average before: " .. (read_file("/proc/loadavg") or "?"):gsub("\n", ""))
  local rows = {}
  local s1, r1 = run_mailcast(dir, names, false)
  rows[#rows + 1] = { "mailcast.bounce.parse", s1, r1 }
  local s2, r2 = run_mailcast(dir, names, true)
  rows[#rows + 1] = { "  same, files read before", s2, r2 }
  local s3, r3 = run_python(dir)
  if s3 and #r3 ~= N then s3, r3 = nil, "Python gave " .. #r3 .. " results for " .. N .. " files" end
  if s3 then rows[#rows + 1] = { "Python email package", s3, r3 } else print("Python FAILED: " .. r3) end

  print(string.format("\n%-28s %9s %10s %12s", "contender (best of " .. ROUNDS .. ")", "messages", "seconds", "messages/s"))
  for _, row in ipairs(rows) do
    print(string.format("%-28s %9d %10.3f %12.0f", row[1], N, row[2], N / row[2]))
  end
  print()
  local rate = N / s1
  print(string.format("mailcast: %.0f messages/s on one core (target >= %d: %s)", rate, TARGET,
    rate >= TARGET and "met" or "NOT MET"))
  if s3 then print(string.format("mailcast / Python: %.1fx", s3 / s1)) end

  print("\nagreement with the labels:")
  report_agreement("mailcast", agreement(r1, labels))
  if s3 then report_agreement("Python email package", agreement(r3, labels)) end
  corpus_agreement()
  print("load average after: " .. (read_file("/proc/loadavg") or "?"):gsub("\n", ""))
  if not s3 then error("the Python contender failed") end
end)
os.execute("rm -rf " .. shell_quote(dir))
if not okrun then
  io.stderr:write("bench/bounce: " .. tostring(err) .. "\n")
  os.exit(1)
end
