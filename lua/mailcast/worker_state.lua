-- What the scheduler of each worker of `mailcast run --workers` says
-- about its destinations (how many, how many the servers' pushback holds
-- back, and to what), passed to the parent, which shows the progress of
-- the whole run: each worker rewrites a small file beside the store now
-- and then (written whole and renamed, so the parent never reads half of
-- one), and the parent sums them.
local M = {}

-- Seconds between two reports of a worker: the progress shows every
-- quarter second on a terminal, and a destination backs off for seconds.
M.EVERY = 0.5

local FIELDS = { "destinations", "backing_off", "backoff_connections", "backoff_rate" }

--- path(store_path, index) -> the report file of worker index (0-based)
function M.path(store_path, index)
  return string.format("%s.worker%d.state", store_path, index)
end

--- write(path, state): state as the scheduler's state() gives it.
function M.write(path, state)
  local values = {}
  for i, field in ipairs(FIELDS) do values[i] = string.format("%.17g", tonumber(state[field]) or 0) end
  local tmp = path .. ".tmp"
  local f = io.open(tmp, "w")
  if not f then return end   -- a report is for the display only: no run stops for one
  f:write(table.concat(values, " "), "\n")
  f:close()
  os.rename(tmp, path)
end

--- sum(paths) -> the reports of the workers added up, as a scheduler's
-- state() would be for them all (nil when none has reported yet).
function M.sum(paths)
  local total
  for _, path in ipairs(paths) do
    local f = io.open(path, "r")
    if f then
      local line = f:read("l")
      f:close()
      local i, values = 0, {}
      for word in (line or ""):gmatch("%S+") do
        i = i + 1
        values[i] = tonumber(word)
      end
      if i == #FIELDS then
        total = total or { destinations = 0, backing_off = 0, backoff_connections = 0, backoff_rate = 0 }
        for k, field in ipairs(FIELDS) do total[field] = total[field] + values[k] end
      end
    end
  end
  if total and total.backoff_rate == 0 then total.backoff_rate = nil end
  return total
end

--- remove(paths): the reports gone once the run ends.
function M.remove(paths)
  for _, path in ipairs(paths) do
    os.remove(path)
    os.remove(path .. ".tmp")
  end
end

return M
