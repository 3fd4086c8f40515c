-- One timed mailcast.send for bench/send's smtpd rows, in a runner of its
-- own so that OpenSSL and the smtpd rows' buffers stay out of the peak
-- memory bench/send measures for its other rows. bench/send.lua runs it:
--
--   mailcast run bench/send_smtpd.lua FIXTURE_DIR PORT COUNT TLS CONNECTIONS
--
-- Sends the prebuilt message (FIXTURE_DIR/prebuilt.eml) to COUNT
-- recipients, reader<i>@example.org, over CONNECTIONS connections to
-- 127.0.0.1:PORT with the route's tls = TLS, and prints
-- "messages=M seconds=S peak_kb=K" once every result says "sent", or why
-- not. The time starts when the list is made, as in bench/send.lua.
local common = dofile("bench/common.lua")

local dir, port, count, tls, connections = arg[1], tonumber(arg[2]), math.tointeger(tonumber(arg[3])),
  arg[4], math.tointeger(tonumber(arg[5]))
assert(dir and port and count and tls and connections,
  "usage: mailcast run bench/send_smtpd.lua FIXTURE_DIR PORT COUNT TLS CONNECTIONS")
local raw = assert(common.read_file(dir .. "/prebuilt.eml"), "no prebuilt.eml in " .. dir)
local from = dofile("bench/newsletter.lua").from.address
local now = require("socket").gettime

local t0 = now()
local list = {}
for i = 1, count do
  list[i] = { from = from, to = { string.format("reader%d@example.org", i - 1) }, message = raw }
end
local results, state = common.send_list({ host = "127.0.0.1", port = port, tls = tls }, list, connections)
local seconds = now() - t0
local ok, why = common.all_sent(results, state, count)
if not ok then
  print(why)
  os.exit(1)
end
print(string.format("messages=%d seconds=%.6f peak_kb=%d", count, seconds, common.vm("VmHWM")))
