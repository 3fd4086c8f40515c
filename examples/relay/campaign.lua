-- A campaign through your provider's relay: the submission port (587),
-- STARTTLS required with the server's certificate and name checked, then
-- AUTH. The credentials come from the environment, never from the script,
-- and never appear in a log.
--
--   RELAY_HOST=smtp.example.net RELAY_USER=me@example.net \
--   RELAY_PASSWORD=... mailcast run examples/relay/campaign.lua
--
-- RELAY_PORT (default 587) and RELAY_CA_FILE (default: the system's CA
-- store) are read too; with RELAY_IMPLICIT_TLS=1 it speaks TLS from the
-- first byte (port 465) instead of STARTTLS.
local mailcast = require "mailcast"

local env = os.getenv

return mailcast.campaign{
  name = "opening-hours",
  from = "Boulangerie Martin <news@example.net>",
  subject = "{{first_name}}, our new opening hours in {{city}}",
  text = "Hello {{first_name}},\n\nfrom December our shop in {{city}} opens at 7:00, Sundays included.\n\n" ..
         "See you soon,\nBoulangerie Martin\n",
  html = "<p>Hello {{first_name}},</p><p>from December our shop in <b>{{city}}</b> opens at 7:00, " ..
         "Sundays included.</p><p>See you soon,<br>Boulangerie Martin</p>",
  recipients = "recipients.csv",
  route = {
    host = env("RELAY_HOST") or "smtp.example.net",
    port = tonumber(env("RELAY_PORT")) or (env("RELAY_IMPLICIT_TLS") and 465 or 587),
    implicit_tls = env("RELAY_IMPLICIT_TLS") == "1",
    tls = "verify",                 -- no TLS, or a certificate that does not check out: nothing is sent
    ca_file = env("RELAY_CA_FILE"),
    user = env("RELAY_USER"),
    password = env("RELAY_PASSWORD"),
  },
  -- One connection, up to 50 messages on it: what most providers accept.
  limits = { connections = 1, messages_per_connection = 50 },
}
