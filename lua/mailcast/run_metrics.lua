-- `mailcast run --metrics HOST:PORT`: the run's figures for Prometheus,
-- at http://HOST:PORT/metrics while it runs. The listener is C on the
-- engine's loop (mailcast.core.metrics_server); the page is written here
-- once a second from the stores' counts, the scheduler's state and the
-- outcomes the run recorded, and handed to it whole.
local core = require "mailcast.core"

local M = {}

-- Seconds between two pages: a scrape sees figures at most this old.
M.EVERY = 1

local Metrics = {}
Metrics.__index = Metrics

--- parse(address) -> host, port | nil, why: "127.0.0.1:9100",
-- "[::1]:9100", "localhost:0" (0: any free port).
function M.parse(address)
  local host, port = tostring(address):match("^%[([^%]]+)%]:(%d+)$")
  if not host then host, port = tostring(address):match("^([^:]+):(%d+)$") end
  port = tonumber(port)
  if not host or not port or port > 65535 then
    return nil, string.format("--metrics wants HOST:PORT (such as 127.0.0.1:9100), not '%s'", tostring(address))
  end
  return host, math.tointeger(port)
end

--- open(address) -> metrics | nil, why: listening at once.
function M.open(address)
  local host, port = M.parse(address)
  if not host then return nil, port end
  local server, err = core.metrics_server(host, port)
  if not server then return nil, "--metrics: " .. tostring(err) end
  return setmetatable({ server = server, last = -math.huge, outcomes = {} }, Metrics)
end

-- A label value as Prometheus' text format quotes it.
local function label(v)
  return (tostring(v):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

--- metrics:tally(campaign, state, reply): one outcome the run recorded
-- (delivered, deferred, failed, ...), with its reply's reason.
function Metrics:tally(campaign, state, reply)
  local key = campaign .. "\0" .. state .. "\0" .. (state ~= "delivered" and reply and reply.reason or "")
  self.outcomes[key] = (self.outcomes[key] or 0) + 1
end


local STATES = { "pending", "in_flight", "deferred", "delivered", "failed", "skipped", "suppressed" }

local HELP = {
  mailcast_recipients = { "gauge", "Recipients of each campaign by state, from its store." },
  mailcast_queue_depth = { "gauge", "Recipients still to send: pending, in flight and deferred." },
  mailcast_outcomes_total = { "counter",
    "Outcomes this run recorded, by state and, for those not delivered, the reason in the bounce taxonomy." },
  mailcast_connections = { "gauge", "Sessions holding a connection to a destination." },
  mailcast_destinations = { "gauge", "Destinations (route and host set) the run has sent to." },
  mailcast_destinations_backing_off = { "gauge",
    "Destinations the servers' pushback holds below their limits, or that are down." },
  mailcast_destinations_down = { "gauge", "Destinations that could not be reached and wait to try again." },
  mailcast_jobs_queued = { "gauge", "Messages waiting in the scheduler for room in a destination's window." },
  mailcast_jobs_unacked = { "gauge", "Messages handed to a session and not yet answered." },
}

local ORDER = { "mailcast_recipients", "mailcast_queue_depth", "mailcast_outcomes_total", "mailcast_connections",
  "mailcast_destinations", "mailcast_destinations_backing_off", "mailcast_destinations_down",
  "mailcast_jobs_queued", "mailcast_jobs_unacked" }


--- metrics:page(runs, state) -> the text of /metrics for the runs (each
-- with tally and campaign: see mailcast.tally) and the scheduler's state
-- (dispatch:state()).
function Metrics:page(runs, st)
  local lines = {}
  for _, name in ipairs(ORDER) do lines[name] = {} end
  local function add(name, labels, value)
    local list = lines[name]
    list[#list + 1] = string.format("%s%s %s", name, labels, math.type(value) == "integer" and value
      or string.format("%.17g", value))
  end
  for _, run in ipairs(runs) do
    local name = label(run.campaign.name)
    local counts = run.tally:get()
    for _, s in ipairs(STATES) do add("mailcast_recipients", string.format('{campaign="%s",state="%s"}', name, s), counts[s]) end
    add("mailcast_queue_depth", string.format('{campaign="%s"}', name), counts.pending + counts.in_flight + counts.deferred)
  end
  local keys = {}
  for k in pairs(self.outcomes) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local campaign, state, reason = k:match("^(.-)\0(.-)\0(.*)$")
    add("mailcast_outcomes_total", string.format('{campaign="%s",state="%s",reason="%s"}', label(campaign),
      label(state), label(reason)), self.outcomes[k])
  end
  add("mailcast_connections", "", st.active or 0)
  add("mailcast_destinations", "", st.destinations or 0)
  add("mailcast_destinations_backing_off", "", st.backing_off or 0)
  add("mailcast_destinations_down", "", st.down or 0)
  add("mailcast_jobs_queued", "", st.queued or 0)
  add("mailcast_jobs_unacked", "", st.unacked or 0)
  local out = {}
  for _, name in ipairs(ORDER) do
    out[#out + 1] = string.format("# HELP %s %s\n# TYPE %s %s", name, HELP[name][2], name, HELP[name][1])
    for _, l in ipairs(lines[name]) do out[#out + 1] = l end
  end
  return table.concat(out, "\n") .. "\n"
end

--- metrics:update(runs, dispatch [, now]): a new page, at most every
-- EVERY seconds unless now is given.
function Metrics:update(runs, d, now)
  local t = core.now()
  if not now and t - self.last < M.EVERY then return end
  self.last = t
  self.server:set(self:page(runs, d:state()))
end

function Metrics:port() return self.server:port() end

function Metrics:close() self.server:close() end

return M
