-- bench/serve_dashboard: does /dashboard slow the open pixel? `mailcast
-- serve` answers wrk (2 threads, 50 connections) on the pixel, with
-- every open stored, in three conditions per round, interleaved: alone;
-- while curl fetches a campaign's dashboard page in a loop (kept 2 s,
-- so a page program makes it again every 2 s: a report over RECIPIENTS
-- recipients); and, as the peer, Python's http.server answering the same
-- GIF from memory (bench/serve has its tuning). It prints the requests
-- per second and wrk's slowest request of each, the medians, and the
-- ratios. A run whose stored opens differ from the answered ones is void.
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")

local SECONDS = tonumber(arg[1]) or 5
local ROUNDS = tonumber(arg[2]) or 3
local RECIPIENTS = tonumber(arg[3]) or 100000
local SECRET = "bench secret for the tracking tokens"
local TOKEN = "bench dashboard token, long enough"
local PYTHON = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
local runner = arg[-2] or "build/bin/mailcast"
local q = common.shell_quote
local socket = require "socket"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local dir = sh("mktemp -d /tmp/mailcast-bench-dash.XXXXXX"):gsub("%s+$", "")

-- A campaign with one tracked recipient, and one of RECIPIENTS (a third
-- delivered, some deferred, over 3,000 domains) for the dashboard.
local db = dir .. "/bench.mailcast.db"
local store = assert(mailcast.store(db))
local cid = assert(store:campaign("pixel"))
assert(store:add(cid, "reader@example.org", "name\0Reader"))
local rid = store:claim(cid, 1)[1].id
local bulk = assert(store:campaign("bulk"))
assert(store:begin())
for i = 1, RECIPIENTS do assert(store:add(bulk, string.format("user%d@d%d.example", i, i % 3000), "{}")) end
assert(store:commit())
local claimed = assert(store:claim(bulk, math.min(RECIPIENTS // 2, 100000)))
assert(store:begin())
for i, c in ipairs(claimed) do
  if i % 10 == 0 then
    assert(store:finish(c.id, "deferred", { code = 451, enhanced = "4.7.1", text = "try later" }, os.time() + 600))
  else
    assert(store:finish(c.id, "delivered", { code = 250, enhanced = "2.0.0", text = "ok" }))
  end
end
assert(store:commit())
store:close()
local open = assert(mailcast.track.token { kind = "open", campaign = cid, recipient = rid, secret = SECRET })

local function wait_port(file)
  for _ = 1, 250 do
    local f = io.open(file)
    if f then
      local port = tonumber(f:read("l"))
      f:close()
      if port then return port end
    end
    socket.sleep(0.02)
  end
  error("the server did not start: " .. sh("cat " .. q(dir .. "/server.out")))
end

-- requests/s, the slowest request (ms), non-2xx count
local function wrk(url)
  local out = sh(string.format("wrk -t 2 -c 50 -d %ds %s", SECONDS, q(url)))
  local rate = tonumber(out:match("Requests/sec:%s*([%d.]+)"))
  local max, unit = out:match("Latency%s+[%d.]+%a+%s+[%d.]+%a+%s+([%d.]+)(%a+)")
  local ms = tonumber(max) * ({ us = 0.001, ms = 1, s = 1000 })[unit]
  return rate, ms, tonumber(out:match("Non%-2xx or 3xx responses: (%d+)")) or 0, out
end

local median = common.median

local function opens()
  local st = assert(mailcast.store(db))
  local n = st:hits(cid, "opened")
  st:close()
  return n
end

print(string.format("bench/serve_dashboard: wrk -t 2 -c 50 -d %ds on the pixel, %d rounds interleaved;"
  .. " the dashboard's page reports on %d recipients; %s CPUs shared by wrk, curl and the servers",
  SECONDS, ROUNDS, RECIPIENTS, common.cpus()))

local py = "bench/pixel_python.py"

local pid = sh(string.format("MAILCAST_TRACK_SECRET=%s MAILCAST_DASHBOARD_TOKEN=%s %s serve --store %s"
  .. " --listen 127.0.0.1:0 --port-file %s --quiet > %s 2>&1 & echo $!", q(SECRET), q(TOKEN), q(runner), q(db),
  q(dir .. "/port"), q(dir .. "/server.out"))):gsub("%s+$", "")
local port = wait_port(dir .. "/port")
local ppid = sh(string.format("%s %s %s > %s 2>&1 & echo $!", q(PYTHON), q(py), q(dir .. "/pyport"),
  q(dir .. "/py.out"))):gsub("%s+$", "")
local pport = wait_port(dir .. "/pyport")
local pixel = string.format("http://127.0.0.1:%d/o/%s", port, open)
local page = string.format("http://127.0.0.1:%d/dashboard/campaign/%d", port, bulk)

-- curl fetching the page in a loop until stopped; it counts the pages.
local function start_fetching()
  return sh(string.format("(while true; do curl -s -o /dev/null -w '%%{http_code}\\n' -H %s %s >> %s; done)"
    .. " > /dev/null 2>&1 & echo $!", q("Authorization: Bearer " .. TOKEN), q(page), q(dir .. "/pages"))):gsub("%s+$", "")
end

-- How long the page takes to make (the first fetch: nothing is kept yet).
local t0 = socket.gettime()
assert(sh(string.format("curl -s -o /dev/null -w '%%{http_code}' -H %s %s", q("Authorization: Bearer " .. TOKEN),
  q(page))) == "200", "the dashboard page failed")
local making = socket.gettime() - t0
print(string.format("  the page takes %.2f s to make (its program's SQL over the store); kept 2 s", making))

local NAMES = { "pixel alone", "pixel, dashboard fetched in a loop", "Python http.server pixel (from memory)" }
local rates, slowest, ok = { {}, {}, {} }, { {}, {}, {} }, true
for round = 1, ROUNDS do
  for i = 1, 3 do
    local loop
    if i == 2 then loop = start_fetching() end
    local before = opens()
    local rate, ms, bad = wrk(i == 3 and string.format("http://127.0.0.1:%d/o/x", pport) or pixel)
    if loop then os.execute("kill " .. loop) end
    local note = ""
    if i < 3 then
      socket.sleep(0.5)   -- the last batch is written every 100 ms
      local stored = opens() - before
      if bad ~= 0 then ok, note = false, string.format("  VOID: %d non-2xx", bad) end
      note = note .. string.format("  (%d opens stored)", stored)
    end
    rates[i][round], slowest[i][round] = rate, ms
    print(string.format("  round %d  %-42s %8.0f req/s  slowest %7.1f ms%s", round, NAMES[i], rate, ms, note))
  end
end
local pages, good = 0, 0
for line in (common.read_file(dir .. "/pages") or ""):gmatch("[^\n]+") do
  pages = pages + 1
  if line == "200" then good = good + 1 end
end
os.execute("kill " .. pid .. " " .. ppid)

print(string.format("\nmedians of %d rounds:", ROUNDS))
for i = 1, 3 do
  print(string.format("  %-42s %8.0f req/s  slowest %7.1f ms", NAMES[i], median(rates[i]), median(slowest[i])))
end
print(string.format("  dashboard pages fetched meanwhile: %d (%d answered 200); one takes %.2f s to make",
  pages, good, making))
if good ~= pages then ok = false end
print(string.format("\npixel with the dashboard fetched / pixel alone: %.2f", median(rates[2]) / median(rates[1])))
print(string.format("pixel with the dashboard fetched / Python http.server: %.1fx", median(rates[2]) / median(rates[3])))
os.execute("rm -rf " .. q(dir))
return ok and 0 or 1
