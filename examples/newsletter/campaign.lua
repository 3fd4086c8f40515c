-- The example newsletter as a campaign: 300 subscribers through the
-- store, resumable after any stop. Start a local sink first, then run it:
--
--   mailcast sink --maildir /tmp/newsletter-mail &
--   mailcast run examples/newsletter/campaign.lua
--   mailcast status examples/newsletter/campaign.lua
--
-- Run it again: nothing is sent twice; what was deferred is tried again
-- once its retry is due (or keep it running with --wait). `make demo`
-- runs it against a sink that refuses and defers a few addresses
-- (demo.lua).
local mailcast = require "mailcast"

-- The campaign's own file names (list, images, attachments) are taken
-- from this script's directory; what the script opens itself is not.
local here = arg[0]:match("^(.*)/") or "."

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end

local PICKS = {
  premium = { { title = "Private preview of the spring range", url = "https://news.example.com/preview" },
              { title = "Free express delivery all winter", url = "https://news.example.com/express" } },
  business = { { title = "Volume prices for your team", url = "https://news.example.com/volume" } },
  basic = { { title = "Our bestsellers of the month", url = "https://news.example.com/best" } },
}

return mailcast.campaign{
  name = "newsletter-2026-11",
  from = "Mailcast Demo <news@example.com>",
  subject = "{{first_name}}, our November news — Neuigkeiten für Sie",
  text = read(here .. "/newsletter.txt"),
  html = read(here .. "/newsletter.html"),
  inline = { { path = "logo.png", cid = "logo@example.com" } },
  attachments = { { path = "brochure.pdf", filename = "Broschüre November.pdf" } },
  headers = { ["X-Campaign"] = "newsletter-2026-11" },
  recipients = "subscribers.csv",
  route = { host = "127.0.0.1", port = tonumber(os.getenv("SINK_PORT")) or 2525, tls = "opportunistic" },
  limits = { connections = 2, messages_per_connection = 50 },
  retry = { first = 60, max_age = 2 * 86400 },
  -- Every recipient gets an unsubscribe link of their own, and the
  -- picks of their plan (a list: the templates repeat over it).
  personalize = function(address, vars)
    vars.unsubscribe_url = "https://news.example.com/u/" .. mailcast.b64(address):gsub("=", "")
    vars.picks = PICKS[vars.plan] or PICKS.basic
  end,
  on_failed = function(address, reply)
    io.stderr:write("failed: ", address, ": ", reply.code, " ", reply.text, "\n")
  end,
}
