-- `mailcast run --workers N`: N processes send one campaign, each over
-- its own shard of the recipients with its own scheduler, store
-- connection and share of the relays' limits, so a run uses N cores.
--
-- Recipients are split by a hash of their domain when a route delivers
-- straight to MX hosts (a domain, and so its per-domain limits and in
-- practice its MX hosts, belongs to one worker), else by a hash of the
-- whole address (every worker sends through the same relays, each with
-- its share of their connections and rate). The parent recovers a
-- crashed run before the workers start, then loads the list while they
-- send what is loaded (a file beside the store, STORE.loading, says the
-- list is still coming), shows the progress from the store, passes
-- Ctrl-C on to them (they pause as a single runner does), and puts back
-- anything a worker left in flight when they have all ended.
local campaign_mod = require "mailcast.campaign"
local core = require "mailcast.core"
local mailcast = require "mailcast"
local dispatch = require "mailcast.dispatch"
local progress = require "mailcast.progress"
local worker_state = require "mailcast.worker_state"

local M = {}

local MAX_WORKERS = 64

--- count(value) -> how many workers value asks for | nil, why: a whole
-- number from 1 to MAX_WORKERS (a string of one too).
function M.count(value)
  local n = math.tointeger(tonumber(value))
  if not n or n < 1 or n > MAX_WORKERS then
    return nil, string.format("--workers must be a whole number from 1 to %d", MAX_WORKERS)
  end
  return n
end

-- Whether recipients are split by domain: when any route is direct MX.
local function by_domain(campaign)
  for _, spec in pairs(campaign.routes) do
    if spec.mx then return true end
  end
  return false
end

-- Every relay's limits divided among n workers, checked before any starts.
local function check_shares(campaign, n)
  for name, spec in pairs(campaign.routes) do
    if not spec.mx then
      local ok, err = pcall(dispatch.divide, dispatch.limits(campaign.limits, spec.limits), n, name)
      if not ok then return nil, err end
    end
  end
  return true
end

-- A worker's exit code when one of its routes was paused (the reason
-- went to stderr as it happened).
local PAUSED_ROUTE = 4

-- A worker's whole life: its shard sent, then its exit code (0 done, 130
-- paused, 4 a route paused, 1 failed, with why on stderr).
local function work(campaign, run, opts, index, n, split_by_domain)
  local ok, code = pcall(function()
    local store = assert(mailcast.store(run.path))
    store:shard(index, n, split_by_domain)
    campaign.max_in_flight = math.max(1, -(-campaign.max_in_flight // n))
    local counts, err = campaign:send(store, run.id, run.log,
      { wait = opts.wait, progress = "quiet", quiet = opts.quiet, loading = run.loading,
        state_path = worker_state.path(run.path, index), says_once = index == 0 }, n)
    if not counts then error(err, 0) end
    if counts.route_problems and opts.quiet then   -- (said as it happened otherwise)
      for _, message in pairs(counts.route_problems) do
        io.stderr:write(string.format("mailcast: %s: worker %d: %s\n", campaign.name, index + 1, message))
      end
    end
    return counts.paused and 130 or counts.route_problems and PAUSED_ROUTE or 0
  end)
  if ok then return code end
  io.stderr:write(string.format("mailcast: %s: worker %d: %s\n", campaign.name, index + 1, tostring(code)))
  return 1
end

-- Starts the n workers; their process ids, or nil and why (the ones
-- already started are stopped).
local function start(campaign, run, opts, n, split_by_domain)
  local pids = {}
  for index = 0, n - 1 do
    local pid, err = core.fork()
    if pid == 0 then core.exit_now(work(campaign, run, opts, index, n, split_by_domain)) end
    if not pid then
      for _, p in ipairs(pids) do core.kill(p, "TERM") core.wait(p) end
      return nil, err
    end
    pids[#pids + 1] = pid
  end
  return pids
end

-- The parent's side: the list loaded, then every worker waited for,
-- with progress shown (the store's counts, and what the workers'
-- schedulers report) and interrupts passed on all along. The workers'
-- exit codes, the parent's store and the rows of the list refused, or
-- nil and why loading failed.
local function supervise(campaign, run, opts, pids)
  local store = assert(mailcast.store(run.path))
  local reports = {}
  for i = 1, #pids do reports[i] = worker_state.path(run.path, i - 1) end
  local shown = progress.new { mode = opts.progress or (opts.quiet and "quiet" or nil), name = campaign.name }
  -- The workers change the counts: they are counted again as often as
  -- that stays cheap (mailcast.tally).
  local counted = require("mailcast.tally").new(store, run.id)
  local codes, left, passed = {}, #pids, 0
  local function step()
    local interrupts = core.interrupted()
    if interrupts > passed then
      if passed == 0 and not opts.quiet then
        io.stderr:write("\nmailcast: pausing: finishing the transactions in flight (Ctrl-C again to stop at once)\n")
      end
      for i, pid in ipairs(pids) do
        if not codes[i] then for _ = passed + 1, interrupts do core.kill(pid, "INT") end end
      end
      passed = interrupts
    end
    for i, pid in ipairs(pids) do
      if not codes[i] then
        local code = core.wait(pid, true)
        if code then codes[i], left = code, left - 1 end
      end
    end
    if left > 0 and shown:due() then shown:tick(counted:get(), worker_state.sum(reports)) end
  end
  core.trap_interrupts(true)
  local loader = campaign:loader(store, run.id)
  loader.tally = counted
  local loaded, err = pcall(campaign.load, campaign, store, run.id, function()
    step()
    -- Paused, or every worker gone: the rest of the list waits for the next run.
    if passed > 0 or left == 0 then error("stopped", 0) end
  end, loader)
  os.remove(run.marker)
  if not loaded and err ~= "stopped" then
    for _, pid in ipairs(pids) do core.kill(pid, "INT") end
  end
  while left > 0 do
    step()
    core.sleep(0.05)
  end
  core.trap_interrupts(false)
  worker_state.remove(reports)
  -- A worker that died (or failed) may have left recipients in flight.
  store:recover(run.id)
  if not loaded and err ~= "stopped" then
    store:close()
    return nil, err
  end
  shown:tick(store:counts(run.id), nil, true)
  return codes, store, loader.bad
end

--- run(campaign, {path=, id=, log=}, opts) -> counts | nil, message
-- opts as campaign:run's, with opts.workers > 1.
function M.run(campaign, run, opts)
  local n, why = M.count(opts.workers)
  if not n then return nil, why end
  local ok, err = check_shares(campaign, n)
  if not ok then return nil, "campaign: " .. err end
  run.marker = run.path .. ".loading"
  local marker = io.open(run.marker, "w")
  if not marker then return nil, "campaign: cannot write " .. run.marker end
  marker:close()
  function run.loading()
    local f = io.open(run.marker, "rb")
    if f then f:close() end
    return f ~= nil
  end
  -- (reports a run that crashed left behind would be read as this one's)
  local reports = {}
  for i = 1, n do reports[i] = worker_state.path(run.path, i - 1) end
  worker_state.remove(reports)
  local pids
  pids, err = start(campaign, run, opts, n, by_domain(campaign))
  if not pids then os.remove(run.marker) return nil, err end
  local codes, store, bad_rows = supervise(campaign, run, opts, pids)
  if not codes then return nil, store end
  local counts = store:counts(run.id)
  counts.list_read = campaign_mod.list_read(store, run.id)
  counts.bad_rows = bad_rows
  local failed = 0
  for i, code in ipairs(codes) do
    if code == 130 then counts.paused = true
    elseif code == PAUSED_ROUTE then
      counts.route_problems = counts.route_problems or {}
      counts.route_problems[i] = string.format("worker %d: a route was paused (its reason is above)", i)
    elseif code ~= 0 then failed = failed + 1 end
  end
  local due = store:report("next_due", run.id)[1]
  counts.next_retry = due and due.next_at and math.ceil(math.max(0, due.next_at - core.time()))
  store:close()
  if failed > 0 then
    return nil, string.format("%s: %d of %d workers failed (see above); run again to resume", campaign.name,
      failed, n)
  end
  return counts
end

return M
