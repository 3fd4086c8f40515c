-- The classic "groups of 10": a list sent through an ISP's relay that
-- allows a few messages a minute, ten per connection, with a pause
-- between connections, as the desktop mailers did it. Stop it at any
-- time (Ctrl-C) and run it again: it goes on where it stopped.
--
--   ISP_HOST=mail.isp.example mailcast run examples/throttled/campaign.lua
--
-- ISP_PORT (default 25), ISP_RATE (default "20/m": messages) and
-- ISP_CONNECT_RATE (default "2/m": new connections) are read too.
local mailcast = require "mailcast"

local env = os.getenv

return mailcast.campaign{
  name = "winter-sale",
  from = "Boulangerie Martin <news@example.net>",
  subject = "Winter sale, {{first_name}}",
  text = "Hello {{first_name}},\n\nthe winter sale starts on Monday in {{city}}.\n",
  recipients = "recipients.csv",
  route = {
    host = env("ISP_HOST") or "mail.isp.example",
    port = tonumber(env("ISP_PORT")) or 25,
    tls = "opportunistic",          -- STARTTLS when the ISP offers it
  },
  limits = {
    connections = 1,                -- one at a time
    messages_per_connection = 10,   -- a group: ten messages, then QUIT
    rate = env("ISP_RATE") or "20/m",
    connect_rate = env("ISP_CONNECT_RATE") or "2/m",
  },
  -- An ISP that says "slow down" (421, "too many messages") is obeyed:
  -- the rate halves at once and grows back as deliveries succeed.
  retry = { first = 300, max_age = 86400 },
}
