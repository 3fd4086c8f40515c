-- Click and open tracking: every trackable link of an HTML part points at
-- BASE/c/TOKEN, an invisible image at BASE/o/TOKEN goes before </body>,
-- and bare URLs of the text part can be rewritten the same way. The
-- HTML is scanned and written in C (mailcast.core.track_html); this
-- module decides what the tokens say and what a campaign's hook wants.
--
-- A token names the campaign, the recipient (0 in aggregate mode) and
-- the link's index, signed with HMAC-SHA256; never the URL. The caller
-- stores the links returned here (per recipient where a message's link
-- differs from the campaign's), and the click endpoint redirects only
-- to a stored link, so a token can never be made into an open redirect.
local core = require "mailcast.core"

local M = {}

local MODES = { off = true, aggregate = true, recipient = true }

-- Raises "mailcast.track.FNAME: msg" at the call level calls up from
-- fail's caller (1: where fail's caller was called).
local function fail(fname, msg, level)
  error(string.format("mailcast.track.%s: %s", fname, msg), level + 1)
end

-- level: as for fail, counted from secret_of's caller.
local function secret_of(secret, fname, level)
  secret = secret or os.getenv("MAILCAST_TRACK_SECRET")
  if type(secret) ~= "string" or #secret < 16 then
    fail(fname, "a secret of at least 16 bytes is needed: opts.secret or MAILCAST_TRACK_SECRET", level + 1)
  end
  return secret
end

local function id(value, what, fname, min)
  local n = math.tointeger(tonumber(value))
  if not n or n < min then fail(fname, string.format("'%s' must be an integer from %d", what, min), 4) end
  return n
end

-- The settings of opts, checked: {mode=, base=, secret=, campaign=,
-- recipient=, track=, pixel=, unsubscribe_url=}.
local function settings(opts, fname)
  if type(opts) ~= "table" then fail(fname, "expected an options table", 3) end
  local mode = opts.mode or (opts.recipient ~= nil and "recipient" or "aggregate")
  if not MODES[mode] then fail(fname, "mode must be off, aggregate or recipient, not " .. tostring(mode), 3) end
  if mode == "off" then return { mode = mode } end
  local base = opts.base
  if type(base) ~= "string" or not base:match("^[Hh][Tt][Tt][Pp][Ss]?://[^/]") then
    fail(fname, "'base' must be the tracking server's http(s) URL", 3)
  end
  if opts.track ~= nil and type(opts.track) ~= "function" then fail(fname, "'track' must be a function", 3) end
  return {
    mode = mode,
    base = base:sub(-1) == "/" and base:gsub("/+$", "") or base,
    secret = secret_of(opts.secret, fname, 3),
    campaign = id(opts.campaign, "campaign", fname, 0),
    recipient = mode == "recipient" and id(opts.recipient, "recipient", fname, 1) or 0,
    track = opts.track,
    pixel = opts.pixel ~= false,
    unsubscribe_url = opts.unsubscribe_url,
  }
end

local function has_scheme(s)
  return s:match("^%a[%w+.-]*:") ~= nil
end

-- What the hook's answer r means: false (leave the link alone), or the
-- URL to use (nil: the link's own) and a tag.
local function decision(r, index)
  local kind = type(r)
  if r == nil or r == true then return true end
  if r == false then return false end
  if kind == "string" then
    if has_scheme(r) then return true, r end
    return true, nil, r
  end
  if kind == "table" then
    if r.url ~= nil and type(r.url) ~= "string" then error("link " .. index .. ": the hook's url must be a string", 0) end
    return true, r.url, r.tag
  end
  error(string.format("link %d: the track hook returned a %s", index, kind), 0)
end

-- What becomes of a link unlike the stored URL of its index: reported,
-- or, when tokens name no recipient, left alone (a click on it would go
-- to whoever's URL was stored).
local function differ(opts, s)
  if opts.differ ~= nil then return opts.differ end
  return s.mode == "aggregate" and "skip" or "report"
end

-- A token maker for s's campaign and recipient, raising what fails.
local function tokens(s)
  local spec = { campaign = s.campaign, recipient = s.recipient }
  return function(kind, index)
    spec.kind, spec.link = kind, index
    local tok, err = core.token_make(s.secret, spec)
    if not tok then error(err, 0) end
    return tok
  end
end

--- html(html, opts) -> html, links | nil, message
-- opts: base = "https://t.example.com", secret (default: the environment
-- variable MAILCAST_TRACK_SECRET), campaign = id, recipient = id, mode =
-- "recipient" (the default when recipient is given) | "aggregate" (no
-- recipient in the tokens) | "off", pixel = false to leave out the open
-- pixel, unsubscribe_url (never tracked), track = function(link) with
-- link = {index=, url=, text=}, returning nil or true (track it), false
-- (leave it alone), a URL to send the click to instead, a tag for reports,
-- or {url=, tag=}.
-- links: every <a href> in order, {index=, url=, text=, tracked=, tag=,
-- skip= (why it is not tracked), original= (when the hook changed url)};
-- the caller stores the tracked ones: a click token names only the index.
-- With opts.list = false only the HTML comes back, for the messages after
-- the one whose links were stored, when every recipient has the same.
-- opts.stored = {[index] = url} (the campaign's stored links) adds a third
-- result: {[index] = url} of the tracked links whose URL is not the
-- stored one (a personalised link, or an index with nothing stored yet),
-- nil when none is. In aggregate mode (or with opts.differ = "skip") a
-- click cannot tell recipients apart, so a link whose index has another
-- stored URL is left alone (skip = "personal") rather than reported.
-- A fourth result, when a track function gave tags, is {[index] = tag}.
function M.html(html, opts)
  local s = settings(opts, "html")
  if type(html) ~= "string" then fail("html", "expected the HTML as a string", 2) end
  if s.mode == "off" then return html, {}, nil end
  local tags, originals, links_fn
  if s.track then
    tags, originals = {}, {}
    links_fn = function(index, url, text)
      local track, new_url, tag = decision(s.track({ index = index, url = url, text = text }), index)
      if not track then return false end
      tags[index] = tag
      if new_url and new_url ~= url then originals[index] = url end
      return new_url
    end
  end
  -- Tokens are made in C from this table: no call into Lua per link.
  local out, links, changed = core.track_html(html, {
    base = s.base, links = links_fn, pixel = s.pixel, unsubscribe_url = s.unsubscribe_url,
    token = { secret = s.secret, campaign = s.campaign, recipient = s.recipient },
    list = opts.list, stored = opts.stored, differ = differ(opts, s),
  })
  if not out then return nil, links end
  if links and links_fn then
    for _, link in ipairs(links) do
      link.tag = tags[link.index]
      link.original = originals[link.index]
    end
  end
  return out, links, changed, tags and next(tags) and tags or nil
end

-- "https://x.example/a)." -> "https://x.example/a", ")." (a URL keeps a
-- closing parenthesis only when it opened one).
local function split_tail(url)
  local body, tail = url:match("^(.-)([%.,;:!%?'\"%]}>]*)$")
  if body:sub(-1) == ")" and not body:find("(", 1, true) then
    body, tail = body:sub(1, -2), ")" .. tail
    local b2, t2 = body:match("^(.-)([%.,;:!%?'\"%]}>]*)$")
    body, tail = b2, t2 .. tail
  end
  return body, tail
end

local function skipped_in_text(url, s)
  if url:find("#mc-notrack", 1, true) or url:find("{{unsubscribe_url}}", 1, true) then return true end
  if s.unsubscribe_url and s.unsubscribe_url ~= "" and url:find(s.unsubscribe_url, 1, true) then return true end
  return url:sub(1, #s.base + 1) == s.base .. "/"
end

--- text(text, opts [, links [, changed]]) -> text, links, changed | nil, message
-- Rewrites the bare http(s) URLs of a text part when opts.text is true
-- (opts as for html); otherwise the text comes back as it was, its
-- links readable. links: the list html returned for the same message; a
-- URL already in it keeps its index, a new one is appended. With
-- opts.stored, a new one is compared as html does, and reported in
-- changed (html's third result, or a new table).
function M.text(text, opts, links, changed)
  local s = settings(opts, "text")
  if type(text) ~= "string" then fail("text", "expected the text as a string", 2) end
  links = links or {}
  if s.mode == "off" or not opts.text then return text, links, changed end
  local stored, skip_differing = opts.stored, differ(opts, s) == "skip"
  local known, last = {}, 0
  for _, link in ipairs(links) do
    if link.tracked then
      known[link.original or link.url] = known[link.original or link.url] or link
      known[link.url] = known[link.url] or link
    end
    if link.index > last then last = link.index end
  end
  local token = tokens(s)
  local ok, out = pcall(string.gsub, text, "[Hh][Tt][Tt][Pp][Ss]?://[^%s<>\"]+", function(found)
    local url, tail = split_tail(found)
    if skipped_in_text(url, s) then return nil end
    local link = known[url]
    if not link then
      local entry = { index = last + 1, url = url, text = "", tracked = true, part = "text" }
      if s.track then
        local track, new_url, tag = decision(s.track({ index = entry.index, url = url, text = "" }), entry.index)
        if not track then return nil end
        if new_url and new_url ~= url then entry.url, entry.original = new_url, url end
        entry.tag = tag
      end
      last = entry.index
      local want = stored and stored[entry.index]
      if stored and want ~= entry.url then
        if want and skip_differing then
          -- The index is used up all the same, so the links after it
          -- keep the numbers the stored ones have.
          entry.tracked, entry.skip = false, "personal"
          links[#links + 1] = entry
          known[url] = entry
          return nil
        end
        changed = changed or {}
        changed[entry.index] = entry.url
      end
      links[#links + 1] = entry
      known[url] = entry
      link = entry
    elseif not link.tracked then
      return nil
    end
    return s.base .. "/c/" .. token("click", link.index) .. tail
  end)
  if not ok then return nil, "track: text: " .. tostring(out) end
  return out, links, changed
end

--- token{kind = "open"|"click"|"unsubscribe", campaign=, recipient=, link=,
-- secret=} -> token | nil, message (secret: default MAILCAST_TRACK_SECRET).
function M.token(t)
  if type(t) ~= "table" then fail("token", "expected a table", 2) end
  return core.token_make(secret_of(t.secret, "token", 2), t)
end

--- check(token [, secret]) -> {kind=, campaign=, recipient=, link=} | nil,
-- reason ("token: malformed", "token: truncated", "token: unknown
-- version", "token: bad signature").
function M.check(token, secret)
  if type(token) ~= "string" then return nil, "token: malformed" end
  return core.token_check(secret_of(secret, "check", 2), token)
end

return M
