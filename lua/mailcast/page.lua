-- A web page sent as it is (html_file): its local images (every srcset
-- candidate too) become inline parts named by cid:, its linked and
-- @imported stylesheets are put into the page, the elements mail readers
-- block are taken out, its <base href> is followed and taken out, its
-- relative links are made absolute from base_url, and a text part is
-- made of it. With embed_remote, its http(s) images and stylesheets are
-- fetched once. The C scanner finds all of these in one pass
-- (core.html_page); here each is decided and the page written again,
-- every byte outside the changed ones kept (its URLs and paths:
-- page_url; its stylesheets: page_css). A page is hostile input: no
-- reference may reach outside its folder.
local core = require "mailcast.core"
local lfs = require "lfs"
local url_of = require "mailcast.page_url"
local css_of = require "mailcast.page_css"

local M = {}

--- absolute(base, url) -> url resolved from base (an http(s) URL), as a
-- browser resolves a relative link (RFC 3986 5.2, the usual cases).
M.absolute = url_of.absolute

--- srcset(value) -> {{url=, descriptor=}...}: a srcset's candidates.
M.srcset = url_of.srcset

--- Remote images fetched for embed_remote: at most this many bytes each,
-- and this many seconds for each.
M.REMOTE_MAX = 5 * 1024 * 1024
M.REMOTE_TIMEOUT = 15

--- A page's stylesheets, put in with what they @import: at most this
-- many bytes each and all together, imports at most this deep.
M.CSS_MAX = 5 * 1024 * 1024
M.IMPORT_DEPTH = 8

--- fetch(url [, allow_private]) -> data, content_type | nil, message:
-- one remote image or stylesheet, at most REMOTE_MAX bytes, within
-- REMOTE_TIMEOUT seconds; from a public address only unless
-- allow_private (mailcast.page_fetch).
function M.fetch(url, allow_private)
  return require("mailcast.page_fetch").get(url,
    { max = M.REMOTE_MAX, timeout = M.REMOTE_TIMEOUT, allow_private = allow_private })
end

-- The work of loading one page: what it has made so far.
local Load = {}
Load.__index = Load

-- The file a local reference names, from the folder from (segments
-- under the page's): its real path (symbolic links followed, which must
-- not lead out of the page's folder either) and its segments | nil, why.
function Load:file(from, url, where)
  local segs, why = url_of.resolve(from, url)
  if not segs then return nil, string.format("%s: %s: '%s' %s", self.name, where, url, why) end
  local path = self.root .. table.concat(segs, "/")
  local real = core.real_path(path)
  if not real or lfs.attributes(real, "mode") ~= "file" then
    return nil, string.format("%s: %s: '%s' is not there (%s)", self.name, where, url, path)
  end
  if not self.real_root then
    self.real_root = assert(core.real_path(self.root == "" and "." or self.root)):gsub("/$", "") .. "/"
  end
  if real:sub(1, #self.real_root) ~= self.real_root then
    return nil, string.format("%s: %s: '%s' leads outside the page's folder (a symbolic link to %s)",
      self.name, where, url, real)
  end
  return real, segs
end

-- The cid: URL for a local image, made into an inline part the first
-- time (a file named twice, or by two names, is one part).
function Load:local_image(from, url, where)
  local path, segs = self:file(from, url, where)
  if not path then return nil, segs end
  local cid = self.cids[path]
  if cid then return "cid:" .. cid end
  cid = self:new_cid(segs[#segs])
  self.cids[path] = cid
  self.inline[#self.inline + 1] = { path = path, cid = cid }
  return "cid:" .. cid
end

function Load:new_cid(name)
  self.count = self.count + 1
  return string.format("page%d.%s@mailcast", self.count, (name:gsub("[^%w._-]", "_")))
end

-- The cid: URL of a remote image fetched once (embed_remote), or nil to
-- leave the link as it is.
function Load:remote_image(url, where)
  if not self.embed_remote then return nil end
  if url:sub(1, 2) == "//" then url = "https:" .. url end
  local cid = self.cids[url]
  if cid then return "cid:" .. cid end
  local data, value = self.fetch(url, self.embed_remote == "private")
  local ctype = url_of.content_type(value)
  if not data then
    return nil, string.format("%s: %s: fetching '%s' failed: %s", self.name, where, url, tostring(value))
  end
  if not (ctype and ctype:match("^image/[%w.+-]+$")) then
    return nil, string.format("%s: %s: '%s' is not an image (its content type is %s)", self.name, where, url,
      tostring(value or "not given"))
  end
  local name = url:gsub("[?#].*$", ""):match("([^/]+)$") or "image"
  cid = self:new_cid(name)
  self.cids[url] = cid
  self.inline[#self.inline + 1] = { data = data, cid = cid, filename = name, content_type = ctype }
  return "cid:" .. cid
end

-- What an image reference of a file taken from origin becomes: a cid:
-- URL, the absolute URL of a relative reference a remote base made
-- remote, nil to leave it, or nil, error.
function Load:image(origin, url, where)
  local kind, target = url_of.locate(origin, url)
  if kind == "local" then return self:local_image(origin.dir, url, where) end
  if kind == "remote" then
    local cid, err = self:remote_image(target, where)
    if cid or err then return cid, err end
    if target ~= url then return target end
    return nil
  end
  if kind == "file" then
    return nil, string.format("%s: %s: '%s': a file: URL is not sent (name the file relative to the page)",
      self.name, where, url)
  end
  return nil
end

local WHERE = {
  src = "<img src>", srcset = "srcset", background = "background", style = "style url()",
  style_block = "<style> url()", stylesheet = "<link rel=stylesheet>", import = "<style> @import",
}

local function inside(cuts, at)
  for _, c in ipairs(cuts) do
    if at >= c.at and at <= c.stop then return true end
  end
  return false
end

-- A srcset's value with each candidate's image made a cid: part (or
-- absolute), its descriptors kept | nil when none changed | nil, error.
function Load:srcset(origin, value, where)
  local parts, changed = {}, false
  for i, c in ipairs(url_of.srcset(value)) do
    local url, err = self:image(origin, c.url, where)
    if err then return nil, err end
    if url then
      changed = true
      url = url:gsub("[%s,]", function(ch) return string.format("%%%02X", ch:byte()) end)
    end
    parts[i] = (url or c.url) .. (c.descriptor ~= "" and " " .. c.descriptor or "")
  end
  if not changed then return nil end
  return table.concat(parts, ", ")
end

-- The origin of the page's references from its <base href> (base):
-- its folder under the page's, or its URL when it is remote | nil, error.
-- A base that is neither is not followed, as a reader would not.
function Load:base_origin(base)
  local kind, where = url_of.kind_of(base.url), "<base href>"
  if kind == "remote" then
    local url = base.url
    if url:sub(1, 2) == "//" then url = "https:" .. url end
    return { url = url }
  end
  if kind == "file" then
    return nil, string.format("%s: %s: '%s': a file: URL is not sent (name the folder relative to the page)",
      self.name, where, base.url)
  end
  if kind ~= "local" then return { dir = {} } end
  -- "assets/" and "assets/page.html" both name the folder assets/.
  local path = base.url:gsub("[?#].*$", "")
  if path == "" or path:find("/$") or path:find("^%.%.?$") or path:find("/%.%.?$") then path = path .. "/_" end
  local segs, why = url_of.resolve({}, path)
  if not segs then return nil, string.format("%s: %s: '%s' %s", self.name, where, base.url, why) end
  return { dir = url_of.segments_dir(segs), href = base.url }
end

-- A stylesheet link's media attribute as a media query list to keep,
-- or nil for every medium. Only the characters of media queries
-- ("print", "screen and (max-width: 600px)"): anything else could end
-- the @media block it is put in.
local function media_of(media)
  media = media and media:match("^%s*(.-)%s*$") or ""
  if media == "" or media:lower() == "all" then return nil end
  if not media:find("^[%w%s,:%(%)%.%-/>=]+$") then return nil, "is not a media query list" end
  return media
end

-- What the bytes of one reference r of the page (its references taken
-- from origin) become | nil: left as they are | nil, error.
function Load:rewrite(origin, r)
  local where = WHERE[r.kind]
  if r.kind == "stylesheet" then
    -- Its media (print, a screen width) hold in the page as in the link.
    local media, bad = media_of(r.media)
    if bad then return nil, string.format("%s: %s: media '%s' %s", self.name, where, r.media, bad) end
    local css, imports, keep = css_of.sheet(self, origin, r.url, where, {})
    if css then
      if media then
        css, imports = css_of.for_media(self, css, imports, media, where, r.url)
        if not css then return nil, imports end
      end
      -- The @import rules it keeps come first, as CSS wants them.
      if #imports > 0 then css = css_of.import_rules(imports) .. "\n" .. css end
      return "<style>\n" .. css .. "\n</style>"
    end
    if keep and keep ~= r.url then
      return '<link rel="stylesheet" href="' .. url_of.attr_value(keep, '"') .. '"'
        .. (media and ' media="' .. media .. '"' or "") .. ">"
    end
    return nil, imports
  elseif r.kind == "import" then
    local text, imports = css_of.import(self, origin, r.url, r.media, self.html:sub(r.at, r.stop), where, {})
    if not text then return nil, imports end
    local top = self.tops[r.block]
    if not top then
      top = {}
      self.tops[r.block] = top
      self.blocks[#self.blocks + 1] = r.block
    end
    table.move(imports, 1, #imports, #top + 1, top)
    return text
  elseif r.kind == "srcset" then
    local text, err = self:srcset(origin, r.url, where)
    return text and url_of.attr_value(text, r.quote), err
  elseif r.kind == "base" then
    return nil   -- taken out by load
  end
  local url, err = self:image(origin, r.url, where)
  if not url then return nil, err end
  if r.kind == "style" then return url_of.css_url_text(url, true) end
  if r.kind == "style_block" then return url_of.css_url_text(url) end
  return url_of.attr_url(url, r.quote)
end

--- load(path, opts) -> {html=, text=, inline = {part specs}, warnings = {...},
-- problems = {...}, relative_links = {...}} | nil, message
-- path: the page (its references are taken from its folder, or from
-- its <base href>, which is then taken out); opts: name (the page as
-- the user wrote it, for messages), base_url, embed_remote, fetch
-- (function(url) -> data, content_type, the header's value; default
-- M.fetch).
function M.load(path, opts)
  opts = opts or {}
  local html, err = url_of.read_file(path)
  if not html then return nil, string.format("html_file: %s", tostring(err)) end
  local name = opts.name or path
  local self = setmetatable({
    name = name, root = url_of.dir_of(path), cids = {}, inline = {}, count = 0,
    css_bytes = 0, css_max = M.CSS_MAX, import_depth = M.IMPORT_DEPTH, html = html,
    tops = {}, blocks = {},   -- the @import rules that stay, by <style>; those <style> in order
    embed_remote = opts.embed_remote, fetch = opts.fetch or M.fetch,
  }, Load)
  local scan, serr = core.html_page(html)
  if not scan then return nil, serr end
  local edits, warnings, problems, relative = {}, {}, {}, {}
  local origin = { dir = {} }
  for _, r in ipairs(scan.refs) do
    if r.kind == "base" then
      origin, err = self:base_origin(r)
      if not origin then return nil, err end
      edits[#edits + 1] = { at = r.at, stop = r.stop, text = "" }
    end
  end
  for _, c in ipairs(scan.cuts) do
    edits[#edits + 1] = { at = c.at, stop = c.stop, text = "" }
    warnings[#warnings + 1] = string.format("%s: <%s> removed: mail readers block it", name, c.name)
  end
  for _, r in ipairs(scan.refs) do
    local text, rerr = self:rewrite(origin, r)
    if rerr then return nil, rerr end
    if text then edits[#edits + 1] = { at = r.at, stop = r.stop, text = text } end
  end
  -- Links are the page's on the web: from its remote <base href>, or
  -- from base_url (and a local <base href> under it).
  local web = origin.url
  if not web and opts.base_url then web = origin.href and M.absolute(opts.base_url, origin.href) or opts.base_url end
  for _, l in ipairs(scan.links) do
    if url_of.kind_of(l.url) == "local" and not inside(scan.cuts, l.at) then
      if web then
        edits[#edits + 1] = { at = l.at, stop = l.stop, text = url_of.attr_value(M.absolute(web, l.url), l.quote) }
      else
        relative[#relative + 1] = l.url
        problems[#problems + 1] = string.format("%s: the relative link '%s' leads nowhere in a mail: give base_url"
          .. " (the page's address on the web) to make it absolute", name, l.url)
      end
    end
  end
  -- The @import rules that stay, at the top of their <style> (after its
  -- @charset), where CSS takes them.
  for _, block in ipairs(self.blocks) do
    local at = (css_of.charset_end(html, block) or block - 1) + 1
    edits[#edits + 1] = { at = at, stop = at - 1, text = css_of.import_rules(self.tops[block]) }
  end
  local out = url_of.splice(html, edits)
  return { html = out, text = core.html_text(out), inline = self.inline, warnings = warnings, problems = problems,
           relative_links = relative }
end

--- merge(t, page [, no_text]) -> a copy of t (a message or campaign
-- table) with the page's html, its text when t has none (unless
-- no_text: a campaign makes it of each recipient's HTML), and its images
-- after t's inline.
function M.merge(t, page, no_text)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  out.html_file, out.base_url, out.embed_remote = nil, nil, nil
  out.html = page.html
  if out.text == nil and not no_text then out.text = page.text end
  local inline = {}
  for i, p in ipairs(t.inline or {}) do inline[i] = p end
  for _, p in ipairs(page.inline) do inline[#inline + 1] = p end
  out.inline = inline
  return out
end

-- Pages loaded for mailcast.build, by file, stamp and options: a script
-- that builds a message per recipient reads its page once (and is told
-- once what was removed from it).
-- (Held, not weak: nothing else keeps a page, and one collected would
-- be read, scanned and with embed_remote fetched again for the next
-- message.)
local loaded = {}

--- for_message(t, path) -> t with its page (html_file, found at path)
-- | nil, message. What was removed or left is said once on stderr.
function M.for_message(t, path)
  if t.html ~= nil then return nil, "html_file: give html or html_file, not both" end
  local stamp = core.file_stamp(path)
  local key = table.concat({ path, tostring(stamp), tostring(t.base_url), tostring(t.embed_remote) }, "\0")
  local page = loaded[key]
  if not page then
    local err
    page, err = M.load(path, { name = t.html_file, base_url = t.base_url, embed_remote = t.embed_remote })
    if not page then return nil, err end
    loaded[key] = page
    for _, w in ipairs(page.warnings) do io.stderr:write("mailcast: ", core.printable(w), "\n") end
    for _, w in ipairs(page.problems) do io.stderr:write("mailcast: ", core.printable(w), "\n") end
  end
  return M.merge(t, page)
end

return M
