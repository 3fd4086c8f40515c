-- Where each message goes, on one scheduler: named routes (a relay, or
-- `mx` for direct delivery) become destinations with their own
-- connections, rate and backoff. An mx route makes one destination per
-- MX host set, found through a cache of MX look-ups, so the domains of a
-- campaign share connections when they share servers and are all sent
-- at once on the same loop.
--
-- A destination holds at most `window` jobs whose outcome has not been
-- acknowledged (taken from run() and recorded by the caller: the next
-- run() call acknowledges them); the rest wait in its backlog, in the
-- scheduler (core/sched.h, core/backlog.h), one queue per share taken in
-- turns by weight. With the window at connections × messages per
-- connection, a crash re-sends at most that many messages per
-- destination.
local core = require "mailcast.core"
local answered_session = core.session_answered
local schema = require "mailcast.schema"
local config = require "mailcast.config"

local M = {}

local Dispatch = {}
Dispatch.__index = Dispatch

-- Route fields that are ours, not the SMTP client's.
local ROUTE_ONLY = config.ROUTE_OWN

-- What a failed MX look-up means for its recipients.
local DNS_OUTCOME = {
  null_mx = { "failed", 556, "5.1.10" },     -- RFC 7505 3
  no_domain = { "failed", 550, "5.1.2" },
  no_address = { "failed", 550, "5.1.2" },
  temporary = { "deferred", 0, "" },
}

--- per_second(rate, name) -> messages per second: a number, or "N/s",
-- "N/m", "N/h" (nil stays nil).
function M.per_second(rate, name)
  local n = schema.per_second(rate)
  if n == nil and rate ~= nil then
    error(string.format("%s must be a number or like '100/m', not '%s'", name, tostring(rate)), 0)
  end
  return n
end

--- limits(...) -> the pool options of the tables given (each checked
-- against mailcast.config.LIMITS when it was made), later ones
-- overriding earlier ones, with rates as messages per second.
function M.limits(...)
  local out = {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if t then for k, v in pairs(t) do out[k] = v end end
  end
  out.rate = M.per_second(out.rate, "rate")
  out.connect_rate = M.per_second(out.connect_rate, "connect_rate")
  return out
end

--- divide(limits, workers, name) -> each worker's share of a relay's
-- limits, when `workers` processes send through it at once: the rates
-- divided, and the connections (each worker needs one of its own, so a
-- relay allowing fewer connections than there are workers is an error).
function M.divide(limits, workers, name)
  if workers <= 1 then return limits end
  local out = {}
  for k, v in pairs(limits) do out[k] = v end
  local connections = limits.connections or 1
  if connections < workers then
    error(string.format("route '%s' allows %d connection%s: %d workers need one each (raise its"
      .. " limits.connections or use fewer workers)", name, connections, connections == 1 and "" or "s",
      workers), 0)
  end
  out.connections = connections // workers
  if out.rate then out.rate = out.rate / workers end
  if out.connect_rate then out.connect_rate = out.connect_rate / workers end
  return out
end

--- mx_targets(mx) -> {{address=, name=}...}: the addresses of an MX
-- answer (core.mx's) in the order they are tried, as a route's targets.
function M.mx_targets(mx)
  local targets = {}
  for _, h in ipairs(mx.hosts) do
    for _, a in ipairs(h.addresses) do targets[#targets + 1] = { address = a, name = h.name } end
  end
  return targets
end

function M.domain_of(address)
  return (address:match("@([^@]+)$") or ""):lower()
end

--- new(routes, opts) -> dispatcher
-- routes: name -> route table (a relay's host, port, tls, user, ...; or
-- {mx = true, ...}); each may carry limits = {...} and, for mx,
-- domains = {["example.com"] = limits}. opts.limits: the defaults for
-- every destination; opts.window = false: no window (mailcast.send);
-- opts.workers: how many processes share the relays (see divide);
-- opts.trace: a function told every line of every session (as
-- mailcast.send's trace option); opts.keep_transcripts: an outcome not
-- sent to every recipient comes with its transaction's last lines
-- (result.transcript; not for mailcast.send's routes). An mx
-- route's limits stay whole: the workers split recipients by domain, so
-- a domain (and in practice its MX hosts) belongs to one of them.
function M.new(routes, opts)
  opts = opts or {}
  local self = setmetatable({
    sched = core.scheduler(), routes = {}, dests = {}, shared = {},
    ready = {}, use_window = opts.window ~= false, share_ids = {}, shares = 0, turned = 0,
    waiting = {}, lookup_of = {}, parked = 0, paused_routes = {}, sessions_waited = {},
    lookups_out = 0, lookup_queue = {}, lookup_head = 1,
    private = {}, privates = 0, private_idle = {},   -- mailcast.send's routes in hooks (private_route)
    trace = opts.trace, keep_transcripts = opts.keep_transcripts,
  }, Dispatch)
  if routes then self:add_routes(routes, opts) end
  return self
end

-- What makes two routes the same way out: every field but the limits,
-- in a fixed order (routes of several campaigns that name the same relay
-- share its destination, and so its connections and rate).
local function identity(spec)
  local keys = {}
  for k in pairs(spec) do if k ~= "limits" and k ~= "domains" then keys[#keys + 1] = tostring(k) end end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = spec[k]
    if type(v) == "table" then
      local sub = {}
      for sk, sv in pairs(v) do sub[#sub + 1] = tostring(sk) .. "=" .. tostring(sv) end
      table.sort(sub)
      v = "{" .. table.concat(sub, ",") .. "}"
    end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  return table.concat(parts, ";")
end

-- A route's record: its SMTP route (core.route) and what the dispatcher
-- keeps of it. spec: the route table (checked), or a mailcast.route.
local function route_record(name, spec, limits)
  local route = spec
  if type(spec) == "table" then
    local fields = {}
    for k, v in pairs(spec) do if not ROUTE_ONLY[k] then fields[k] = v end end
    local err
    route, err = core.route(fields)
    if not route then error(string.format("route '%s': %s", name, err), 0) end
  else
    spec = {}
  end
  return {
    name = name, route = route, mx = spec.mx and true or false, spec = spec, limits = limits,
    domains = spec.domains or {},
    resolver = { server = spec.dns_server, timeout = spec.dns_timeout, tries = spec.dns_tries },
    mx_ttl = spec.mx_ttl, dest = nil, by_set = {}, mx_cache = {},
    looking = 0, probing = 0, doubted = {}, sane = false,
  }
end

-- The stricter of two limit tables where both limit a destination's load.
local function stricter(a, b)
  local out = {}
  for k, v in pairs(a) do out[k] = v end
  for _, k in ipairs { "connections", "rate", "connect_rate", "messages_per_connection" } do
    if b[k] and (not out[k] or out[k] == 0 or (b[k] ~= 0 and b[k] < out[k])) then out[k] = b[k] end
  end
  return out
end

--- d:add_routes(routes, opts [, prefix]): more routes, as new() takes
-- them, each known to submit() as prefix .. name (several campaigns on
-- one dispatcher keep their route names apart this way). A route the
-- same as one already added (see identity) shares its destinations,
-- within the stricter of the two's limits.
function Dispatch:add_routes(routes, opts, prefix)
  opts = opts or {}
  for name, spec in pairs(routes) do
    -- Checked when the campaign was made; checked here for other callers,
    -- and for the defaults (mx_ttl).
    spec = schema.check(config.ROUTE, spec, string.format("route '%s'", name))
    local limits = spec.mx and M.limits(opts.limits, spec.limits)
      or M.divide(M.limits(opts.limits, spec.limits), opts.workers or 1, name)
    local same = identity(spec)
    local first = self.shared[same]
    if first then
      first.limits = stricter(first.limits, limits)
    else
      first = route_record(name, spec, limits)
      self.shared[same] = first
    end
    self.routes[(prefix or "") .. name] = first
  end
end

--- d:private_route(route, limits) -> name: a route for mailcast.send
-- called by a hook of the engine: a route table (checked as
-- mailcast.send's) or a mailcast.route, with send's options as its
-- limits. Its destinations are its own, not shared with an equal route
-- of a campaign (whose limits the hook's would otherwise narrow); the
-- same route and limits again get the same name, and so the sessions
-- an earlier call left open. Each call takes the route until it calls
-- d:private_done(name).
function Dispatch:private_route(route, limits)
  local key
  limits = limits or {}
  if type(route) == "table" then
    route = schema.check(config.ROUTE, route, "mailcast.send route")
    key = identity(route)
  else
    key = tostring(route)
  end
  key = key .. "\0" .. identity(limits)
  local name = self.private[key]
  if not name then
    self.privates = self.privates + 1
    name = string.format("mailcast.send's route %d", self.privates)
    local r = route_record(name, route, M.limits(limits))
    r.private, r.key, r.users = true, key, 0
    self.routes[name] = r
    self.private[key] = name
  end
  local r = self.routes[name]
  if r.users == 0 then
    for i, idle in ipairs(self.private_idle) do
      if idle == name then table.remove(self.private_idle, i) break end
    end
  end
  r.users = r.users + 1
  return name
end

-- Private routes no call uses kept for the next one, most recently used
-- last: a hook that sends through the same route at every call finds
-- its session still open. One whose key is new at every call (a trace
-- function made in the hook, a mailcast.route made there) would pile up
-- for the whole run: past this many, the oldest is retired.
local PRIVATE_IDLE_KEPT = 8

--- d:private_done(name): a call of mailcast.send on private route name
-- has every outcome.
function Dispatch:private_done(name)
  local r = self.routes[name]
  r.users = r.users - 1
  if r.users > 0 then return end
  local idle = self.private_idle
  idle[#idle + 1] = name
  if #idle > PRIVATE_IDLE_KEPT then self:retire_private(table.remove(idle, 1)) end
end

-- Retires a private route no call uses: its sessions close, its
-- destinations and look-ups are let go.
function Dispatch:retire_private(name)
  local r = self.routes[name]
  local dests = {}
  if r.dest then dests[1] = r.dest end
  for _, d in pairs(r.by_set) do dests[#dests + 1] = d end
  for _, d in ipairs(dests) do
    self.dests[d.id] = nil
    self.sched:retire(d.id)
  end
  self.routes[name], self.private[r.key] = nil, nil   -- (its MX answers with it)
end

-- A destination record: its scheduler id (the scheduler keeps its
-- window and backlog) and what it is for the user.
function Dispatch:destination(r, key, limits, targets, label)
  local window = self.use_window and (limits.connections or 1) * (limits.messages_per_connection or 10) or 0
  local trace, keep = limits.trace or self.trace, self.keep_transcripts and not r.private
  if trace or keep then
    local own = {}
    for k, v in pairs(limits) do own[k] = v end
    own.trace, own.trace_destination, own.keep_transcripts = trace, label or key, keep or nil
    limits = own
  end
  local id = self.sched:destination(r.route, limits, targets, window)
  local d = { id = id, key = key, label = label, route = r.name }
  self.dests[id] = d
  return d
end

-- MX look-ups run on the scheduler's loop while the sessions go on: the
-- jobs of a domain wait ("parked") until its answer comes, and the first
-- job of a domain starts its look-up. An answer is kept mx_ttl seconds
-- (a temporary failure is not: the next job asks again).
function Dispatch:cached_mx(r, domain)
  local hit = r.mx_cache[domain]
  if hit and hit.expires > os.time() then return hit.result end
end

function Dispatch:park(r, domain, job, owner, share)
  local key = r.name .. "\0" .. domain
  local w = self.waiting[key]
  if not w then
    w = { route = r, domain = domain, key = key, jobs = {}, owners = {}, shares = {} }
    self:look_up(r, "mx", domain, w)
    self.waiting[key] = w
  end
  local n = #w.jobs + 1
  w.jobs[n], w.owners[n], w.shares[n] = job, owner, share or false
  self.parked = self.parked + 1
end

-- Look-ups out at once: a campaign of a thousand new domains asks a few
-- dozen questions at a time, not a thousand in one burst, which a
-- resolver drops (and c-ares asks again only after its timeout).
local MAX_LOOKUPS = 64

-- Starts a look-up on the route's resolver, or queues it while
-- MAX_LOOKUPS are out; what comes back goes to for.
function Dispatch:look_up(r, kind, name, for_)
  r.looking = r.looking + 1
  if self.lookups_out >= MAX_LOOKUPS then
    local q = self.lookup_queue
    q[#q + 1] = { r, kind, name, for_ }
    return
  end
  local id, err = self.sched[kind](self.sched, name, r.resolver)
  if not id then error(tostring(err), 0) end   -- (it says "dns: ..." already)
  self.lookup_of[id] = for_
  self.lookups_out = self.lookups_out + 1
end

-- Starts queued look-ups while fewer than MAX_LOOKUPS are out.
function Dispatch:next_lookups()
  local q = self.lookup_queue
  while self.lookups_out < MAX_LOOKUPS and self.lookup_head <= #q do
    local l = q[self.lookup_head]
    q[self.lookup_head] = false
    self.lookup_head = self.lookup_head + 1
    l[1].looking = l[1].looking - 1   -- counted again as it starts
    self:look_up(l[1], l[2], l[3], l[4])
  end
  if self.lookup_head > #q then self.lookup_queue, self.lookup_head = {}, 1 end
end

-- A resolver that says a name does not exist is believed once it has
-- shown it knows names: another domain of the route resolved, or the
-- root zone or the name's parent zone answers. One that says NXDOMAIN for
-- everything (a captive portal, a sandbox, a broken forwarder) would fail
-- and suppress a whole list: its answers are doubted instead, and when
-- the probes fail too the route is paused with its recipients deferred.
local BELIEVED = { ok = true, null_mx = true }
local DOUBTED = { no_domain = true, no_address = true }
local PROBE_AGAIN = 60   -- seconds before a route paused this way probes again

function Dispatch:probe(r, domain)
  if r.probing > 0 or (r.probed_at and os.time() - r.probed_at < PROBE_AGAIN) then return end
  r.probed_at = os.time()
  local parent = domain:match("^[^.]+%.(.+)$")
  for _, name in ipairs { ".", parent } do
    r.probing = r.probing + 1
    self:look_up(r, "txt", name, { probe = true, route = r })
  end
end

--- d:wait_lookup(kind, name, opts, on_answer): a look-up of kind ("mx")
-- for someone else (a campaign's hook that waits), on the scheduler's
-- loop: on_answer(result) is called with what core.mx would return, or
-- (nil, message), from the run() or poll() during which it comes. Until
-- then it counts as held, so the engine does not end before it.
function Dispatch:wait_lookup(kind, name, opts, on_answer)
  local id, err = self.sched[kind](self.sched, name, opts)
  if not id then return on_answer(nil, err) end   -- as core.mx says it
  self.lookup_of[id] = { answer = on_answer }
  self.lookups_out = self.lookups_out + 1
  self.parked = self.parked + 1
end

--- d:wait_session(session, on_answer): a session's operation that a
-- campaign's hook waits for (see core.set_waiter): on_answer() is called
-- once it has called back, from the run() or poll() during which it
-- does. Until then it counts as held, as a look-up does.
function Dispatch:wait_session(session, on_answer)
  if answered_session(session) then return on_answer() end
  self.sessions_waited[session] = on_answer
  self.parked = self.parked + 1
  self.sched:hold()
end

-- The sessions waited for whose operation has called back, their hooks
-- resumed; how many.
function Dispatch:sessions_answered()
  local done = {}
  for session, on_answer in pairs(self.sessions_waited) do
    if answered_session(session) then done[#done + 1] = { session, on_answer } end
  end
  for _, d in ipairs(done) do
    self.sessions_waited[d[1]] = nil
    self.parked = self.parked - 1
    self.sched:release()
    d[2]()
  end
  return #done
end

-- The look-ups (and sessions) answered since the last call, their
-- waiting jobs placed.
function Dispatch:resolved()
  local sessions = next(self.sessions_waited) and self:sessions_answered() or 0
  local answers = self.sched:lookups()
  self.lookups_out = self.lookups_out - #answers
  self:next_lookups()
  for _, l in ipairs(answers) do
    local w = self.lookup_of[l.id]
    self.lookup_of[l.id] = nil
    if w.answer then
      self.parked = self.parked - 1
      w.answer(l.result)
    else
      self:answered(w, l.result)
    end
  end
  for _, r in pairs(self.routes) do
    if #r.doubted > 0 then self:weigh_doubts(r) end
  end
  return #answers + sessions
end

-- A look-up of a route's: a probe of its resolver, or a domain's MX
-- hosts, whose waiting jobs are placed (or held while the answer is
-- doubted).
function Dispatch:answered(w, result)
  local r = w.route
  r.looking = r.looking - 1
  if w.probe then
    r.probing = r.probing - 1
    -- NOERROR (with records or without) shows a resolver that answers
    if result.status == "ok" then r.sane = true end
    return
  end
  self.waiting[w.key] = nil
  if BELIEVED[result.status] then r.sane = true end
  if DOUBTED[result.status] and not r.sane then
    w.result = result
    r.doubted[#r.doubted + 1] = w
    self:probe(r, w.domain)
  else
    self:release(w, result)
  end
end

-- The doubted answers of route r: believed once the resolver has shown
-- it knows names; otherwise, once nothing that could show it is out,
-- their recipients are deferred and the route is said to be paused.
function Dispatch:weigh_doubts(r)
  if not r.sane and (r.looking > 0 or r.probing > 0) then return end
  local doubted = r.doubted
  r.doubted = {}
  if r.sane then
    r.paused = nil
    for _, w in ipairs(doubted) do self:release(w, w.result) end
    return
  end
  local names = {}
  for i, w in ipairs(doubted) do if i <= 3 then names[#names + 1] = w.domain end end
  r.paused = string.format("dns: the resolver%s answers that %s%s do%s not exist, and knows no other name"
    .. " (not even the root zone): not believed; route '%s' paused, its recipients kept for a retry",
    r.resolver.server and (" at " .. r.resolver.server) or "", table.concat(names, ", "),
    #doubted > 3 and (" and " .. (#doubted - 3) .. " more") or "", #doubted == 1 and "es" or "", r.name)
  self.paused_routes[r.name] = r.paused
  for _, w in ipairs(doubted) do
    self:release(w, { status = "temporary", error = r.paused })
  end
end

-- Places the jobs that waited for a domain's answer.
function Dispatch:release(w, result)
  local r = w.route
  if result.status ~= "temporary" then
    r.mx_cache[w.domain] = { result = result, expires = os.time() + r.mx_ttl }
  end
  for i, job in ipairs(w.jobs) do
    self.parked = self.parked - 1
    local d = self:place(r, w.domain, result, job, w.owners[i])
    if d then self:enqueue(d, job, w.owners[i], w.shares[i] or nil) end
  end
end

--- d:problems() -> {route name = message}: routes paused for a reason the
-- user must see (a resolver that cannot be believed).
function Dispatch:problems()
  return self.paused_routes
end

-- An outcome without a transaction (a failed MX look-up, a job taken
-- back): its result, for the caller to add to.
function Dispatch:settle_now(owner, route, status, code, enhanced, text, rcpts)
  local recipients = {}
  for i, a in ipairs(rcpts) do
    recipients[i] = { address = a, status = status, code = code, enhanced = enhanced, text = text }
  end
  local result = { status = status, recipients = recipients, attempts = 0 }
  self.ready[#self.ready + 1] = { owner = owner, route = route, result = result }
  return result
end

-- The destination for a job of route r (all of whose recipients are in
-- one domain for an mx route), or nil when it waits for its domain's MX
-- look-up or was settled without one.
function Dispatch:pick(r, job, owner, share)
  if not r.mx then
    if not r.dest then r.dest = self:destination(r, r.name, r.limits, nil, r.spec.host) end
    return r.dest
  end
  local domain = M.domain_of(job.to[1])
  local mx = self:cached_mx(r, domain)
  if not mx then
    self:park(r, domain, job, owner, share)
    return nil
  end
  return self:place(r, domain, mx, job, owner)
end

-- The destination of domain's MX host set, or nil when the answer
-- settled the job (a failure, or a route paused).
function Dispatch:place(r, domain, mx, job, owner)
  if mx.status ~= "ok" then
    local o = DNS_OUTCOME[mx.status]
    self:settle_now(owner, r.name, o[1], o[2], o[3], mx.error or mx.status, job.to)
    return nil
  end
  local targets, names = M.mx_targets(mx), {}
  for i, t in ipairs(targets) do names[i] = t.name .. "=" .. t.address end
  local special = r.domains[domain]
  local key = table.concat(names, ",") .. (special and ("|" .. domain) or "")
  local d = r.by_set[key]
  if not d then
    d = self:destination(r, key, special and M.limits(r.limits, special) or r.limits, targets,
      mx.hosts[1] and mx.hosts[1].name or domain)
    r.by_set[key] = d
  end
  return d
end

local DEFAULT_SHARE = { weight = 1 }

--- d:submit(route_name, job, owner [, share]) -> true | nil, message
-- job = {from=, to = {...}, message=, ...} as core.send takes it; for an
-- mx route every recipient must be in one domain. owner comes back with
-- the outcome. share ({weight = n}, one table per sender: a campaign)
-- is whose turn the job waits for at a destination several send to.
function Dispatch:submit(name, job, owner, share)
  local r = self.routes[name]
  if not r then return nil, string.format("no route named '%s'", tostring(name)) end
  local d = self:pick(r, job, owner, share)
  if d then self:enqueue(d, job, owner, share) end
  return true
end

-- Hands a job to its destination in the scheduler, in its share's turn
-- (a job withdrawn while it waited for its MX look-up comes back unsent).
function Dispatch:enqueue(d, job, owner, share)
  if type(owner) == "table" and owner.withdrawn then
    -- (marked as the scheduler marks one it gives back)
    self:settle_now(owner, nil, "deferred", 0, nil, "withdrawn before it was sent", job.to).withdrawn = true
    return
  end
  share = share or DEFAULT_SHARE
  local id = self.share_ids[share]
  if not id then
    self.shares = self.shares + 1
    id = self.shares
    self.share_ids[share] = id
  end
  local tag = self.sched:submit(d.id, job, owner, id, share.weight)
  if type(owner) == "table" then owner.sched_tag = tag end
end

--- d:withdraw(owner): takes back the job of owner (a table) submitted
-- earlier, unless a session has it already: it comes back unsent,
-- deferred ("withdrawn before it was sent") with result.withdrawn set,
-- when its turn comes.
function Dispatch:withdraw(owner)
  if owner.sched_tag then self.sched:withdraw(owner.sched_tag) end
  owner.withdrawn = true   -- (still waiting for its destination: see enqueue)
end

--- d:held() -> jobs submitted whose outcome has not been returned
function Dispatch:held()
  local sched = self.sched
  return sched:pending() + sched:queued() + self.parked + #self.ready
end

--- d:run(timeout [, want]) -> {{owner=, result=}...}
-- Acknowledges what the last call returned, then turns the loop until
-- want outcomes (default: 1) are in, or timeout seconds pass.
function Dispatch:run(timeout, want)
  local sched = self.sched
  sched:ack()
  local out = self.ready
  self.ready = {}
  -- At most what is on the scheduler can come in now: jobs in a backlog
  -- wait for room in their window, which this call's outcomes make only
  -- once acknowledged at the next call. (Waiting for more spun the loop
  -- until the timeout with nothing to wait for: a window of 10, the
  -- default, against a want of hundreds.) What poll() took counts.
  -- Jobs parked for a look-up count too: their answer may settle them
  -- or give them a destination.
  want = math.min(want or 1, #out + sched:pending() + self.parked)
  if #out < want then
    local deadline = core.now() + timeout
    repeat
      -- (answers that came while the loop turned for someone else first)
      if self:resolved() > 0 then
        self:take_ready(out)
        want = math.min(want, #out + sched:pending() + self.parked)
        if #out >= want then break end
      end
      sched:outcomes(math.max(0, deadline - core.now()), out)
    until #out >= want or core.now() >= deadline or (sched:pending() == 0 and self.parked == 0)
    if self:resolved() > 0 then self:take_ready(out) end
  end
  -- Acknowledged at the next call, once the caller has recorded them.
  sched:hand()
  return out
end

-- Outcomes settled without a transaction since run() began (a look-up
-- that failed) into out.
function Dispatch:take_ready(out)
  for _, o in ipairs(self.ready) do out[#out + 1] = o end
  self.ready = {}
end

--- d:poll(): turns the loop once without waiting, for a caller busy with
-- other work (building a batch of messages): the sessions read their
-- replies and go on with what was submitted. What comes in waits for the
-- next run(), like any outcome not yet recorded: it still counts in its
-- destination's window until the caller has recorded it.
function Dispatch:poll()
  local sched = self.sched
  self.turned = core.now()
  if sched:pending() > 0 or self.parked > 0 then
    sched:outcomes(0, self.ready)
    if self.parked > 0 then self:resolved() end
  end
end

-- The longest the sessions wait between two turns of the loop while the
-- caller works through a batch (Dispatch:turn): long enough that a turn
-- finds a few replies to read, short against a server's round trip.
local TURN_EVERY = 0.0005

--- d:turn(): d:poll() when the loop last turned TURN_EVERY seconds ago
-- or more; cheap otherwise. Called between the items of a batch, it bounds
-- how long the sessions wait by time, whatever an item costs (a slow
-- personalize hook, a large message, a store commit).
function Dispatch:turn()
  if core.now() - self.turned >= TURN_EVERY then self:poll() end
end

--- d:idle(seconds): waits with nothing to send, while the open sessions
-- still hear from their servers and close after their idle time.
function Dispatch:idle(seconds)
  local until_ = core.now() + seconds
  self.sched:run(seconds)   -- returns early once no session is open
  local left = until_ - core.now()
  if left > 0 then core.sleep(left) end
end

--- d:state() -> {destinations=, active=, down=, pending=, held=}
function Dispatch:state()
  local st = self.sched:state()
  st.held = self:held()
  return st
end

--- d:close([grace]): ends the open sessions politely (QUIT), waiting at
-- most grace seconds, after taking no new work.
function Dispatch:drain(grace)
  self.sched:drain(grace or 30)
end

function Dispatch:close()
  self.sched:close()
end

return M
