-- The URLs and paths of a web page sent as it is (mailcast.page): what
-- a reference is, the file of the page it names, the URL it makes from a
-- base, how a URL is written back into an attribute or into CSS, and the
-- candidates of a srcset. Pure functions: nothing here reads the network.
local core = require "mailcast.core"

local M = {}

function M.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("a")   -- nil for a directory
  f:close()
  if not data then return nil, path .. ": not a file" end
  return data
end

-- "page/index.html" -> "page/", "index.html" -> "".
function M.dir_of(path)
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
function M.kind_of(url)
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
function M.resolve(from, url)
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

function M.segments_dir(segs)
  local out = {}
  for i = 1, #segs - 1 do out[i] = segs[i] end
  return out
end

-- A value written into an attribute between quote q ("" when it had
-- none: then it gets double quotes).
function M.attr_value(s, q)
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

-- What a reference of a file taken from origin is: "local" (a file of
-- the page), "remote" and its absolute URL (an http(s) one, or a
-- relative one of a remote file), "file" or "keep". origin is where the
-- file's references are taken from: the folder of a local file of the
-- page ({dir = segments under the page's folder}) or the URL of a remote
-- one ({url = ...}); the page's own is its folder or its <base href>'s.
function M.locate(origin, url)
  local kind = M.kind_of(url)
  if kind == "local" and origin.url then return "remote", M.absolute(origin.url, url) end
  return kind, url
end

-- Splices edits ({at=, stop=, text=}, in order, none inside another)
-- into s.
function M.splice(s, edits)
  -- (an insertion, stop = at - 1, before what replaces the bytes at its place)
  table.sort(edits, function(a, b) return a.at < b.at or (a.at == b.at and a.stop < b.stop) end)
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
function M.css_url_text(url, in_attr)
  url = url:gsub("[%s\"'()\\<>]", function(c) return string.format("%%%02X", c:byte()) end)
  if in_attr then url = url:gsub("&", "&amp;") end
  return url
end

-- A URL written as an attribute value between quote q: a cid: as it
-- is, even unquoted (a page's bytes are kept where they can be).
function M.attr_url(url, q)
  if url:match("^cid:[%w._@-]+$") then return url end
  return M.attr_value(url, q)
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

--- content_type(value) -> the media type (lower case), and its charset
-- parameter when it has one (RFC 9110 8.3: "text/css; charset=latin1") |
-- nil when value is none or empty.
function M.content_type(value)
  if type(value) ~= "string" then return nil end
  local media, params = core.header_params(value)
  if media == "" then return nil end
  return media, params.charset
end

return M
