-- A web page sent as it is (html_file): its local images become inline
-- parts named by cid:, its linked stylesheets are put into the page, the
-- elements mail readers block are taken out, its relative links are made
-- absolute from base_url, and a text part is made of it. With
-- embed_remote, its http(s) images and stylesheets are fetched once. The C scanner
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

-- The cid: URL for an image reference, nil to leave it, or nil, error.
function Load:image(from, url, where)
  local kind = kind_of(url)
  if kind == "local" then return self:local_image(from, url, where) end
  if kind == "remote" then return self:remote_image(url, where) end
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

-- A stylesheet's text (css, from url) with the images its url(...) name
-- made cid: by image_of(reference, where) -> cid: URL | nil | nil, error.
function Load:css(css, url, where, image_of)
  if css:lower():find("</style", 1, true) then
    return nil, string.format("%s: %s: '%s' holds \"</style\", which would end the page's <style>", self.name,
      where, url)
  end
  local edits = {}
  for _, u in ipairs(core.css_urls(css)) do
    local cid, err = image_of(u.url, url .. ": url(" .. u.url .. ")")
    if err then return nil, err end
    if cid then edits[#edits + 1] = { at = u.at, stop = u.stop, text = cid } end
  end
  return splice(css, edits)
end

-- A local stylesheet's text, its images taken from its own folder.
function Load:stylesheet(from, url, where)
  local path, segs = self:file(from, url, where)
  if not path then return nil, segs end
  local css, err = read_file(path)
  if not css then return nil, string.format("%s: %s: '%s': %s", self.name, where, url, tostring(err)) end
  return self:css(css, url, where, function(ref, at) return self:image(segments_dir(segs), ref, at) end)
end

-- A remote stylesheet's text (embed_remote), fetched once; its relative
-- images are the stylesheet's, resolved from its URL and fetched too.
function Load:remote_stylesheet(url, where)
  if url:sub(1, 2) == "//" then url = "https:" .. url end
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
  return self:css(css, url, where, function(ref, at)
    local kind = kind_of(ref)
    if kind == "local" then return self:remote_image(M.absolute(url, ref), at) end
    return self:image({}, ref, at)
  end)
end

local WHERE = {
  src = "<img src>", srcset = "<img srcset>", background = "background", style = "style url()",
  style_block = "<style> url()", stylesheet = "<link rel=stylesheet>",
}

local function inside(cuts, at)
  for _, c in ipairs(cuts) do
    if at >= c.at and at <= c.stop then return true end
  end
  return false
end

--- load(path, opts) -> {html=, text=, inline = {part specs}, warnings = {...},
-- problems = {...}} | nil, message
-- path: the page (its references are taken from its folder); opts:
-- name (the page as the user wrote it, for messages), base_url,
-- embed_remote, fetch (function(url) -> data, content_type; default M.fetch).
function M.load(path, opts)
  opts = opts or {}
  local html, err = read_file(path)
  if not html then return nil, string.format("html_file: %s", tostring(err)) end
  local name = opts.name or path
  local self = setmetatable({
    name = name, root = dir_of(path), cids = {}, inline = {}, count = 0,
    embed_remote = opts.embed_remote, fetch = opts.fetch or M.fetch,
  }, Load)
  local scan, serr = core.html_page(html)
  if not scan then return nil, serr end
  local edits, warnings, problems = {}, {}, {}
  for _, c in ipairs(scan.cuts) do
    edits[#edits + 1] = { at = c.at, stop = c.stop, text = "" }
    warnings[#warnings + 1] = string.format("%s: <%s> removed: mail readers block it", name, c.name)
  end
  for _, r in ipairs(scan.refs) do
    local where = WHERE[r.kind]
    local text, rerr
    if r.kind == "stylesheet" then
      local kind = kind_of(r.url)
      if kind == "local" then
        text, rerr = self:stylesheet({}, r.url, where)
      elseif kind == "remote" and self.embed_remote then
        text, rerr = self:remote_stylesheet(r.url, where)
      end
      if text then text = "<style>\n" .. text .. "\n</style>" end
    else
      text, rerr = self:image({}, r.url, where)
      if text and r.kind == "srcset" then text = attr_value(text, r.quote) end
    end
    if rerr then return nil, rerr end
    if text then edits[#edits + 1] = { at = r.at, stop = r.stop, text = text } end
  end
  for _, l in ipairs(scan.links) do
    if kind_of(l.url) == "local" and not inside(scan.cuts, l.at) then
      if opts.base_url then
        edits[#edits + 1] = { at = l.at, stop = l.stop, text = attr_value(M.absolute(opts.base_url, l.url), l.quote) }
      else
        problems[#problems + 1] = string.format("%s: the relative link '%s' leads nowhere in a mail: give base_url"
          .. " (the page's address on the web) to make it absolute", name, l.url)
      end
    end
  end
  local out = splice(html, edits)
  return { html = out, text = core.html_text(out), inline = self.inline, warnings = warnings, problems = problems }
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
