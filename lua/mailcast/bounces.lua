-- Bounce processing: reads what came back to a bounce address, finds
-- the campaign and recipient each bounce is about, records it in the
-- store and keeps the suppression list clean. Hard bounces and
-- complaints suppress the address; soft bounces are counted and enough
-- of them in a window suppress it too; an on_bounce hook may decide
-- otherwise. Auto-replies and ordinary mail are left alone.
--
-- The recipient is found from, in order: the VERP tag of the bounce
-- address (bounces+TAG@domain, see verp), the notice's Final-Recipient /
-- Original-Recipient (looked up among the store's recipients, in the
-- campaign X-Mailcast-Campaign names when the returned message has it),
-- and the returned message's X-Mailcast-Recipient or Message-ID (when
-- they hold a tag, see message_id).
local core = require "mailcast.core"
local bounce = require "mailcast.bounce"
local hooks = require "mailcast.hooks"

local M = {}

M.DAY = 86400

--- The defaults process uses: soft_limit soft bounces within soft_window
-- seconds suppress an address; keep says how long a suppression lasts
-- per kind (false: for ever).
M.defaults = {
  soft_limit = 3,
  soft_window = 30 * M.DAY,
  keep = { hard = false, complaint = false, soft = 30 * M.DAY },
}

--- Soft reasons that say something about the sender (its IP, content,
-- authentication, rate), not about the address: recorded, but not
-- counted towards the soft-bounce limit unless on_bounce says "count".
M.sender_reasons = {
  blocked = true, spam = true, policy = true, rate_limited = true,
  content_rejected = true, message_too_big = true,
}

local ACTIONS = { ignore = true, suppress = true, count = true, record = true }


-- Secrets and tags ---------------------------------------------------------

-- The VERP secret: a string as given, a Store's own ("verp"), or the
-- environment's MAILCAST_VERP_SECRET.
local function secret_of(secret, level)
  if type(secret) == "string" and secret ~= "" then return secret end
  local env = os.getenv("MAILCAST_VERP_SECRET")
  if env and env ~= "" then return env end
  if type(secret) == "userdata" then return assert(secret:secret("verp")) end
  error("mailcast.bounces: a VERP secret is needed: a string, a store, or MAILCAST_VERP_SECRET", level + 1)
end


--- secret(secret) -> the VERP secret that tag, verp and message_id use
-- for secret (a string, a Store, or nil): for callers that make many tags
-- and should look it up once.
function M.secret(secret)
  return secret_of(secret, 2)
end


--- tag(campaign_id, recipient_id [, secret]) -> the VERP tag, e.g.
-- "1-c1p-ooq3i4hf": the ids in base32hex and 40 bits of HMAC-SHA256.
-- secret: a string, a Store (its own secret), or by default
-- MAILCAST_VERP_SECRET (which, when set, wins over a store's).
function M.tag(campaign_id, recipient_id, secret)
  return assert(core.verp_make(secret_of(secret, 2), campaign_id, recipient_id))
end


--- verp(campaign_id, recipient_id, domain [, secret]) ->
-- "bounces+TAG@domain": the return path that brings a recipient's
-- bounces back with its ids. secret as for tag.
function M.verp(campaign_id, recipient_id, domain, secret)
  assert(type(domain) == "string" and domain:match("^[%w.-]+$"), "mailcast.bounces.verp: a domain is needed")
  return "bounces+" .. M.tag(campaign_id, recipient_id, secret) .. "@" .. domain
end


--- message_id(campaign_id, recipient_id, domain [, secret]) ->
-- "<mc-TAG@domain>": a Message-ID that identifies the recipient when a
-- bounce returns only the message's headers.
function M.message_id(campaign_id, recipient_id, domain, secret)
  return "<mc-" .. M.tag(campaign_id, recipient_id, secret) .. "@" .. domain .. ">"
end


--- check_tag(tag [, secret]) -> campaign_id, recipient_id | nil, message
function M.check_tag(tag, secret)
  return core.verp_check(secret_of(secret, 2), tag)
end


-- Messages -----------------------------------------------------------------

-- The message's own Message-ID (in its header, not a returned one's).
local function own_message_id(raw)
  local head = raw:match("^(.-)\r?\n\r?\n") or raw
  local id = ("\n" .. head):match("\n[Mm][Ee][Ss][Ss][Aa][Gg][Ee]%-[Ii][Dd]:%s*(<[^>\r\n]*>)")
  return id
end


--- key(raw) -> what the store remembers a message by, so a second run
-- counts nothing twice: a hash of its Message-ID and body (the same
-- notice delivered again with other Received fields is the same), or of
-- all of it when it has no Message-ID.
function M.key(raw)
  local id = own_message_id(raw)
  if not id then return "sha256:" .. core.sha256_hex(raw) end
  local body = raw:match("^.-\r?\n\r?\n(.*)$") or ""
  return "sha256:" .. core.sha256_hex(id .. "\0" .. body)
end


-- The tag an X-Mailcast-Recipient field or a Message-ID of ours holds.
local function header_tags(b)
  local tags = {}
  local h = b.headers and b.headers["x-mailcast-recipient"]
  if h then tags[#tags + 1] = { tag = h:match("^%s*(.-)%s*$"), by = "header" } end
  local mid = b.message_id and b.message_id:match("^<mc%-([%w-]+)@")
  if mid then tags[#tags + 1] = { tag = mid, by = "message-id" } end
  return tags
end


-- What each item of a notice is: "complaint", "delayed", "hard", "soft";
-- nil for recipients that were delivered, relayed or expanded.
local function type_of(b, r)
  if b.kind == "complaint" then return "complaint" end
  local action = r.action and r.action:lower()
  if action == "delayed" then return "delayed" end
  if action and action ~= "failed" then return nil end
  return r.hard and "hard" or "soft"
end


-- The bounces of a notice: one per failed or delayed recipient, or one
-- with no address when it names nobody (found through the tags then).
local function items_of(b)
  local items = {}
  for _, r in ipairs(b.recipients or {}) do
    local t = type_of(b, r)
    if t then
      items[#items + 1] = {
        type = t, address = r.address, original = r.original, action = r.action,
        status = r.status, code = r.code, diagnostic = r.diagnostic or b.diagnostic,
        reason = r.reason or b.reason or "unknown", category = r.category or b.category,
        hard = t == "hard", remote_mta = r.remote_mta,
      }
    end
  end
  if #items == 0 and #(b.recipients or {}) == 0 then
    local t = b.kind == "complaint" and "complaint" or (b.hard and "hard" or "soft")
    items[1] = { type = t, diagnostic = b.diagnostic, reason = b.reason or "unknown",
                 category = b.category, hard = t == "hard" }
  end
  return items
end


-- Matching -----------------------------------------------------------------

local function same_address(a, b)
  return a ~= nil and b ~= nil and a:lower() == b:lower()
end


-- The recipient a tag names, when it is ours and the store has it.
local function by_tag(ctx, tag)
  if not tag or tag == "" then return nil end
  local ok, c, r = pcall(core.verp_check, ctx.secret, tag)
  if not ok or not c then return nil end
  local rec = ctx.store:recipient(r)
  if rec and rec.campaign == c then return rec end
  return nil
end


-- The campaign the returned message names (X-Mailcast-Campaign), if the
-- store knows it.
local function named_campaign(ctx, b)
  local name = b.headers and b.headers["x-mailcast-campaign"]
  if not name then return nil end
  return ctx.store:find_campaign((name:match("^%s*(.-)%s*$")))
end


local function by_address(ctx, address, campaign)
  if not address or address == "" then return nil end
  if campaign then
    local rec = ctx.store:recipients(address, campaign)[1]
    if rec then return rec end
  end
  return ctx.store:recipients(address)[1]
end


-- The recipient of one item: VERP, the notice's addresses, the tags of
-- the returned headers. A tag's recipient is the item's only when the
-- item names no other address (a notice lists one recipient per VERP
-- envelope; an address that differs there came from forwarding).
local function match(ctx, m, item, nitems)
  local function fits(rec)
    return rec and (nitems == 1 or not item.address or same_address(item.address, rec.address))
  end
  if fits(m.verp_rec) then return m.verp_rec, "verp" end
  local rec = by_address(ctx, item.original, m.campaign) or by_address(ctx, item.address, m.campaign)
  if rec then return rec, "address" end
  for _, t in ipairs(m.tag_recs) do
    if fits(t.rec) then return t.rec, t.by end
  end
  return nil
end


-- Recording ----------------------------------------------------------------

-- Suppresses address for why, for keep seconds (false: for ever), unless
-- an entry in force already lasts as long. True when the entry was written.
local function suppress(ctx, address, why, keep)
  local now = ctx.now
  local expires = keep and keep > 0 and (now + keep) or nil
  local cur = ctx.store:suppression(address)
  if cur and (cur.expires == nil or cur.expires > now) then
    if cur.expires == nil then return false end
    if expires and expires <= cur.expires then return false end
  end
  assert(ctx.store:suppress(address, why, expires or 0, now))
  return true
end


-- Counted bounces of the address since the window began, or since its
-- last suppression began when that is later (what led to it is spent).
local function soft_count(ctx, address)
  local since = ctx.now - ctx.soft_window
  local cur = ctx.store:suppression(address)
  if cur and cur.since and cur.since > since then since = cur.since end
  return assert(ctx.store:soft_bounces(address, since))
end


local function enhanced_of(status)
  return status and status:match("^%s*([245]%.%d+%.%d+)")
end


local KIND = { hard = "bounced", soft = "bounced", complaint = "complained", delayed = "delayed" }


local function record_event(ctx, rec, item, counted)
  assert(ctx.store:event {
    campaign = rec.campaign, recipient = rec.id, at = ctx.now, kind = KIND[item.type],
    code = math.tointeger(item.code), enhanced = enhanced_of(item.status),
    text = item.diagnostic, reason = item.reason, category = item.category,
    hard = item.type == "hard", counted = counted,
  })
end


local function why_of(item)
  if item.type == "complaint" then return "complaint" end
  if item.type == "hard" then return "hard bounce: " .. item.reason end
  return "soft bounces: " .. item.reason
end


local function keep_of(ctx, item)
  local k = ctx.keep[item.type == "delayed" and "soft" or item.type]
  if k == nil then k = ctx.keep.soft end
  return k
end


-- Calls on_bounce as every hook is called (mailcast.hooks: an instruction
-- limit, errors caught); an error or an answer it may not give is
-- reported and the default applies.
local function ask_hook(ctx, info)
  if not ctx.on_bounce then return nil end
  local ok, answer = hooks.call(ctx.on_bounce, nil, info)
  if not ok then
    ctx.warn(string.format("on_bounce failed: %s; the default applies", tostring(answer)))
    return nil
  end
  if answer ~= nil and not ACTIONS[answer] then
    ctx.warn(string.format("on_bounce answered '%s', not ignore, suppress, count or record; the default applies",
      tostring(answer)))
    return nil
  end
  return answer
end


local function default_action(ctx, item, rec)
  if not rec then return nil end
  if item.type == "hard" or item.type == "complaint" then return "suppress" end
  if item.type == "soft" and not ctx.sender_reasons[item.reason] then return "count" end
  return "record"
end


-- Records one bounce as its action says; returns the detail for reports.
local function apply(ctx, summary, m, item, nitems)
  local rec, by = match(ctx, m, item, nitems)
  local address = rec and rec.address or item.address or item.original
  local default = default_action(ctx, item, rec)
  local info = {
    type = item.type, address = address, original = item.original, reason = item.reason,
    category = item.category, hard = item.hard, status = item.status, code = item.code,
    diagnostic = item.diagnostic, action = item.action, remote_mta = item.remote_mta,
    campaign = rec and rec.campaign_name, campaign_id = rec and rec.campaign,
    recipient_id = rec and rec.id, matched_by = by, kind = m.bounce.kind,
    message = m.bounce, source = m.id, default = default or "none",
  }
  local action = ask_hook(ctx, info) or default
  local detail = { message = m.id, type = item.type, address = address, reason = item.reason,
                   campaign = info.campaign, recipient = info.recipient_id, matched_by = by,
                   action = action or "unmatched" }
  local counter = item.type == "complaint" and "complaints" or item.type
  summary[counter] = summary[counter] + 1
  if action == nil then
    summary.unmatched = summary.unmatched + 1
    return detail, false
  end
  if action == "ignore" then
    summary.ignored = summary.ignored + 1
    return detail, true
  end
  if action == "count" and not rec then action = "record" end   -- nothing to count on
  if rec then record_event(ctx, rec, item, action == "count") end
  if action == "suppress" and address then
    if suppress(ctx, address, why_of(item), keep_of(ctx, item)) then summary.suppressed = summary.suppressed + 1 end
    detail.suppressed = true
  elseif action == "count" then
    local n = soft_count(ctx, address)
    detail.soft_bounces = n
    if n >= ctx.soft_limit then
      if suppress(ctx, address, "soft bounces: " .. item.reason, ctx.keep.soft) then
        summary.suppressed = summary.suppressed + 1
      end
      detail.suppressed = true
    end
  end
  return detail, true
end


-- Reads one message; returns whether it was processed (to be moved or
-- deleted from its source) and the details of its bounces.
local function handle(ctx, summary, id, raw)
  local ok, b, err = pcall(bounce.parse, raw, ctx.classify_extra)
  if not ok then   -- the script's rules or hook: the core's reasons apply
    ctx.warn(string.format("%s: %s; classified without the script", id, tostring(b)))
    b, err = bounce.parse(raw)
  end
  if not b then
    summary.errors = summary.errors + 1
    ctx.warn(string.format("%s: %s", id, tostring(err)))
    return false, {}
  end
  if b.kind == "none" then summary.not_bounces = summary.not_bounces + 1 return false, {} end
  if b.kind == "autoreply" then summary.autoreplies = summary.autoreplies + 1 return false, {} end
  local m = { id = id, bounce = b, verp_rec = by_tag(ctx, b.verp), campaign = named_campaign(ctx, b), tag_recs = {} }
  for _, t in ipairs(header_tags(b)) do
    local rec = by_tag(ctx, t.tag)
    if rec then m.tag_recs[#m.tag_recs + 1] = { rec = rec, by = t.by } end
  end
  local details, processed = {}, false
  local items = items_of(b)
  for _, item in ipairs(items) do
    local detail, done = apply(ctx, summary, m, item, #items)
    details[#details + 1] = detail
    processed = processed or done
  end
  return processed, details
end


-- Sources ------------------------------------------------------------------

-- A list of raw messages as a source (for scripts and tests).
local function list_source(messages)
  local src = { name = "messages" }
  function src.open() return true end
  function src.list()
    local out = {}
    for i, raw in ipairs(messages) do out[i] = { id = "#" .. i, raw = raw } end
    return out
  end
  function src.fetch(_, h) return h.raw end
  function src.settle() return true end
  function src.close() return true end
  function src.abort() end
  return src
end


--- source(opts) -> the source opts names: maildir = DIR, mbox = FILE,
-- pop3 = {host=, port=, tls=, user=, password=, ...} (mailcast.pop3),
-- imap = {...} (mailcast.imap), messages = {raw...}, or source = an
-- object of one's own (open, list, fetch, settle, close, abort).
function M.source(opts)
  if opts.source then return opts.source end
  if opts.maildir then return require("mailcast.mailbox").maildir(opts.maildir) end
  if opts.mbox then return require("mailcast.mailbox").mbox(opts.mbox) end
  if opts.pop3 then return require("mailcast.pop3").source(opts.pop3) end
  if opts.imap then return require("mailcast.imap").source(opts.imap) end
  if opts.messages then return list_source(opts.messages) end
  error("mailcast.bounces.process: no source: maildir=, mbox=, pop3=, imap= or messages=", 3)
end


local SUMMARY = { "processed", "hard", "soft", "complaints", "delayed", "autoreplies", "not_bounces",
                  "unmatched", "suppressed", "ignored", "seen_before", "errors" }
M.SUMMARY_FIELDS = SUMMARY


--- summary_line(summary) -> one line for people.
function M.summary_line(s)
  return string.format("processed %d messages: %d hard bounces, %d soft bounces, %d complaints, %d delayed,"
    .. " %d auto-replies, %d not bounces, %d unmatched; %d addresses suppressed, %d ignored, %d seen before%s",
    s.processed, s.hard, s.soft, s.complaints, s.delayed, s.autoreplies, s.not_bounces, s.unmatched,
    s.suppressed, s.ignored, s.seen_before, s.errors > 0 and string.format(", %d errors", s.errors) or "")
end


local function context(opts, store)
  local keep = {}
  for k, v in pairs(M.defaults.keep) do keep[k] = v end
  for k, v in pairs(opts.keep or {}) do keep[k] = v end
  local reasons = opts.sender_reasons or M.sender_reasons
  return {
    store = store, now = opts.now or os.time(),
    secret = secret_of(opts.secret or store, 3),
    soft_limit = opts.soft_limit or M.defaults.soft_limit,
    soft_window = opts.soft_window or M.defaults.soft_window,
    keep = keep, sender_reasons = reasons,
    on_bounce = opts.on_bounce or (opts.hooks and opts.hooks.on_bounce),
    classify_extra = (opts.bounce_rules or opts.classify) and { rules = opts.bounce_rules, classify = opts.classify } or nil,
    warn = opts.warn or function(msg) io.stderr:write("mailcast: bounces: ", msg, "\n") end,
  }
end


-- Reads every message of an open source into the store.
local function run_source(ctx, src, summary, details)
  local list, err = src:list()
  if not list then return nil, err end
  for _, h in ipairs(list) do
    -- A source that names its messages (POP3's UIDL, IMAP's UID) spares
    -- fetching again what was read before.
    local seen = h.key and ctx.store:seen(h.key)
    local raw, key
    if not seen then
      local ferr
      raw, ferr = src:fetch(h)
      if not raw then return nil, ferr end
      key = M.key(raw)
      seen = ctx.store:seen(key)
    end
    local processed
    if seen then
      summary.seen_before = summary.seen_before + 1
      processed = seen == "processed"   -- its move or deletion may not have been made
    else
      assert(ctx.store:begin())
      local ok, done, list_of = pcall(handle, ctx, summary, h.id, raw)
      if not ok then
        ctx.store:rollback()
        return nil, string.format("%s: %s", h.id, tostring(done))
      end
      processed = done
      summary.processed = summary.processed + 1
      assert(ctx.store:mark_seen(key, processed and "processed" or "kept", ctx.now))
      if h.key then assert(ctx.store:mark_seen(h.key, processed and "processed" or "kept", ctx.now)) end
      assert(ctx.store:commit())
      for _, d in ipairs(list_of) do details[#details + 1] = d end
    end
    -- Committed first: a source action that fails is made again next time.
    local sok, serr = src:settle(h, processed)
    if not sok then return nil, serr end
  end
  return true
end


--- process{store = path | Store, maildir= | mbox= | pop3= | imap= |
--   messages= | source=, on_bounce = function(bounce) -> "ignore" |
--   "suppress" | "count" | "record" | nil, hooks = {on_bounce=},
--   soft_limit = 3, soft_window = 30 days (s), keep = {hard = false,
--   complaint = false, soft = 30 days} (s; false: for ever),
--   sender_reasons = {reason = true...}, secret= (VERP; default
--   MAILCAST_VERP_SECRET, else the store's), bounce_rules=, classify=
--   (as for mailcast.bounce.classify), now=, warn = function(message)}
-- -> summary, details | nil, message
-- summary: processed, hard, soft, complaints, delayed, autoreplies,
-- not_bounces, unmatched, suppressed, ignored, seen_before, errors.
-- details: {message=, type=, address=, reason=, campaign=, recipient=,
-- matched_by=, action=, suppressed=, soft_bounces=} per bounce.
-- on_bounce sees {type = "hard"|"soft"|"complaint"|"delayed", address=,
-- reason=, category=, status=, code=, diagnostic=, campaign=,
-- campaign_id=, recipient_id=, matched_by=, default=, message=, source=}.
function M.process(opts)
  assert(type(opts) == "table", "mailcast.bounces.process: expected a table")
  local src = M.source(opts)   -- raises on misuse: before anything is opened
  local store, own = opts.store, false
  if type(store) == "string" then
    local err
    store, err = core.store(store)
    if not store then return nil, err end
    own = true
  end
  assert(type(store) == "userdata", "mailcast.bounces.process: store = a path or a Store is needed")
  local ok, ctx = pcall(context, opts, store)
  if not ok then
    if own then store:close() end
    return nil, tostring(ctx)
  end
  local summary, details = {}, {}
  for _, k in ipairs(SUMMARY) do summary[k] = 0 end
  local opened, err = src:open()
  local done
  if opened then
    -- A store that fails under it (busy with a campaign past its wait)
    -- raises: the open transaction is rolled back and the source left
    -- as it was, as for any other failure.
    local ran
    ran, done, err = pcall(run_source, ctx, src, summary, details)
    if not ran then done, err = nil, tostring(done) end
    if done then done, err = src:close()
    else
      store:rollback()
      src:abort()
    end
  end
  if own then store:close() end
  if not done then return nil, err, summary end
  return summary, details
end

return M
