-- Sends the example newsletter to `mailcast sink`, the built-in local SMTP
-- server, which stores what it accepts in a Maildir and here refuses one
-- address the way a real server refuses an unknown mailbox.
--
--   mailcast run examples/newsletter/send.lua [OUTPUT_DIR]
local mailcast = require "mailcast"
local csv = require "mailcast.csv"
local socket = require "socket"

local here = arg[0]:match("^(.*)/") or "."
local out_dir = arg[1] or (here .. "/out")
local runner = arg[-2] or "mailcast"   -- this very program
local newsletter = dofile(here .. "/build.lua").new(here)

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The messages, and who gets what.
local messages = {}
for row, err in csv.rows(here .. "/recipients.csv") do
  local message
  if row then message, err = newsletter(row) end
  if message then messages[#messages + 1] = { message = message }
  else io.stderr:write("skipped: ", err, "\n") end
end

-- The sink: on a free port, stops by itself once the accepted messages
-- are in (all but the refused one).
local maildir, port_file = out_dir .. "/Maildir", out_dir .. "/sink.port"
os.execute("mkdir -p " .. q(out_dir) .. " && rm -rf " .. q(port_file) .. " " .. q(maildir))
os.execute(string.format("%s sink --listen 127.0.0.1:0 --maildir %s --port-file %s --count %d --quiet " ..
  "--reject %s > %s 2>&1 &", q(runner), q(maildir), q(port_file), #messages - 1,
  q("juergen.mueller@example.net=550 5.1.1 Mailbox unavailable"), q(out_dir .. "/sink.log")))
local port
for _ = 1, 250 do
  local f = io.open(port_file)
  if f then port = tonumber(f:read("l")) f:close() break end
  socket.sleep(0.02)
end
assert(port, "the sink did not start; see " .. out_dir .. "/sink.log")

local route = { host = "127.0.0.1", port = port, tls = "opportunistic" }
local results, state = assert(mailcast.send(route, messages, { connections = 2, messages_per_connection = 10 }))

print(string.format("sent to mailcast sink on 127.0.0.1:%d (%d sessions, %d transactions):",
  port, state.sessions, state.transactions))
local counts = {}
for _, r in ipairs(results) do
  for _, rcpt in ipairs(r.recipients) do
    counts[rcpt.status] = (counts[rcpt.status] or 0) + 1
    print(string.format("  %-32s %-8s %d %s %s", rcpt.address, rcpt.status, rcpt.code, rcpt.enhanced, rcpt.text))
  end
end
print(string.format("\n%d sent, %d deferred, %d failed; the accepted messages are in %s/new",
  counts.sent or 0, counts.deferred or 0, counts.failed or 0, maildir))
return (counts.sent or 0) == #messages - 1 and 0 or 1
