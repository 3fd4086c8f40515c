-- Running a script's hooks: each call on a coroutine from a pool, with
-- an instruction limit, its errors caught. A core function that must
-- wait (mailcast.mx, mailcast.send) turns the process's one event loop
-- until its answer is there, so the engine's sessions go on while a hook
-- waits; a hook that yields is reported like one that raises.
local M = {}

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

--- call(fn, limit, ...) -> true, results... | false, message
function M.call(fn, limit, ...)
  local co = table.remove(idle)
  if not co then
    co = coroutine.create(worker)
    coroutine.resume(co)
  end
  debug.sethook(co, runaway, "", limit or M.LIMIT)
  local res = table.pack(coroutine.resume(co, fn, ...))
  debug.sethook(co)
  if not res[1] then return false, tostring(res[2]) end   -- the worker itself broke
  if res[2] ~= DONE then
    -- The hook yielded: nothing resumes it here (the coroutine is dropped).
    return false, "a hook cannot wait (it yielded)"
  end
  idle[#idle + 1] = co
  return table.unpack(res, 3, res.n)
end

return M
