-- The file names a campaign table gives (its list, attachments, inline
-- images, DKIM keys, log) are the script's: a relative one is taken from
-- the script's directory, as the store beside the script is, not from
-- wherever the command was run (`cd /tmp && mailcast run ~/c/nov.lua`).
local schema = require "mailcast.schema"

local M = {}

--- dir() -> the directory of the user's script that called into mailcast
-- (the innermost of schema.user_frames), "" when that is the current
-- one, or nil when the call came from no file.
function M.dir()
  local info = schema.user_frames()()
  if not info or info.source:sub(1, 1) ~= "@" then return nil end
  return info.source:match("^@(.*/)") or ""
end

local function from(dir, path)
  if type(path) ~= "string" or path == "" or path:sub(1, 1) == "/" then return path end
  return dir .. path
end

-- A copy of t with t[key] set to value.
local function with(t, key, value)
  local copy = {}
  for k, v in pairs(t) do copy[k] = v end
  copy[key] = value
  return copy
end

-- A copy of parts (a list of part tables or Parts) with their paths taken
-- from dir.
local function parts_from(dir, parts)
  if type(parts) ~= "table" then return parts end
  local out = {}
  for i, p in ipairs(parts) do
    out[i] = (type(p) == "table" and type(p.path) == "string") and with(p, "path", from(dir, p.path)) or p
  end
  return out
end

-- A DKIM key option with its file name taken from dir (PEM text and keys
-- stay as they are).
local function key_from(dir, key)
  if type(key) == "string" and not key:find("-----BEGIN", 1, true) then return from(dir, key) end
  if type(key) == "table" and type(key.path) == "string" then return with(key, "path", from(dir, key.path)) end
  return key
end

local function dkim_from(dir, dkim)
  if type(dkim) ~= "table" then return dkim end
  local list = dkim.key ~= nil and { dkim } or dkim
  local out = {}
  for i, s in ipairs(list) do
    out[i] = type(s) == "table" and with(s, "key", key_from(dir, s.key)) or s
  end
  return dkim.key ~= nil and out[1] or out
end

-- A copy of an A/B test's variants with their files (page, inline
-- images, attachments) taken from dir, as the campaign's own are.
local function variants_from(dir, variants)
  if type(variants) ~= "table" then return variants end
  local out = {}
  for i, v in ipairs(variants) do
    if type(v) == "table" then
      v = with(v, "html_file", from(dir, v.html_file))
      v.inline = parts_from(dir, v.inline)
      v.attachments = parts_from(dir, v.attachments)
    end
    out[i] = v
  end
  return out
end

--- resolve(t) -> a copy of t with its relative file names taken from
-- the directory of the script making the campaign (t and the tables it
-- holds are never changed), or t itself when that is the current one.
function M.resolve(t)
  local dir = M.dir()
  if not dir or dir == "" then return t end
  t = with(t, "recipients", from(dir, t.recipients))
  t.attachments = parts_from(dir, t.attachments)
  t.inline = parts_from(dir, t.inline)
  t.dkim = dkim_from(dir, t.dkim)
  t.html_file = from(dir, t.html_file)
  t.variants = variants_from(dir, t.variants)
  if type(t.log) == "string" then t.log = from(dir, t.log) end
  return t
end

return M
