-- Sending: mailcast.send over a pool of SMTP sessions, low-level
-- sessions, and a drop-in for LuaSocket's smtp.send.
local core = require "mailcast.core"
local dispatch = require "mailcast.dispatch"

local M = {}

-- The envelope addresses of a header-style field value: a string, a
-- {name=, address=} table, or a list of these.
local function addresses_of(value, out)
  if value == nil then return out end
  if type(value) == "string" then
    local list, err = core.addresses(value)
    if not list then return nil, err end
    for _, a in ipairs(list) do out[#out + 1] = a.address end
  elseif type(value) == "table" and value.address then
    out[#out + 1] = value.address
  elseif type(value) == "table" then
    for _, v in ipairs(value) do
      local ok, err = addresses_of(v, out)
      if not ok then return nil, err end
    end
  end
  return out
end

-- A job for core.send from one entry of mailcast.send's list: the data
-- (built when it is a message table) and the envelope (from the entry,
-- or else from the message's From and To, Cc and Bcc).
local function job_for(entry, build)
  local message, from, to = entry.message, entry.from, entry.to
  if type(message) == "table" then
    local built, err = build(message)
    if not built then return nil, err end
    if from == nil then
      local list, ferr = addresses_of(message.from, {})
      if not list then return nil, "from: " .. ferr end
      from = list[1]
    end
    if to == nil then
      to = {}
      for _, field in ipairs { "to", "cc", "bcc" } do
        local list, terr = addresses_of(message[field], to)
        if not list then return nil, field .. ": " .. terr end
      end
    end
    message = built
  end
  if type(to) == "string" then to = { to } end
  if type(from) ~= "string" then return nil, "no envelope sender (from)" end
  if type(to) ~= "table" or #to == 0 then return nil, "no envelope recipients (to)" end
  -- An entry that is a job already (its data given, its envelope a list)
  -- goes as it is: core.send only reads it, and a copy of every entry of
  -- a long list costs as much as the rest of its way to the session.
  if message == entry.message and to == entry.to then return entry end
  local eight_bit = entry.eight_bit
  if eight_bit == nil and type(entry.message) == "table" then eight_bit = entry.message.allow_8bit end
  return {
    from = from, to = to, message = message, eight_bit = eight_bit,
    dsn_ret = entry.dsn_ret, dsn_envid = entry.dsn_envid, dsn_notify = entry.dsn_notify,
    dsn_orcpt = entry.dsn_orcpt,
  }
end

-- The parts of job j a dispatcher sends: for an mx route one per
-- recipient domain (each domain's MX hosts are a destination of their
-- own), else the job itself; each with the owner that brings its outcome
-- back to job j (and, for a part, to the slots of its recipients).
-- A copy of job with the recipients to (default: a copy of its own).
local function job_copy(job, to)
  return {
    from = job.from, to = to or table.move(job.to, 1, #job.to, 1, {}), message = job.message,
    eight_bit = job.eight_bit, dsn_ret = job.dsn_ret, dsn_envid = job.dsn_envid,
    dsn_notify = job.dsn_notify, dsn_orcpt = job.dsn_orcpt,
  }
end

local function dispatched_parts(mx, job, j)
  if not mx then return { { job = job, owner = { j = j } } } end
  local domains, seen = {}, {}
  for k, rcpt in ipairs(job.to) do
    local dom = dispatch.domain_of(rcpt)
    if not seen[dom] then seen[dom] = { rcpts = {}, slots = {} } domains[#domains + 1] = dom end
    table.insert(seen[dom].rcpts, rcpt)
    table.insert(seen[dom].slots, k)
  end
  local out = {}
  for _, dom in ipairs(domains) do
    out[#out + 1] = { job = job_copy(job, seen[dom].rcpts), owner = { j = j, slots = seen[dom].slots } }
  end
  return out
end

-- The outcome of a part the scheduler would not take (a closed message,
-- a DSN value it refuses): each of its recipients failed, with why.
local function refused(p, why)
  local recipients = {}
  for i, rcpt in ipairs(p.job.to) do
    recipients[i] = { address = rcpt, status = "failed", code = 0, enhanced = "", text = why }
  end
  return { owner = p.owner, result = { status = "failed", error = why, attempts = 0, recipients = recipients } }
end

-- The status of a job's result from its recipients'.
local function status_of(r)
  local counts, n = { sent = 0, deferred = 0, failed = 0 }, #r.recipients
  for _, rcpt in ipairs(r.recipients) do counts[rcpt.status] = counts[rcpt.status] + 1 end
  return counts.sent == n and "sent" or counts.sent > 0 and "partial"
    or counts.failed == n and "failed" or "deferred"
end

-- Adds the outcome o of a part (dispatched_parts) to the results by job
-- out, shaped as core.send's (a job in parts has {recipients = {}} there
-- to begin with, and its status once every part is in).
local function absorb(out, o)
  local j, slots, res = o.owner.j, o.owner.slots, o.result
  if not slots then out[j] = res return end
  local r = out[j]
  for i, k in ipairs(slots) do r.recipients[k] = res.recipients[i] end
  r.tls = r.tls or res.tls
  r.server = r.server or res.server
  r.attempts = (r.attempts or 0) + res.attempts
end

-- Sends jobs straight to each recipient domain's MX hosts: one
-- transaction per message and domain, every MX host set a destination
-- of one scheduler, all sent at once. Returns per-job results shaped as
-- core.send's.
local function send_mx(route, jobs, opts)
  local ok, d = pcall(dispatch.new, { mx = route }, { limits = opts, window = false })
  if not ok then return nil, d end
  local out = {}
  for j, job in ipairs(jobs) do
    out[j] = { recipients = {} }
    for _, p in ipairs(dispatched_parts(true, job, j)) do
      local submitted, err = pcall(d.submit, d, "mx", p.job, p.owner)
      if not submitted then d:close() return nil, err end
    end
  end
  while d:held() > 0 do
    for _, o in ipairs(d:run(1, math.huge)) do absorb(out, o) end
  end
  local state = { sessions = 0, transactions = 0, backoffs = 0, destinations = 0 }
  for id in pairs(d.dests) do
    local st = d.sched:state(id)
    state.destinations = state.destinations + 1
    for _, f in ipairs { "sessions", "transactions", "backoffs" } do state[f] = state[f] + st[f] end
  end
  d:close()
  for _, r in ipairs(out) do r.status = status_of(r) end
  return out, state
end

--- send_in_engine(d, route, jobs, opts, on_done): jobs (as core.send
-- takes them) sent by the engine's dispatcher d, on a route of their own
-- there, while the engine goes on with its work: a hook of the engine
-- that calls mailcast.send waits meanwhile (mailcast.hooks).
-- on_done(sent, state) when every outcome is in, sent shaped as
-- core.send's results and state = {transactions = n}; on_done(nil,
-- message, true) when the call itself is wrong (a route that is none, a
-- recipient that is no string), which mailcast.send raises as it does
-- anywhere. A part the scheduler refuses fails alone, with why: the
-- others may be on their way already.
function M.send_in_engine(d, route, jobs, opts, on_done)
  local mx = type(route) == "table" and route.mx and true or false
  local parts, out, name = {}, {}, nil
  local ok, err = pcall(function()
    name = d:private_route(route, opts)
    for j, job in ipairs(jobs) do
      if mx then out[j] = { recipients = {} } end
      for _, p in ipairs(dispatched_parts(mx, job, j)) do
        -- The scheduler keeps pointers into a job's strings while it
        -- waits: each is a copy, which the hook cannot change meanwhile.
        if not mx then p.job = job_copy(job) end
        parts[#parts + 1] = p
      end
    end
  end)
  if not ok then
    if name then d:private_done(name) end
    return on_done(nil, err, true)
  end
  local state = { transactions = 0 }
  local left = #parts + 1   -- (and the submitting itself, done last)
  local function collect(o, settled_here)
    if o then
      absorb(out, o)
      if not settled_here then state.transactions = state.transactions + 1 end
    end
    left = left - 1
    if left > 0 then return end
    if mx then for _, r in ipairs(out) do r.status = status_of(r) end end
    d:private_done(name)
    on_done(out, state)
  end
  for _, p in ipairs(parts) do
    -- Once a part: one the scheduler took before it raised (out of
    -- memory) still comes back, after it was counted as refused.
    local collected = false
    p.owner.collect = function(o, settled_here)
      if collected then return end
      collected = true
      collect(o, settled_here)
    end
    local called, submitted, why = pcall(d.submit, d, name, p.job, p.owner)
    if not called or not submitted then p.owner.collect(refused(p, tostring(called and why or submitted)), true) end
  end
  collect(nil)
end

-- The transactions of one job when some of its recipients are no
-- address ("a@b, c@d", "Name <a@b>", one with CR LF in it), as the
-- session checks them: the others in one transaction and those in
-- another, so that the session fails them at once (553 5.1.3) and still
-- sends the rest. Each part with the slots of its recipients in job.to.
-- nil when the job goes whole (the usual case: nothing is made for it).
local address_ok = core.address_ok
local function parts_of(job)
  local to = job.to
  local good_all = true
  for k = 1, #to do
    local a = to[k]
    if type(a) ~= "string" or not address_ok(a) then good_all = false break end
  end
  if good_all then return nil end
  local good, bad = {}, {}
  for k, a in ipairs(to) do
    if type(a) == "string" and address_ok(a) then good[#good + 1] = k else bad[#bad + 1] = k end
  end
  if #good == 0 then return nil end
  local out = {}
  for _, slots in ipairs { good, bad } do
    local part = {}
    for key, v in pairs(job) do part[key] = v end
    part.to = {}
    for n, k in ipairs(slots) do part.to[n] = job.to[k] end
    out[#out + 1] = { job = part, slots = slots }
  end
  return out
end

-- The result of a job sent in parts: their recipients back in their
-- slots, the status of them all.
local function merged(parts, results)
  local r = { recipients = {} }
  for n, part in ipairs(parts) do
    local pr = results[n]
    for key, v in pairs(pr) do if r[key] == nil and key ~= "recipients" and key ~= "status" then r[key] = v end end
    for m, rcpt in ipairs(pr.recipients or {}) do r.recipients[part.slots[m]] = rcpt end
  end
  r.status = status_of(r)
  return r
end

--- send(route, messages [, opts]) -> results, state | nil, message
-- route: a mailcast.route or its table; {mx = true, port = 25, tls = ...,
-- dns_server = "host:port", dns_timeout = s} delivers straight to each
-- recipient domain's MX hosts. messages: a list of
-- {message = raw string | mailcast.Message | table for mailcast.build,
--  from = envelope sender, to = recipients (default: from the message)}.
-- opts: connections (1), messages_per_connection (10), rate (messages per
-- second, or "N/s", "N/m", "N/h"; 0 = none), connect_rate (connections,
-- the same way), connect_attempts (3).
-- results[i] = {status = "sent"|"partial"|"deferred"|"failed", error=,
-- recipients = {{address, status, code, enhanced, text}...}, tls=}.
-- A message that cannot be built or has no envelope fails alone; a
-- recipient that is no address fails at once with 553 5.1.3 (never
-- deferred: no retry can mend it), and the others are sent.
function M.send(route, messages, opts, build)
  local plan = M.prepare(messages, opts, build)
  local sent, state
  if type(route) == "table" and route.mx then
    sent, state = send_mx(route, plan.jobs, plan.opts)
  else
    sent, state = core.send(route, plan.jobs, plan.opts)
  end
  if not sent then M.finish(plan) return nil, state end
  return M.finish(plan, sent), M.traced(plan, state)
end

--- prepare(messages, opts, build) -> plan: what send() hands to the
-- sessions: plan.jobs (as core.send takes them) and plan.opts (the pool
-- options, rates per second), and where each job's result goes back.
function M.prepare(messages, opts, build)
  local jobs, where, results, split, built = {}, {}, {}, {}, {}
  for i, entry in ipairs(messages) do
    local job, err = job_for(entry, build)
    -- (a message given as a table is built here, and closed by finish;
    -- one given built is its caller's)
    if job and type(entry.message) == "table" then built[#built + 1] = job.message end
    if job then
      local parts = parts_of(job)
      if not parts then
        jobs[#jobs + 1] = job
        where[#jobs] = i
      else
        split[i] = { parts = parts, from = #jobs + 1 }
        for _, part in ipairs(parts) do
          jobs[#jobs + 1] = part.job
          where[#jobs] = i
        end
      end
    else
      results[i] = { status = "failed", error = err, recipients = {} }
    end
  end
  local tracer
  if opts then
    local ok, limits = pcall(dispatch.limits, opts)
    if not ok then error(limits, 3) end
    opts = limits
    if opts.trace then
      tracer = M.tracer(opts.trace)
      opts.trace = tracer.call
    end
  end
  return { jobs = jobs, where = where, results = results, split = split, opts = opts, built = built,
           tracer = tracer }
end

--- tracer(fn) -> {call = function(record), error = nil}: what the
-- sessions call for fn, mailcast.send's trace option. Each record
-- ({session=, kind=, line=, time= [, destination=]}) gets text, the
-- line as `mailcast test` shows it (mailcast.transcript). The first
-- error fn raises stops the tracing (the send goes on): it is kept in
-- error, which send gives back as state.trace_error.
function M.tracer(fn)
  local transcript = require "mailcast.transcript"   -- (here: an untraced send does not load it)
  local t, formats = {}, {}
  function t.call(record)
    if t.error then return end
    local key = (record.destination or "") .. "\0" .. record.session
    local format = formats[key]
    if not format then
      format = transcript.formatter()
      formats[key] = format
    end
    record.text = format(record)
    -- (a session ends with its reply to QUIT: its formatter with it)
    if record.kind == "server" and record.line:match("^221 ") then formats[key] = nil end
    local ok, err = pcall(fn, record)
    if not ok then t.error = "trace: " .. tostring(err) end
  end
  return t
end

--- traced(plan, state) -> state, with trace_error when the plan's trace
-- function raised.
function M.traced(plan, state)
  if plan.tracer and plan.tracer.error and type(state) == "table" then state.trace_error = plan.tracer.error end
  return state
end

--- finish(plan [, sent]) -> results: each message's result from the
-- jobs' (sent, as core.send returns them), and the messages prepare
-- built closed (also when nothing was sent).
function M.finish(plan, sent)
  for _, message in ipairs(plan.built) do message:close() end
  if not sent then return nil end
  local results = plan.results
  for k, r in ipairs(sent) do results[plan.where[k]] = r end
  for i, sp in pairs(plan.split) do
    results[i] = merged(sp.parts, table.move(sent, sp.from, sp.from + #sp.parts - 1, 1, {}))
  end
  return results
end

-- "<a@b>" as LuaSocket takes addresses: the address inside.
local function bare(address)
  return (address:match("^%s*<(.*)>%s*$") or address)
end

--- compat.send{from=, rcpt=, source=, server=, port=, user=, password=,
-- domain=} -> 1 | nil, message: LuaSocket's socket.smtp.send, sent by
-- mailcast. source is an ltn12 source (as from smtp.message) or a string.
-- AUTH goes only over TLS: add tls = "verify" (or "required") for a relay.
function M.compat_send(t)
  local data = t.source
  if type(data) == "function" then
    local chunks = {}
    while true do
      local chunk, err = data()
      if err then return nil, err end
      if chunk == nil then break end
      chunks[#chunks + 1] = chunk
    end
    data = table.concat(chunks)
  end
  local rcpt = type(t.rcpt) == "table" and t.rcpt or { t.rcpt }
  local to = {}
  for i, r in ipairs(rcpt) do to[i] = bare(r) end
  local route = {
    host = t.server or "localhost", port = t.port or 25, helo = t.domain,
    user = t.user, password = t.password, tls = t.tls or (t.user and "required" or "opportunistic"),
    ca_file = t.ca_file, allow_plaintext_auth = t.allow_plaintext_auth,
  }
  local results, err = core.send(route, { { from = bare(t.from or ""), to = to, message = data } })
  if not results then return nil, err end
  for _, r in ipairs(results[1].recipients) do
    if r.status ~= "sent" then
      return nil, r.code > 0 and string.format("%d %s", r.code, r.text) or r.text
    end
  end
  return 1
end

return M
