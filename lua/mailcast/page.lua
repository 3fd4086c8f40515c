-- A web page sent as it is (html_file): its local images (every srcset
-- candidate too) become inline parts named by cid:, its linked and
-- @imported stylesheets are put into the page, the elements mail readers
-- block are taken out, its <base href> is followed and taken out, its
-- relative links are made absolute from base_url, and a text part is
-- made of it. With embed_remote, its http(s) images and stylesheets are
-- fetched once. The C scanner
-- finds all of these in one pass (core.html_page); here each is decided
-- and the page written again, every byte outside the changed ones kept.
-- A page is hostile input: no reference may reach outside its folder.
local core = require "mailcast.core"
local lfs = require "lfs"

local M = {}

--- Remote images fetched for embed_remote: at most this many bytes each,
-- and this many seconds for each.
M.REMOTE_MAX = 5 * 1024 * 1024
M.REMOTE_TIMEOUT = 15

--- A page's stylesheets, put in with what they @import: at most this
-- many bytes each and all together, imports at most this deep.
M.CSS_MAX = 5 * 1024 * 1024
M.IMPORT_DEPTH = 8

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("a")   -- nil for a directory
  f:close()
  if not data then return nil, path .. ": not a file" end
  return data
end

-- "page/index.html" -> "page/", "index.html" -> "".
local function dir_of(path)
  return path:match("^(.*/)") or ""
end

local function percent_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function scheme_of(url)
  return url:match("^([%a][%w+.-]*):")
end

-- What a reference is: "remote" (http, https, //host), "local" (a file
-- of the page), or "keep" (a place in the page, data:, cid:, a template
-- variable, another scheme: left as it is).
local function kind_of(url)
  if url == "" or url:sub(1, 1) == "#" or url:find("{{", 1, true) then return "keep" end
  if url:sub(1, 2) == "//" then return "remote" end
  local scheme = scheme_of(url)
  if not scheme then return "local" end
  scheme = scheme:lower()
  if scheme == "http" or scheme == "https" then return "remote" end
  if scheme == "file" then return "file" end
  return "keep"
end

-- The file a local reference names, as a path under the page's folder
-- (segments), from the folder of the file that holds it (a list of
-- segments): nil, why when it would leave the page's folder.
local function resolve(from, url)
  local path = percent_decode((url:gsub("[?#].*$", "")):gsub("\\", "/"))
  if path:find("%z") then return nil, "has a NUL byte" end
  local stack = {}
  if path:sub(1, 1) ~= "/" then
    for i, seg in ipairs(from) do stack[i] = seg end
  end
  for seg in path:gmatch("[^/]+") do
    if seg == ".." then
      if #stack == 0 then return nil, "leads outside the page's folder" end
      stack[#stack] = nil
    elseif seg ~= "." then
      stack[#stack + 1] = seg
    end
  end
  if #stack == 0 then return nil, "names no file" end
  return stack
end

local function segments_dir(segs)
  local out = {}
  for i = 1, #segs - 1 do out[i] = segs[i] end
  return out
end

-- A value written into an attribute between quote q ("" when it had
-- none: then it gets double quotes).
local function attr_value(s, q)
  s = s:gsub("&", "&amp;")
  if q == "'" then return (s:gsub("'", "&#39;")) end
  s = s:gsub('"', "&quot;")
  if q == "" then return '"' .. s .. '"' end
  return s
end

--- absolute(base, url) -> url resolved from base (an http(s) URL), as a
-- browser resolves a relative link (RFC 3986 5.2, the usual cases).
function M.absolute(base, url)
  local origin, path = base:match("^([%a][%w+.-]*://[^/?#]*)([^?#]*)")
  if not origin then return url end
  if url:sub(1, 2) == "//" then return base:match("^([%a][%w+.-]*:)") .. url end
  if url:sub(1, 1) == "?" then return origin .. path .. url end
  if url:sub(1, 1) ~= "/" then url = (path:match("^(.*/)") or "/") .. url end
  local rest = url:match("[?#].*$") or ""
  local segs = {}
  local p = url:sub(1, #url - #rest)
  for seg in p:gmatch("[^/]*") do segs[#segs + 1] = seg end
  local out = {}
  for i, seg in ipairs(segs) do
    if seg == ".." then
      if #out > 1 then out[#out] = nil end
      if i == #segs then out[#out + 1] = "" end
    elseif seg == "." then
      if i == #segs then out[#out + 1] = "" end
    else
      out[#out + 1] = seg
    end
  end
  local joined = table.concat(out, "/")
  if joined:sub(1, 1) ~= "/" then joined = "/" .. joined end
  return origin .. joined .. rest
end

--- fetch(url) -> data, content_type | nil, message: one remote image or
-- stylesheet, at most REMOTE_MAX bytes, within REMOTE_TIMEOUT seconds.
function M.fetch(url)
  local http = url:match("^[Hh][Tt][Tt][Pp][Ss]:") and require("ssl.https") or require("socket.http")
  local chunks, size = {}, 0
  local function sink(chunk, err)
    if chunk == nil then return err == nil and 1 or nil, err end
    size = size + #chunk
    if size > M.REMOTE_MAX then return nil, string.format("larger than %d bytes", M.REMOTE_MAX) end
    chunks[#chunks + 1] = chunk
    return 1
  end
  local timeout = http.TIMEOUT   -- the module's: put back for its other users
  http.TIMEOUT = M.REMOTE_TIMEOUT
  local ok, code, headers = http.request { url = url, sink = sink, redirect = true }
  http.TIMEOUT = timeout
  if not ok then return nil, tostring(code) end
  if code ~= 200 then return nil, "HTTP " .. tostring(code) end
  local ctype = headers and headers["content-type"]
  return table.concat(chunks), ctype and ctype:match("^[^;%s]+")
end

-- The work of loading one page: what it has made so far.
local Load = {}
Load.__index = Load

-- Where a reference is taken from: the folder of a local file of the
-- page ({dir = segments under the page's folder}) or the URL of a remote
-- one ({url = ...}): the page's own is its folder, or its <base href>'s.

-- The file a local reference names, from the folder from (segments
-- under the page's): its real path (symbolic links followed, which must
-- not lead out of the page's folder either) and its segments | nil, why.
function Load:file(from, url, where)
  local segs, why = resolve(from, url)
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

-- What a reference of a file taken from origin is: "local" (a file of
-- the page), "remote" and its absolute URL (an http(s) one, or a relative
-- one of a remote file), "file" or "keep".
local function locate(origin, url)
  local kind = kind_of(url)
  if kind == "local" and origin.url then return "remote", M.absolute(origin.url, url) end
  return kind, url
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
  local data, ctype = self.fetch(url)
  if not data then
    return nil, string.format("%s: %s: fetching '%s' failed: %s", self.name, where, url, tostring(ctype))
  end
  if not (ctype and ctype:lower():match("^image/[%w.+-]+$")) then
    return nil, string.format("%s: %s: '%s' is not an image (its content type is %s)", self.name, where, url,
      tostring(ctype))
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
  local kind, target = locate(origin, url)
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

-- Splices edits ({at=, stop=, text=}, in order, none inside another)
-- into s.
local function splice(s, edits)
  table.sort(edits, function(a, b) return a.at < b.at end)
  local out, pos = {}, 1
  for _, e in ipairs(edits) do
    if e.at >= pos then
      out[#out + 1] = s:sub(pos, e.at - 1)
      out[#out + 1] = e.text
      pos = e.stop + 1
    end
  end
  out[#out + 1] = s:sub(pos)
  return table.concat(out)
end

-- A URL written as the argument of a CSS url(...): a cid: as it is,
-- another with the bytes CSS or (in_attr) the attribute would take
-- for something else percent-encoded.
local function css_url_text(url, in_attr)
  url = url:gsub("[%s\"'()\\<>]", function(c) return string.format("%%%02X", c:byte()) end)
  if in_attr then url = url:gsub("&", "&amp;") end
  return url
end

-- A URL written as an attribute value between quote q: a cid: as it
-- is, even unquoted (a page's bytes are kept where they can be).
local function attr_url(url, q)
  if url:match("^cid:[%w._@-]+$") then return url end
  return attr_value(url, q)
end

-- An @import rule that stays (remote, not fetched), its URL absolute.
local function import_rule(url, media)
  return "@import url(" .. css_url_text(url) .. ")" .. (media ~= "" and " " .. media or "") .. ";"
end

-- A stylesheet's text (css, its references taken from origin, named
-- name) with the images its url(...) name made cid: (or absolute) and
-- the stylesheets its @import rules name put in their place.
-- chain: the stylesheets being put in, outermost first ({key = real
-- path or URL, name = as referred to}).
function Load:css(css, origin, name, where, chain)
  if css:lower():find("</style", 1, true) then
    return nil, string.format("%s: %s: '%s' holds \"</style\", which would end the page's <style>", self.name,
      where, name)
  end
  local edits = {}
  for _, u in ipairs(core.css_urls(css)) do
    local text, err
    if u.import then
      text, err = self:import(origin, u.url, u.media, name .. ": @import", chain)
    else
      text, err = self:image(origin, u.url, name .. ": url(" .. u.url .. ")")
      text = text and css_url_text(text)
    end
    if err then return nil, err end
    if text then edits[#edits + 1] = { at = u.at, stop = u.stop, text = text } end
  end
  return splice(css, edits)
end

-- A local stylesheet's bytes, at most CSS_MAX of them.
local function read_css(path, name, where, page)
  local size = lfs.attributes(path, "size")
  if size and size > M.CSS_MAX then
    return nil, string.format("%s: %s: '%s' is larger than %d bytes", page, where, name, M.CSS_MAX)
  end
  local css, err = read_file(path)
  if not css then return nil, string.format("%s: %s: '%s': %s", page, where, name, tostring(err)) end
  return css
end

-- The text of the stylesheet a <link> or an @import of a file taken
-- from origin names, with its own references put in (its images taken
-- from its own folder or URL) | nil, nil, url: left as it is (its URL
-- absolute) | nil, error.
function Load:sheet(origin, url, where, chain)
  local kind, target = locate(origin, url)
  local key, css, from
  if kind == "local" then
    local path, segs = self:file(origin.dir, url, where)
    if not path then return nil, segs end
    key, from = path, { dir = segments_dir(segs) }
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
  if #chain >= M.IMPORT_DEPTH then
    return nil, string.format("%s: %s: '%s': stylesheets that import each other more than %d deep", self.name,
      where, url, M.IMPORT_DEPTH)
  end
  local err
  if kind == "local" then
    css, err = read_css(key, url, where, self.name)
  else
    css, err = self:remote_css(key, where)
  end
  if not css then return nil, err end
  self.css_bytes = self.css_bytes + #css
  if self.css_bytes > M.CSS_MAX then
    return nil, string.format("%s: %s: '%s': the page's stylesheets come to more than %d bytes", self.name, where,
      url, M.CSS_MAX)
  end
  chain[#chain + 1] = { key = key, name = url }
  css, err = self:css(css, from, url, where, chain)
  chain[#chain] = nil
  return css, err
end

-- A remote stylesheet's bytes (embed_remote), which must say they are CSS.
function Load:remote_css(url, where)
  local css, ctype = self.fetch(url)
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

-- What an @import rule becomes: the stylesheet it names, inside an
-- @media block when it has a media list | the rule with its URL made
-- absolute | nil (left as it is) | nil, error.
function Load:import(origin, url, media, where, chain)
  local css, err, keep = self:sheet(origin, url, where, chain)
  if err then return nil, err end
  if css then
    if media ~= "" then return "@media " .. media .. " {\n" .. css .. "\n}" end
    return css
  end
  if keep and keep ~= url then return import_rule(keep, media) end
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

--- srcset(value) -> {{url=, descriptor=}...}: the candidates of a
-- srcset attribute's value, as HTML parses them (4.8.4.3.2): a URL up to
-- white space (commas that end it dropped) and the descriptors up to the
-- next comma outside parentheses ("2x", "480w", "" for none).
function M.srcset(s)
  local out, i, n = {}, 1, #s
  while true do
    i = s:find("[^%s,]", i)
    if not i then return out end
    local j = s:find("%s", i) or n + 1
    local url, descriptor = s:sub(i, j - 1), ""
    if url:find(",$") then
      url = url:gsub(",+$", "")
      i = j
    else
      local k, depth = j, 0
      while k <= n do
        local c = s:sub(k, k)
        if c == "(" then depth = depth + 1
        elseif c == ")" and depth > 0 then depth = depth - 1
        elseif c == "," and depth == 0 then break end
        k = k + 1
      end
      descriptor = s:sub(j, k - 1):match("^%s*(.-)%s*$")
      i = k + 1
    end
    out[#out + 1] = { url = url, descriptor = descriptor }
  end
end

-- A srcset's value with each candidate's image made a cid: part (or
-- absolute), its descriptors kept | nil when none changed | nil, error.
function Load:srcset(origin, value, where)
  local parts, changed = {}, false
  for i, c in ipairs(M.srcset(value)) do
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
  local kind, where = kind_of(base.url), "<base href>"
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
  local segs, why = resolve({}, path)
  if not segs then return nil, string.format("%s: %s: '%s' %s", self.name, where, base.url, why) end
  return { dir = segments_dir(segs), href = base.url }
end

--- load(path, opts) -> {html=, text=, inline = {part specs}, warnings = {...},
-- problems = {...}, relative_links = {...}} | nil, message
-- path: the page (its references are taken from its folder, or from
-- its <base href>, which is then taken out); opts: name (the page as
-- the user wrote it, for messages), base_url, embed_remote, fetch
-- (function(url) -> data, content_type; default M.fetch).
function M.load(path, opts)
  opts = opts or {}
  local html, err = read_file(path)
  if not html then return nil, string.format("html_file: %s", tostring(err)) end
  local name = opts.name or path
  local self = setmetatable({
    name = name, root = dir_of(path), cids = {}, inline = {}, count = 0, css_bytes = 0,
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
    local where = WHERE[r.kind]
    local text, rerr, keep
    if r.kind == "stylesheet" then
      text, rerr, keep = self:sheet(origin, r.url, where, {})
      if text then text = "<style>\n" .. text .. "\n</style>"
      elseif keep and keep ~= r.url then text = '<link rel="stylesheet" href="' .. attr_value(keep, '"') .. '">' end
    elseif r.kind == "import" then
      text, rerr = self:import(origin, r.url, r.media, where, {})
    elseif r.kind == "srcset" then
      text, rerr = self:srcset(origin, r.url, where)
      text = text and attr_value(text, r.quote)
    elseif r.kind ~= "base" then
      text, rerr = self:image(origin, r.url, where)
      if text and r.kind == "style" then text = css_url_text(text, true)
      elseif text and r.kind == "style_block" then text = css_url_text(text)
      elseif text then text = attr_url(text, r.quote) end
    end
    if rerr then return nil, rerr end
    if text then edits[#edits + 1] = { at = r.at, stop = r.stop, text = text } end
  end
  -- Links are the page's on the web: from its remote <base href>, or
  -- from base_url (and a local <base href> under it).
  local web = origin.url
  if not web and opts.base_url then web = origin.href and M.absolute(opts.base_url, origin.href) or opts.base_url end
  for _, l in ipairs(scan.links) do
    if kind_of(l.url) == "local" and not inside(scan.cuts, l.at) then
      if web then
        edits[#edits + 1] = { at = l.at, stop = l.stop, text = attr_value(M.absolute(web, l.url), l.quote) }
      else
        relative[#relative + 1] = l.url
        problems[#problems + 1] = string.format("%s: the relative link '%s' leads nowhere in a mail: give base_url"
          .. " (the page's address on the web) to make it absolute", name, l.url)
      end
    end
  end
  local out = splice(html, edits)
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
