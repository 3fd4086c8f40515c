-- mailcast.bounce: why deliveries failed, and what came back. The C core
-- classifies (mailcast.core.classify) and reads bounce messages
-- (mailcast.core.bounce_parse); this module lets a script add its own
-- rules in front of the built-in ones, or a hook that has the last word.
local core = require "mailcast.core"
local hooks = require "mailcast.hooks"

local M = {}

--- The taxonomy, in order: {{name=, category=, kumo=, hard=, summary=}...}.
-- category is PowerMTA's bounce category, kumo KumoMTA's bounce class;
-- hard means a permanent failure for this reason suppresses the address.
M.taxonomy = core.bounce_reasons()

--- reasons[name] -> the taxonomy's row for that reason name.
M.reasons = {}
for _, row in ipairs(M.taxonomy) do M.reasons[row.name] = row end

--- The built-in text rules, {{pattern, reason}...}, in the order tried.
M.builtin_rules = core.bounce_rules()

--- Rules every classification tries first, for the whole script:
-- {{lua_pattern, reason_name}...} (or {pattern=, reason=} entries).
-- Patterns are Lua patterns, matched against the reply text as it is
-- and lower-cased.
M.rules = {}

--- A hook every classification ends with, for the whole script:
-- function(reply, result) -> a reason name to use instead, or nil.
M.hook = nil


local function check_reason(name, where)
  if type(name) ~= "string" or not M.reasons[name] then
    error(string.format("mailcast.bounce: %s gave unknown reason %s", where, tostring(name)), 4)
  end
  return name
end


-- {code=, enhanced=, text=} from what callers pass: a reply table (as
-- sessions and send results give them), a recipient of parse, or text.
local function as_reply(reply)
  if type(reply) == "string" then return { text = reply } end
  if type(reply) ~= "table" then
    error("mailcast.bounce.classify: expected a reply table or its text, got " .. type(reply), 3)
  end
  local enhanced = reply.enhanced or reply.status
  if enhanced == "" then enhanced = nil end
  return { code = math.tointeger(reply.code), enhanced = enhanced, text = reply.text or reply.diagnostic or "" }
end


-- The extra rules and hook of one call: a list of rules, a function
-- (the hook), or {rules = {...}, classify = function}.
local function split_extra(extra)
  if extra == nil then return nil, nil end
  if type(extra) == "function" then return nil, extra end
  if type(extra) ~= "table" then
    error("mailcast.bounce: extra rules must be a list, a function or {rules=, classify=}", 3)
  end
  if extra.rules or extra.classify then return extra.rules, extra.classify end
  return extra, nil
end


local function with_reason(base, name, rule)
  local row = M.reasons[name]
  local permanent = base.permanent ~= false
  return {
    reason = name, category = row.category, kumo = row.kumo,
    hard = row.hard and permanent, permanent = permanent, rule = rule,
  }
end


local function try_rules(rules, text, lower)
  for _, r in ipairs(rules or {}) do
    local pattern, reason = r[1] or r.pattern, r[2] or r.reason
    if type(pattern) ~= "string" then error("mailcast.bounce: a rule's pattern must be a string", 4) end
    if text:find(pattern) or lower:find(pattern) then
      return check_reason(reason, "rule '" .. pattern .. "'"), pattern
    end
  end
end


-- The core's result, revised by the script's rules and hooks.
local function refine(base, reply, extra)
  local rules, hook = split_extra(extra)
  local text = reply.text or ""
  local lower = text:lower()
  local reason, pattern = try_rules(rules, text, lower)
  if not reason then reason, pattern = try_rules(M.rules, text, lower) end
  if reason then return with_reason(base, reason, "script \"" .. pattern .. "\"") end
  for _, h in ipairs({ hook or false, M.hook or false }) do
    if h then
      -- With the instruction limit every hook has; a failure is raised,
      -- and callers that go on (campaigns, bounce processing) warn and
      -- keep the core's answer.
      local ok, name = hooks.call(h, nil, reply, base)
      if not ok then error("classify hook failed: " .. tostring(name), 0) end
      if name ~= nil then return with_reason(base, check_reason(name, "classify hook"), "hook") end
    end
  end
  return base
end


local function customised(extra)
  return extra ~= nil or #M.rules > 0 or M.hook ~= nil
end


--- classify(reply [, extra]) -> {reason=, category=, kumo=, hard=, permanent=, rule=}
-- reply: {code=, enhanced=, text=} (an SMTP reply as sessions and send
-- results give it), a parse() recipient, or the reply's text (codes are
-- found in it). extra: rules {{pattern, reason}...} tried before all
-- others, a hook function(reply, result) -> reason name | nil, or
-- {rules=, classify=}. rule says what decided ("status 5.1.1",
-- "text \"over quota\"", "code 552", "script \"...\"", "hook", "none").
function M.classify(reply, extra)
  local r = as_reply(reply)
  local base = core.classify(r.code, r.enhanced, r.text)
  if not customised(extra) then return base end
  return refine(base, r, extra)
end


--- explain(reply [, extra]) -> {reason=, summary=, hard=, permanent=, rule=,
-- code=, code_meaning=, status=, status_meaning=, advice=}
-- What a reply means in plain words: the reason and its summary, the
-- reply code's and the enhanced status's meaning (RFC 5321, RFC 3463),
-- whether it is hard, and what the sender should do. reply and extra as
-- for classify.
function M.explain(reply, extra)
  local r = as_reply(reply)
  local e = require("mailcast.bounce_explain").explain(r, function(x)
    local c = M.classify(x, extra)
    c.summary = M.reasons[c.reason] and M.reasons[c.reason].summary or c.reason
    return c
  end)
  return e
end


--- parse(raw [, extra]) -> bounce | nil, message
-- bounce: {kind = "dsn"|"bounce"|"autoreply"|"complaint"|"none",
--   recipients = {{address=, original=, action=, status=, code=,
--     diagnostic=, remote_mta=, reason=, category=, kumo=, hard=,
--     permanent=, rule=}...},
--   reason=, category=, hard=, permanent=, rule=, diagnostic= (the
--     notice as a whole: its first failure),
--   verp= (TOKEN of bounces+TOKEN@domain), message_id= (of the returned
--     message; an auto-reply's In-Reply-To), headers = {["x-mailcast-..."]
--     = value} (of the returned message), from=, subject=, reporting_mta=,
--   feedback_type=, user_agent=, source_ip=, original_mail_from=,
--     arrival_date= (complaints; original_mail_from also for DSNs)}
-- A complaint's recipients have reason "complaint", hard = true and the
-- feedback type as category. extra as for classify, applied to every
-- failed or delayed recipient.
function M.parse(raw, extra)
  if type(raw) ~= "string" then
    error("mailcast.bounce.parse: expected the message as a string, got " .. type(raw), 2)
  end
  local b, err = core.bounce_parse(raw)
  if not b then return nil, err end
  if not customised(extra) or (b.kind ~= "dsn" and b.kind ~= "bounce") then return b end
  local first
  for _, r in ipairs(b.recipients) do
    if r.reason then
      local c = refine(r, as_reply(r), extra)
      r.reason, r.category, r.kumo, r.hard, r.permanent, r.rule =
        c.reason, c.category, c.kumo, c.hard, c.permanent, c.rule
      if r.action == "failed" and not first then first = r end
    end
  end
  first = first or (b.recipients[1] and b.recipients[1].reason and b.recipients[1])
  local c = first or (b.reason and refine(b, { text = b.diagnostic or "" }, extra))
  if c then
    b.reason, b.category, b.kumo, b.hard, b.permanent, b.rule =
      c.reason, c.category, c.kumo, c.hard, c.permanent, c.rule
  end
  return b
end


return M
