-- Where a run stands, as it goes: a bar redrawn in place on a terminal;
-- one line every few seconds otherwise (a log, a pipe, cron); JSON lines
-- for machines; or nothing. Rate and ETA come from the last ten seconds.
local core = require "mailcast.core"
local jsonl = require "mailcast.jsonl"

local M = {}

local Progress = {}
Progress.__index = Progress

local WINDOW = 10   -- seconds of history behind the rate

M.JSON_FIELDS = {
  "time", "campaign", "delivered", "deferred", "failed", "skipped", "suppressed", "remaining",
  "rate", "eta", "destinations", "backing_off", "backoff_connections", "backoff_rate", "done",
}

--- new{mode = "bar"|"lines"|"json"|"quiet" (default: bar on a terminal,
-- else lines), name=, out = io.stderr (io.stdout for json), interval=,
-- width= (the bar's line at most; default: the terminal's width, else
-- $COLUMNS, else no limit)}
function M.new(opts)
  local mode = opts.mode
  if not mode then mode = core.isatty(io.stderr) and "bar" or "lines" end
  local self = setmetatable({
    mode = mode, name = opts.name or "",
    out = opts.out or (mode == "json" and io.stdout or io.stderr),
    interval = opts.interval or (mode == "bar" and 0.25 or 5), width = opts.width,
    started = core.now(), last = -math.huge, samples = {},
  }, Progress)
  return self
end

-- Messages per second over the last WINDOW seconds of done counts.
function Progress:rate(now, done)
  local s = self.samples
  s[#s + 1] = { now, done }
  while #s > 2 and now - s[2][1] > WINDOW do table.remove(s, 1) end
  local first = s[1]
  local span = now - first[1]
  if span < 0.5 then return nil end
  return (done - first[2]) / span
end

local function clock(seconds)
  if not seconds or seconds ~= seconds or seconds == math.huge then return "--:--" end
  seconds = math.floor(seconds + 0.5)
  if seconds >= 3600 then
    return string.format("%d:%02d:%02d", seconds // 3600, seconds // 60 % 60, seconds % 60)
  end
  return string.format("%d:%02d", seconds // 60, seconds % 60)
end

-- What every display shows, from the store's counts and the scheduler.
function Progress:figures(counts, sched, now)
  local done = counts.delivered + counts.failed + counts.skipped + counts.suppressed
  local remaining = counts.pending + counts.in_flight
  local total = done + remaining + counts.deferred
  local rate = self:rate(now, done)
  local backing_off = sched and (sched.backing_off or sched.down) or 0
  local held_rate = sched and sched.backoff_rate
  return {
    campaign = self.name, delivered = counts.delivered, deferred = counts.deferred,
    failed = counts.failed, skipped = counts.skipped, suppressed = counts.suppressed,
    remaining = remaining, total = total, done_count = done,
    rate = rate and math.floor(rate * 10 + 0.5) / 10,
    eta = rate and rate > 0 and math.floor(remaining / rate + 0.5) or nil,
    destinations = sched and sched.destinations or 0, backing_off = backing_off,
    -- What the destinations backing off are held to now, summed.
    backoff_connections = backing_off > 0 and sched.backoff_connections or nil,
    backoff_rate = backing_off > 0 and held_rate and math.floor(held_rate * 10 + 0.5) / 10 or nil,
  }
end

-- "1 backing off (2 connections, 12.5/s)": how many destinations the
-- servers have slowed down, and what they are held to.
local function backing_off_text(f)
  local n, held = f.backoff_connections, {}
  if n then held[1] = string.format("%d connection%s", n, n == 1 and "" or "s") end
  if f.backoff_rate then held[#held + 1] = string.format("%.1f/s", f.backoff_rate) end
  if #held == 0 then return string.format("%d backing off", f.backing_off) end
  return string.format("%d backing off (%s)", f.backing_off, table.concat(held, ", "))
end

local BAR_WIDTH = 24   -- the bar's own width, when the terminal has room

-- Columns a string takes (a code point each; bytes when not UTF-8).
local function columns(s) return utf8.len(s) or #s end

-- The bar's pieces, in the order they are shown, each with the rank at
-- which it goes when the line does not fit (1 goes first; the bar
-- itself, 0, shrinks to 9 columns first, and goes after rank 2).
local function bar_pieces(self, f, share)
  return {
    { rank = 5, text = self.name }, { rank = 0 },
    { rank = 10, text = string.format("%3d%%", math.floor(share * 100)) },
    { rank = 9, text = string.format("%d delivered", f.delivered) },
    { rank = 3, text = string.format("%d deferred", f.deferred) },
    { rank = 6, text = string.format("%d failed", f.failed) },
    { rank = 8, text = string.format("%d left", f.remaining) },
    { rank = 1, text = string.format("%s/s", f.rate and string.format("%.0f", f.rate) or "-") },
    { rank = 7, text = "ETA " .. clock(f.eta) },
    f.backing_off > 0 and { rank = 4, text = backing_off_text(f) } or nil,
  }
end

-- The bar line in at most max columns: the bar shrinks, then pieces go
-- by rank, so that it never wraps (a wrapped line is not redrawn in
-- place, and the screen fills with partial bars).
local function fit_bar(pieces, share, max)
  local function render(width)
    local head, rest = {}, {}
    if not pieces[1].gone then head[1] = pieces[1].text end
    if width > 0 then
      local filled = math.floor(share * width + 0.5)
      head[#head + 1] = "[" .. string.rep("#", filled) .. string.rep("-", width - filled) .. "]"
    end
    for i = 3, #pieces do if not pieces[i].gone then rest[#rest + 1] = pieces[i].text end end
    if width == 0 and rest[1] then rest[1] = rest[1]:gsub("^ +", "") end   -- " 12%" was aligned to the bar
    local line = table.concat(head, " ")
    if #rest == 0 then return line end
    return line .. (#head == 0 and "" or width > 0 and " " or "  ") .. table.concat(rest, "  ")
  end
  local width = BAR_WIDTH
  local line = render(width)
  while columns(line) > max do
    local over = columns(line) - max
    if width >= 10 then
      width = math.max(9, width - over)
    else
      local drop
      for _, p in ipairs(pieces) do
        if p.rank > 0 and not p.gone and (not drop or p.rank < drop.rank) then drop = p end
      end
      if width > 0 and (not drop or drop.rank > 2) then width = 0
      elseif drop then drop.gone = true
      else return line:sub(1, max) end
    end
    line = render(width)
  end
  return line
end

function Progress:bar(f, final)
  local share = f.total > 0 and f.done_count / f.total or 1
  -- One column short of the width: a line that fills the last column
  -- wraps on some terminals.
  local width = self.width or (io.type(self.out) == "file" and core.columns(self.out))
    or tonumber(os.getenv("COLUMNS"))
  local pieces = bar_pieces(self, f, share)
  local line = fit_bar(pieces, share, width and math.max(width - 1, 10) or math.huge)
  self.out:write("\r", line, "\27[K", final and "\n" or "")
  self.out:flush()
end

function Progress:line(f)
  self.out:write(string.format("mailcast: %s: %d delivered, %d deferred, %d failed, %d left, %s msg/s, ETA %s%s\n",
    self.name, f.delivered, f.deferred, f.failed, f.remaining, f.rate and string.format("%.1f", f.rate) or "-",
    clock(f.eta), f.backing_off > 0 and ", " .. backing_off_text(f) or ""))
  self.out:flush()
end

function Progress:json(f, final)
  f.time = jsonl.iso_time(core.time())
  f.done = final or nil
  self.out:write(jsonl.encode(f, M.JSON_FIELDS), "\n")
  self.out:flush()
end

--- p:due() -> true when a tick would show something (the caller then
-- gathers the counts; they cost a query).
function Progress:due()
  return self.mode ~= "quiet" and core.now() - self.last >= self.interval
end

--- p:tick(counts, sched_state [, final])
function Progress:tick(counts, sched, final)
  if self.mode == "quiet" then return end
  local now = core.now()
  self.last = now
  local f = self:figures(counts, sched, now)
  if self.mode == "bar" then self:bar(f, final)
  elseif self.mode == "json" then self:json(f, final)
  elseif not final then self:line(f) end
end

return M
