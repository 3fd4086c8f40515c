-- An A/B test of two subject lines (and a second layout): a fifth of the
-- list gets one or the other, split evenly; four hours after that test
-- group is sent, the one more people opened goes to the other four
-- fifths. `mailcast run --wait` waits for the pick (Ctrl-C stops it; run
-- the same command again later and it goes on); without --wait the run
-- ends once the test group is out and a later run sends the winner.
--
--   mailcast serve --store spring.mailcast.db &     # counts the opens
--   mailcast run examples/abtest/campaign.lua --wait
--   mailcast report examples/abtest/campaign.lua     # each variant's figures
--
-- SINK_PORT: where the mail goes (a `mailcast sink` on 127.0.0.1; 2525).
-- TEST_WAIT: how long the test runs before the pick (default "4h").
local mailcast = require "mailcast"

return mailcast.campaign{
  name = "spring",
  from = "Example Shop <news@example.com>",
  subject = "Spring is here, {{first_name}}",
  text = "Dear {{first_name}},\n\nour spring collection is in.\n",
  html = [[<p>Dear {{first_name}},</p><p>our <a href="https://shop.example.com/spring">spring
collection</a> is in.</p>]],
  recipients = "recipients.csv",
  variants = {
    { subject = "{{first_name}}, the spring collection is in" },
    { subject = "20% off spring, {{first_name}}", html = [[<p>Dear {{first_name}},</p>
<p><b>20% off</b> <a href="https://shop.example.com/spring">the spring collection</a> this week.</p>]] },
  },
  test = { fraction = 0.2, wait = os.getenv("TEST_WAIT") or "4h", pick = "opens" },
  route = { host = "127.0.0.1", port = tonumber(os.getenv("SINK_PORT")) or 2525, tls = "none" },
  track = { base = "https://t.example.com", secret = os.getenv("MAILCAST_TRACK_SECRET") or "change this secret, please" },
}
