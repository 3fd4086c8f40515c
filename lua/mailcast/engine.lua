-- The engine's turn: the campaigns of a process sent at once over one
-- dispatcher, so that the destinations they share (a relay, an MX host
-- set) hold their limits across all of them, and each destination takes
-- their jobs in turns weighted by the campaigns' priority (a newsletter
-- of a million does not starve an announcement of five hundred).
--
-- Each campaign's part of the work is its run (campaign:open_run): the
-- engine turns them all, hands each the outcomes of its own jobs, and
-- says when every one is done, paused or waiting for its retries.
local core = require "mailcast.core"

local M = {}

-- Outcomes to the run of the campaign whose job each was, recorded in
-- one commit per campaign.
local function distribute(outcomes)
  if #outcomes == 0 then return end
  local by_run, order, for_hooks = {}, {}, {}
  for _, o in ipairs(outcomes) do
    if o.owner.collect then
      for_hooks[#for_hooks + 1] = o
    else
      local run = o.owner.run
      local list = by_run[run]
      if not list then
        list = {}
        by_run[run] = list
        order[#order + 1] = run
      end
      list[#list + 1] = o
    end
  end
  for _, run in ipairs(order) do run.campaign:record(run, by_run[run]) end
  -- Messages hooks sent with mailcast.send, to their waiting hooks, after
  -- the campaigns' outcomes are recorded: a hook resumed here goes on
  -- with its recipient's work, which may raise.
  for _, o in ipairs(for_hooks) do o.owner.collect(o) end
end

-- With every run done and nothing held: true to turn again (a worker
-- catching up with the list as it is loaded, or --wait with a retry
-- due), false when the engine's work is over.
local function after_all_done(runs, d, opts)
  if opts.loading then
    -- A worker that has caught up with the list as it is loaded. Once
    -- the loading has ended it claims once more: the parent commits the
    -- last rows before it says so, and they may have come after the
    -- claim that found nothing.
    local run = runs[1]
    if not run.loaded then
      if opts.loading() then d:idle(0.05) else run.loaded = true end
      run.done = false
      return true
    end
  end
  if not opts.wait then return false end
  local soonest
  for _, run in ipairs(runs) do
    local wait = run.campaign:next_retry(run)
    if wait and (not soonest or wait < soonest) then soonest = wait end
    run.due_in = wait
  end
  if not soonest then return false end
  for _, run in ipairs(runs) do run.campaign:show(run) end
  d:idle(math.min(soonest, 1))
  for _, run in ipairs(runs) do
    if run.due_in and run.due_in <= 1 then run.done, run.since = false, core.time() end
  end
  return true
end

--- send(runs, dispatcher, opts, quiet_pause) -> ok, error, paused
-- Turns the engine until every run is done (opts.wait: and no deferred
-- recipient is left), or Ctrl-C pauses it: then the transactions in
-- flight finish and are recorded, the rest stays pending. opts.loading
-- (a worker of --workers, one run): a function saying whether the list
-- is still being loaded by the parent. quiet_pause: the pause is not
-- announced (the parent of the workers does it).
function M.send(runs, d, opts, quiet_pause)
  -- --metrics: the run's figures at http://HOST:PORT/metrics as it goes.
  local metrics
  if opts.metrics then
    local err
    metrics, err = require("mailcast.run_metrics").open(opts.metrics)
    if not metrics then return false, err end
  end
  for _, run in ipairs(runs) do
    run.dispatch = d
    run.turn = function() d:turn() end
    run.metrics = metrics
  end
  core.trap_interrupts(true)
  local paused = false
  local ok, err = pcall(function()
    while true do
      if core.interrupted() > 0 then paused = true break end
      local all_done = true
      for _, run in ipairs(runs) do
        run.campaign:advance(run)
        all_done = all_done and run.done
      end
      if all_done and d:held() == 0 then
        if not after_all_done(runs, d, opts) then break end
      else
        -- Enough outcomes for a commit to be worth it, or what came in
        -- a tenth of a second.
        distribute(d:run(0.1, math.max(1, d:held() // 4)))
      end
      for _, run in ipairs(runs) do
        run.campaign:report_problems(run)
        run.campaign:show(run)
      end
      if metrics then metrics:update(runs, d) end
    end
    if paused then
      if not opts.quiet and not quiet_pause then
        io.stderr:write("\nmailcast: pausing: finishing the transactions in flight (Ctrl-C again to stop at once)\n")
      end
      d:drain(30)
      distribute(d:run(0, math.huge))
    else
      d:drain(5)
    end
  end)
  core.trap_interrupts(false)
  if metrics then metrics:close() end
  return ok, err, paused
end

return M
