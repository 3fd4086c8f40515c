-- `make demo`: the newsletter campaign (300 subscribers, personalised
-- HTML and text, an inline logo, a PDF) sent through the runner to
-- `mailcast sink`, the built-in local SMTP server, which stores what it
-- accepts in a Maildir and answers four addresses the way real servers
-- do: two refused for good, two deferred. Then the same run again
-- (nothing is sent twice) and `mailcast status`.
--
--   mailcast run examples/newsletter/demo.lua [OUTPUT_DIR]
local socket = require "socket"

local here = arg[0]:match("^(.*)/") or "."
local out_dir = arg[1] or (here .. "/out")
local runner = arg[-2] or "mailcast"   -- this very program

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd)
  print("$ " .. cmd:gsub(q(runner), "mailcast"))
  local ok = os.execute(cmd)
  return ok
end

local REPLIES = {
  ["gone.away@example.net"] = "550 5.1.1 The email account that you tried to reach does not exist",
  ["spam.trap@example.net"] = "554 5.7.1 Message refused: spam trap",
  ["mailbox.full@example.org"] = "452 4.2.2 Mailbox full",
  ["try.later@example.com"] = "451 4.7.1 Greylisted, please try again later",
}

local maildir, port_file = out_dir .. "/Maildir", out_dir .. "/sink.port"
local store = out_dir .. "/newsletter.mailcast.db"
os.execute("mkdir -p " .. q(out_dir) .. " && rm -rf " .. q(port_file) .. " " .. q(maildir) .. " " ..
  q(store) .. "* " .. q(out_dir .. "/newsletter.log.jsonl"))
local rejects = {}
for address, reply in pairs(REPLIES) do rejects[#rejects + 1] = "--reject " .. q(address .. "=" .. reply) end
local p = io.popen(string.format("%s sink --listen 127.0.0.1:0 --maildir %s --port-file %s --quiet %s > %s 2>&1 & echo $!",
  q(runner), q(maildir), q(port_file), table.concat(rejects, " "), q(out_dir .. "/sink.log")))
local sink_pid = p:read("l")
p:close()
local port
for _ = 1, 250 do
  local f = io.open(port_file)
  if f then port = tonumber(f:read("l")) f:close() end
  if port then break end
  socket.sleep(0.02)
end
assert(port, "the sink did not start; see " .. out_dir .. "/sink.log")
print(string.format("mailcast sink listening on 127.0.0.1:%d, storing into %s\n", port, maildir))

local run = string.format("SINK_PORT=%d %s run %s --store %s --progress lines", port, q(runner),
  q(here .. "/campaign.lua"), q(store))
local ok = sh(run)
print()
sh(run .. " --quiet")   -- again: nothing new to send, nothing sent twice
print()
sh(string.format("%s status %s", q(runner), q(store)))

local ls = io.popen("ls " .. q(maildir .. "/new") .. " | wc -l")
local stored = tonumber(ls:read("l"))
ls:close()
os.execute("kill " .. sink_pid .. " 2>/dev/null")
print(string.format("\n%d messages in %s/new; the accounting log is %s", stored, maildir,
  out_dir .. "/newsletter.log.jsonl"))
return (ok and stored == 296) and 0 or 1
