-- The accounting log's writer (in C) against the lines the log has
-- always held: the fields of accounting.TRANSACTION_FIELDS and
-- OUTCOME_FIELDS in order, as core.json_values writes them, whatever a
-- server's reply holds; and whole lines in a file several logs share.
local accounting = require "mailcast.accounting"
local core = require "mailcast.core"
local jsonl = require "mailcast.jsonl"
local json = require "dkjson"
local read = require("support.mime").read

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

local serial = 0
local function fresh_path()
  serial = serial + 1
  return string.format("%s/log%d.jsonl", dir, serial)
end

local function lines_of(s)
  local lines = {}
  for line in s:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return lines
end

-- Decodes one line; fails the test when it is not a JSON object.
local function decode(line)
  local value, _, err = json.decode(line, 1, nil)
  assert(err == nil, "not JSON: " .. tostring(err) .. ": " .. line:sub(1, 200))
  assert.equal("table", type(value))
  return value
end

-- The lines as they were made in Lua before: the splits by these
-- patterns, the values through core.json_values.
local function split_server(server)
  if not server then return nil, nil end
  local name, ip = server:match("^(.-)%s*%[(.-)%]$")
  if not name then return server, nil end
  return name ~= "" and name or nil, ip
end

local function split_tls(tls)
  if not tls then return nil, nil end
  local version, cipher = tls:match("^(%S+)%s*(.*)$")
  return version, cipher ~= "" and cipher or nil
end

local TIME = "TIME"

local function lua_transaction(campaign, recipient, route, result, rcpt, attempt)
  local mx, ip = split_server(result.server)
  local version, cipher = split_tls(result.tls)
  local enhanced = rcpt.enhanced
  return core.json_values(accounting.TRANSACTION_FIELDS,
    TIME, "transaction", campaign, recipient, route, mx, ip, version, cipher,
    rcpt.status, rcpt.code, enhanced ~= "" and enhanced or nil, rcpt.text, rcpt.reason, rcpt.category,
    result.duration, attempt)
end

local function lua_outcome(campaign, recipient, state, reply, attempts)
  local enhanced = reply and reply.enhanced
  return core.json_values(accounting.OUTCOME_FIELDS,
    TIME, "outcome", campaign, recipient, state, reply and reply.code,
    enhanced ~= "" and enhanced or nil, reply and reply.text, reply and reply.reason,
    reply and reply.category, attempts)
end

-- Writes the records (each {"transaction" | "outcome", args...}) with
-- a C log and returns its lines, each line's time checked (the wall
-- clock's, to the millisecond, between before and after) and put as TIME.
local function c_lines(records)
  local path = fresh_path()
  local log = assert(accounting.open(path))
  local before = jsonl.iso_time(core.time())
  for _, r in ipairs(records) do log[r[1]](log, table.unpack(r, 2, r.n)) end
  local after = jsonl.iso_time(core.time())
  assert(log:close())
  local out = {}
  for i, line in ipairs(lines_of(read(path))) do
    local time = line:match('^{"time":"([^"]*)"')
    assert.truthy(time, line:sub(1, 100))
    assert.truthy(time:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), time)
    assert.is_true(before <= time and time <= after, before .. " <= " .. time .. " <= " .. after)
    out[i] = '{"time":"TIME"' .. line:sub(#time + 11)
  end
  return out
end

local function transaction(...) return { "transaction", n = select("#", ...) + 1, ... } end
local function outcome(...) return { "outcome", n = select("#", ...) + 1, ... } end

-- The C log's lines are those of the Lua writer, record for record.
local function same_as_lua(records)
  local want = {}
  for i, r in ipairs(records) do
    local make = r[1] == "transaction" and lua_transaction or lua_outcome
    want[i] = make(table.unpack(r, 2, r.n))
  end
  local got = c_lines(records)
  assert.equal(#want, #got)
  for i = 1, #want do
    assert.equal(want[i], got[i])
    decode(got[i])
  end
  return got
end

local SERVER = "mx.example.com [192.0.2.1]"
local TLS = "TLSv1.3 TLS_AES_256_GCM_SHA384"
local SENT = { status = "sent", code = 250, enhanced = "2.0.0", text = "2.0.0 Ok: queued as 4XyZ" }

describe("the accounting log", function()
  it("writes a transaction and an outcome as the Lua writer did", function()
    local got = same_as_lua {
      transaction("news", "a@example.com", "relay", { server = SERVER, tls = TLS, duration = 0.123456789 }, SENT, 1),
      outcome("news", "a@example.com", "delivered", SENT, 1),
    }
    local t = decode(got[1])
    assert.equal("mx.example.com", t.mx)
    assert.equal("192.0.2.1", t.ip)
    assert.equal("TLSv1.3", t.tls_version)
    assert.equal("TLS_AES_256_GCM_SHA384", t.tls_cipher)
    assert.equal(0.123457, t.duration)
  end)

  it("escapes CR, LF, quotes and backslashes in every text field", function()
    local hostile = 'say "hi"\r\n.\r\nQUIT\\ \0 \27'
    local got = same_as_lua {
      transaction(hostile, hostile, hostile, { server = hostile .. " [" .. hostile .. "]", tls = hostile,
        duration = 1 }, { status = "failed", code = 550, enhanced = "5.1.1", text = hostile, reason = hostile,
        category = hostile }, 2),
      outcome(hostile, hostile, "failed", { code = 550, text = hostile, reason = hostile }, 2),
    }
    assert.equal(hostile, decode(got[2]).text)
    for _, line in ipairs(got) do assert.falsy(line:find("[\r\n]")) end
  end)

  it("keeps bytes that are not UTF-8 as Latin-1 characters", function()
    local bytes = "550 caf\233 \255\254 \192\128 end"
    local got = same_as_lua {
      transaction("c\200", "r@\255", "relay", { server = "mx\233 [ip\254]", tls = "v\255 c\254", duration = 0.5 },
        { status = "failed", code = 550, text = bytes }, 1),
      outcome("c", "r", "failed", { code = 550, text = bytes }, 1),
    }
    assert.equal("550 café ÿþ À\194\128 end", decode(got[2]).text)
  end)

  it("splits every shape of server and TLS string as the patterns did", function()
    local servers = { "mx.example.com", "", "[192.0.2.1]", "  [1]", "mx\t \n[ip]", "a [b] c]", "a [b", "a b]",
      "[]", "x []", "a[b][c]", "]", "[", "mx [ip] ", "a\0b [c\0d]" }
    local tlss = { "TLSv1.2", "", " TLSv1.3 C", "TLSv1.3   \t C D ", "V\n", "V \t" }
    local records = {}
    for _, s in ipairs(servers) do
      records[#records + 1] = transaction("c", "r", "relay", { server = s, duration = 0.25 }, SENT, 1)
    end
    for _, t in ipairs(tlss) do
      records[#records + 1] = transaction("c", "r", "relay", { server = SERVER, tls = t }, SENT, 1)
    end
    local got = same_as_lua(records)
    assert.equal("mx.example.com", decode(got[1]).mx)   -- no brackets: all of it is the name
    assert.is_nil(decode(got[1]).ip)
    assert.is_nil(decode(got[3]).mx)                     -- nothing before the brackets: no name
    assert.equal("192.0.2.1", decode(got[3]).ip)
  end)

  it("leaves out nil fields: no server, no TLS, no reply, an empty enhanced code", function()
    local got = same_as_lua {
      transaction("c", "r", nil, {}, { status = "failed", code = 0, enhanced = "", text = "refused" }, nil),
      transaction("c", "r", "relay", { server = SERVER }, { status = "deferred", code = 451, enhanced = false }, 3),
      outcome("c", "r", "skipped", nil, 0),
      outcome("c", "r", "suppressed", { code = 0, text = "on the list" }, nil),
      outcome(nil, nil, nil, nil, nil),
    }
    local t = decode(got[1])
    assert.is_nil(t.enhanced)
    assert.is_nil(t.tls_version)
    assert.is_nil(t.mx)
    assert.same({ time = "TIME", type = "outcome" }, decode(got[5]))
  end)

  it("writes integers as they are and fractions to the microsecond", function()
    local records = {}
    for _, d in ipairs({ 0, 3, -7, 2.0, 0.5, 1e-7, 0.0000005, 123.4567895, 1e15, -1.25, 1e300, 1 / 0, 0 / 0,
      math.maxinteger, math.mininteger }) do
      records[#records + 1] = transaction("c", "r", "relay", { server = SERVER, duration = d }, SENT, d)
    end
    records[#records + 1] = outcome("c", "r", true, { code = 250.5, text = false }, false)
    local got = same_as_lua(records)
    assert.truthy(got[2]:find('"duration":3,"attempt":3}', 1, true))
    assert.truthy(got[4]:find('"duration":2.0,', 1, true))
    assert.truthy(got[12]:find('"duration":null,', 1, true))
  end)

  it("writes a reply of a megabyte whole on one line", function()
    local big = string.rep("x\"\r\n\233", 1024 * 1024 // 5)
    local got = same_as_lua {
      transaction("c", "r", "relay", { server = SERVER, tls = TLS, duration = 1.5 },
        { status = "failed", code = 554, text = big }, 1),
      outcome("c", "r", "failed", { code = 554, text = big }, 1),
      outcome("c", "r2", "delivered", SENT, 1),
    }
    assert.equal(big:gsub("\233", "é"), decode(got[1]).text)
  end)

  it("writes nothing until flushed, then all records in order", function()
    local path = fresh_path()
    local log = assert(accounting.open(path))
    log:outcome("c", "1", "delivered", SENT, 1)
    log:outcome("c", "2", "delivered", SENT, 1)
    assert.equal("", read(path))
    assert.is_true(log:flush())
    assert.same({ "1", "2" }, { decode(lines_of(read(path))[1]).recipient, decode(lines_of(read(path))[2]).recipient })
    assert.is_true(log:flush())   -- nothing more: nothing written
    assert.equal(2, #lines_of(read(path)))
    log:close()
  end)

  it("appends to what the file held", function()
    local path = fresh_path()
    local f = assert(io.open(path, "w"))
    f:write('{"earlier":1}\n')
    f:close()
    local log = assert(accounting.open(path))
    log:outcome("c", "r", "delivered", SENT, 1)
    log:close()
    local lines = lines_of(read(path))
    assert.equal('{"earlier":1}', lines[1])
    assert.equal("r", decode(lines[2]).recipient)
  end)

  it("never writes part of a record whose making raised", function()
    local path = fresh_path()
    local log = assert(accounting.open(path))
    log:outcome("c", "before", "delivered", SENT, 1)
    local rude = setmetatable({ server = SERVER }, { __index = function(_, k)
      if k == "duration" then error("no duration") end
    end })
    assert.has_error(function() log:transaction("c", "broken", "relay", rude, SENT, 1) end)
    log:outcome("c", "after", "delivered", SENT, 1)
    assert(log:close())
    local text = read(path)
    assert.falsy(text:find("broken", 1, true))
    local lines = lines_of(text)
    assert.equal(2, #lines)
    assert.equal("before", decode(lines[1]).recipient)
    assert.equal("after", decode(lines[2]).recipient)
  end)

  it("creates the file with the mode io.open gives it", function()
    local mine, theirs = fresh_path(), fresh_path()
    assert(accounting.open(mine)):close()
    assert(io.open(theirs, "a")):close()
    local function mode(p)
      local pipe = assert(io.popen("stat -c %a " .. p))
      local m = pipe:read("a")
      pipe:close()
      return m
    end
    assert.equal(mode(theirs), mode(mine))
  end)

  it("says why a file cannot be opened, as io.open did", function()
    local path = dir .. "/no/such/dir/log.jsonl"
    local _, io_err = io.open(path, "a")
    local log, err = accounting.open(path)
    assert.is_nil(log)
    assert.equal("accounting log: " .. io_err, err)
  end)

  it("refuses every use once closed, and a second close is harmless", function()
    local log = assert(accounting.open(fresh_path()))
    assert.is_true(log:close())
    assert.is_true(log:close())
    assert.error_matches(function() log:outcome("c", "r", "delivered", SENT, 1) end, "closed accounting log")
    assert.error_matches(function()
      log:transaction("c", "r", "relay", { server = SERVER }, SENT, 1)
    end, "closed accounting log")
    assert.error_matches(function() log:flush() end, "closed accounting log")
  end)

  it("closes by itself at the end of a to-be-closed variable, written whole", function()
    local path = fresh_path()
    do
      local log <close> = assert(accounting.open(path))
      log:outcome("c", "r", "delivered", SENT, 1)
    end
    assert.equal(1, #lines_of(read(path)))
  end)

  it("writes what it holds when collected without a close", function()
    local path = fresh_path()
    do
      local log = assert(accounting.open(path))
      log:outcome("c", "r", "delivered", SENT, 1)
    end
    collectgarbage()
    collectgarbage()
    assert.equal(1, #lines_of(read(path)))
  end)

  it("lets two logs append to one file in turns, every line whole", function()
    local path = fresh_path()
    local a, b = assert(accounting.open(path)), assert(accounting.open(path))
    local big = string.rep("y", 100000)
    for round = 1, 20 do
      for _, log in ipairs({ a, b }) do
        for i = 1, 10 do
          log:outcome(log == a and "a" or "b", tostring(round * 100 + i), "failed",
            { code = 550, text = i == 5 and big or "no" }, round)
        end
      end
      a:flush()
      b:flush()
    end
    a:close()
    b:close()
    local count = { a = 0, b = 0 }
    local lines = lines_of(read(path))
    for _, line in ipairs(lines) do
      local r = decode(line)
      count[r.campaign] = count[r.campaign] + 1
    end
    assert.same({ a = 200, b = 200 }, count)
  end)

  it("lets two processes append to one file at once, every line whole", function()
    local path = fresh_path()
    local big = string.rep("z", 300000)
    local pids = {}
    for _, name in ipairs({ "p", "q" }) do
      local pid = assert(core.fork())
      if pid == 0 then
        local ok = pcall(function()
          local log = assert(accounting.open(path))
          for round = 1, 50 do
            for i = 1, 20 do
              log:outcome(name, tostring(i), "failed", { code = 550, text = i % 7 == 0 and big or "no" }, round)
            end
            assert(log:flush())
          end
          assert(log:close())
        end)
        core.exit_now(ok and 0 or 1)
      end
      pids[#pids + 1] = pid
    end
    for _, pid in ipairs(pids) do assert.equal(0, core.wait(pid)) end
    local text = read(path)
    assert.equal("\n", text:sub(-1))
    local count = { p = 0, q = 0 }
    for _, line in ipairs(lines_of(text)) do
      local r = decode(line)
      count[r.campaign] = count[r.campaign] + 1
    end
    assert.same({ p = 1000, q = 1000 }, count)
  end)
end)
