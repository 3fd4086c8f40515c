-- A recipients CSV read row by row: mailcast's reader against Python's
-- csv module (bench/csv_python.py) over the same file of N rows, three
-- rounds interleaved, each contender's best. Run it through bench/csv:
--
--   bench/csv [N]    N rows (default 1000000 or $MAILCAST_BENCH_N)
local core = require "mailcast.core"
local csv = require "mailcast.csv"
local common = dofile("bench/common.lua")
local shell_quote = common.shell_quote

local N = math.tointeger(tonumber(arg[1] or os.getenv("MAILCAST_BENCH_N") or 1000000))
assert(N and N > 0, "bench/csv: N must be a positive integer")
local ROUNDS = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_ROUNDS") or 3))
local PYTHON = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
local now = core.now


-- Row i's note as written and as read: plain mostly; one row in ten
-- quoted with a comma, one with doubled quotes, one in a hundred with a
-- line break inside its quotes.
local function note(i)
  if i % 100 == 3 then return string.format('"line one %d\nline two"', i), string.format("line one %d\nline two", i) end
  if i % 10 == 1 then return string.format('"Dept. %d, floor 2"', i), string.format("Dept. %d, floor 2", i) end
  if i % 10 == 2 then return string.format('"the ""%d"" club"', i), string.format('the "%d" club', i) end
  local plain = string.format("note %d", i)
  return plain, plain
end


-- Writes the list: email, first_name, last_name, city, note (CRLF rows,
-- names with accents, as a spreadsheet writes them). Returns its bytes.
local function write_list(path)
  local f = assert(io.open(path, "wb"))
  f:write("email,first_name,last_name,city,note\r\n")
  local bytes, parts = 0, {}
  for i = 1, N do
    local name = common.NAMES[i % #common.NAMES + 1]
    local first, last = name:match("^(%S+) (.+)$")
    parts[#parts + 1] = string.format("reader%d@example.org,%s,%s,%s,%s\r\n", i, first, last,
      i % 3 == 0 and "Zürich" or "Lyon", (note(i)))
    if #parts == 1000 or i == N then
      local chunk = table.concat(parts)
      bytes = bytes + #chunk
      f:write(chunk)
      parts = {}
    end
  end
  assert(f:close())
  return bytes
end


local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end


-- The contenders: each reads the file once and returns rows, fields,
-- seconds, the eighth row's note and the last row's (as hex).
local function core_reader(path)
  local t0 = now()
  local reader = assert(core.csv_open(path))
  assert(reader:next())   -- the header
  local rows, fields, eighth, last = 0, 0, nil, nil
  while true do
    local r, why, line = reader:next()
    if r == nil then assert(why == nil, why) break end
    if not r then error(string.format("line %d: %s", line, why)) end
    rows, fields = rows + 1, fields + #r
    if rows == 8 then eighth = r[5] end
    last = r
  end
  reader:close()
  return rows, fields, now() - t0, hex(eighth), hex(last[5])
end


local function lua_rows(path)
  local t0 = now()
  local rows, eighth, last = 0, nil, nil
  for row, err in csv.rows(path) do
    if not row then error(err) end
    rows = rows + 1
    if rows == 8 then eighth = row.note end
    last = row
  end
  return rows, rows * 5, now() - t0, hex(eighth), hex(last.note)
end


local function python(mode)
  return function(path)
    local p = io.popen(string.format("%s bench/csv_python.py %s %s 2>&1", shell_quote(PYTHON), shell_quote(path), mode))
    local out = p:read("a")
    p:close()
    local rows, fields, seconds = out:match("rows=(%d+) fields=(%d+) seconds=([%d.]+)")
    local eighth, last = out:match("eighth=(%x*)"), out:match("last=(%x*)")
    if not rows then error("no result: " .. out) end
    return tonumber(rows), tonumber(fields), tonumber(seconds), eighth, last
  end
end


local ROWS = {
  { key = "mailcast core reader", run = core_reader, what = "mailcast.core csv_open, reader:next() -> {field, ...}" },
  { key = "mailcast.csv.rows", run = lua_rows, what = "rows keyed by column, as a campaign reads its list" },
  { key = "Python csv.reader", run = python("reader"), what = "lists" },
  { key = "Python csv.DictReader", run = python("dict"), what = "dicts keyed by the header" },
}


local dir = assert(io.popen("mktemp -d /tmp/mailcast-bench-csv.XXXXXX")):read("l")
local path = dir .. "/list.csv"
local bytes = write_list(path)
local want_eighth, want_last = hex(select(2, note(8))), hex(select(2, note(N)))
print(string.format("bench/csv: %d rows, %.1f MB, %d rounds interleaved, best of each", N, bytes / 1e6, ROUNDS))
print("running:")
for round = 1, ROUNDS do
  for _, row in ipairs(ROWS) do
    local ok, rows, fields, seconds, eighth, last = pcall(row.run, path)
    if not ok then
      row.failed = tostring(rows)
    elseif rows ~= N or fields ~= 5 * N or eighth ~= want_eighth or last ~= want_last then
      row.failed = string.format("read %s rows, %s fields; the 8th and last notes %s", rows, fields,
        (eighth == want_eighth and last == want_last) and "as written" or "differ from what was written")
    elseif not row.best or seconds < row.best then
      row.best = seconds
    end
    print(string.format("  %-22s round %d  %s", row.key, round,
      row.failed and ("failed: " .. row.failed) or string.format("%.3f s", seconds)))
    io.stdout:flush()
  end
end
os.execute("rm -rf " .. shell_quote(dir))

print()
print(string.format("%-22s %10s %12s %8s", "", "seconds", "rows/s", "MB/s"))
local failed = false
for _, row in ipairs(ROWS) do
  if row.failed then
    print(string.format("%-22s FAILED: %s", row.key, row.failed))
    failed = true
  else
    print(string.format("%-22s %10.3f %12.0f %8.1f", row.key, row.best, N / row.best, bytes / 1e6 / row.best))
  end
end
print()
local function ratio(a, b, label)
  if ROWS[a].failed or ROWS[b].failed then print(label .. "  n/a (a contender failed its check)") return end
  print(string.format("%-44s %6.2fx", label, ROWS[b].best / ROWS[a].best))
end
ratio(1, 3, "mailcast core reader / Python csv.reader")
ratio(2, 4, "mailcast.csv.rows / Python csv.DictReader")
ratio(2, 3, "mailcast.csv.rows / Python csv.reader")
os.exit(failed and 1 or 0)
