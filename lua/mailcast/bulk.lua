-- What a campaign's message carries besides its content, as mailbox
-- providers expect of bulk mail: tracked links and an open pixel, a
-- one-click unsubscribe (RFC 8058) with its link for the body,
-- Feedback-ID and Precedence, and DKIM signatures made last, over the
-- finished message.
local track = require "mailcast.track"
local dkim = require "mailcast.dkim"
local schema = require "mailcast.schema"

local M = {}

local function copy(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

-- The signature options of a campaign's dkim field (checked: one table,
-- or a list), each with its key loaded.
local function signatures(spec)
  if spec == nil then return nil end
  local list = spec[1] and spec or { spec }
  local out = {}
  for i, s in ipairs(list) do
    -- A path or PEM is loaded now: a bad key stops the campaign before
    -- anything is sent, not at its first message.
    local k, err = dkim.key(s.key)
    if not k then
      schema.fail(#list > 1 and string.format("campaign dkim[%d]", i) or "campaign dkim", tostring(err))
    end
    local o = copy(s)
    o.key = k
    out[i] = o
  end
  return out
end

--- prepare(t) -> the settings of campaign table t, checked against
-- mailcast.config.CAMPAIGN (raises on what only goes wrong together):
-- track = {base=, secret=, mode = "recipient"|"aggregate"|"off",
-- text = false, track = function(link)}, unsubscribe = {base=, mailto=,
-- secret=} (base and secret default to track's), feedback_id=,
-- precedence=, dkim=.
function M.prepare(t)
  local s = { feedback_id = t.feedback_id, precedence = t.precedence, dkim = signatures(t.dkim) }
  if t.track and t.track.mode ~= "off" then
    s.track = copy(t.track)
    if not s.track.base then schema.fail("campaign track", "base is required (the tracking server's URL)") end
  end
  if t.unsubscribe then
    local u = copy(t.unsubscribe)
    u.base = u.base or (t.track and t.track.base)
    u.secret = u.secret or (t.track and t.track.secret)
    if not (u.base or u.mailto) then
      schema.fail("campaign unsubscribe", "base (an https URL) or mailto is required")
    end
    s.unsubscribe = u
  end
  return s
end

--- unsubscribe_url(s, campaign, recipient) -> BASE/u/TOKEN | nil
function M.unsubscribe_url(s, campaign, recipient)
  local u = s.unsubscribe
  if not (u and u.base) then return nil end
  local token = assert(track.token { kind = "unsubscribe", campaign = campaign, recipient = recipient,
                                     secret = u.secret })
  return (u.base:gsub("/+$", "")) .. "/u/" .. token
end

--- headers(s, base, unsubscribe_url) -> the message's extra fields.
function M.headers(s, base, unsubscribe_url)
  if not (s.unsubscribe or s.feedback_id or s.precedence) then return base end
  local h = copy(base)
  local u = s.unsubscribe
  if u then
    local targets = {}
    if unsubscribe_url then targets[#targets + 1] = "<" .. unsubscribe_url .. ">" end
    if u.mailto then targets[#targets + 1] = "<mailto:" .. u.mailto .. "?subject=unsubscribe>" end
    h["List-Unsubscribe"] = table.concat(targets, ", ")
    -- RFC 8058: only for the HTTPS target, which must take the POST.
    if unsubscribe_url then h["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click" end
  end
  if s.feedback_id then h["Feedback-ID"] = s.feedback_id end
  if s.precedence then h["Precedence"] = s.precedence end
  return h
end

--- bodies(s, campaign, recipient, text, html, unsubscribe_url [, stored]) -> text, html, changed, tags
-- The links of the HTML (and of the text, with track.text) rewritten to
-- the tracking server, the pixel added; the unsubscribe link left alone.
-- stored, when given, is the campaign's links as stored ({[index] =
-- url}); changed is then {[index] = url} of this message's tracked links
-- that are not the stored one of their index (nil when none is: the
-- usual case, and nothing is made per link for it). The caller stores
-- those, for the campaign when the index has none yet, else for the
-- recipient: the click server redirects only to stored links. In
-- aggregate mode a token names no recipient, so a link unlike the
-- stored one of its index is left untracked in this message instead.
-- tags: {[index] = tag} the campaign's track hook gave its HTML links.
-- Raises "tracking: ..." when the track hook or the scanner fails.
function M.bodies(s, campaign, recipient, text, html, unsubscribe_url, stored)
  local t = s.track
  if not t then return text, html end
  local opts = {
    base = t.base, secret = t.secret, mode = t.mode, track = t.track, pixel = t.pixel,
    campaign = campaign, recipient = t.mode ~= "aggregate" and recipient or nil,
    unsubscribe_url = unsubscribe_url, text = t.text,
    -- Text links are numbered after the HTML's: every message needs the
    -- HTML's list then, for the same numbers as the stored ones.
    list = t.text and true or false,
    stored = stored,
  }
  local links, changed, tags
  if html then
    local out, err, ch, tg = track.html(html, opts)
    if not out then error("tracking: " .. tostring(err), 0) end
    html, links, changed, tags = out, err, ch, tg
  end
  if text and t.text then
    local out, err, ch = track.text(text, opts, links, changed)
    if not out then error("tracking: " .. tostring(err), 0) end
    text, changed = out, ch
  end
  return text, html, changed, tags
end

--- sign(s, built) -> the message signed (a string), or built as it is.
function M.sign(s, built)
  if not s.dkim then return built end
  local raw = type(built) == "string" and built or built:tostring()
  local signed, err = dkim.sign(raw, s.dkim)
  if not signed then return nil, "dkim: " .. tostring(err) end
  return signed
end

return M
