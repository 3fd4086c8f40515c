-- The example newsletter sent from a web page as it is: page/index.html
-- with its stylesheet and images, as a designer made it for the web.
-- mailcast puts the stylesheet into the page, sends each image once per
-- message as an inline part, drops the script and the form (with a
-- warning), makes the relative links absolute from base_url, and writes
-- the text part from the HTML. Start a local sink first, then run it:
--
--   mailcast sink --maildir /tmp/newsletter-mail &
--   mailcast run examples/newsletter/page.lua --dry-run
--   mailcast run examples/newsletter/page.lua
local mailcast = require "mailcast"

local PICKS = {
  premium = { { title = "Private preview of the spring range", url = "https://news.example.com/preview" } },
  business = { { title = "Volume prices for your team", url = "https://news.example.com/volume" } },
  basic = { { title = "Our bestsellers of the month", url = "https://news.example.com/best" } },
}

return mailcast.campaign{
  name = "newsletter-page-2026-11",
  from = "Mailcast Demo <news@example.com>",
  subject = "{{first_name}}, our November news",
  html_file = "page/index.html",
  base_url = "https://news.example.com/2026/11/",
  recipients = "subscribers.csv",
  route = { host = "127.0.0.1", port = tonumber(os.getenv("SINK_PORT")) or 2525, tls = "opportunistic" },
  limits = { connections = 2, messages_per_connection = 50 },
  personalize = function(address, vars)
    vars.unsubscribe_url = "https://news.example.com/u/" .. mailcast.b64(address):gsub("=", "")
    vars.picks = PICKS[vars.plan] or PICKS.basic
  end,
}
