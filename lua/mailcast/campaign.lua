-- Campaigns: a list of recipients, a personalised message, routes and
-- limits, run through the store so that a run can stop at any moment
-- (Ctrl-C, a crash, kill -9) and the next run goes on where it was.
local mailcast = require "mailcast"
local template = require "mailcast.template"
local csv = require "mailcast.csv"

local M = {}

local Campaign = {}
Campaign.__index = Campaign

local STATES = { "pending", "in_flight", "deferred", "delivered", "failed", "skipped", "suppressed" }

-- Recipient rows go into the store as "key\0value\0..." (flat strings):
-- read back without evaluating anything.
local function encode(row)
  local keys = {}
  for k, v in pairs(row) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and (type(v) == "string" or type(v) == "number") then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = k
    parts[#parts + 1] = tostring(row[k])
  end
  return table.concat(parts, "\0")
end

local function decode(data)
  local row, key = {}, nil
  for piece in (data .. "\0"):gmatch("([^%z]*)%z") do
    if key == nil then key = piece else row[key], key = piece, nil end
  end
  return row
end

-- Where a hook was defined, for its error messages.
local function where(fn)
  local info = debug.getinfo(fn, "S")
  return string.format("%s:%d", info.short_src, info.linedefined)
end

-- Calls a hook; an error is reported with its place, and nil returned.
local function call_hook(self, name, ...)
  local fn = self.hooks[name]
  if not fn then return true end
  local ok, a, b = pcall(fn, ...)
  if not ok then
    self:warn(string.format("hook %s (%s) failed: %s; the default applies", name, where(fn), tostring(a)))
    return nil
  end
  return true, a, b
end

-- A relay route is made once (its TLS context loads the CA store), not
-- for every batch; an mx route is a plan, resolved per domain as it goes.
function M.prepare_route(route)
  if type(route) ~= "table" or route.mx then return route end
  local prepared, err = mailcast.route(route)
  if not prepared then error("campaign route: " .. err, 3) end
  return prepared
end

--- campaign{name=, from=, subject=, text=, html=, inline=, attachments=,
--   headers=, recipients = CSV path | list | iterator, address = "email"
--   (the field holding the address), route = a route table ({mx = true}
--   for direct delivery), limits = {connections=, messages_per_connection=,
--   rate=}, retry = {first = 300, factor = 2, max = 21600, max_age = 259200},
--   personalize=, on_delivered=, on_deferred=, on_failed=}
-- subject, text and html are templates ({{name}}; HTML escaped in html).
function M.new(t)
  assert(type(t) == "table", "mailcast.campaign: expected a table")
  assert(type(t.name) == "string" and t.name ~= "", "campaign needs a name")
  assert(t.from, "campaign needs a from")
  assert(t.recipients, "campaign needs recipients")
  local self = setmetatable({
    name = t.name, from = t.from, headers = t.headers,
    inline = t.inline, attachments = t.attachments,
    recipients = t.recipients, address_field = t.address or "email",
    route = M.prepare_route(t.route or { host = "127.0.0.1", port = 2525, tls = "opportunistic" }),
    limits = t.limits or {}, retry = t.retry or {},
    hooks = { personalize = t.personalize, on_delivered = t.on_delivered,
              on_deferred = t.on_deferred, on_failed = t.on_failed },
    parts = mailcast.parts(),
    subject = template.compile(assert(t.subject, "campaign needs a subject"), "subject"),
    text = t.text and template.compile(t.text, "text"),
    html = t.html and template.compile(t.html, "html", { html = true }),
    warnings = 0,
  }, Campaign)
  return self
end

function Campaign:warn(message)
  self.warnings = self.warnings + 1
  if not self.quiet then io.stderr:write("mailcast: ", self.name, ": ", message, "\n") end
end

-- The recipient rows, however they were given: a CSV file, a list, or an
-- iterator of tables (false, message for a bad row).
function Campaign:rows()
  local r = self.recipients
  if type(r) == "string" then return csv.rows(r) end
  if type(r) == "function" then return r end
  local i = 0
  return function()
    i = i + 1
    return r[i]
  end
end

-- The message for one recipient, or nil and why not (a missing
-- variable, an address that is no address, a hook that skips).
function Campaign:message(address, vars)
  local ok, skip = call_hook(self, "personalize", address, vars)
  if ok and skip then return nil, "skipped by personalize: " .. tostring(skip), "skipped" end
  local subject, err = self.subject(vars)
  local text, html
  if subject and self.text then text, err = self.text(vars) end
  if subject and not err and self.html then html, err = self.html(vars) end
  if err then return nil, err end
  return {
    from = self.from, to = address, subject = subject, text = text, html = html,
    inline = self.inline, attachments = self.attachments, headers = self.headers, cache = self.parts,
  }
end

-- Seconds until a deferred recipient's next attempt: exponential with
-- jitter (half to full), so retries of a list do not come in waves.
function Campaign:backoff(attempts)
  local first, factor, max = self.retry.first or 300, self.retry.factor or 2, self.retry.max or 6 * 3600
  local delay = math.min(max, first * factor ^ math.max(0, attempts - 1))
  return delay * (0.5 + math.random() / 2)
end

-- Puts every recipient row into the store (once: a second run adds none).
function Campaign:load(store, id)
  local added, bad = 0, 0
  assert(store:begin())
  local n = 0
  for row, err in self:rows() do
    if not row then
      bad = bad + 1
      self:warn(err)
    else
      local address = row[self.address_field]
      if type(address) ~= "string" or address == "" then
        bad = bad + 1
        self:warn(string.format("row%s has no '%s'", row._line and (" at line " .. row._line) or "",
          self.address_field))
      else
        local fresh, err = store:add(id, address, encode(row))
        if fresh == nil then error(err, 0) end
        if fresh then added = added + 1 end   -- false: there from an earlier run
      end
    end
    n = n + 1
    if n % 1000 == 0 then assert(store:commit()) assert(store:begin()) end
  end
  assert(store:commit())
  return added, bad
end

--- summary(name, counts) -> one line saying where a campaign stands.
function M.summary(name, c)
  return string.format("%s: %d delivered, %d deferred, %d failed, %d skipped, %d suppressed, %d pending",
    name, c.delivered, c.deferred, c.failed, c.skipped, c.suppressed, c.pending + c.in_flight)
end

--- campaign:run{store = path, dry_run = false, quiet = false} -> counts | nil, message
-- Sends what is due; what is deferred stays in the store for the next run.
function Campaign:run(opts)
  opts = opts or {}
  self.quiet = opts.quiet
  if opts.dry_run then return self:dry_run() end
  local store, err = mailcast.store(opts.store or (self.name .. ".mailcast.db"))
  if not store then return nil, err end
  local id = assert(store:campaign(self.name))
  local redo = store:recover(id)
  if redo > 0 then self:warn(string.format("%d recipients were in flight when the last run stopped; sending them again", redo)) end
  self:load(store, id)
  local limits = self.limits
  local batch = (limits.connections or 1) * (limits.messages_per_connection or 10)
  local max_age = self.retry.max_age or 3 * 86400
  -- Only what was due when the run began: a recipient deferred during
  -- this run waits for the next one, however short its backoff.
  local started = os.time()
  while true do
    local claimed = store:claim(id, batch, started)
    if #claimed == 0 then break end
    local jobs, owners = {}, {}
    assert(store:begin())
    for _, r in ipairs(claimed) do
      local msg, why, state = self:message(r.address, decode(r.data))
      if msg then
        jobs[#jobs + 1] = { message = msg }
        owners[#jobs] = r
      else
        self:warn(string.format("%s: %s", r.address, why))
        assert(store:finish(r.id, state or "failed", { code = 0, text = why }))
      end
    end
    assert(store:commit())
    local results = jobs[1] and assert(mailcast.send(self.route, jobs, limits)) or {}
    -- Every outcome of the batch in one commit, before the next batch
    -- goes out: a crash re-sends at most this batch.
    assert(store:begin())
    for k, res in ipairs(results) do
      local r = owners[k]
      local reply = res.recipients[1] or { status = "failed", code = 0, text = res.error or "not sent" }
      local state, next_at = reply.status == "sent" and "delivered" or reply.status, 0
      if state == "deferred" then
        if os.time() - (r.first_at or os.time()) > max_age then
          state, reply.text = "failed", "expired: " .. (reply.text or "")
        else
          -- At least the next second: the run only claims what was due
          -- when it began, so a retry never comes back within the run.
          next_at = os.time() + math.max(1, self:backoff(r.attempts + 1))
        end
      end
      assert(store:finish(r.id, state, reply, next_at))
      local hook = state == "delivered" and "on_delivered" or state == "deferred" and "on_deferred" or "on_failed"
      call_hook(self, hook, r.address, reply)
    end
    assert(store:commit())
    if not self.quiet then io.stderr:write(M.summary(self.name, store:counts(id)), "\n") end
  end
  local counts = store:counts(id)
  store:close()
  return counts
end

--- What a run would send, checked without sending: every recipient's
-- message is built; the problems are reported and counted.
function Campaign:dry_run()
  local ok, bad = 0, 0
  for row, err in self:rows() do
    local address = row and row[self.address_field]
    local msg, why
    if row and type(address) == "string" then
      msg, why = self:message(address, row)
      if msg then msg, why = mailcast.message(msg) end
    end
    if msg then ok = ok + 1
    else
      bad = bad + 1
      self:warn(err or why or ("row without '" .. self.address_field .. "'"))
    end
  end
  return { ready = ok, problems = bad }
end

M.STATES = STATES
M.encode, M.decode = encode, decode

return M
