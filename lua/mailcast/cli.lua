-- The mailcast command line. The C runner makes the Lua state and calls
-- main(argv); every command is written here.
local core = require "mailcast.core"

local M = {}

local usage = require "mailcast.usage"

local function stderr(...)
  io.stderr:write("mailcast: ", string.format(...), "\n")
end

-- The message of an error the script raised, with a traceback unless it
-- names a line of the script itself (a mistake in the script, or in what
-- it gave mailcast, which names the script's line: enough to mend it).
local function script_error(script, err)
  local msg = tostring(err)
  local at = script .. ":"
  if msg:sub(1, #at) == at and msg:sub(#at + 1):match("^%d+:") then return msg end
  return debug.traceback(msg, 2)
end

local function is_campaign(value)
  return type(value) == "table" and getmetatable(value) ~= nil and value.run ~= nil
end

-- The other campaign scripts of `mailcast run a.lua b.lua ...`: the words
-- before "--" that end in ".lua" (each run with the same arguments, and
-- each must return a campaign), taken out of args; their campaigns and
-- paths, or nil and why.
local function more_campaigns(args)
  local campaigns, scripts = {}, {}
  local i = 1
  while i <= #args and args[i] ~= "--" do
    if args[i]:match("%.lua$") and not args[i]:match("^%-") then
      local path = table.remove(args, i)
      local chunk, err = loadfile(path)
      if not chunk then return nil, nil, err end
      local ok, value = xpcall(chunk, function(e) return script_error(path, e) end,
        table.unpack(args, 1, #args))
      if not ok then return nil, nil, tostring(value) end
      if not is_campaign(value) then
        return nil, nil, string.format("run: %s does not return a campaign (mailcast.campaign{...})", path)
      end
      campaigns[#campaigns + 1], scripts[#scripts + 1] = value, path
    else
      i = i + 1
    end
  end
  return campaigns, scripts
end

-- Runs a script as the stand-alone lua does: arg[0] is the script,
-- arg[1..n] its arguments, negative indices what came before it.
local function run(argv)
  local script = argv[2]
  if not script then return usage.error("run", "run: no script given") end
  local args = { [-2] = argv[0], [-1] = argv[1], [0] = script }
  for i = 3, #argv do args[i - 2] = argv[i] end
  _G.arg = args
  local chunk, err = loadfile(script)
  if not chunk then
    stderr("%s", err)
    return 1
  end
  local results = table.pack(xpcall(chunk, function(e) return script_error(script, e) end,
    table.unpack(args, 1, #args)))
  if not results[1] then
    stderr("%s", tostring(results[2]))
    return 1
  end
  local value = results[2]
  if is_campaign(value) then
    local more, scripts, why = more_campaigns(args)
    if not more then
      stderr("%s", why)
      return 1
    end
    if #more == 0 then return require("mailcast.runner").run_campaign(value, args) end
    table.insert(more, 1, value)
    table.insert(scripts, 1, script)
    return require("mailcast.runner").run_campaigns(more, scripts, args)
  end
  return math.type(value) == "integer" and value or 0
end

-- mx DOMAIN [--server HOST:PORT]: what direct delivery would try.
local function mx(argv)
  local domain, server = argv[2], nil
  for i = 3, #argv do
    if argv[i] == "--server" then server = argv[i + 1] end
  end
  if not domain then return usage.error("mx", "mx: no domain given") end
  local r, err = core.mx(domain, { server = server })
  if not r then
    stderr("%s", err)
    return 1
  end
  if r.status ~= "ok" then
    stderr("%s", r.error)
    return r.status == "temporary" and 75 or 1   -- EX_TEMPFAIL
  end
  if r.implicit then io.write("(no MX record: the domain itself)\n") end
  for _, h in ipairs(r.hosts) do
    io.write(string.format("%5d  %-40s %s\n", h.preference, h.name, table.concat(h.addresses, " ")))
  end
  return 0
end

-- explain "REPLY" [--json]: what an SMTP reply means and what to do.
local function explain(argv)
  local reply, json
  for i = 2, #argv do
    if argv[i] == "--json" then json = true
    elseif argv[i]:sub(1, 2) == "--" then return usage.error("explain", "explain: unknown option %s", argv[i])
    elseif reply then return usage.error("explain", "explain: give the reply as one argument (quote it)")
    else reply = argv[i] end
  end
  if not reply or reply == "" then return usage.error("explain", "explain: no reply given") end
  local bounce = require("mailcast.bounce")
  local e = bounce.explain(reply)
  if json then
    io.write(require("mailcast.jsonl").encode(e, { "reason", "summary", "hard", "permanent", "code",
      "code_meaning", "status", "status_meaning", "advice", "rule" }), "\n")
  else
    io.write(require("mailcast.bounce_explain").text(e, reply))
  end
  return 0
end

-- What sink --bounces says of a bounce that was not recorded.
local BOUNCE_OUTCOME = {
  unmatched = " (matched no recipient of the store: not recorded)",
  ignore = " (ignored)",
}

-- A value from a message as one line: control bytes written \r, \n or
-- \xNN, so a bounce cannot forge lines of the output.
local function one_line(s)
  return (tostring(s):gsub("%c", function(c)
    return c == "\r" and "\\r" or c == "\n" and "\\n" or string.format("\\x%02x", c:byte())
  end))
end

-- sink: runs until --count messages are stored, or SIGINT/SIGTERM.
local function sink(argv)
  local opts, rules = { rules = {} }, {}
  local i = 2
  while i <= #argv do
    local flag, value = argv[i], argv[i + 1]
    if flag == "--quiet" then
      opts.quiet, i = true, i + 1
    elseif flag == "--maildir" or flag == "--listen" or flag == "--count" or flag == "--port-file"
        or flag == "--reject" or flag == "--bounces" then
      if value == nil then return usage.error("sink", "sink: %s needs a value", flag) end
      if flag == "--reject" then
        local address, reply = value:match("^([^=]+)=(.+)$")
        if not address then return usage.error("sink", "sink: --reject wants ADDRESS=REPLY, not '%s'", value) end
        opts.rules[address] = reply
      elseif flag == "--count" then
        opts.count = math.tointeger(tonumber(value))
        if not opts.count then return usage.error("sink", "sink: --count wants a number") end
      else
        opts[flag:sub(3):gsub("-", "_")] = value
      end
      i = i + 2
    else
      return usage.error("sink", "sink: unknown option '%s'", flag)
    end
  end
  if not opts.maildir then return usage.error("sink", "sink: --maildir DIR is required") end
  local store
  if opts.bounces then
    -- A bounce address's listener: each message is processed as a bounce
    -- the moment it is stored (and stays in the Maildir).
    local err
    store, err = require("mailcast").store(opts.bounces)
    if not store then stderr("sink: %s", err) return 1 end
    local bounces = require "mailcast.bounces"
    local secret = bounces.secret(store)   -- once, not a store read a message
    opts.on_message = function(path)
      local f = assert(io.open(path, "rb"))
      local raw = f:read("a")
      f:close()
      local summary, details = bounces.process { store = store, messages = { raw }, secret = secret,
        warn = function(message) stderr("sink: %s", message) end }
      if not summary then stderr("sink: %s: %s", path, details) return end
      if not opts.quiet then
        for _, d in ipairs(details) do
          io.write(string.format("bounce: %s %s %s%s\n", one_line(d.type or "-"), one_line(d.address or "?"),
            one_line(d.reason or ""), BOUNCE_OUTCOME[d.action] or (d.suppressed and " (suppressed)" or "")))
        end
        io.flush()
      end
    end
  end
  local stored, err = core.sink(opts)
  if store then store:close() end
  if not stored then stderr("%s", err) return 1 end
  if not opts.quiet then io.write(string.format("mailcast sink: %d messages stored\n", stored)) end
  return 0
end

-- serve's options that take a value: the name in core.serve's table, and
-- whether it is a number.
local SERVE_OPTIONS = {
  ["--store"] = { "store" }, ["--listen"] = { "listen" }, ["--port-file"] = { "port_file" },
  ["--webhook-ca"] = { "webhook_ca" },
  ["--timeout"] = { "timeout", true }, ["--max-connections"] = { "max_connections", true },
  ["--webhook-timeout"] = { "webhook_timeout", true }, ["--webhook-poll"] = { "webhook_poll", true },
  ["--webhook-batch"] = { "webhook_batch", true }, ["--webhook-tries"] = { "webhook_tries", true },
  ["--webhook-backoff"] = { "webhook_backoff", true },
  ["--webhook-backoff-max"] = { "webhook_backoff_max", true },
  ["--dashboard-token"] = { "dashboard_token" }, ["--dashboard-cache"] = { "dashboard_cache", true },
  ["--dashboard-timeout"] = { "dashboard_timeout", true },
}

-- serve: the tracking endpoints and the webhooks, until SIGINT/SIGTERM.
local function serve(argv)
  local opts, secret_env, hook_env = {}, "MAILCAST_TRACK_SECRET", "MAILCAST_WEBHOOK_SECRET"
  local i = 2
  while i <= #argv do
    local flag, value = argv[i], argv[i + 1]
    local option = SERVE_OPTIONS[flag]
    if flag == "--quiet" then
      opts.quiet, i = true, i + 1
    elseif option or flag == "--secret-env" or flag == "--webhook" or flag == "--webhook-secret-env" then
      if value == nil then return usage.error("serve", "serve: %s needs a value", flag) end
      if flag == "--secret-env" then secret_env = value
      elseif flag == "--webhook-secret-env" then hook_env = value
      elseif flag == "--webhook" then
        opts.webhooks = opts.webhooks or {}
        opts.webhooks[#opts.webhooks + 1] = value
      elseif option[2] then
        opts[option[1]] = tonumber(value)
        if not opts[option[1]] or opts[option[1]] <= 0 then
          return usage.error("serve", "serve: %s needs a positive number", flag)
        end
      else opts[option[1]] = value end
      i = i + 2
    else
      return usage.error("serve", "serve: unknown option '%s'", flag)
    end
  end
  if not opts.store then return usage.error("serve", "serve: --store FILE is required") end
  opts.secret = os.getenv(secret_env)
  if not opts.secret or #opts.secret < 16 then
    stderr("serve: %s must hold the tracking secret (at least 16 bytes)", secret_env)
    return 2
  end
  -- Campaigns may name webhooks of their own: with a secret they are fed
  -- even when no --webhook is given.
  opts.webhook_secret = os.getenv(hook_env)
  if opts.webhook_secret == "" then opts.webhook_secret = nil end
  if opts.webhooks and not opts.webhook_secret then
    stderr("serve: webhooks need a secret in %s", hook_env)
    return 2
  end
  -- A mistyped --store must not become an empty store served as 404s.
  local f = io.open(opts.store, "rb")
  if not f then
    stderr("serve: no store at %s (a campaign run makes it)", opts.store)
    return 1
  end
  f:close()
  -- The dashboard: never on unless a token is given.
  opts.dashboard_token = opts.dashboard_token or os.getenv("MAILCAST_DASHBOARD_TOKEN")
  if opts.dashboard_token == "" then opts.dashboard_token = nil end
  if opts.dashboard_token then
    if #opts.dashboard_token < 16 then
      stderr("serve: a dashboard token has at least 16 characters")
      return 2
    end
    -- Its pages are made by this program run again (lua/mailcast/dashboard.lua).
    opts.dashboard_command = { "/proc/self/exe", "dashboard-page", opts.store }
  end
  local recorded, err = core.serve(opts)
  if not recorded then stderr("serve: %s", err) return 1 end
  if not opts.quiet then io.write(string.format("mailcast serve: %d events recorded\n", recorded)) end
  return 0
end

local commands = {
  run = run,
  status = function(argv) return require("mailcast.runner").status(argv) end,
  report = function(argv) return require("mailcast.report_cli").main(argv) end,
  queue = function(argv) return require("mailcast.queue_cli").main(argv) end,
  ["dashboard-page"] = function(argv) return require("mailcast.dashboard").main(argv) end,
  sink = sink,
  serve = serve,
  mx = mx,
  explain = explain,
  bounces = function(argv) return require("mailcast.bounces_cli").main(argv) end,
  suppress = function(argv) return require("mailcast.suppress").main(argv) end,
  lint = function(argv) return require("mailcast.lint").main(argv) end,
  test = function(argv) return require("mailcast.test_send").main(argv) end,
  help = function(argv)
    local command = argv[2]
    if not command then io.write(usage.all()) return 0 end
    local text = usage.of(command)
    if not text then return usage.error("help", "help: no command '%s'", command) end
    io.write(text)
    return 0
  end,
  version = function()
    io.write(string.format("mailcast %s (%s)\n", core.version, _VERSION))
    return 0
  end,
}
commands["--help"], commands["-h"] = commands.help, commands.help
commands["--version"], commands["-v"] = commands.version, commands.version

--- main(argv) -> exit code. argv[0] is the program, argv[1] the command.
function M.main(argv)
  local name = argv[1]
  if not name then
    io.stderr:write(usage.all())
    return 2
  end
  local command = commands[name]
  if not command then
    stderr("unknown command '%s'", name)
    io.stderr:write(usage.all())
    return 2
  end
  -- run's words after the script are the script's: only `run --help`
  -- asks for run's usage.
  local text = usage.of(name)
  if text and usage.wants_help(argv, 2, name == "run" and 2 or nil) then
    io.write(text)
    return 0
  end
  return command(argv)
end

return M
