-- Sending: mailcast.send over a pool of SMTP sessions, low-level
-- sessions, and a drop-in for LuaSocket's smtp.send.
local core = require "mailcast.core"

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
  local eight_bit = entry.eight_bit
  if eight_bit == nil and type(entry.message) == "table" then eight_bit = entry.message.allow_8bit end
  return {
    from = from, to = to, message = message, eight_bit = eight_bit,
    dsn_ret = entry.dsn_ret, dsn_envid = entry.dsn_envid, dsn_notify = entry.dsn_notify,
    dsn_orcpt = entry.dsn_orcpt,
  }
end

local PER = { s = 1, m = 60, h = 3600 }

-- A rate as messages per second: a number, or "N/s", "N/m", "N/h".
local function per_second(rate, name)
  if rate == nil or type(rate) == "number" then return rate end
  local n, unit = tostring(rate):match("^%s*([%d.]+)%s*/%s*([smh])%a*%s*$")
  if not n then error(string.format("%s must be a number or like '100/m', not '%s'", name, rate), 4) end
  return tonumber(n) / PER[unit]
end

-- Direct delivery: what a failed MX look-up means for its recipients.
local DNS_OUTCOME = {
  null_mx = { "failed", 556, "5.1.10" },     -- RFC 7505 3
  no_domain = { "failed", 550, "5.1.2" },
  no_address = { "failed", 550, "5.1.2" },
  temporary = { "deferred", 0, "" },
}

local function domain_of(address)
  return (address:match("@([^@]+)$") or ""):lower()
end

-- Sends jobs straight to each recipient domain's MX hosts: one
-- transaction per message and domain, the hosts of a domain tried in MX
-- order (the next on a failed connection or a 4xx greeting), one pool
-- per host set. Returns per-job results shaped as core.send's.
local function send_mx(route, jobs, opts)
  local resolver = { server = route.dns_server, timeout = route.dns_timeout, tries = route.dns_tries }
  local lookups, by_set, order = {}, {}, {}
  local out = {}
  for j, job in ipairs(jobs) do
    out[j] = { recipients = {} }
    local domains, seen = {}, {}
    for k, rcpt in ipairs(job.to) do
      local d = domain_of(rcpt)
      if not seen[d] then seen[d] = { rcpts = {}, slots = {} } domains[#domains + 1] = d end
      table.insert(seen[d].rcpts, rcpt)
      table.insert(seen[d].slots, k)
    end
    for _, d in ipairs(domains) do
      local mx = lookups[d]
      if mx == nil then
        local err
        mx, err = core.mx(d, resolver)
        if not mx then return nil, err end
        lookups[d] = mx
      end
      if mx.status == "ok" then
        local targets, names = {}, {}
        for _, h in ipairs(mx.hosts) do
          for _, a in ipairs(h.addresses) do
            targets[#targets + 1] = { address = a, name = h.name }
            names[#names + 1] = h.name .. "=" .. a
          end
        end
        local key = table.concat(names, ",")
        if not by_set[key] then
          by_set[key] = { targets = targets, jobs = {}, back = {} }
          order[#order + 1] = key
        end
        local set = by_set[key]
        set.jobs[#set.jobs + 1] = {
          from = job.from, to = seen[d].rcpts, message = job.message, eight_bit = job.eight_bit,
          dsn_ret = job.dsn_ret, dsn_envid = job.dsn_envid, dsn_notify = job.dsn_notify, dsn_orcpt = job.dsn_orcpt,
        }
        set.back[#set.jobs] = { j, seen[d].slots }
      else
        local o = DNS_OUTCOME[mx.status]
        for i, k in ipairs(seen[d].slots) do
          out[j].recipients[k] = { address = seen[d].rcpts[i], status = o[1], code = o[2], enhanced = o[3], text = mx.error }
        end
      end
    end
  end
  local state = { sessions = 0, transactions = 0, backoffs = 0, destinations = #order }
  for _, key in ipairs(order) do
    local set = by_set[key]
    local r = {}
    for k, v in pairs(route) do r[k] = v end
    r.mx, r.host, r.dns_server, r.dns_timeout, r.dns_tries = nil, nil, nil, nil, nil
    r.targets = set.targets
    local results, st = core.send(r, set.jobs, opts)
    if not results then return nil, st end
    for n, res in ipairs(results) do
      local j, slots = set.back[n][1], set.back[n][2]
      for i, k in ipairs(slots) do out[j].recipients[k] = res.recipients[i] end
      out[j].tls = out[j].tls or res.tls
      out[j].server = out[j].server or res.server
      out[j].attempts = (out[j].attempts or 0) + res.attempts
    end
    for _, f in ipairs { "sessions", "transactions", "backoffs" } do state[f] = state[f] + st[f] end
  end
  for _, r in ipairs(out) do
    local counts = { sent = 0, deferred = 0, failed = 0 }
    for _, rcpt in ipairs(r.recipients) do counts[rcpt.status] = counts[rcpt.status] + 1 end
    local n = #r.recipients
    r.status = counts.sent == n and "sent" or counts.sent > 0 and "partial"
      or counts.failed == n and "failed" or "deferred"
  end
  return out, state
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
-- A message that cannot be built or has no envelope fails alone.
function M.send(route, messages, opts, build)
  local jobs, where, results = {}, {}, {}
  for i, entry in ipairs(messages) do
    local job, err = job_for(entry, build)
    if job then
      jobs[#jobs + 1] = job
      where[#jobs] = i
    else
      results[i] = { status = "failed", error = err, recipients = {} }
    end
  end
  if opts then
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    copy.rate = per_second(opts.rate, "rate")
    copy.connect_rate = per_second(opts.connect_rate, "connect_rate")
    opts = copy
  end
  local sent, state
  if type(route) == "table" and route.mx then
    sent, state = send_mx(route, jobs, opts)
  else
    sent, state = core.send(route, jobs, opts)
  end
  if not sent then return nil, state end
  for k, r in ipairs(sent) do results[where[k]] = r end
  for _, job in ipairs(jobs) do
    if type(job.message) == "userdata" then job.message:close() end
  end
  return results, state
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
