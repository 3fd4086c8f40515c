-- `mailcast bounces`: reads a bounce mailbox (Maildir, mbox, POP3,
-- IMAP) into a store with mailcast.bounces, once or every N seconds.
-- Passwords come from the environment only, never from the command
-- line, and are never printed.
local core = require "mailcast.core"
local bounces = require "mailcast.bounces"
local jsonl = require "mailcast.jsonl"

local M = {}

M.USAGE = [[
usage: mailcast bounces --store FILE SOURCE [OPTIONS]
sources (one):
  --maildir DIR              new/ and cur/; processed messages move to DIR/.processed
  --mbox FILE                read only; the store remembers what was read
  --pop3 HOST[:PORT]         POP3 with STLS (port 110); --pop3s HOST[:PORT] for POP3S (995)
  --imap HOST[:PORT]         IMAP with STARTTLS (port 143); --imaps HOST[:PORT] for IMAPS (993)
mailbox options:
  --user NAME | --user-env VAR       default: MAILCAST_POP3_USER / MAILCAST_IMAP_USER
  --password-env VAR                 default: MAILCAST_POP3_PASSWORD / MAILCAST_IMAP_PASSWORD
  --folder NAME (IMAP, default INBOX)  --move-to FOLDER | --delete (IMAP; default: flag
                             \Seen and $MailcastProcessed)
  --ca-file FILE  --insecure (no certificate check)  --allow-plaintext  --timeout S
processing:
  --script FILE              a Lua file returning {on_bounce = function(bounce) ... end, ...}
  --soft-limit N             soft bounces that suppress (default 3) ...
  --soft-window DAYS         ... within this many days (default 30)
  --keep KIND=DAYS|forever   how long a suppression lasts: hard, complaint, soft
                             (default: forever, forever, 30)
  --every SECONDS            poll until Ctrl-C
output: --json, --verbose (one line per bounce), --quiet
]]

local function stderr(...)
  io.stderr:write("mailcast: ", string.format(...), "\n")
end


local function host_port(s)
  local h, p = s:match("^%[(.-)%]:(%d+)$")
  if not h then h, p = s:match("^([^:]+):(%d+)$") end
  if h then return h, tonumber(p) end
  return (s:gsub("^%[(.-)%]$", "%1")), nil
end


local VALUED = {
  ["--store"] = true, ["--maildir"] = true, ["--mbox"] = true, ["--pop3"] = true, ["--pop3s"] = true,
  ["--imap"] = true, ["--imaps"] = true, ["--user"] = true, ["--user-env"] = true,
  ["--password-env"] = true, ["--folder"] = true, ["--move-to"] = true, ["--ca-file"] = true,
  ["--timeout"] = true, ["--script"] = true, ["--soft-limit"] = true, ["--soft-window"] = true,
  ["--keep"] = true, ["--every"] = true,
}
local FLAGS = {
  ["--delete"] = true, ["--insecure"] = true, ["--allow-plaintext"] = true, ["--json"] = true,
  ["--verbose"] = true, ["--quiet"] = true,
}


-- The options of argv[2..] as a table keyed by name without dashes;
-- --keep may repeat. nil, message on a bad one.
local function parse(argv)
  local o = { keep = {} }
  local i = 2
  while i <= #argv do
    local a = argv[i]
    if a == "--password" or a:match("^%-%-password=") then
      return nil, "a password is never taken on the command line (it would show in ps and shell"
        .. " history): put it in an environment variable (see --password-env)"
    elseif VALUED[a] then
      local v = argv[i + 1]
      if v == nil then return nil, a .. " needs a value" end
      if a == "--keep" then o.keep[#o.keep + 1] = v else o[a:sub(3)] = v end
      i = i + 2
    elseif FLAGS[a] then
      o[a:sub(3)] = true
      i = i + 1
    else
      return nil, string.format("unknown option '%s'", a)
    end
  end
  return o
end


local function number_option(o, name)
  if o[name] == nil then return true end
  local n = tonumber(o[name])
  if not n or n < 0 then return nil, string.format("--%s wants a number, not '%s'", name, o[name]) end
  o[name] = n
  return true
end


-- The mailbox settings for pop3/imap from the options and environment.
local function mailbox(o, proto)
  local implicit = o[proto .. "s"] ~= nil
  local host, port = host_port(o[proto] or o[proto .. "s"])
  local P = proto:upper()
  local user_var = o["user-env"] or ("MAILCAST_" .. P .. "_USER")
  local pass_var = o["password-env"] or ("MAILCAST_" .. P .. "_PASSWORD")
  local user = o.user or os.getenv(user_var)
  local password = os.getenv(pass_var)
  if not user or user == "" then return nil, string.format("no user name: set %s or give --user", user_var) end
  if not password then return nil, string.format("no password: set %s (or name another variable with --password-env)", pass_var) end
  return {
    host = host, port = port, tls = implicit and "implicit" or "starttls", user = user, password = password,
    ca_file = o["ca-file"], insecure = o.insecure, allow_plaintext = o["allow-plaintext"],
    timeout = o.timeout, folder = o.folder, move_to = o["move-to"], delete = o.delete,
  }
end


-- Settings a --script file returns: a table ({on_bounce=, soft_limit=,
-- keep=, bounce_rules=, classify=...}) or a function (on_bounce).
local function load_script(path, into)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  local ok, t = pcall(chunk)
  if not ok then return nil, string.format("%s: %s", path, tostring(t)) end
  if type(t) == "function" then t = { on_bounce = t } end
  if type(t) ~= "table" then return nil, path .. " must return a table of hooks (on_bounce = function ...)" end
  for _, k in ipairs { "on_bounce", "bounce_rules", "classify", "soft_limit", "soft_window", "sender_reasons", "secret" } do
    if t[k] ~= nil then into[k] = t[k] end
  end
  if t.keep then for k, v in pairs(t.keep) do into.keep[k] = v end end
  return true
end


-- The settings for bounces.process from the parsed options.
local function settings(o)
  for _, n in ipairs { "soft-limit", "soft-window", "every", "timeout" } do
    local ok, err = number_option(o, n)
    if not ok then return nil, err end
  end
  local sources = 0
  for _, s in ipairs { "maildir", "mbox", "pop3", "pop3s", "imap", "imaps" } do
    if o[s] then sources = sources + 1 end
  end
  if sources ~= 1 then return nil, "give one source: --maildir, --mbox, --pop3, --pop3s, --imap or --imaps" end
  if not o.store then return nil, "--store FILE is required (the campaign's NAME.mailcast.db)" end
  if o["move-to"] and o.delete then return nil, "--move-to and --delete exclude each other" end
  local s = { maildir = o.maildir, mbox = o.mbox, keep = {} }
  if o.pop3 or o.pop3s then
    local m, err = mailbox(o, "pop3")
    if not m then return nil, err end
    s.pop3 = m
  elseif o.imap or o.imaps then
    local m, err = mailbox(o, "imap")
    if not m then return nil, err end
    s.imap = m
  end
  s.soft_limit = o["soft-limit"] and math.tointeger(o["soft-limit"]) or nil
  s.soft_window = o["soft-window"] and o["soft-window"] * bounces.DAY or nil
  for _, k in ipairs(o.keep) do
    local kind, days = k:match("^(%a+)=(.+)$")
    if not kind then
      return nil, string.format("--keep wants KIND=DAYS or KIND=forever (hard, complaint, soft), not '%s'", k)
    end
    if bounces.defaults.keep[kind] == nil then return nil, string.format("--keep: no kind '%s' (hard, complaint, soft)", kind) end
    if days == "forever" then s.keep[kind] = false
    elseif tonumber(days) and tonumber(days) > 0 then s.keep[kind] = tonumber(days) * bounces.DAY
    else return nil, string.format("--keep %s: '%s' is not a number of days or forever", kind, days) end
  end
  if o.script then
    local ok, err = load_script(o.script, s)
    if not ok then return nil, err end
  end
  return s
end


local DETAIL_FIELDS = { "message", "type", "address", "reason", "campaign", "recipient", "matched_by",
                        "action", "suppressed", "soft_bounces" }


local function report(o, summary, details)
  if o.verbose then
    for _, d in ipairs(details) do
      if o.json then io.write(jsonl.encode(d, DETAIL_FIELDS), "\n")
      else
        io.write(string.format("%s: %s %s %s%s: %s%s\n", d.message, d.type, d.reason, d.address or "(no address)",
          d.campaign and string.format(" (campaign %s, by %s)", d.campaign, d.matched_by) or "",
          d.action, d.suppressed and ", suppressed" or ""))
      end
    end
  end
  if o.json then io.write(jsonl.encode(summary, bounces.SUMMARY_FIELDS), "\n")
  elseif not o.quiet then io.write(bounces.summary_line(summary), "\n") end
  io.stdout:flush()
end


-- Sleeps up to seconds; false when Ctrl-C came first.
local function pause(seconds)
  local limit = core.now() + seconds
  while core.interrupted() == 0 and core.now() < limit do
    core.sleep(math.min(0.2, limit - core.now()))   -- returns early on a signal
  end
  return core.interrupted() == 0
end


--- main(argv) -> exit code: 0, 1 (a run failed), 2 (usage).
function M.main(argv)
  local o, err = parse(argv)
  local s
  if o then s, err = settings(o) end
  if not s then
    stderr("bounces: %s", err)
    io.stderr:write(M.USAGE)
    return 2
  end
  local f = io.open(o.store, "rb")
  if not f then stderr("bounces: no store at %s", o.store) return 1 end
  f:close()
  local store, serr = core.store(o.store)
  if not store then stderr("%s", serr) return 1 end
  s.store = store
  s.warn = function(msg) if not o.quiet then stderr("bounces: %s", msg) end end
  if o.every then core.trap_interrupts(true) end
  local rc = 0
  while true do
    local summary, details = bounces.process(s)
    if summary then
      report(o, summary, details)
    else
      stderr("bounces: %s", details)
      rc = 1
      if not o.every then break end
    end
    if not o.every or not pause(o.every) then break end
  end
  if o.every then core.trap_interrupts(false) end
  store:close()
  return rc
end

return M
