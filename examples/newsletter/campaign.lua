-- The example newsletter as a campaign: recipients.csv through the store,
-- resumable after any stop. Start a local sink first, then run it:
--
--   mailcast sink --maildir /tmp/newsletter-mail &
--   mailcast run examples/newsletter/campaign.lua
--
-- Run it again: nothing is sent twice; what was deferred is tried again.
local mailcast = require "mailcast"

local here = arg[0]:match("^(.*)/") or "."

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end

return mailcast.campaign{
  name = "newsletter-2026-11",
  from = "Mailcast Demo <news@example.com>",
  subject = "{{first_name}}, our November news — Neuigkeiten für Sie",
  text = read(here .. "/newsletter.txt"),
  html = read(here .. "/newsletter.html"),
  inline = { { path = here .. "/logo.png", cid = "logo@example.com" } },
  attachments = { { path = here .. "/brochure.pdf", filename = "Broschüre November.pdf" } },
  headers = { ["X-Campaign"] = "newsletter-2026-11" },
  recipients = here .. "/recipients.csv",
  route = { host = "127.0.0.1", port = tonumber(os.getenv("SINK_PORT")) or 2525, tls = "opportunistic" },
  limits = { connections = 2, messages_per_connection = 10, rate = "20/s" },
  -- Every recipient gets an unsubscribe link of their own.
  personalize = function(address, vars)
    vars.unsubscribe_url = "https://news.example.com/u/" .. mailcast.b64(address):gsub("=", "")
  end,
  on_failed = function(address, reply)
    io.stderr:write("failed: ", address, ": ", reply.code, " ", reply.text, "\n")
  end,
}
