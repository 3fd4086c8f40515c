-- A week later: the same news again to those who got the spring mail
-- but did not open it (an image proxy's fetch is not an open), each with
-- the fields their row had. The segment is read from the store this
-- campaign runs in (here the spring campaign's: `store = "FILE"` in the
-- segment names another) and fixed when this campaign first runs: run it
-- again after a pause and it is the same list, whoever opened since.
--
--   mailcast run examples/abtest/resend.lua --store examples/abtest/spring.mailcast.db
local mailcast = require "mailcast"

return mailcast.campaign{
  name = "spring-reminder",
  from = "Example Shop <news@example.com>",
  subject = "In case you missed it, {{first_name}}: spring is here",
  text = "Dear {{first_name}},\n\nour spring collection is in.\n",
  recipients = mailcast.segment{ campaign = "spring", delivered = true, opened = false },
  route = { host = "127.0.0.1", port = tonumber(os.getenv("SINK_PORT")) or 2525, tls = "none" },
}
