-- The stylesheets of a web page sent as it is (mailcast.page): linked
-- and @imported ones put into the page, their url(...) images made
-- parts, each taken from its own folder or URL. Each function takes the
-- page's load (mailcast.page's Load: its image and file look-ups, fetch,
-- css_max, import_depth and the bytes put in so far, css_bytes).
local core = require "mailcast.core"
local lfs = require "lfs"
local url_of = require "mailcast.page_url"

local M = {}

-- An @import rule that stays (remote, not fetched), its URL absolute.
local function import_rule(url, media)
  return "@import url(" .. url_of.css_url_text(url) .. ")" .. (media ~= "" and " " .. media or "") .. ";"
end

-- A stylesheet's text (css, its references taken from origin, named
-- name) with the images its url(...) name made cid: (or absolute) and
-- the stylesheets its @import rules name put in their place.
-- chain: the stylesheets being put in, outermost first ({key = real
-- path or URL, name = as referred to}).
function M.css(self, css, origin, name, where, chain)
  if css:lower():find("</style", 1, true) then
    return nil, string.format("%s: %s: '%s' holds \"</style\", which would end the page's <style>", self.name,
      where, name)
  end
  local edits = {}
  for _, u in ipairs(core.css_urls(css)) do
    local text, err
    if u.import then
      text, err = M.import(self, origin, u.url, u.media, name .. ": @import", chain)
    else
      text, err = self:image(origin, u.url, name .. ": url(" .. u.url .. ")")
      text = text and url_of.css_url_text(text)
    end
    if err then return nil, err end
    if text then edits[#edits + 1] = { at = u.at, stop = u.stop, text = text } end
  end
  return url_of.splice(css, edits)
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

-- A remote stylesheet's bytes (embed_remote), which must say they are CSS.
local function remote_css(self, url, where)
  local css, ctype = self.fetch(url, self.embed_remote == "private")
  if not css then
    return nil, string.format("%s: %s: fetching '%s' failed: %s", self.name, where, url, tostring(ctype))
  end
  -- (an answer that says nothing of its type is not taken: whatever a
  -- URL answers goes into every message)
  if not ctype or ctype:lower() ~= "text/css" then
    return nil, string.format("%s: %s: '%s' is not a stylesheet (its content type is %s)", self.name, where, url,
      tostring(ctype or "not given"))
  end
  return css
end

-- The text of the stylesheet a <link> or an @import of a file taken
-- from origin names, with its own references put in (its images taken
-- from its own folder or URL) | nil, nil, url: left as it is (its URL
-- absolute) | nil, error.
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
  local err
  if kind == "local" then
    css, err = read_css(self, key, url, where)
  else
    css, err = remote_css(self, key, where)
  end
  if not css then return nil, err end
  self.css_bytes = self.css_bytes + #css
  if self.css_bytes > self.css_max then
    return nil, string.format("%s: %s: '%s': the page's stylesheets come to more than %d bytes", self.name, where,
      url, self.css_max)
  end
  chain[#chain + 1] = { key = key, name = url }
  css, err = M.css(self, css, from, url, where, chain)
  chain[#chain] = nil
  return css, err
end

-- What an @import rule becomes: the stylesheet it names, inside an
-- @media block when it has a media list | the rule with its URL made
-- absolute | nil (left as it is) | nil, error.
function M.import(self, origin, url, media, where, chain)
  local css, err, keep = M.sheet(self, origin, url, where, chain)
  if err then return nil, err end
  if css then
    if media ~= "" then return "@media " .. media .. " {\n" .. css .. "\n}" end
    return css
  end
  if keep and keep ~= url then return import_rule(keep, media) end
  return nil
end

return M
