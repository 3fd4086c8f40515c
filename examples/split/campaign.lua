-- Split routing: colleagues' addresses (staff.example.com) go through the
-- company's internal relay; everyone else straight to their own mail
-- servers (direct MX delivery: MX records in preference order, the next
-- host when one is down, each MX host set with its own connections and
-- rate, Gmail-sized domains held to their own limits).
--
--   mailcast run examples/split/campaign.lua
--
-- SMART_HOST, SMART_PORT: the internal relay (default localhost:25);
-- DNS_SERVER (host:port): the resolver for MX look-ups (default: the
-- system's); MX_PORT: the port of MX hosts (25; tests use another).
local mailcast = require "mailcast"

local env = os.getenv
local mx_port = tonumber(env("MX_PORT")) or 25

return mailcast.campaign{
  name = "staff-and-customers",
  from = "Example Corp <news@example.com>",
  subject = "Season's greetings, {{first_name}}",
  text = "Dear {{first_name}},\n\nthank you for this year.\n",
  recipients = "recipients.csv",
  routes = {
    internal = { host = env("SMART_HOST") or "localhost", port = tonumber(env("SMART_PORT")) or 25, tls = "none" },
    direct = {
      mx = true, port = mx_port, tls = "opportunistic", helo = "mail.example.com",
      dns_server = env("DNS_SERVER"),
      limits = { connections = 2, messages_per_connection = 20, rate = "10/s" },
      -- A big provider gets one connection and its own pace.
      domains = { ["gmail.com"] = { connections = 1, rate = "60/m" } },
    },
  },
  default_route = "direct",
  route = function(message)
    if message.domain == "staff.example.com" then return "internal" end
    return "direct"
  end,
  on_failed = function(address, reply)
    io.stderr:write("failed: ", address, ": ", reply.code, " ", reply.text, "\n")
  end,
}
