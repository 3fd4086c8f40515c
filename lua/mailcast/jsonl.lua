-- JSON lines for logs and machine-readable progress: one flat record
-- (strings, numbers, booleans) per line, its fields in a fixed order.
local M = {}

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function escape_byte(c)
  return ESCAPES[c] or string.format("\\u%04x", c:byte())
end

--- string(s) -> s as a JSON string. Bytes that are not UTF-8 (a server's
-- reply can hold anything) are read as Latin-1, so the line stays valid.
function M.string(s)
  if not utf8.len(s) then s = s:gsub("[\128-\255]", function(c) return utf8.char(c:byte()) end) end
  return '"' .. s:gsub('[%c"\\]', escape_byte) .. '"'
end

local function value(v)
  local t = type(v)
  if t == "string" then return M.string(v) end
  if t == "boolean" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return (string.format("%.6f", v):gsub("0+$", ""):gsub("%.$", ".0"))
  end
  return "null"
end

--- encode(record, fields) -> one line of JSON (no newline): the fields
-- named in order, those that are nil left out.
function M.encode(record, fields)
  local out = {}
  for _, k in ipairs(fields) do
    local v = record[k]
    if v ~= nil then out[#out + 1] = '"' .. k .. '":' .. value(v) end
  end
  return "{" .. table.concat(out, ",") .. "}"
end

--- iso_time(t) -> "2026-11-29T04:05:06.789Z" for seconds since the epoch.
function M.iso_time(t)
  local whole = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", whole) .. string.format(".%03dZ", math.floor((t - whole) * 1000))
end

return M
