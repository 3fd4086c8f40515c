-- A campaign's recipients by state, as the progress display and
-- `run --metrics` show them several times a second. Counting them in the
-- store is a walk over the campaign's rows (0.3 s for a million), so it
-- is done only as often as that stays a small share of the time (at most
-- REFRESH_SHARE of it, and at most every MIN_AGE seconds), and what this
-- process changes in between (claims, outcomes, rows added) is applied
-- to the last count as it happens: its own figures are never late, and
-- those of other processes (the workers of --workers, another run on the
-- store, `mailcast queue`) at most by the time between counts.
local core = require "mailcast.core"

local M = {}

M.MIN_AGE = 1
M.REFRESH_SHARE = 0.02

local Tally = {}
Tally.__index = Tally

--- new(store, id) -> tally of campaign id in store
function M.new(store, id)
  return setmetatable({ store = store, id = id, counts = nil, at = -math.huge, cost = 0 }, Tally)
end

--- tally:get([fresh]) -> counts ({pending=, in_flight=, ...}, as
-- store:counts gives them), counted in the store again when the last
-- count is old enough, or fresh is true.
function Tally:get(fresh)
  local t = core.now()
  if fresh or not self.counts or t - self.at >= math.max(M.MIN_AGE, self.cost / M.REFRESH_SHARE) then
    self.counts = assert(self.store:counts(self.id))
    self.at = core.now()
    self.cost = self.at - t
  end
  return self.counts
end

--- tally:moved(from, to [, n]): n recipients (default 1) went from state
-- from (nil: new rows) to state to, by this process.
function Tally:moved(from, to, n)
  local c = self.counts
  if not c then return end   -- nothing counted yet: the first count has it
  n = n or 1
  if from then c[from] = (c[from] or 0) - n end
  c[to] = (c[to] or 0) + n
end

return M
