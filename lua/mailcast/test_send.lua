-- `mailcast test campaign.lua --to me@example.com`: one recipient's
-- message, rendered as a run renders it but addressed to the given
-- address, sent through the campaign's route, with the whole SMTP
-- conversation shown: every command and reply with its time, what
-- happened to the connection (TLS and the server's certificate), each
-- reply in plain words. Credentials never show (smtp_trace.h).
local cli_args = require "mailcast.cli_args"
local config = require "mailcast.config"
local core = require "mailcast.core"
local dispatch = require "mailcast.dispatch"
local lint = require "mailcast.lint"
local smtp_transcript = require "mailcast.transcript"
local usage = require "mailcast.usage"

local M = {}

local function stderr(...)
  io.stderr:write("mailcast: ", string.format(...), "\n")
end

local function options(argv)
  local o, why = cli_args.parse(argv, { values = { "--to", "--recipient", "--address", "--dns-server" } })
  if not o then return nil, why end
  if not o.to then return nil, "--to ADDRESS is required (where the test message goes)" end
  local list = core.addresses(o.to)
  if not list or #list ~= 1 then return nil, "--to wants one address, not '" .. o.to .. "'" end
  o.to = list[1].address
  local ok
  ok, why = cli_args.recipient(o)
  if not ok then return nil, why end
  return o
end

--- session_route(campaign, name, to, o) -> the table core.session takes
-- for the campaign's route name: without the campaign's own keys; for an
-- mx route, the MX hosts of to's domain as its targets | nil, why.
function M.session_route(c, name, to, o)
  local fields = {}
  for k, v in pairs(c.routes[name]) do
    if not config.ROUTE_OWN[k] and k ~= "mx" then fields[k] = v end
  end
  if c.routes[name].mx then
    local domain = to:match("@(.+)$")
    local r, err = core.mx(domain, { server = o.dns_server or c.routes[name].dns_server })
    if not r then return nil, err end
    if r.status ~= "ok" then return nil, tostring(r.error or r.status) end
    fields.targets = dispatch.mx_targets(r)
  end
  return fields
end

--- conversation(route, from, to, raw) -> transcript, outcome: the lines
-- of a session that sends raw from from to to, and {ok=, code=, text=}
-- (its last reply, or why it failed).
function M.conversation(route, from, to, raw)
  local transcript = {}
  local function take(s)
    for _, line in ipairs(s:transcript()) do transcript[#transcript + 1] = line end
  end
  local s, err, code, partial = core.session(route, { trace = true })
  if not s then
    for _, line in ipairs(partial or {}) do transcript[#transcript + 1] = line end
    return transcript, { ok = false, code = code, text = err }
  end
  local outcome = { ok = true }
  local function step(reply, why, fail_code)
    if not reply then outcome = { ok = false, code = fail_code, text = why } return false end
    outcome = { ok = reply.code // 100 == 2 or reply.code == 354, code = reply.code, text = reply.text }
    return outcome.ok
  end
  local _ = step(s:mail(from)) and step(s:rcpt(to)) and step(s:data(raw))
  local sent = outcome
  s:quit()
  take(s)
  s:close()
  return transcript, sent
end

--- show(transcript) -> text: one line per record, its time since the
-- first, C: and S: for the two sides, each reply's last line explained
-- (mailcast.transcript).
M.show = smtp_transcript.show

--- main(argv) -> exit status: 0 when the message was accepted, 1 when
-- not, 2 for a bad command line.
function M.main(argv)
  local o, why = options(argv)
  if not o then return usage.error("test", "test: %s", why) end
  local c
  c, why = lint.load(o.script)
  if not c then stderr("test: %s", why) return 1 end
  c.quiet = true
  local address, row, n = lint.pick(c, o)
  if not address then stderr("test: %s", row) return 1 end
  -- The list's row personalizes it; the test address receives it.
  local msg, raw = lint.render(c, o.to, row)
  if not msg then stderr("test: %s (recipient %d): %s", address, n, raw) return 1 end
  local ok, name = pcall(c.route_for, c, o.to, row, msg)
  if not ok or not c.routes[name] then name = c.default_route end
  local route, err = M.session_route(c, name, o.to, o)
  if not route then stderr("test: route %s: %s", name, err) return 1 end
  io.write(string.format("mailcast test: %s, recipient %d (%s) sent to %s through route %s, %d bytes\n\n",
    c.name, n, address, o.to, name, #raw))
  local transcript, outcome = M.conversation(route, c.envelope_from, o.to, raw)
  io.write(M.show(transcript), "\n")
  if outcome.ok then
    io.write(string.format("accepted: %d %s\n", outcome.code, core.printable(outcome.text or "")))
    return 0
  end
  io.write(string.format("not sent: %s%s\n", outcome.code and outcome.code > 0 and (outcome.code .. " ") or "",
    core.printable(outcome.text or "")))
  return 1
end

return M
