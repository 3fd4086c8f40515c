-- Campaigns: a list of recipients, a personalised message, routes and
-- limits, run through the store so that a run can stop at any moment
-- (Ctrl-C, a crash, kill -9) and the next run goes on where it was.
local mailcast = require "mailcast"
local core = require "mailcast.core"
local template = require "mailcast.template"
local csv = require "mailcast.csv"
local dispatch = require "mailcast.dispatch"
local progress = require "mailcast.progress"
local accounting = require "mailcast.accounting"
local bounce = require "mailcast.bounce"
local bounces = require "mailcast.bounces"
local hooks = require "mailcast.hooks"
local tally = require "mailcast.tally"
local smtp = require "mailcast.smtp"
local bulk = require "mailcast.bulk"
local engine = require "mailcast.engine"
local assemble = require "mailcast.assemble"
local worker_state = require "mailcast.worker_state"
local schema = require "mailcast.schema"
local config = require "mailcast.config"
local segment = require "mailcast.segment"
local abtest = require "mailcast.abtest"

local M = {}

local Campaign = {}
Campaign.__index = Campaign

local STATES = { "pending", "in_flight", "deferred", "delivered", "failed", "skipped", "suppressed" }

-- Recipient rows go into the store as "key\0value\0..." (flat strings,
-- sorted by key; fields starting with "_" left out; a NUL in a field is
-- refused, as it would shift the fields after it): read back without
-- evaluating anything. Both ways in C, as they run for every recipient.
local encode = core.pack
local decode = core.pairs

-- Where a hook was defined, for its error messages.
local function where(fn)
  local info = debug.getinfo(fn, "S")
  return string.format("%s:%d", info.short_src, info.linedefined)
end

-- Calls a hook on a pooled coroutine (mailcast.hooks); an error, or an
-- endless loop stopped by the instruction limit, is reported with the
-- hook's place, and nil returned.
local function call_hook(self, name, ...)
  local fn = self.hooks[name]
  if not fn then return true end
  local ok, a, b = hooks.call(fn, self.hook_limit, ...)
  if not ok then
    self:warn(string.format("hook %s (%s) failed: %s; the default applies", name, where(fn), tostring(a)))
    return nil
  end
  return true, a, b
end

-- The named routes of a campaign table (checked): `routes = {name =
-- route, ...}`, or a single `route` (a table), which is named "default".
local function routes_of(t)
  local routes, default = {}, nil
  if type(t.route) == "table" then
    routes.default, default = t.route, "default"
  end
  for name, r in pairs(t.routes or {}) do routes[name] = r end
  if not next(routes) then
    -- Mail with nowhere named to go is refused, not sent to a port that
    -- may hold something else than the sink it was once meant for.
    schema.fail("campaign", "it has no route: say where its mail goes, with route = { host = "
      .. "\"smtp.example.com\", port = 587 } (a relay), route = { mx = true } (each domain's MX hosts) "
      .. "or route = { host = \"127.0.0.1\", port = 2525 } (mailcast sink)")
  end
  if type(t.route) == "string" then default = t.route end
  default = default or t.default_route
  local names = {}
  for name in pairs(routes) do names[#names + 1] = name end
  table.sort(names)
  if not default then
    default = #names == 1 and names[1] or (routes.default and "default")
    if not default then
      schema.fail("campaign", "it has several routes (" .. table.concat(names, ", ") ..
        "): name the one to use when the route hook does not, with default_route = NAME")
    end
  end
  if not routes[default] then
    schema.fail("campaign", string.format("its default route '%s' is not among its routes (%s)", default,
      table.concat(names, ", ")))
  end
  -- What only the SMTP client tells (no host, XOAUTH2 without a token, a
  -- CA file it cannot load) is found now too, not when the run starts.
  for _, name in ipairs(names) do
    local fields = {}
    for k, v in pairs(routes[name]) do if not config.ROUTE_OWN[k] then fields[k] = v end end
    local ok, route, err = pcall(core.route, fields)
    if not (ok and route) then
      schema.fail(string.format("campaign route '%s'", name), tostring(ok and err or route))
    end
    route:close()
  end
  return routes, default
end

--- campaign{name=, from=, subject=, text=, html= (or html_file= with
--   base_url= and embed_remote=: a web page sent as it is, mailcast.page),
--   inline=, attachments=,
--   headers=, return_path= (the envelope sender), bounce_domain= (VERP:
--   each recipient's bounces come back to bounces+TAG@bounce_domain, for
--   `mailcast bounces`), recipients = CSV path | list | iterator |
--   mailcast.segment{...} (an earlier campaign's, mailcast.segment),
--   variants = {{subject=, html=, ...}...} with test = {fraction=, wait=,
--   pick=} (an A/B test, mailcast.abtest),
--   address = "email" (the field holding the address),
--   routes = {name = route table ({mx = true, ...} for direct delivery),
--   each with its own limits = {...}}, route = a route table, a route
--   name, or a function(message) -> route name,
--   limits = {connections=, messages_per_connection=, rate=, ...},
--   retry = {first=, factor=, max=, max_age=},
--   max_in_flight=, log = path | false, suppress_hard_bounces=,
--   webhooks = {url, ...} (mailcast serve POSTs this campaign's events there),
--   bounce_rules = {{lua pattern, reason}...}, classify = function(reply, result) -> reason,
--   personalize=, on_reply=, on_delivered=, on_deferred=, on_failed=}
-- subject, text and html are templates ({{name}}; HTML escaped in html).
-- The table is checked against mailcast.config.CAMPAIGN (which has the
-- defaults): an unknown key or a bad value raises, naming the script's line.
-- Whether making a campaign checks that its list can be read: not while
-- `mailcast status` reads a script for the campaign's name and store
-- only (the list may be gone since the run).
M.check_list = true

-- A campaign's html_file made into its html, text and inline images,
-- once for the whole list; what was removed from the page and what is
-- left that a mail cannot follow are kept to be said when it runs.
-- what: the table in messages, an A/B test's variant ("campaign
-- variants[2] ('short')"); nil: the campaign itself.
local function with_page(t, name, what)
  if t.html_file == nil then
    if t.base_url ~= nil or t.embed_remote ~= nil then
      schema.fail(what or "campaign", "base_url and embed_remote go with html_file (a web page sent as it is)")
    end
    return t
  end
  if t.html ~= nil then schema.fail(what or "campaign", "give html or html_file, not both") end
  -- `mailcast status` reads the script for its name and store only: a
  -- page gone since the run does not stop it, nor is anything fetched.
  if not M.check_list then
    local out = require("mailcast.page").merge(t, { html = "", inline = {} }, true)
    out.html = nil
    return out
  end
  local page, err = require("mailcast.page").load(t.html_file,
    { name = name, base_url = t.base_url, embed_remote = t.embed_remote })
  if not page then schema.fail(what, err) end
  -- Without text, each recipient's text is made of their HTML as
  -- rendered (core.html_text): the HTML template's sections and
  -- variables are then the text's too.
  local out = require("mailcast.page").merge(t, page, true)
  out.text_from_html = t.text == nil
  out.page_notes = { warnings = page.warnings, problems = page.problems, relative_links = page.relative_links,
                     name = name }
  return out
end

function M.new(t)
  -- Its relative file names are the script's, taken from the script's directory.
  t = schema.check(config.CAMPAIGN, t, "campaign")
  -- Pages are named in messages as the script names them.
  local written = {}
  for i, v in ipairs(t.variants or {}) do written[i] = v.html_file end
  t = with_page(require("mailcast.script_paths").resolve(t), t.html_file)
  -- A list file that cannot be read stops the script here, at its line,
  -- before a run makes a store for it.
  if type(t.recipients) == "string" and M.check_list then
    local ok, why = csv.check(t.recipients)
    if not ok then schema.fail(nil, why) end
  end
  local routes, default_route = routes_of(t)
  -- A template that does not compile stops the script at its line too.
  local function compile(src, name, opts)
    local ok, render = pcall(template.compile, src, name, opts)
    if not ok then schema.fail(nil, tostring(render)) end
    return render
  end
  local senders, why = mailcast.addresses(type(t.from) == "table" and t.from.address or t.from)
  if not senders then schema.fail("campaign", "from: " .. tostring(why)) end
  local headers = t.headers
  if t.bounce_domain then
    -- Named in every message, so a bounce that returns it finds its campaign.
    headers = {}
    for k, v in pairs(t.headers or {}) do headers[k] = v end
    headers["X-Mailcast-Campaign"] = t.name
  end
  local test, variants = abtest.prepare(t, compile, with_page, written)
  local self = setmetatable({
    name = t.name, from = t.from, headers = headers, bounce_domain = t.bounce_domain,
    envelope_from = t.return_path or senders[1].address,
    inline = t.inline, attachments = t.attachments,
    recipients = t.recipients, address_field = t.address,
    routes = routes, default_route = default_route,
    limits = dispatch.limits(t.limits), retry = t.retry,
    webhooks = t.webhooks, max_in_flight = t.max_in_flight, log = t.log, hook_limit = t.hook_limit,
    priority = t.priority,
    suppress_hard = t.suppress_hard_bounces,
    classify_extra = (t.bounce_rules or t.classify) and { rules = t.bounce_rules, classify = t.classify } or nil,
    hooks = { personalize = t.personalize, route = type(t.route) == "function" and t.route or nil,
              on_reply = t.on_reply, on_delivered = t.on_delivered,
              on_deferred = t.on_deferred, on_failed = t.on_failed },
    parts = mailcast.parts(), bulk = bulk.prepare(t),
    subject = compile(t.subject, "subject"),
    text = t.text and compile(t.text, "text"),
    html = t.html and compile(t.html, t.html_file or "html", { html = true }),
    page_notes = t.page_notes, text_from_html = t.text_from_html,
    test = test, variants = variants,
    warnings = 0,
  }, Campaign)
  return self
end

-- Says how the run goes (not a warning): one line, unless quiet.
function Campaign:say(message)
  if not self.quiet then io.stderr:write("mailcast: ", self.name, ": ", core.printable(message), "\n") end
end

function Campaign:warn(message)
  self.warnings = self.warnings + 1
  -- One line each, whatever a list's row or a server's reply holds: a
  -- CR LF in a value cannot forge lines of the output.
  if not self.quiet then io.stderr:write("mailcast: ", self.name, ": ", core.printable(message), "\n") end
end

-- The recipient rows, however they were given: a CSV file, a list, an
-- iterator of tables (false, message for a bad row), or a segment of
-- an earlier campaign read from store (campaign id there: the segment is
-- fixed for it; nil: read as it is now).
function Campaign:rows(store, id)
  local r = self.recipients
  if type(r) == "string" then return csv.rows(r) end
  if segment.is(r) then return r:rows(store, id, self.address_field) end
  if type(r) == "function" then return r end
  local i = 0
  return function()
    i = i + 1
    return r[i]
  end
end

-- The message for one recipient, or nil and why not (a missing
-- variable, an address that is no address, a hook that skips).
-- ids = {campaign=, recipient=, links=}: the store's, for tracking tokens
-- and the unsubscribe link (a dry run has none and uses 0 and 1); links,
-- when given, is the campaign's stored links, and ids.changed is set to
-- the message's tracked links that differ from them, and ids.tags to the
-- tags the track hook gave (see bulk.bodies).
function Campaign:message(address, vars, ids)
  ids = ids or { campaign = 0, recipient = 1 }
  local unsubscribe_url = bulk.unsubscribe_url(self.bulk, ids.campaign, ids.recipient)
  if unsubscribe_url then vars.unsubscribe_url = unsubscribe_url end
  local ok, skip = call_hook(self, "personalize", address, vars)
  if ok and skip then return nil, "skipped by personalize: " .. tostring(skip), "skipped" end
  -- An A/B test's variant: the message keys it changes, the campaign's for the rest.
  local v = self.variants and self.variants[ids.variant or 1] or {}
  local subject, err = (v.subject or self.subject)(vars)
  local text, html
  -- A variant's own page without text has its text made of its HTML.
  local from_html = v.text_from_html
  if from_html == nil then from_html = self.text_from_html end
  local render_text, render_html = v.text or (not from_html and self.text or nil), v.html or self.html
  if not self.bulk.track and not self.hooks.route then
    -- Nothing in Lua reads the bodies (no tracking rewrites them, no
    -- route hook sees them): each is made as a MIME part straight from
    -- its template, whose static text is encoded once for the campaign
    -- (for each variant).
    local holder = self.variants and v or self
    local bodies = holder.bodies
    if not bodies or bodies.text_of ~= render_text or bodies.html_of ~= render_html then
      bodies = { text_of = render_text, html_of = render_html,
                 text = render_text and template.body(render_text), html = render_html and template.body(render_html) }
      holder.bodies = bodies
    end
    render_text = bodies.text or render_text
    if not from_html then render_html = bodies.html or render_html end   -- else its text is read from it
  end
  if subject and render_text then text, err = render_text(vars) end
  if subject and not err and render_html then html, err = render_html(vars) end
  if html and from_html then text = core.html_text(html) end
  if not err and self.bulk.track then
    local ok_track, t2, h2, changed, tags = pcall(bulk.bodies, self.bulk, ids.campaign, ids.recipient, text, html,
      vars.unsubscribe_url, ids.links)
    if ok_track then text, html, ids.changed, ids.tags = t2, h2, changed, tags else err = t2 end
  end
  if err then return nil, err end
  local headers = self.headers
  if v.headers then
    headers = {}
    for k, value in pairs(self.headers or {}) do headers[k] = value end
    for k, value in pairs(v.headers) do headers[k] = value end
  end
  return {
    from = v.from or self.from, to = address, subject = subject, text = text, html = html,
    inline = v.inline or self.inline, attachments = v.attachments or self.attachments, cache = self.parts,
    headers = bulk.headers(self.bulk, headers, unsubscribe_url),
  }
end

-- Seconds until a deferred recipient's next attempt: exponential with
-- jitter (half to full), so retries of a list do not come in waves.
function Campaign:backoff(attempts)
  local first, factor, max = self.retry.first, self.retry.factor, self.retry.max
  local delay = math.min(max, first * factor ^ math.max(0, attempts - 1))
  return delay * (0.5 + math.random() / 2)
end

-- Rows of the list read into the store in one commit, and the longest a
-- run spends reading them before it goes on sending (a list from a slow
-- iterator must not hold the connections up for a whole part).
local LOAD_PART, LOAD_TIME = 1000, 0.02

-- Reads the campaign's recipients into the store a part at a time:
-- loader:step(n [, between [, seconds]]) adds up to n more rows in one
-- commit (fewer when reading them takes longer than seconds, or Ctrl-C
-- comes), calling between() after each row when given (the run's turn:
-- the loop turns when its time has come, Dispatch:turn), and says
-- whether rows are left. loader.read,
-- .added and .bad count the rows read, added (not there from an earlier
-- run) and refused (each with a warning naming it).
local Loader = {}
Loader.__index = Loader

function Campaign:loader(store, id)
  -- Until the last row is read, `mailcast status` says the list is read
  -- in part: a pause now leaves the rest for the next run.
  assert(store:list_read(id, false))
  return setmetatable({ campaign = self, store = store, id = id, next_row = self:rows(store, id),
                        read = 0, added = 0, bad = 0, done = false }, Loader)
end

-- " at line N" for a row of a CSV list ("" for one of a list or an iterator).
local function at_line(row)
  return row._line and (" at line " .. row._line) or ""
end

--- campaign:check_row(row, err) -> address, data | nil, why: a row of
-- the list (as the rows iterator gives it: a table, or false and err) as
-- the store keeps it, or why it is refused, naming its line.
function Campaign:check_row(row, err)
  if not row then return nil, err end
  local address = row[self.address_field]
  if type(address) ~= "string" or address == "" then
    return nil, string.format("row%s has no '%s'", at_line(row), self.address_field)
  end
  local data, why = encode(row)
  if not data then return nil, string.format("row%s: %s", at_line(row), why) end
  return address, data
end

function Loader:step(n, between, seconds)
  if self.done then return false end
  local c, store, id = self.campaign, self.store, self.id
  local deadline = seconds and core.now() + seconds
  -- The rows are read before the store's write lock is taken, which the
  -- workers wait for: a slow iterator holds no one up but this loop.
  local good = {}   -- address, data, variant, address, data, variant, ...
  for i = 1, n do
    local row, err = self.next_row()
    if row == nil then self.done = true break end   -- (a bad row is false, why)
    self.read = self.read + 1
    local address, data = c:check_row(row, err)
    if address then
      -- An A/B test's variant (0: held for the winner) by the row's place.
      good[#good + 1], good[#good + 2] = address, data
      good[#good + 1] = c.test and abtest.variant_at(c.test, self.read) or -1
    else
      self.bad = self.bad + 1
      c:warn(data)
    end
    if between then between() end
    -- Ctrl-C: the rows read so far are kept, the rest waits for the next
    -- run (a slow iterator must not hold the pause up either).
    if (deadline and core.now() > deadline) or core.interrupted() > 0 then break end
  end
  assert(store:begin())
  local added = 0
  local ok, err = pcall(function()
    for k = 1, #good, 3 do
      local fresh, aerr = store:add(id, good[k], good[k + 1], good[k + 2])
      if fresh == nil then error(aerr, 0) end
      if fresh then added = added + 1 end   -- false: there from an earlier run
      -- adding a part takes milliseconds too: the loop turns meanwhile
      if between then between() end
    end
    if self.done then assert(store:list_read(id, true)) end
  end)
  if not ok then
    store:rollback()
    error(err, 0)
  end
  assert(store:commit())
  self.added = self.added + added
  if self.tally and added > 0 then self.tally:moved(nil, "pending", added) end
  return not self.done
end

--- campaign:load(store, id [, every_commit [, loader]]) -> added, bad: the
-- recipient rows into the store (once: a second run adds none), committing
-- every LOAD_PART rows (or LOAD_TIME seconds) and then calling
-- every_commit() when given; all of them, unless Ctrl-C comes first. A
-- loader made by the caller keeps the counts when every_commit raises.
function Campaign:load(store, id, every_commit, loader)
  loader = loader or self:loader(store, id)
  -- A step cut short by Ctrl-C ends the loading: the rest is read next run.
  while loader:step(LOAD_PART, nil, LOAD_TIME) and core.interrupted() == 0 do
    if every_commit then every_commit() end
  end
  return loader.added, loader.bad
end

--- list_read(store, id) -> whether the campaign's list has been read
-- into the store to its end (false after a pause while it was read).
function M.list_read(store, id)
  for _, c in ipairs(assert(store:report("campaigns"))) do
    if c.id == id then return c.list_read ~= 0 end
  end
  return false
end

--- summary(name, counts) -> one line saying where a campaign stands.
function M.summary(name, c)
  return string.format("%s: %d delivered, %d deferred, %d failed, %d skipped, %d suppressed, %d pending",
    name, c.delivered, c.deferred, c.failed, c.skipped, c.suppressed, c.pending + c.in_flight)
end

-- What on_reply may answer, and the state it leads to.
local DECISIONS = {
  defer = "deferred", deferred = "deferred", retry = "deferred",
  fail = "failed", failed = "failed", suppress = "suppressed", suppressed = "suppressed",
}

--- campaign:route_for(address, vars, message) -> route name
-- The route hook's answer (a name among the routes), else the default.
function Campaign:route_for(address, vars, message)
  if not self.hooks.route then return self.default_route end
  local ok, name = call_hook(self, "route", {
    address = address, domain = dispatch.domain_of(address), vars = vars, message = message,
  })
  if ok and name ~= nil then
    if self.routes[name] then return name end
    self:warn(string.format("%s: hook route (%s) named no route '%s'; the default applies", address,
      where(self.hooks.route), tostring(name)))
  end
  return self.default_route
end

-- Makes the store's URLs of the link indexes in changed that the run has
-- none for (with the tags the track hook gave them, for the reports),
-- this message's where no other message (of another worker,
-- or of a run before) stored one first, and reloads the run's copy: true
-- when one of them differs from this message's. Only the first message
-- of a run (and one with an index none had) comes here, so this one
-- transaction of its own is rare.
function Campaign:store_new_links(run, changed, tags)
  local fresh
  for index, url in pairs(changed) do
    if run.links[index] == nil then
      fresh = fresh or {}
      fresh[index] = url
    end
  end
  if not fresh then return false end
  assert(run.store:begin())
  for index, url in pairs(fresh) do assert(run.store:link(run.id, index, url, nil, tags and tags[index])) end
  assert(run.store:commit())
  run.links = assert(run.store:links(run.id))
  for index, url in pairs(fresh) do
    if run.links[index] ~= url then return true end
  end
  return false
end

-- Queues the writes of the links of recipient id's message that are not
-- the campaign's (bulk.bodies): each is the recipient's own, so a click
-- goes where their message said.
function Campaign:store_links(run, id, changed)
  local links = run.links
  for index, url in pairs(changed) do
    if links[index] ~= url then
      run.writes[#run.writes + 1] = function() assert(run.store:link(run.id, index, url, id)) end
    end
  end
end

-- Builds and submits one claimed recipient; what cannot be sent is
-- finished at once with the reason.
function Campaign:submit(run, r)
  local vars = decode(r.data)
  local variant = r.variant and math.abs(r.variant)
  local ids = { campaign = run.id, recipient = r.id, links = run.links, variant = variant }
  local msg, why, state = self:message(r.address, vars, ids)
  if msg and ids.changed and self:store_new_links(run, ids.changed, ids.tags) and self.bulk.track.mode == "aggregate" then
    -- Another message stored an index first, with another URL: built
    -- again, this one's link there is left untracked (its click could
    -- not tell whose URL to go to).
    ids = { campaign = run.id, recipient = r.id, links = run.links, variant = variant }
    msg, why, state = self:message(r.address, vars, ids)
  end
  if msg and ids.changed then self:store_links(run, r.id, ids.changed) end
  local built
  local from = self.envelope_from
  if msg and self.bounce_domain then
    -- Bounces come back to an address that names this recipient (VERP),
    -- and a bounce that returns only headers names it in the Message-ID.
    -- The secret is looked up once a run, not twice a message.
    run.verp_secret = run.verp_secret or bounces.secret(run.store)
    from = bounces.verp(run.id, r.id, self.bounce_domain, run.verp_secret)
    msg.message_id = bounces.message_id(run.id, r.id, self.bounce_domain, run.verp_secret)
  end
  if msg then built, why = assemble(msg) end
  if built and self.bulk.dkim then
    -- Signed last, over the finished message.
    local message = built
    built, why = bulk.sign(self.bulk, message)
    message:close()
  end
  if built then
    local route = self:route_for(r.address, vars, msg)
    -- The claimed row is the job's owner: it comes back with the outcome,
    -- with the message to close then.
    r.message, r.route, r.run = built, route, run
    local ok, err = run.dispatch:submit(run.prefix .. route, { from = from, to = { r.address }, message = built },
      r, run.share)
    if ok then
      run.held = run.held + 1
      run.holding[r.id] = r
      return
    end
    r.message = nil
    if type(built) == "userdata" then built:close() end
    why = err
  end
  state = state or "failed"
  self:warn(string.format("%s: %s", r.address, why))
  run.writes[#run.writes + 1] = function()
    assert(run.store:finish(r.id, state, { code = 0, text = why }))
    run.tally:moved("in_flight", state)
  end
  if run.log then run.log:outcome(self.name, r.address, state, { code = 0, text = why }, r.attempts) end
end

-- Builds and submits one claimed recipient as a task of the engine when
-- the campaign has a hook that may wait (personalize, route): a hook
-- calling mailcast.mx then holds up its own recipient only, while the
-- engine builds and sends the others (mailcast.hooks).
function Campaign:submit_task(run, r)
  if not (self.hooks.personalize or self.hooks.route) then return self:submit(run, r) end
  self:task(run, function() self:submit(run, r) end)
end

-- A task waits on the engine's loop: for a look-up (kind "mx", name,
-- opts), for messages sent by the engine (kind "send", route, jobs,
-- opts: see smtp.send_in_engine) or for an operation of a
-- mailcast.session (kind "session", session). Its recipient counts as held
-- meanwhile: no more is claimed for it, and the run does not end before
-- it.
function Campaign:wait_for(run, resume, kind, ...)
  run.held = run.held + 1
  local function answer(...)
    run.held = run.held - 1
    resume(...)
  end
  if kind == "send" then
    local route, jobs, opts = ...
    smtp.send_in_engine(run.dispatch, route, jobs, opts, answer)
  elseif kind == "session" then
    run.dispatch:wait_session((...), answer)
  else
    local name, opts = ...
    run.dispatch:wait_lookup(kind, name, opts, answer)
  end
end

-- Outcomes settled and waiting for their commit: lists by index.
local function settled_list()
  return { outcomes = {}, states = {}, replies = {}, next_ats = {}, suppress = {} }
end

-- Writes in one commit what submitting queued (a recipient that could
-- not be sent, tracked links), tasks that waited included, and the
-- outcomes settled late (Campaign:settle_task).
function Campaign:write_pending(run)
  if #run.late.outcomes > 0 then
    local late = run.late
    run.late = settled_list()
    self:write_settled(run, late)
  end
  if #run.writes == 0 then return end
  assert(run.store:begin())
  for _, write in ipairs(run.writes) do write() end
  assert(run.store:commit())
  run.writes = {}
end

-- What one recipient's transaction says, before its on_reply hook: its
-- message closed, its reply classified and logged; reply, state.
function Campaign:reply_of(run, o)
  local r, reply = o.owner, o.result.recipients[1]
  if type(r.message) == "userdata" then r.message:close() end
  r.message = nil
  reply = reply or { status = "failed", code = 0, text = o.result.error or "not sent" }
  -- Where the attempt went, for the store's reports by route and MX host.
  reply.route, reply.host = r.route, o.result.server
  -- One withdrawn (an operator's cancel) had no transaction to log or
  -- classify, nor to count as an attempt.
  if o.result.withdrawn then
    reply.unsent = true
    return reply, reply.status
  end
  if reply.status ~= "sent" then self:classify(reply) end
  if run.log then run.log:transaction(self.name, r.address, r.route, o.result, reply, r.attempts + 1) end
  return reply, reply.status == "sent" and "delivered" or reply.status
end

-- Decides what one recipient's transaction leads to (as on_reply
-- decided, nil: the default) and when to retry, and logs it: state,
-- reply, next_at, and why the address goes on the suppression list (or
-- nil).
function Campaign:decide(run, o, reply, state, decision)
  local r = o.owner
  if decision ~= nil and state ~= "delivered" then
    if DECISIONS[decision] then state = DECISIONS[decision]
    else self:warn(string.format("%s: on_reply answered '%s', not defer, fail or suppress", r.address, tostring(decision))) end
  end
  local next_at, expired, suppress = 0, false, nil
  if state == "deferred" then
    -- (one taken back unsent was not tried: it has not expired now, and
    -- the store records the cancel that took it back)
    if not reply.unsent and os.time() - (r.first_at or os.time()) > run.max_age then
      state, reply.text, expired = "failed", "expired: " .. (reply.text or ""), true
    else
      -- At least a second away: a retry never comes back within the
      -- pass that deferred it. Times here are to the fraction of a
      -- second (core.time): from whole seconds it could be due at once.
      next_at = core.time() + math.max(1, self:backoff(r.attempts + 1))
    end
  elseif state == "suppressed" then
    suppress = string.format("%d %s", reply.code or 0, reply.text or "")
  elseif state == "failed" and reply.hard and self.suppress_hard then
    -- A mailbox that does not exist (or a domain) stays off the list for
    -- every campaign of the store: the list is kept clean as it is sent.
    suppress = "hard bounce: " .. reply.reason
  end
  if run.log and state ~= "deferred" then
    run.log:outcome(self.name, r.address, expired and "expired" or state, reply, r.attempts + 1)
  end
  return state, reply, next_at, suppress
end

-- Settles one outcome: reply_of, the on_reply hook, decide.
function Campaign:settle(run, o)
  local reply, state = self:reply_of(run, o)
  if o.result.withdrawn then return self:decide(run, o, reply, state, nil) end   -- no reply to hear
  local ok, decision = call_hook(self, "on_reply", o.owner.address, reply)
  return self:decide(run, o, reply, state, ok and decision or nil)
end

local NOTIFY = { delivered = "on_delivered", deferred = "on_deferred" }

-- Adds the reply's reason in the bounce taxonomy (reason, category,
-- hard) as the campaign's rules and classify hook decide.
function Campaign:classify(reply)
  local ok, c = pcall(bounce.classify, reply, self.classify_extra)
  if not ok then
    self:warn(string.format("classifying '%s' failed: %s", tostring(reply.text), tostring(c)))
    return
  end
  reply.reason, reply.category, reply.hard = c.reason, c.category, c.hard
end

-- The store file's accounting log: NAME.mailcast.db -> NAME.log.jsonl.
local function log_path(store_path)
  return (store_path:gsub("%.mailcast%.db$", ""):gsub("%.db$", "")) .. ".log.jsonl"
end

-- Claims what is due and submits it while the dispatcher holds fewer than
-- max_in_flight; false when nothing more was due. What submitting has to
-- write (a recipient that cannot be sent, the tracked links) is written
-- afterwards in one commit: the store's write lock is not held while
-- messages are built, which other workers of the run would wait for.
function Campaign:refill(run)
  self:write_pending(run)
  local room = self.max_in_flight - run.held
  if room <= 0 then return true end
  local claimed = run.store:claim(run.id, math.min(room, 500), run.since)
  if #claimed == 0 then return false end
  run.claimed = run.claimed + #claimed
  for i, r in ipairs(claimed) do
    run.tally:moved(r.was, r.suppressed and "suppressed" or "in_flight")
    if r.suppressed then   -- the store marked it: on the suppression list
      if run.log then run.log:outcome(self.name, r.address, "suppressed", { code = 0, text = r.suppressed }, r.attempts) end
    else
      self:submit_task(run, r)
    end
    -- Building a batch takes milliseconds: meanwhile the connections go
    -- on with what is already submitted, so the server is not left idle.
    run.dispatch:turn()
  end
  self:write_pending(run)
  return true
end

-- Says once a run that the accounting log could not be written (a full
-- disk): the store still has every outcome, and the run goes on.
function Campaign:log_written(run, ok, err)
  if ok or run.log_failed then return end
  run.log_failed = true
  self:warn(string.format("%s (the store still records every outcome; `mailcast status` and"
    .. " `mailcast bounces` read it)", tostring(err)))
end

local function add_settled(run, list, o, state, reply, next_at, suppress)
  local n = #list.outcomes + 1
  list.outcomes[n], list.states[n], list.replies[n], list.next_ats[n], list.suppress[n] =
    o, state, reply, next_at, suppress
end

-- Runs fn as a task of the engine: a hook in it that waits (mailcast.mx,
-- mailcast.send) holds up only this task while the engine goes on.
-- Whether it finished at once.
function Campaign:task(run, fn)
  return hooks.run_task(coroutine.create(fn), function(resume, ...) self:wait_for(run, resume, ...) end)
end

-- Settles one outcome on a task, for an on_reply hook that may wait:
-- into list when it is settled at once. Otherwise, once the hook has its
-- answer, into run.late, which the next write_pending writes: the hook
-- may be resumed while a commit is open. Until then the outcome is in
-- run.settling, so that a run ending first (Ctrl-C) still records it,
-- as if the hook had not answered (Campaign:settle_waiting).
function Campaign:settle_task(run, o, list)
  local waited = false
  local reply, state = self:reply_of(run, o)
  local finished = self:task(run, function()
    local ok, decision = call_hook(self, "on_reply", o.owner.address, reply)
    if waited and not run.settling[o] then return end   -- recorded meanwhile without it
    run.settling[o] = nil
    add_settled(run, waited and run.late or list, o, self:decide(run, o, reply, state, ok and decision or nil))
  end)
  if not finished then
    waited = true
    run.settling[o] = { reply = reply, state = state }
  end
end

-- What on_reply hooks still wait for when a run ends (Ctrl-C), settled
-- as the default decides, for the next write_pending: a message sent is
-- never sent again for want of its record.
function Campaign:settle_waiting(run)
  for o, w in pairs(run.settling) do
    add_settled(run, run.late, o, self:decide(run, o, w.reply, w.state, nil))
  end
  run.settling = {}
end

-- Records a list of outcomes in one commit of the store, then tells the
-- hooks. Everything is decided before the commit begins: the store's
-- write lock, which the other workers of a run wait for, is held only
-- for the writes.
function Campaign:record(run, outcomes)
  if #outcomes == 0 then return end
  run.held = run.held - #outcomes
  for _, o in ipairs(outcomes) do run.holding[o.owner.id] = nil end
  local list = settled_list()
  local on_reply = self.hooks.on_reply ~= nil
  -- The loop turns here too, as in refill: recording a few hundred
  -- outcomes takes milliseconds the connections would otherwise wait.
  local d = run.dispatch
  for i, o in ipairs(outcomes) do
    if on_reply and not o.result.withdrawn then self:settle_task(run, o, list)
    else add_settled(run, list, o, self:settle(run, o)) end
    d:turn()
  end
  self:write_settled(run, list)
end

-- The store failed the i-th settled outcome instead (an operator
-- cancelled the recipient while it was in flight, and its outcome was
-- not final): the run's count, its log and its hooks say so too.
function Campaign:cancelled_in_flight(run, list, i, text)
  local reply, r = list.replies[i], list.outcomes[i].owner
  list.states[i], reply.text, list.next_ats[i] = "failed", text, 0
  if run.log then run.log:outcome(self.name, r.address, "failed", reply, r.attempts + (reply.unsent and 0 or 1)) end
end

-- Writes settled outcomes in one commit, then calls the campaign's
-- on_delivered/on_deferred/on_failed hooks, each on a task of its own
-- (one that sends a notice waits for it alone).
function Campaign:write_settled(run, list)
  local n = #list.outcomes
  if n == 0 then return end
  local store, d = run.store, run.dispatch
  assert(store:begin())
  for i = 1, n do
    local o = list.outcomes[i]
    local r = o.owner
    if list.suppress[i] then assert(store:suppress(r.address, list.suppress[i])) end
    local done, cancelled = store:finish(r.id, list.states[i], list.replies[i], list.next_ats[i])
    assert(done, cancelled)
    if cancelled then self:cancelled_in_flight(run, list, i, cancelled) end
    -- A recipient not delivered keeps how its transaction went (the
    -- dispatcher gives the lines only then: keep_transcripts).
    local lines = o.result.transcript
    if lines and list.states[i] ~= "delivered" then
      local transcript = require "mailcast.transcript"
      assert(store:keep_transcript(r.id, transcript.started(lines) or core.time(), transcript.kept(lines)))
    end
    d:turn()
  end
  assert(store:commit())
  -- (the states as the store recorded them: see cancelled_in_flight)
  for i = 1, n do
    run.tally:moved("in_flight", list.states[i])
    if run.metrics then run.metrics:tally(self.name, list.states[i], list.replies[i]) end
  end
  if run.log then self:log_written(run, run.log:flush()) end
  for i = 1, n do
    local name = NOTIFY[list.states[i]] or "on_failed"
    if self.hooks[name] then
      local address, reply = list.outcomes[i].owner.address, list.replies[i]
      self:task(run, function() call_hook(self, name, address, reply) end)
    end
  end
end


function Campaign:show(run, final)
  if final or run.progress:due() then
    run.progress:tick(run.tally:get(final), run.dispatch:state(), final)
  end
  -- A worker of --workers tells the parent, which shows the progress.
  if run.state_path and core.now() >= run.reported_at + worker_state.EVERY then
    run.reported_at = core.now()
    worker_state.write(run.state_path, run.dispatch:state())
  end
end

-- Says once each why a route was paused (its recipients deferred): the
-- user has something to mend before the next run.
function Campaign:report_problems(run)
  for name, message in pairs(run.dispatch:problems()) do
    if run.problems[name] ~= message then
      run.problems[name] = message
      self:warn(message)
    end
  end
end

-- Seconds until the soonest deferred recipient is due, or an A/B test's
-- next step (nil: none is).
function Campaign:next_retry(run)
  local row = run.store:report("next_due", run.id)[1]
  local retry = row and row.next_at and math.max(0, row.next_at - core.time())
  local test = self.test and abtest.due_in(run)
  if test and (not retry or test < retry) then return test end
  return retry
end

--- campaign:run{store = path, dry_run=, quiet=, progress = "bar"|"lines"|
-- "json"|"quiet", log = path | false, wait = false, workers = 1, trace =
-- path | "-" | function} -> counts | nil, message
-- Sends what is due; with wait, stays until no deferred recipient is left
-- (sleeping until each retry is due); without, deferred ones wait for the
-- next run. Ctrl-C pauses: the transactions in flight finish, the rest
-- stays pending, counts.paused is true, and the next run resumes. With
-- workers > 1, that many processes share the sending (mailcast.workers).
-- counts.bad_rows: the rows of the list this run refused (in one process).
function Campaign:run(opts)
  opts = opts or {}
  self.quiet = opts.quiet
  if opts.dry_run then return self:dry_run(opts) end
  self:page_said()
  local start, err = self:prepare(opts)
  if not start then return nil, err end
  if (opts.workers or 1) ~= 1 then
    if opts.trace then start.store:close() return nil, "campaign: --trace writes the sessions of one process: give it without --workers" end
    -- The workers start on the first rows while the rest are loaded.
    start.store:close()
    return require("mailcast.workers").run(self, { path = start.path, id = start.id, log = start.log_to }, opts)
  end
  return self:send(start.store, start.id, start.log_to, opts, nil, self:first_part(start))
end

-- Warns of a direct-delivery route whose EHLO name servers will not
-- take: mail servers check that a client names itself by a fully
-- qualified domain name (RFC 5321 4.1.4), and many refuse or mark the
-- mail of one that does not.
function Campaign:check_names()
  for name, spec in pairs(self.routes) do
    if spec.mx then
      if spec.helo and not core.is_fqdn(spec.helo) then
        self:warn(string.format("route '%s': helo '%s' is not a fully qualified domain name; mail servers"
          .. " refuse or mark mail from a client that does not name itself by one", name, spec.helo))
      elseif not spec.helo and not core.hostname() then
        self:warn(string.format("route '%s' delivers straight to MX hosts, but this machine has no fully"
          .. " qualified name that resolves: EHLO gives its address instead, which many servers refuse;"
          .. " set the route's helo = \"mail.example.com\" (a name whose address is this machine's)", name))
      end
    end
  end
end

-- The store opened for a run (opts.store, or NAME.mailcast.db), the
-- campaign's id there, what a crash left in flight put back, and where
-- the accounting log goes: {path=, store=, id=, log_to=} | nil, message.
function Campaign:prepare(opts)
  self:check_names()
  local path = opts.store or (self.name .. ".mailcast.db")
  local store, err = mailcast.store(path)
  if not store then return nil, err end
  local id = assert(store:campaign(self.name))
  if segment.is(self.recipients) then
    local ok, serr = self.recipients:check(store, id)
    if not ok then store:close() return nil, serr end
  end
  -- Not read to its end until the loader says so: the workers of a run
  -- start before it, and an A/B test's group is not all sent while rows
  -- of the list may still come.
  if self.test then
    assert(store:list_read(id, false))
    -- Reports of the store alone then name the variants as the script does.
    assert(store:variant_labels(id, abtest.labels(self.variants), #self.variants))
  end
  local test = not self.test and assert(store:report("test", id, "count"))[1]
  if test and test.holding == 1 then
    -- Held for an A/B test's winner by a run of the script when it had
    -- variants: with none now, they are sent the campaign's message.
    assert(store:test_pick(id, 1))
    self:warn(string.format("%d recipients were held for an A/B test's winner, but the campaign has no variants"
      .. " now: they are sent its message", test.held))
  end
  if self.webhooks then
    -- Kept in the store, where `mailcast serve` finds them.
    local ok, werr = require("mailcast.webhooks").register(path, id, self.webhooks)
    if not ok then store:close() return nil, "campaign: webhooks: " .. tostring(werr) end
  end
  local redo = store:recover(id)
  if redo > 0 then
    -- Claimed is not sent: most of them never left this machine. What a
    -- server had taken is bounded by each destination's window.
    self:warn(string.format("%d recipients were claimed by the last run and have no outcome recorded; sending"
      .. " them again (a server may already have taken some: at most connections x messages per connection"
      .. " of each destination, which get a second copy)", redo))
  end
  local log_to = opts.log
  if log_to == nil then log_to = self.log end
  if log_to == nil then log_to = log_path(path) end
  return { path = path, store = store, id = id, log_to = log_to }
end

-- The list goes into the store as it is sent: the first part now, the
-- rest a part at a time while the first messages go out.
function Campaign:first_part(start)
  local loader = self:loader(start.store, start.id)
  loader:step(LOAD_PART, nil, LOAD_TIME)
  return loader
end

-- The trace of a run's sessions (opts.trace: a file, "-" for stderr,
-- or a function as mailcast.send's trace option takes): {call=,
-- close()} | nil (none) | nil, message.
local function open_trace(opts)
  if opts.trace == nil then return nil end
  if type(opts.trace) == "function" then
    local tracer = smtp.tracer(opts.trace)
    return { call = tracer.call, close = function() return tracer.error end }
  end
  return require("mailcast.trace_file").open(opts.trace)
end

-- The dispatcher's options of a run: every route's sessions traced
-- when asked, and what was not delivered kept with its transcript.
local function dispatch_opts(limits, workers, trace)
  return { limits = limits, workers = workers, trace = trace and trace.call, keep_transcripts = true }
end

-- Says why a run's trace stopped, if it did.
local function close_trace(trace, warn)
  local why = trace and trace.close()
  if why then warn(why .. " (the tracing stopped there; the run went on)") end
end

--- run_all(campaigns, opts) -> {{counts= | err=}...}: several campaigns
-- sent at once by one engine (mailcast run a.lua b.lua): the destinations
-- they share hold their limits across all of them and are shared by
-- priority. opts as campaign:run's; opts.stores[i] is campaign i's store
-- (default: opts.store, or NAME.mailcast.db). Each campaign gets its own
-- counts, or why it could not run.
function M.run_all(campaigns, opts)
  local results, runs, names = {}, {}, {}
  local trace, terr = open_trace(opts)
  if terr then
    for i in ipairs(campaigns) do results[i] = { err = terr } end
    return results
  end
  local d = dispatch.new(nil, dispatch_opts(nil, nil, trace))
  for i, c in ipairs(campaigns) do
    c.quiet = opts.quiet
    c:page_said()
    results[i] = {}
    local copts = setmetatable({ store = opts.stores and opts.stores[i] or opts.store }, { __index = opts })
    if names[c.name] then
      results[i].err = string.format("two campaigns are named '%s': a run tells campaigns apart by name", c.name)
    else
      names[c.name] = true
      local start, err = c:prepare(copts)
      if start then
        -- Each campaign's routes under its own name: two may both have a "default".
        local prefix = c.name .. "\0"
        local ok, aerr = pcall(d.add_routes, d, c.routes, { limits = c.limits }, prefix)
        if ok then
          results[i].run, err = c:open_run(start.store, start.id, start.log_to, copts, c:first_part(start))
        else
          err = "campaign: " .. tostring(aerr)
        end
        if results[i].run then
          results[i].run.prefix = prefix
          runs[#runs + 1] = results[i].run
        else
          start.store:close()
        end
      end
      results[i].err = err
    end
  end
  local ok, err, paused = engine.send(runs, d, opts)
  close_trace(trace, function(m) if campaigns[1] then campaigns[1]:warn(m) end end)
  for i, c in ipairs(campaigns) do
    local run = results[i].run
    if run then results[i].counts, results[i].err = c:close_run(run, ok, err, paused) end
    results[i].run = nil
  end
  d:close()
  return results
end

--- campaign:open_run(store, id, log_to, opts [, loader]) -> run | nil, message
-- What one campaign's sending keeps while the engine runs it (see
-- mailcast.engine): its store, accounting log, progress display and the
-- part of the dispatcher's work that is its own. The dispatcher is set
-- by the engine (run.dispatch), and its routes are known there as
-- run.prefix .. name.
function Campaign:open_run(store, id, log_to, opts, loader)
  local log, err
  if log_to then
    log, err = accounting.open(log_to)
    if not log then return nil, err end
  end
  local counted = tally.new(store, id)
  -- Rows the loader adds are counted as they are committed.
  if loader then loader.tally = counted end
  return {
    campaign = self, store = store, id = id, log = log, since = core.time(), writes = {}, claimed = 0,
    problems = {}, loader = loader, held = 0, settling = {}, late = settled_list(), prefix = "",
    share = { weight = self.priority }, tally = counted, holding = {}, cancels_seen = core.now(),
    -- The campaign's stored links, those of an earlier run (or another
    -- worker) included: each message's are compared with them.
    links = self.bulk.track and assert(store:links(id)) or nil,
    max_age = self.retry.max_age, state_path = opts.state_path, reported_at = -math.huge,
    progress = progress.new { mode = opts.progress or (opts.quiet and "quiet" or nil), name = self.name },
    waits = opts.wait,
    -- What each worker of a run would say alike (the A/B test's schedule)
    -- is said by the first one only.
    says_once = opts.says_once ~= false,
  }
end

-- Seconds between two looks for recipients cancelled while the run held
-- them (`mailcast queue --cancel`).
local CANCELS_EVERY = 2

-- Takes back from the dispatcher the recipients an operator cancelled
-- (mailcast queue --cancel) that the run holds and has not sent yet:
-- they come back unsent, and the store fails them as cancelled.
function Campaign:withdraw_cancelled(run)
  local t = core.now()
  if t - run.cancels_seen < CANCELS_EVERY or not next(run.holding) then return end
  run.cancels_seen = t
  for _, row in ipairs(assert(run.store:queue_cancelled(run.id))) do
    local r = run.holding[row.id]
    if r and not r.withdrawn then run.dispatch:withdraw(r) end
  end
end

--- campaign:advance(run): the campaign's share of one turn of the
-- engine: the next part of its list when few of the rows read are left
-- to claim (or nothing was due), and what is due claimed and submitted
-- while the dispatcher holds fewer than max_in_flight of its jobs.
-- run.done once nothing more is due.
function Campaign:advance(run)
  if self.test then abtest.step(self, run) end
  self:withdraw_cancelled(run)
  local loader = run.loader
  if loader and not loader.done and (run.hungry or loader.read - run.claimed < 2 * self.max_in_flight) then
    loader:step(LOAD_PART, run.turn, LOAD_TIME)
    run.hungry = false
  end
  local more = not run.done and self:refill(run)
  if not more then
    if loader and not loader.done then run.hungry = true else run.done = true end
  end
end

--- campaign:close_run(run, ok, err, paused) -> counts | nil, message:
-- what was claimed and not sent put back, the final progress shown, the
-- counts read and the store and log closed.
function Campaign:close_run(run, ok, err, paused)
  local store, id, log = run.store, run.id, run.log
  if ok then
    self:settle_waiting(run)
    self:write_pending(run)
  end
  -- Claimed but never sent (paused, or a failure): pending again.
  store:recover(id)
  if ok then self:show(run, true) end
  if not ok then
    store:close()
    if log then log:close() end
    return nil, tostring(err)
  end
  self:report_problems(run)
  if self.test and not paused then abtest.step(self, run, true) end
  local counts = store:counts(id)
  counts.paused = paused or nil
  counts.route_problems = next(run.problems) and run.problems or nil
  counts.list_read = M.list_read(store, id)
  -- rows of the list this run refused, each warned of
  counts.bad_rows = run.loader and run.loader.bad or nil
  local test = abtest.summary(store, id, self.test)
  counts.test = test
  local row = store:report("next_due", id)[1]
  counts.next_retry = row and row.next_at and math.ceil(math.max(0, row.next_at - core.time()))
  store:close()
  if log then self:log_written(run, log:close()) end
  return counts
end

--- campaign:send(store, id, log_to, opts [, workers [, loader]]) -> counts | nil, message
-- The sending part of a run, over what the store lets this process claim
-- (all of the campaign, or one worker's shard of it: then workers says
-- how many share the relays, and the store is closed when it returns).
function Campaign:send(store, id, log_to, opts, workers, loader)
  local run, err = self:open_run(store, id, log_to, opts, loader)
  if not run then store:close() return nil, err end
  local trace, terr = open_trace(opts)
  local ok, d = terr == nil, terr
  if ok then ok, d = pcall(dispatch.new, self.routes, dispatch_opts(self.limits, workers, trace)) end
  if not ok then
    store:close()
    if run.log then run.log:close() end
    close_trace(trace, function() end)
    return nil, terr or ("campaign: " .. tostring(d))
  end
  local ok_run, run_err, paused = engine.send({ run }, d, opts, workers ~= nil)
  close_trace(trace, function(m) self:warn(m) end)
  local counts, cerr = self:close_run(run, ok_run, run_err, paused)
  d:close()
  return counts, cerr
end

--- campaign:pages() -> what was found in the pages of html_file: the
-- campaign's, then those of an A/B test's variants (each {name=,
-- warnings=, problems=, relative_links=}; none for one without a page).
function Campaign:pages()
  local pages = {}
  if self.page_notes then pages[1] = self.page_notes end
  for _, v in ipairs(self.variants or {}) do pages[#pages + 1] = v.page_notes end
  return pages
end

-- Says what html_file's page lost (scripts, forms) and what is left
-- in it that a mail cannot follow (relative links without base_url);
-- returns how many of the latter there are: problems of a dry run.
function Campaign:page_said()
  local problems = 0
  for _, notes in ipairs(self:pages()) do
    for _, w in ipairs(notes.warnings) do self:warn(w) end
    for _, p in ipairs(notes.problems) do self:warn(p) end
    problems = problems + #notes.problems
  end
  return problems
end

--- What a run would send, checked without sending: every recipient's
-- message is built; the problems are reported and counted.
-- Each problem is said as a run says it, with the row's line: the rows a
-- run would refuse, and each message that could not be built.
function Campaign:dry_run(opts)
  local ok, bad = 0, self:page_said()
  local store
  if segment.is(self.recipients) then
    -- Read from the store as it is now (nothing is written to it).
    local err
    store, err = mailcast.store((opts or {}).store or (self.name .. ".mailcast.db"))
    if not store then return nil, err end
    local fine, why = self.recipients:check(store)
    if not fine then store:close() return nil, why end
  end
  local k = 0
  for row, err in self:rows(store) do
    local address, why = self:check_row(row, err)
    local msg
    k = k + 1
    if address then
      -- An A/B test's variants in turn: each one's templates are tried.
      msg, why = self:message(address, row, { campaign = 0, recipient = 1,
        variant = self.variants and (k - 1) % #self.variants + 1 })
      if msg then msg, why = mailcast.message(msg) end
      if not msg then why = string.format("%s (row%s): %s", address, at_line(row), why) end
    end
    if msg then ok = ok + 1
    else
      bad = bad + 1
      self:warn(why)
    end
  end
  if store then store:close() end
  return { ready = ok, problems = bad }
end

M.STATES = STATES
M.encode, M.decode = encode, decode

return M
