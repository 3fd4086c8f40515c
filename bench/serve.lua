-- bench/serve: `mailcast serve` under wrk (2 threads, 50 connections)
-- on the open pixel and on a click redirect, with every event written to
-- the store, next to Python's http.server (ThreadingHTTPServer, the
-- standard library's, with disable_nagle_algorithm as its documentation
-- advises) answering the same GIF from memory and storing nothing, in
-- interleaved rounds; the ratio is of the medians. After each mailcast
-- run the store's new events must equal the requests the server
-- answered (its /metrics), or the run is void.
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")

local SECONDS = tonumber(arg[1]) or 5
local ROUNDS = tonumber(arg[2]) or 3
local SECRET = "bench secret for the tracking tokens"
local PYTHON = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
local runner = arg[-2] or "build/bin/mailcast"
local q = common.shell_quote

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local dir = sh("mktemp -d /tmp/mailcast-bench-serve.XXXXXX"):gsub("%s+$", "")

-- A store with one campaign, one recipient and one tracked link.
local db = dir .. "/bench.mailcast.db"
local store = assert(mailcast.store(db))
local cid = assert(store:campaign("bench"))
assert(store:add(cid, "reader@example.org", "name\0Reader"))
local rid = store:claim(cid, 1)[1].id
assert(store:link(cid, 1, "https://example.com/news"))
store:close()
local open = assert(mailcast.track.token { kind = "open", campaign = cid, recipient = rid, secret = SECRET })
local click = assert(mailcast.track.token { kind = "click", campaign = cid, recipient = rid, link = 1, secret = SECRET })

local function wait_port(file)
  for _ = 1, 250 do
    local f = io.open(file)
    if f then
      local port = tonumber(f:read("l"))
      f:close()
      if port then return port end
    end
    require("socket").sleep(0.02)
  end
  error("the server did not start: " .. sh("cat " .. q(dir .. "/server.out")))
end

local function wrk(url)
  local out = sh(string.format("wrk -t 2 -c 50 -d %ds %s", SECONDS, q(url)))
  local requests = tonumber(out:match("(%d+) requests in"))
  local rate = tonumber(out:match("Requests/sec:%s*([%d.]+)"))
  local non2xx = tonumber(out:match("Non%-2xx or 3xx responses: (%d+)")) or 0
  return requests, rate, non2xx, out
end

local function metric(port, name)
  local text = sh(string.format("%s -c %s", PYTHON, q(string.format(
    "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:%d/metrics').read().decode())", port))))
  local total = 0
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, #name) == name then total = total + (tonumber(line:match("%s([%d.]+)$")) or 0) end
  end
  return total
end

local median = common.median

print(string.format("bench/serve: wrk -t 2 -c 50 -d %ds on 127.0.0.1, %d rounds interleaved; %s CPUs shared by wrk"
  .. " and the server", SECONDS, ROUNDS, common.cpus()))

-- Python's http.server, tuned as its documentation says (bench/pixel_python.py).
local py = "bench/pixel_python.py"

local pid = sh(string.format("MAILCAST_TRACK_SECRET=%s %s serve --store %s --listen 127.0.0.1:0 --port-file %s --quiet > %s 2>&1 & echo $!",
  q(SECRET), q(runner), q(db), q(dir .. "/port"), q(dir .. "/server.out"))):gsub("%s+$", "")
local port = wait_port(dir .. "/port")
local ppid = sh(string.format("%s %s %s > %s 2>&1 & echo $!", q(PYTHON), q(py), q(dir .. "/pyport"), q(dir .. "/py.out"))):gsub("%s+$", "")
local pport = wait_port(dir .. "/pyport")

local CASES = { { "mailcast serve, GET /o/TOKEN (pixel)", "/o/" .. open, "opened", "open" },
                { "mailcast serve, GET /c/TOKEN (302)", "/c/" .. click, "clicked", "click" } }
local rates, python, ok, notes = { {}, {} }, {}, true, { {}, {} }
local stored_before, answered_before = { 0, 0 }, { 0, 0 }
for round = 1, ROUNDS do
  for i, case in ipairs(CASES) do
    local requests, rate, bad = wrk(string.format("http://127.0.0.1:%d%s", port, case[2]))
    require("socket").sleep(0.5)   -- the last batch is written every 100 ms
    local st = assert(mailcast.store(db))
    local stored = st:hits(cid, case[3])
    st:close()
    local answered = metric(port, 'mailcast_http_requests_total{kind="' .. case[4] .. '"}')
    local ds, da = stored - stored_before[i], answered - answered_before[i]
    stored_before[i], answered_before[i] = stored, answered
    if bad ~= 0 or ds ~= da then
      ok = false
      notes[i][#notes[i] + 1] = string.format("round %d VOID: %d non-2xx/3xx, %d answered, %d stored", round, bad, da, ds)
    end
    rates[i][round] = rate
    print(string.format("  round %d  %-44s %10.0f req/s  (%d answered, %d stored, wrk counted %d)", round, case[1],
      rate, da, ds, requests))
  end
  local _, prate = wrk(string.format("http://127.0.0.1:%d/o/x", pport))
  python[round] = prate
  print(string.format("  round %d  %-44s %10.0f req/s", round, "Python http.server (pixel from memory)", prate))
end
os.execute("kill " .. pid .. " " .. ppid)

print(string.format("\nmedians of %d rounds:", ROUNDS))
for i, case in ipairs(CASES) do
  print(string.format("  %-44s %10.0f req/s  %s", case[1], median(rates[i]),
    #notes[i] == 0 and "every answered request stored" or table.concat(notes[i], "; ")))
end
print(string.format("  %-44s %10.0f req/s  nothing stored", "Python http.server (pixel from memory)", median(python)))
print(string.format("\nmailcast serve pixel / Python http.server (disable_nagle_algorithm): %.1fx",
  median(rates[1]) / median(python)))
os.execute("rm -rf " .. q(dir))
return ok and 0 or 1
