-- Running a script's hooks: each call on a coroutine from a pool, with
-- an instruction limit, its errors caught.
--
-- A hook may wait. Called by the engine (on a task: see M.run_task),
-- mailcast.mx, mailcast.send and a mailcast.session's calls yield the
-- hook's coroutine and the task's with it; the engine asks on its loop,
-- goes on with other work, and resumes the task with the answer when it
-- comes. Called anywhere else (a dry run, a plain script), they turn the
-- process's one event loop until their answer is there. A hook
-- that yields anything else is reported like one that raises.
local M = {}

--- What a hook's call that must wait yields, with what it waits for.
M.WAIT = setmetatable({}, { __name = "mailcast.hooks.WAIT" })

local in_task = false   -- a task of the engine is running: its hooks may wait
local depth = 0         -- hooks running now, one inside another's call

--- A hook that runs away (an endless loop) is stopped after this many
-- Lua instructions.
M.LIMIT = 100000000

local DONE = {}   -- first value a worker yields when the hook returned

local function runaway()
  error("ran past its instruction limit (an endless loop?)", 2)
end

-- A worker runs hook after hook: resumed with a function and its
-- arguments, it yields DONE and what pcall gave.
local function worker()
  local args = table.pack(coroutine.yield())
  while true do
    args = table.pack(coroutine.yield(DONE, pcall(table.unpack(args, 1, args.n))))
  end
end

local idle = {}
local workers = setmetatable({}, { __mode = "k" })   -- every worker made, to know one

--- call(fn, limit, ...) -> true, results... | false, message
function M.call(fn, limit, ...)
  local co = table.remove(idle)
  if not co then
    co = coroutine.create(worker)
    coroutine.resume(co)
    workers[co] = true
  end
  limit = limit or M.LIMIT
  debug.sethook(co, runaway, "", limit)
  depth = depth + 1
  local res = table.pack(coroutine.resume(co, fn, ...))
  -- The hook waits (M.wait): the task that called it waits with it, and
  -- the answer the engine resumes the task with goes on to the hook.
  while res[1] and res[2] == M.WAIT and in_task do
    debug.sethook(co)
    depth = depth - 1
    local answer = table.pack(coroutine.yield(table.unpack(res, 2, res.n)))
    depth = depth + 1
    debug.sethook(co, runaway, "", limit)
    res = table.pack(coroutine.resume(co, table.unpack(answer, 1, answer.n)))
  end
  depth = depth - 1
  debug.sethook(co)
  if not res[1] then return false, tostring(res[2]) end   -- the worker itself broke
  if res[2] ~= DONE then
    -- The hook yielded: nothing resumes it here (the coroutine is dropped).
    return false, "a hook cannot wait (it yielded)"
  end
  idle[#idle + 1] = co
  return table.unpack(res, 3, res.n)
end

--- can_wait() -> whether the running code is a hook of an engine task,
-- which may wait (M.wait) rather than turn the loop itself.
function M.can_wait()
  return in_task and depth > 0 and workers[coroutine.running()] == true
end

--- wait(kind, ...) -> the answer the engine resumes the task with: from
-- a hook of an engine task (can_wait()), a look-up of kind ("mx") that
-- the engine makes on its loop while it goes on with other work.
function M.wait(kind, ...)
  return coroutine.yield(M.WAIT, kind, ...)
end

--- run_task(co, on_wait, ...) -> whether the task finished: resumes the
-- engine's task co (with ... : the answer it waited for), its hooks
-- allowed to wait. When it waits again, on_wait(resume, kind, ...) is
-- called with what it waits for and a function to resume it with the
-- answer. An error in the task is raised here.
function M.run_task(co, on_wait, ...)
  local args = table.pack(...)
  while true do
    local outer = in_task
    in_task = true
    local res = table.pack(coroutine.resume(co, table.unpack(args, 1, args.n)))
    in_task = outer
    if not res[1] then error(res[2], 0) end
    if res[2] ~= M.WAIT then return true end
    -- An answer known at once (a look-up that cannot be made) resumes the
    -- task here, in this loop: a hook that asks many such questions must
    -- not nest a resume in a resume for each.
    local now, answer = true, nil
    on_wait(function(...)
      if now then answer = table.pack(...) return end
      return M.run_task(co, on_wait, ...)
    end, table.unpack(res, 3, res.n))
    now = false
    if not answer then return false end
    args = answer
  end
end
-- A mailcast.session's operations (in C) wait the same way.
require("mailcast.core").set_waiter(M.can_wait, M.WAIT)

return M
