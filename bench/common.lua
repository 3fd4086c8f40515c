-- What the benchmarks share: the recipients every contender writes to,
-- small file and shell helpers, and for bench/send and bench/campaign
-- the process's memory, the counting smtp-sink's log and the check of a
-- personalised newsletter. LuaSocket and mailcast are required only by
-- the functions that use them, so bench/mime runs without LuaSocket.
local M = {}

M.NAMES = {
  "Zoë Müller", "Bob Smith", "Åsa Lindqvist", "Chen Wei",
  "María José García", "Olaf Jansen", "Siobhán O'Neill", "Dmitri Ivanov",
}

--- Recipient i (0-based): name, address and subject, the same in every contender.
function M.recipient(i)
  local name = M.NAMES[i % #M.NAMES + 1]
  return name, string.format("reader%d@example.org", i), "Your November news, " .. name
end

--- median(list) -> the middle value (the upper one of two)
function M.median(list)
  local t = { table.unpack(list) }
  table.sort(t)
  return t[(#t + 1) // 2]
end

function M.shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

function M.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

--- The file's bytes, or nil when it cannot be read.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

--- The first leaf of a mailcast.parse tree with content type ct.
function M.find_leaf(entity, ct)
  if (entity.content_type or ""):lower() == ct and not entity.parts then return entity end
  for _, part in ipairs(entity.parts or {}) do
    local leaf = M.find_leaf(part, ct)
    if leaf then return leaf end
  end
end

--- Checks recipient i's newsletter as mailcast.parse reads raw: the
-- subject and To decode to recipient(i)'s, and the text/plain and
-- text/html leaves both say hello to the name. Returns true | nil, why.
function M.check_message(raw, i)
  local name, address, subject = M.recipient(i)
  local ok, msg = pcall(require("mailcast").parse, raw)
  if not ok or type(msg) ~= "table" then return nil, "does not parse" end
  if (msg.header.subject or "") ~= subject then return nil, "subject decodes to " .. tostring(msg.header.subject) end
  if not (msg.header.to or ""):find(address, 1, true) then return nil, "To has no " .. address end
  for _, ct in ipairs { "text/plain", "text/html" } do
    local leaf = M.find_leaf(msg, ct)
    if not (leaf and (leaf.body or ""):find("Hello " .. name, 1, true)) then return nil, ct .. " lost the name" end
  end
  return true
end

--- Calls f(...) so that an error fails a row, not the run: f's results,
-- or nil and the error.
function M.attempt(f, ...)
  local r = table.pack(pcall(f, ...))
  if r[1] then return table.unpack(r, 2, r.n) end
  return nil, tostring(r[2])
end

--- "VmHWM" or "VmRSS" of this process in kB.
function M.vm(field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s*(%d+)")
    if kb then return tonumber(kb) end
  end
end

--- Resets VmHWM to the current RSS (Linux 4.0+), so the next reading is
-- the peak of what runs in between. Returns whether it could.
function M.reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then return false end
  local ok = f:write("5")
  return f:close() and ok ~= nil
end

--- The number of CPUs as nproc says, or "?".
function M.cpus()
  local p = io.popen("nproc 2>/dev/null")
  local n = p:read("l")
  p:close()
  return n or "?"
end

--- Whether something accepts connections on host:port within 5 s.
function M.wait_listening(host, port)
  local socket = require "socket"
  local deadline = socket.gettime() + 5
  repeat
    local c = socket.connect(host, port)
    if c then c:close() return true end
    socket.sleep(0.05)
  until socket.gettime() > deadline
  return false
end

--- A counting sink's totals so far (smtp-sink -c writing to log):
-- sessions ended, messages received. log may be a function giving them
-- instead (a server that is no smtp-sink, see exim_counts).
function M.sink_counts(log)
  if type(log) == "function" then return log() end
  local f = assert(io.open(log, "rb"))
  local size = f:seek("end")
  f:seek("set", math.max(0, size - 4096))
  local tail = f:read("a") or ""
  f:close()
  local sess, mesg = 0, 0
  for s, m in tail:gmatch("sess=(%d+) quit=%d+ mesg=(%d+)\r") do
    sess, mesg = tonumber(s), tonumber(m)
  end
  return sess, mesg
end

--- exim_counts(mainlog) -> a function giving the sessions an Exim has
-- ended with QUIT and the messages it has received, from its main log
-- (read from where the last call stopped: it grows by a line a message).
function M.exim_counts(mainlog)
  local offset, sessions, messages = 0, 0, 0
  return function()
    local f = io.open(mainlog, "rb")
    if not f then return sessions, messages end
    f:seek("set", offset)
    local text = f:read("a") or ""
    f:close()
    local last = text:match(".*()\n")   -- whole lines only
    if last then
      text = text:sub(1, last)
      offset = offset + last
      for line in text:gmatch("[^\n]+") do
        if line:find(" <= ", 1, true) then messages = messages + 1
        elseif line:find(" closed by QUIT", 1, true) then sessions = sessions + 1 end
      end
    end
    return sessions, messages
  end
end

--- The sink writes its counts as it goes: waits up to 3 s for `messages`,
-- then a little more for the sessions that end after the last message.
-- Returns sink_counts(log).
function M.settled_counts(log, messages)
  local socket = require "socket"
  local now = socket.gettime
  local deadline = now() + 3
  local sess, mesg = M.sink_counts(log)
  while mesg < messages and now() < deadline do
    socket.sleep(0.02)
    sess, mesg = M.sink_counts(log)
  end
  local last
  repeat
    last = sess
    socket.sleep(0.1)
    sess, mesg = M.sink_counts(log)
  until sess == last or now() > deadline + 2
  return sess, mesg
end

--- mailcast.send of list over `connections` connections, the messages
-- shared among them evenly: mailcast.send's results | nil, error.
function M.send_list(route, list, connections)
  return require("mailcast").send(route, list, {
    connections = connections,
    messages_per_connection = math.max(1, -(-#list // connections)),
  })
end

--- Whether mailcast.send sent all of its count messages, given what it
-- returned: true | nil, its error, or how many results do not say "sent"
-- and the first of them (numbered from offset + 1).
function M.all_sent(results, err, count, offset)
  if not results then return nil, "mailcast.send: " .. tostring(err) end
  local bad, first_bad = 0, nil
  for i = 1, count do
    local r = results[i]
    if not r or r.status ~= "sent" then
      bad = bad + 1
      first_bad = first_bad or string.format("message %d: %s %s", (offset or 0) + i, r and r.status or "no result",
        r and (r.error or (r.recipients[1] and r.recipients[1].text)) or "")
    end
  end
  if bad > 0 then return nil, string.format("%d of %d not sent; %s", bad, count, first_bad) end
  return true
end

--- Sends count messages, to recipients 0 to count - 1, batch at a time,
-- each batch one send_list over `connections` connections: make(i) gives
-- recipient i's message and address | nil, why. Returns true | nil, why.
function M.send_batches(route, count, batch, connections, from, make)
  local done = 0
  while done < count do
    local n = math.min(batch, count - done)
    local list = {}
    for k = 1, n do
      local raw, address = make(done + k - 1)
      if not raw then return nil, address end
      list[k] = { from = from, to = { address }, message = raw }
    end
    local results, state = M.send_list(route, list, connections)
    local ok, why = M.all_sent(results, state, n, done)
    if not ok then return nil, why end
    done = done + n
  end
  return true
end

--- One timed round of a contender against the counting sink whose
-- counts are in log: runs f(...) -> messages, seconds, ... and believes
-- it only if the sink's message count grew by exactly messages. Returns
-- the sessions the sink saw and f's results | nil, why (f's error, or
-- what the sink counted).
function M.counted_round(log, f, ...)
  local sess0, mesg0 = M.sink_counts(log)
  local r = table.pack(M.attempt(f, ...))
  local messages = r[1]
  if not messages then return nil, r[2] end
  local sess1, mesg1 = M.settled_counts(log, mesg0 + messages)
  if mesg1 - mesg0 ~= messages then
    return nil, string.format("the sink counted %d messages, the contender says %d", mesg1 - mesg0, messages)
  end
  return sess1 - sess0, table.unpack(r, 1, r.n)
end

--- Prints the line of a row's round: its rate, or why it failed.
function M.print_round(key, round, rate, why)
  io.stdout:write(string.format("  %-11s round %d  %s\n", key, round,
    rate and string.format("%9.1f msg/s", rate) or "failed: " .. tostring(why)))
  io.stdout:flush()
end

--- Runs the rows' rounds interleaved, round 1 of every row first, each
-- row for at most its own row.rounds and until it breaks:
-- run_round(row, round) for each, under "running:".
function M.run_rounds(rows, rounds, run_round)
  print("running:")
  for round = 1, rounds do
    for _, row in ipairs(rows) do
      if round <= (row.rounds or rounds) and not row.broken then run_round(row, round) end
    end
  end
  print()
end

--- Prints a line a row under "sink counts and results:": ok and what
-- detail(row) says, or FAILED and why. Returns whether a row failed.
function M.print_results(rows, detail)
  local failed = false
  print("sink counts and results:")
  for _, row in ipairs(rows) do
    if row.ok then
      print(string.format("  %-11s ok: %s", row.key, detail(row)))
    else
      print(string.format("  %-11s FAILED: %s", row.key, row.check))
    end
    failed = failed or not row.ok
  end
  print()
  return failed
end

--- Prints rows[a].rate / rows[b].rate, with its target when given, or
-- says why there is no ratio (a contender failed its output check).
function M.ratio(rows, a, b, label, target, width)
  local ra, rb = rows[a], rows[b]
  if not (ra.ok and rb.ok) then
    print(string.format("%-" .. width .. "s n/a (a contender failed its check)", label))
    return
  end
  local r = ra.rate / rb.rate
  local verdict = ""
  if target then
    verdict = string.format("   (target >= %gx: %s)", target, r >= target and "met" or "NOT MET")
  end
  print(string.format("%-" .. width .. "s %8.2fx%s", label, r, verdict))
end

return M
