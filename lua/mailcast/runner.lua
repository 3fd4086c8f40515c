-- The runner's campaign commands: `mailcast run` with a script that
-- returns a campaign, and `mailcast status`.
local campaign_mod = require "mailcast.campaign"
local core = require "mailcast.core"
local jsonl = require "mailcast.jsonl"
local mailcast = require "mailcast"
local usage = require "mailcast.usage"
local workers = require "mailcast.workers"

local M = {}

local function stderr(...)
  io.stderr:write("mailcast: ", string.format(...), "\n")
end

-- The store beside the script: DIR/NAME.mailcast.db.
local function default_store(script, name)
  local dir = script:match("^(.*)/") or "."
  return dir .. "/" .. name .. ".mailcast.db"
end

-- The exit status of a run that refused rows of its list.
local BAD_ROWS = 3

local SUMMARY_FIELDS = {
  "campaign", "delivered", "deferred", "failed", "skipped", "suppressed", "pending", "in_flight", "paused",
  "next_retry", "list_read", "bad_rows", "held", "pick_at",
}

-- The runner's options for a campaign: those that take a value, and flags.
local VALUE_OPTIONS = { ["--store"] = "FILE", ["--log"] = "FILE", ["--progress"] = "MODE", ["--workers"] = "N",
  ["--metrics"] = "HOST:PORT", ["--trace"] = "FILE" }
local FLAGS = {
  ["--dry-run"] = function(o) o.dry_run = true end,
  ["--quiet"] = function(o) o.quiet = true end,
  ["--json"] = function(o) o.json, o.progress = true, "json" end,
  ["--no-log"] = function(o) o.log = false end,
  ["--wait"] = function(o) o.wait = true end,
}
local PROGRESS_MODES = { bar = true, lines = true, json = true, quiet = true }
local OPTIONS_HELP = "--store FILE, --dry-run, --wait, --progress bar|lines|json|quiet, --json, --quiet,"
  .. " --log FILE, --no-log, --workers N, --metrics HOST:PORT, --trace FILE|-"

-- The runner's option a bare word names when its dashes were forgotten
-- ("dry-run", "Dry_Run": --dry-run), or nil.
local function dashless(word)
  local name = "--" .. word:lower():gsub("_", "-")
  if VALUE_OPTIONS[name] or FLAGS[name] then return name end
  return nil
end

--- options(args) -> the runner's options among a script's arguments
-- (--store FILE, --dry-run, --quiet, --json, --progress MODE, --log FILE,
-- --no-log, --wait, --workers N; --name=value as well) | nil, why. Words
-- that do not start with "-", and everything after "--", are the script's
-- own and left alone; an option the runner does not know is refused,
-- since a mistyped --dry-run must not send the campaign, and so is a
-- bare word before "--" that is an option's name without its dashes
-- (`run c.lua dry-run` would send it). A script with options of its own
-- takes them out of `arg` before it returns.
function M.options(args)
  local opts = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--" then break end
    local name, given = a:match("^(%-%-[^=]+)=(.*)$")
    if VALUE_OPTIONS[name or a] then
      name = name or a
      local v = given
      if not v then
        v = args[i + 1]
        i = i + 1
      end
      if v == nil or v == "" or (not given and v:match("^%-%-")) then
        return nil, string.format("run: %s needs a value (%s %s)", name, name, VALUE_OPTIONS[name])
      end
      if name == "--workers" then
        local n, why = workers.count(v)
        if not n then return nil, "run: " .. why end
        opts.workers = n
      elseif name == "--progress" and not PROGRESS_MODES[v] then
        return nil, string.format("run: --progress %s: the mode is bar, lines, json or quiet", v)
      elseif name == "--metrics" and not require("mailcast.run_metrics").parse(v) then
        return nil, "run: " .. select(2, require("mailcast.run_metrics").parse(v))
      else
        opts[name:sub(3)] = v
      end
    elseif FLAGS[a] then
      FLAGS[a](opts)
    elseif a:match("^%-") and a ~= "-" then
      return nil, string.format("run: unknown option %s (the runner's options: %s)", a, OPTIONS_HELP)
    elseif dashless(a) then
      return nil, string.format("run: '%s' is not an option: did you mean %s? (words for the script go after --)",
        a, dashless(a))
    end
    i = i + 1
  end
  if opts.metrics and (opts.workers or 1) > 1 then
    return nil, "run: --metrics serves the figures of one process: give it without --workers"
  end
  if opts.trace and (opts.workers or 1) > 1 then
    return nil, "run: --trace writes the sessions of one process: give it without --workers"
  end
  return opts
end

-- Says how a campaign's run ended; its exit code: 0 when it ended, 130
-- when Ctrl-C paused it, 4 when a route was paused, 3 when it ended but
-- refused rows of the list (each one warned of).
local function report(campaign, counts, opts)
  if opts.progress == "json" and not opts.json then
    -- stdout holds JSON lines only; the last progress line (done) sums up.
  elseif opts.json then
    counts.campaign = campaign.name
    counts.pending = counts.pending + counts.in_flight
    -- An A/B test's: the recipients held for the winner (among pending), when it is picked.
    if counts.test then counts.held, counts.pick_at = counts.test.held, counts.test.pick_at end
    io.write(jsonl.encode(counts, SUMMARY_FIELDS), "\n")
  else
    io.write(campaign_mod.summary(campaign.name, counts), "\n")
    if counts.paused and not counts.list_read then
      io.write("paused before the whole list was read: run the same command again to resume and read the rest\n")
    elseif counts.paused then io.write("paused: run the same command again to resume\n")
    elseif counts.next_retry then
      io.write(string.format("%d deferred: the next retry is due in %d s; run again then (or use --wait)\n",
        counts.deferred, math.ceil(counts.next_retry)))
    end
    local test = counts.test
    if not counts.paused and test and test.held > 0 then
      io.write(test.pick_at and string.format("%d held for the A/B test's winner, picked at %s: run again then"
          .. " (or use --wait)\n", test.held, os.date("%Y-%m-%d %H:%M:%S", math.floor(test.pick_at + 0.5)))
        or string.format("%d held for the A/B test's winner, picked once the test group is sent\n", test.held))
    end
  end
  if counts.paused then return 130 end
  if counts.route_problems then
    for _, message in pairs(counts.route_problems) do stderr("%s", message) end
    return 4
  end
  if (counts.bad_rows or 0) > 0 then
    -- The good rows are sent; a list that needs mending must not pass
    -- for one that was sent whole.
    stderr("%s: %d rows of the list were refused", campaign.name, counts.bad_rows)
    return BAD_ROWS
  end
  return 0
end

--- run_campaign(campaign, args) -> exit code: 0 when the run ended,
-- 130 when Ctrl-C paused it, 1 on an error (or problems in a dry run),
-- 4 when a route was paused (a resolver that cannot be believed), 3 when
-- it ended but refused rows of the list.
function M.run_campaign(campaign, args)
  local opts, why = M.options(args)
  if not opts then return usage.error("run", "%s", why) end
  opts.store = opts.store or default_store(args[0], campaign.name)
  local counts, err = campaign:run(opts)
  if not counts then
    stderr("%s", err)
    return 1
  end
  if opts.dry_run then
    io.write(string.format("%s: %d messages ready, %d problems\n", campaign.name, counts.ready, counts.problems))
    return counts.problems == 0 and 0 or 1
  end
  return report(campaign, counts, opts)
end

--- run_campaigns(campaigns, scripts, args) -> exit code: several
-- campaigns (of the scripts given) sent at once by one engine; each is
-- reported as run_campaign does, and the exit code is the gravest of
-- theirs (130 paused, then 1 an error, then 4 a route paused, then 3
-- rows refused).
function M.run_campaigns(campaigns, scripts, args)
  local opts, why = M.options(args)
  if not opts then return usage.error("run", "%s", why) end
  if (opts.workers or 1) ~= 1 then
    stderr("run: --workers sends one campaign; give one script, or run the campaigns without it")
    return 2
  end
  if opts.dry_run then
    local code = 0
    for _, c in ipairs(campaigns) do
      c.quiet = opts.quiet
      local counts = c:dry_run()
      io.write(string.format("%s: %d messages ready, %d problems\n", c.name, counts.ready, counts.problems))
      if counts.problems > 0 then code = 1 end
    end
    return code
  end
  opts.stores = {}
  for i, c in ipairs(campaigns) do opts.stores[i] = opts.store or default_store(scripts[i], c.name) end
  opts.store = nil
  -- One progress line each: bars of several campaigns would overwrite each other.
  if (opts.progress or "bar") == "bar" and not opts.quiet then opts.progress = "lines" end
  local code, GRAVITY = 0, { [0] = 0, [BAD_ROWS] = 1, [4] = 2, [1] = 3, [130] = 4 }
  for i, r in ipairs(campaign_mod.run_all(campaigns, opts)) do
    local this
    if r.counts then this = report(campaigns[i], r.counts, opts)
    else
      stderr("%s: %s", campaigns[i].name, tostring(r.err))
      this = 1
    end
    if GRAVITY[this] > GRAVITY[code] then code = this end
  end
  return code
end

local STATES = { "delivered", "deferred", "failed", "skipped", "suppressed", "pending" }

-- One campaign's status: counts by state, the next retry, an A/B
-- test's winner (by its label in the script, when known: script), and
-- the commonest replies behind deferrals and failures.
local function show(store, c, json, script)
  local counts = assert(store:counts(c.id))
  local due = store:report("next_due", c.id)[1]
  -- next_at is to the fraction of a second: so is now (from whole seconds
  -- the wait could read a second longer than the retry schedule allows).
  local next_retry = due and due.next_at and math.max(0, math.ceil(due.next_at - core.time()))
  -- An A/B test's recipients held for its winner (counted as pending).
  local test = store:report("test", c.id)[1]
  local held = test and test.holding == 1 and store:report("test", c.id, "count")[1].held or nil
  if json then
    counts.campaign, counts.next_retry, counts.list_read = c.name, next_retry, c.list_read ~= 0
    counts.held = held
    counts.pending = counts.pending + counts.in_flight
    io.write(jsonl.encode(counts, SUMMARY_FIELDS), "\n")
    return
  end
  -- Pending counts those a run holds in flight, as --json does: each
  -- is sent by that run, or, if it stopped without finishing them, by
  -- the next one.
  local in_flight = counts.in_flight
  counts.pending = counts.pending + in_flight
  local total = 0
  for _, s in ipairs(STATES) do total = total + counts[s] end
  io.write(string.format("%s: %d recipients%s\n", c.name, total,
    c.list_read == 0 and " so far (the list is read in part: a run reads the rest)" or ""))
  for _, s in ipairs(STATES) do
    if counts[s] > 0 or s == "delivered" then
      local extra = s == "deferred" and next_retry and string.format("  (next retry in %d s)", next_retry)
        or s == "pending" and in_flight > 0 and string.format("  (%d of them in flight: claimed by a run that"
          .. " is sending them, or was stopped; the next run sends what is left)", in_flight)
        or s == "pending" and held and string.format("  (%d of them held for the A/B test's winner)", held)
        or ""
      io.write(string.format("  %-11s %8d%s\n", s, counts[s], extra))
    end
  end
  if test and test.winner then
    local v = script and script.name == c.name and script.variants and script.variants[test.winner]
    io.write(string.format("  A/B test: variant %s won\n",
      require("mailcast.report_text").variant(test.winner, v and v.label or test.winner_label)))
  end
  for _, s in ipairs { "deferred", "failed" } do
    local reasons = store:report("reasons", c.id, s, 5)
    if #reasons > 0 then
      io.write(string.format("  commonest replies, %s:\n", s))
      for _, r in ipairs(reasons) do
        io.write(string.format("    %6d  %s%s\n", r.count, r.code and r.code > 0 and (r.code .. " ") or "",
          (r.text or ""):gsub("[\r\n]+", " "):sub(1, 100)))
      end
    end
  end
end

--- locate(command, target [, path]) -> the campaign's name (true for
-- every campaign of the store), the store's path, the campaign the
-- script returned (if one did) | nil, exit code (said on stderr). target is a campaign script (its store is beside it unless
-- path says where) or a store; the store must exist.
function M.locate(command, target, path)
  local only, campaign = true, nil
  if target and target:match("%.lua$") then
    _G.arg = { [0] = target }
    local chunk, err = loadfile(target)
    if not chunk then stderr("%s", err) return nil, 1 end
    local campaigns = require "mailcast.campaign"
    campaigns.check_list = false
    local ok, c = pcall(chunk)
    campaigns.check_list = true
    if not ok or type(c) ~= "table" or not c.name then
      stderr("%s: %s does not return a campaign%s", command, target, ok and "" or (": " .. tostring(c)))
      return nil, 1
    end
    only, campaign = c.name, c
    path = path or default_store(target, c.name)
  else
    path = path or target
  end
  local f = io.open(path, "rb")
  if not f then stderr("%s: no store at %s (has the campaign run yet?)", command, path) return nil, 1 end
  f:close()
  return only, path, campaign
end

--- status(argv) -> exit code. mailcast status SCRIPT.lua | STORE [--store
-- FILE] [--json] [--recipient ADDRESS]: a campaign script's store (or
-- every campaign in a store); with --recipient, that recipient of the
-- campaign (mailcast.status_recipient).
function M.status(argv)
  local target, path, json, recipient = nil, nil, false, nil
  local i = 2
  while i <= #argv do
    if argv[i] == "--store" then path, i = argv[i + 1], i + 1
    elseif argv[i] == "--recipient" then
      recipient, i = argv[i + 1], i + 1
      if not recipient then return usage.error("status", "status: --recipient needs an address") end
    elseif argv[i] == "--json" then json = true
    elseif not target then target = argv[i]
    else return usage.error("status", "status: unexpected '%s'", argv[i]) end
    i = i + 1
  end
  if not target and not path then return usage.error("status", "status: give a campaign script or a store file") end
  local only, script
  only, path, script = M.locate("status", target, path)
  if not only then return path end
  if only == true then only = nil end
  local store, err = mailcast.store(path)
  if not store then stderr("%s", err) return 1 end
  if recipient then
    local matching = {}
    for _, row in ipairs(store:report("campaigns")) do
      if not only or row.name == only then matching[#matching + 1] = row end
    end
    local code = 1
    if #matching == 1 then code = require("mailcast.status_recipient").show(store, matching[1], recipient, json)
    else stderr("status: --recipient wants one campaign: give its script (%s has %d)", path, #matching) end
    store:close()
    return code
  end
  local shown = 0
  for _, c in ipairs(store:report("campaigns")) do
    if not only or c.name == only then
      show(store, c, json, script)
      shown = shown + 1
    end
  end
  store:close()
  if shown == 0 then
    stderr("status: no campaign%s in %s", only and (" '" .. only .. "'") or "", path)
    return 1
  end
  return 0
end

return M
