-- The stylesheets of a web page sent as it is (mailcast.page): linked
-- and @imported ones put into the page, their url(...) images made
-- parts, each taken from its own folder or URL. Each function takes the
-- page's load (mailcast.page's Load: its image and file look-ups, fetch,
-- css_max, import_depth and the bytes put in so far, css_bytes).
local core = require "mailcast.core"
local lfs = require "lfs"
local url_of = require "mailcast.page_url"
local media_of = require "mailcast.page_media"

local M = {}

-- An @import rule that stays (remote, not fetched, or a reference left
-- as it is) is moved to the top of the page's <style> it ends in: CSS
-- ignores an @import after other rules, and a stylesheet put in its
-- place would be one. It is kept as {target = its url(...) or string,
-- media = its media list}, the media of the stylesheets it was in
-- joined to its own.

--- import_rules(imports) -> the text of kept @import rules, in their order.
function M.import_rules(imports)
  local out = {}
  for i, k in ipairs(imports) do
    out[i] = "@import " .. k.target .. (k.media ~= "" and " " .. k.media or "") .. ";"
  end
  return table.concat(out, "\n")
end

-- imports moved out of a stylesheet put in for media only, their own
-- media joined to those (one that no medium is in both is dropped) |
-- nil, why.
local function imports_within(media, imports)
  local out = {}
  for _, k in ipairs(imports) do
    local m, why = media_of.within(media, k.media)
    if m == nil then return nil, why end
    if m then out[#out + 1] = { target = k.target, media = m } end
  end
  return out
end

--- for_media(self, css, imports, media, where, url) -> css (the
-- stylesheet url names, put in) inside an @media block, and the @import
-- rules it keeps (imports) for those media too | nil, error.
function M.for_media(self, css, imports, media, where, url)
  local moved, why = imports_within(media, imports)
  if not moved then
    return nil, string.format("%s: %s: '%s' is put in for media '%s', but the @import it keeps cannot be: %s",
      self.name, where, url, media, why)
  end
  return "@media " .. media .. " {\n" .. css .. "\n}", moved
end

-- What an @import rule (its text; media its media list) names, as written.
local function target_of(rule, media)
  local t = rule:sub(8):gsub("%s*;?%s*$", "")
  if media ~= "" and t:sub(-#media) == media then t = t:sub(1, -#media - 1) end
  return (t:match("^%s*(.-)%s*$"))
end

--- charset_end(css, at) -> where the @charset rule css has at at (after
-- white space) ends | nil when it has none.
function M.charset_end(css, at)
  local _, stop = css:find("^%s*@[cC][hH][aA][rR][sS][eE][tT]%s*[\"'][^\"';]*[\"']%s*;", at)
  return stop
end

-- A stylesheet as UTF-8 text for the page's <style> (the message is
-- sent as UTF-8), without what is valid only at the start of a file: a
-- byte order mark and an @charset rule. Its charset is found as a
-- browser finds it (CSS Syntax 3.2): a UTF-8 byte order mark first,
-- then the charset its server gave it (http_charset), then its
-- @charset, else the page's, whose bytes are taken as UTF-8. A name no
-- charset has, or UTF-16 (which an ASCII @charset rule cannot be, and
-- which is not read here), counts for nothing: the next one is used.
local function as_utf8(css, http_charset)
  local bom
  css, bom = css:gsub("^\239\187\191", "")
  local stop = M.charset_end(css, 1)
  local rule_charset
  if stop then
    rule_charset = css:sub(1, stop):match("[\"']([^\"']*)[\"']")
    css = css:sub(stop + 1)
  end
  if bom > 0 then return css end
  for _, label in ipairs { http_charset or "", rule_charset or "" } do
    local name = label:lower():gsub("[^%w]", "")
    if name == "utf8" then return css end
    if name ~= "" and not name:find("^utf16") then
      local text = core.utf8_from(css, label)
      if text then return text end
    end
  end
  return css
end

-- A stylesheet's text (css, its references taken from origin, named
-- name) with the images its url(...) name made cid: (or absolute) and
-- the stylesheets its @import rules name put in their place, and the
-- @import rules that stay, taken out of it. chain: the stylesheets
-- being put in, outermost first ({key = real path or URL, name = as
-- referred to}).
function M.css(self, css, origin, name, where, chain)
  if css:lower():find("</style", 1, true) then
    return nil, string.format("%s: %s: '%s' holds \"</style\", which would end the page's <style>", self.name,
      where, name)
  end
  local edits, imports = {}, {}
  for _, u in ipairs(core.css_urls(css)) do
    local text, err
    if u.import then
      local moved
      text, moved = M.import(self, origin, u.url, u.media, css:sub(u.at, u.stop), name .. ": @import", chain)
      if not text then return nil, moved end
      table.move(moved, 1, #moved, #imports + 1, imports)
    else
      text, err = self:image(origin, u.url, name .. ": url(" .. u.url .. ")")
      if err then return nil, err end
      text = text and url_of.css_url_text(text)
    end
    if text then edits[#edits + 1] = { at = u.at, stop = u.stop, text = text } end
  end
  return url_of.splice(css, edits), imports
end

-- A local stylesheet's bytes (its real path, named name), at most
-- css_max of them.
local function read_css(self, path, name, where)
  local size = lfs.attributes(path, "size")
  if size and size > self.css_max then
    return nil, string.format("%s: %s: '%s' is larger than %d bytes", self.name, where, name, self.css_max)
  end
  local css, err = url_of.read_file(path)
  if not css then return nil, string.format("%s: %s: '%s': %s", self.name, where, name, tostring(err)) end
  return css
end

-- A remote stylesheet's bytes (embed_remote), which must say they are
-- CSS, and the charset its server says they are in: css, nil, charset |
-- nil, error.
local function remote_css(self, url, where)
  local css, value = self.fetch(url, self.embed_remote == "private")
  if not css then
    return nil, string.format("%s: %s: fetching '%s' failed: %s", self.name, where, url, tostring(value))
  end
  -- (an answer that says nothing of its type is not taken: whatever a
  -- URL answers goes into every message)
  local ctype, charset = url_of.content_type(value)
  if ctype ~= "text/css" then
    return nil, string.format("%s: %s: '%s' is not a stylesheet (its content type is %s)", self.name, where, url,
      tostring(value or "not given"))
  end
  return css, nil, charset
end

-- The text of the stylesheet a <link> or an @import of a file taken
-- from origin names, with its own references put in (its images taken
-- from its own folder or URL), and the @import rules that stay (M.css)
-- | nil, nil, url: left as it is (its URL absolute) | nil, error.
function M.sheet(self, origin, url, where, chain)
  local kind, target = url_of.locate(origin, url)
  local key, css, from
  if kind == "local" then
    local path, segs = self:file(origin.dir, url, where)
    if not path then return nil, segs end
    key, from = path, { dir = url_of.segments_dir(segs) }
  elseif kind == "remote" then
    if not self.embed_remote then return nil, nil, target end
    if target:sub(1, 2) == "//" then target = "https:" .. target end
    key, from = target, { url = target }
  elseif kind == "file" then
    return nil, string.format("%s: %s: '%s': a file: URL is not sent (name the file relative to the page)",
      self.name, where, url)
  else
    return nil
  end
  for i, open in ipairs(chain) do
    if open.key == key then
      local names = {}
      for k = i, #chain do names[#names + 1] = chain[k].name end
      names[#names + 1] = url
      return nil, string.format("%s: %s: '%s': stylesheets that import each other: %s", self.name, where, url,
        table.concat(names, " -> "))
    end
  end
  if #chain >= self.import_depth then
    return nil, string.format("%s: %s: '%s': stylesheets that import each other more than %d deep", self.name,
      where, url, self.import_depth)
  end
  local err, charset
  if kind == "local" then
    css, err = read_css(self, key, url, where)
  else
    css, err, charset = remote_css(self, key, where)
  end
  if not css then return nil, err end
  self.css_bytes = self.css_bytes + #css
  css = as_utf8(css, charset)
  if self.css_bytes > self.css_max then
    return nil, string.format("%s: %s: '%s': the page's stylesheets come to more than %d bytes", self.name, where,
      url, self.css_max)
  end
  chain[#chain + 1] = { key = key, name = url }
  local imports
  css, imports = M.css(self, css, from, url, where, chain)
  chain[#chain] = nil
  return css, imports
end

-- What an @import rule (its text rule) becomes: the stylesheet it
-- names, inside an @media block when it has a media list, or "" when
-- the rule stays; and the @import rules that stay, to move to the top
-- of the page's <style> | nil, error.
function M.import(self, origin, url, media, rule, where, chain)
  local css, imports, keep = M.sheet(self, origin, url, where, chain)
  if css then
    if media == "" then return css, imports end
    return M.for_media(self, css, imports, media, where, url)
  end
  if imports then return nil, imports end
  local target = keep and keep ~= url and "url(" .. url_of.css_url_text(keep) .. ")" or target_of(rule, media)
  return "", { { target = target, media = media } }
end

return M
