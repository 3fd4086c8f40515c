-- Builds N of bench/campaign's messages the way a campaign run does
-- (Campaign:message, then mailcast.build), without sending them: for
-- counting the per-message work under callgrind, where instruction
-- counts do not depend on what else the machine runs (bench/README.md).
--
--   valgrind --tool=callgrind build/bin/mailcast run bench/campaign_build.lua [N]
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")

local N = math.tointeger(tonumber(arg[1] or "")) or 2000
local newsletter = dofile("bench/newsletter.lua")
local c = mailcast.campaign {
  name = "bench", from = newsletter.from, subject = newsletter.subject,
  text = newsletter.text, html = newsletter.html,
  recipients = {}, route = { host = "127.0.0.1", port = 25, tls = "none" },
}
local bytes = 0
for i = 0, N - 1 do
  local name, address = common.recipient(i)
  local msg = assert(c:message(address, { email = address, name = name }))
  local built = assert(mailcast.build(msg))
  bytes = bytes + built:size()
  built:close()
end
print(string.format("%d messages, %d bytes", N, bytes))
