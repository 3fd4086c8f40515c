-- The campaign bench/campaign runs through the runner, as a user runs
-- one: bench/send's newsletter (bench/newsletter.lua: text and HTML,
-- about 5 KB once built) personalised with {{name}} in both bodies and
-- the subject, to every row of a CSV (email,name), through the store, to
-- a local smtp-sink.
--
--   MAILCAST_BENCH_CSV=FILE MAILCAST_BENCH_PORT=PORT \
--     mailcast run bench/campaign_script.lua --store DIR/bench.mailcast.db --quiet
local mailcast = require "mailcast"

local CSV = os.getenv("MAILCAST_BENCH_CSV")
local PORT = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_PORT") or ""))
assert(CSV and PORT, "campaign_script.lua: set MAILCAST_BENCH_CSV and MAILCAST_BENCH_PORT (bench/campaign does)")

local newsletter = dofile("bench/newsletter.lua")

return mailcast.campaign{
  name = "bench",
  from = newsletter.from,
  subject = newsletter.subject,
  text = newsletter.text,
  html = newsletter.html,
  recipients = CSV,
  route = { host = "127.0.0.1", port = PORT, tls = "none" },
  limits = { connections = 10, messages_per_connection = 1000 },
}
