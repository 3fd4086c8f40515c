-- Direct MX delivery against a relay: the same N prebuilt messages, one
-- recipient each over 1,000 domains, sent by mailcast.send
--   direct   to each domain's MX host (an MX look-up per domain, then the
--            address of its host; four MX hosts, four sinks),
--   one-sink the same through MX names that all lead to the relay's sink
--            (what the look-ups and the four destinations cost alone),
--   relay    through one relay route to one sink,
-- with the same connections in all (three per MX host, twelve for the
-- relay). Rounds interleaved; each row keeps its best. Run it through
-- bench/direct, which starts dnsmasq and the sinks.
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")
local socket = require "socket"

local DIR, PORT, DNS, DOMAINS = arg[1], tonumber(arg[2]), arg[3], tonumber(arg[4])
assert(DIR and PORT and DNS and DOMAINS, "bench/direct.lua: run it through bench/direct")
local N = math.tointeger(tonumber(arg[5] or os.getenv("MAILCAST_BENCH_N") or 20000))
assert(N and N > 0, "bench/direct: N must be a positive integer")
local ROUNDS = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_ROUNDS") or 3))
local PER_HOST = 3              -- connections per MX host
local HOSTS = 4
local MPC = 100                 -- messages per connection, in every row
local now = socket.gettime

for k = 1, HOSTS do
  assert(common.wait_listening("127.0.0." .. k, PORT), "bench/direct: sink " .. k .. " is not listening")
end

-- The newsletter (bench/newsletter.lua) built once, as bench/send's
-- prebuilt row sends it.
local NEWSLETTER = dofile("bench/newsletter.lua")
local MESSAGE = assert(mailcast.message({ from = NEWSLETTER.from, to = "reader@example.org",
  subject = "Your November news", text = NEWSLETTER.text, html = NEWSLETTER.html }))

-- The messages of a row: recipient i in domain prefix .. (i % DOMAINS + 1).
local function messages(prefix)
  local list = {}
  for i = 0, N - 1 do
    list[i + 1] = { from = "news@example.com", to = { string.format("reader%d@%s%d.test", i, prefix,
      i % DOMAINS + 1) }, message = MESSAGE }
  end
  return list
end

-- Messages the four sinks have counted so far.
local function counted()
  local total = 0
  for k = 1, HOSTS do
    local _, mesg = common.sink_counts(DIR .. "/sink" .. k .. ".log")
    total = total + mesg
  end
  return total
end

local function wait_counted(want)
  local deadline = now() + 5
  while counted() < want and now() < deadline do socket.sleep(0.02) end
  return counted()
end

local ROWS = {
  { key = "direct", prefix = "d", route = { mx = true, port = PORT, tls = "none", dns_server = DNS,
    helo = "bench.test" }, limits = { connections = PER_HOST, messages_per_connection = MPC } },
  { key = "one-sink", prefix = "o", route = { mx = true, port = PORT, tls = "none", dns_server = DNS,
    helo = "bench.test" }, limits = { connections = PER_HOST, messages_per_connection = MPC } },
  { key = "relay", prefix = "d", route = { host = "127.0.0.1", port = PORT, tls = "none", helo = "bench.test" },
    limits = { connections = PER_HOST * HOSTS, messages_per_connection = MPC } },
}

local function round(row)
  local list = messages(row.prefix)
  local before = counted()
  local t0 = now()
  local results, err = mailcast.send(row.route, list, row.limits)
  local seconds = now() - t0
  local ok, why = common.all_sent(results, err, N)
  if not ok then return nil, why end
  local got = wait_counted(before + N) - before
  if got ~= N then return nil, string.format("the sinks counted %d, mailcast.send says %d", got, N) end
  return N / seconds
end

print(string.format("bench/direct: %d messages of %d bytes to %d domains, %d rounds", N, #MESSAGE, DOMAINS, ROUNDS))
common.run_rounds(ROWS, ROUNDS, function(row, r)
  local rate, why = round(row)
  common.print_round(row.key, r, rate, why)
  if rate then
    row.ok, row.rate = true, math.max(row.rate or 0, rate)
  else
    row.broken, row.ok, row.check = true, false, why
  end
end)
local failed = common.print_results(ROWS, function(row) return string.format("%.1f msg/s (best round)", row.rate) end)
common.ratio(ROWS, 1, 3, "direct MX / relay", 0.8, 34)
common.ratio(ROWS, 2, 3, "direct MX, relay's sink / relay", nil, 34)
os.exit(failed and 1 or 0)
