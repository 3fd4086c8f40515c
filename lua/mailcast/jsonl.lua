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

-- s with every byte that is not part of valid UTF-8 read as Latin-1.
local function valid_utf8(s)
  local out, i = {}, 1
  while true do
    local ok, bad = utf8.len(s, i)
    if ok then
      out[#out + 1] = s:sub(i)
      return table.concat(out)
    end
    out[#out + 1] = s:sub(i, bad - 1)
    out[#out + 1] = utf8.char(s:byte(bad))
    i = bad + 1
  end
end

--- string(s) -> s as a JSON string. Bytes that are not UTF-8 (a server's
-- reply can hold anything) are read as Latin-1, so the line stays valid
-- and the valid text around them stays as it is.
function M.string(s)
  if not s:find('[%c"\\\128-\255]') then return '"' .. s .. '"' end   -- the common case: plain ASCII
  if not utf8.len(s) then s = valid_utf8(s) end
  return '"' .. s:gsub('[%c"\\]', escape_byte) .. '"'
end

local function value(v)
  local t = type(v)
  if t == "string" then return M.string(v) end
  if t == "boolean" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    local text = string.format("%.6f", v)   -- microseconds: enough for durations and rates
    return text:match("^(-?%d+%.%d-)0*$"):gsub("%.$", ".0")
  end
  return "null"
end

--- encode(record, fields) -> one line of JSON (no newline): the fields
-- named in order, those that are nil left out.
function M.encode(record, fields)
  local out, n = {}, 0
  for i = 1, #fields do
    local k = fields[i]
    local v = record[k]
    if v ~= nil then
      n = n + 1
      out[n] = '"' .. k .. '":' .. value(v)
    end
  end
  return "{" .. table.concat(out, ",") .. "}"
end

--- iso_time(t) -> "2026-11-29T04:05:06.789Z" for seconds since the epoch.
local last_second, last_text

function M.iso_time(t)
  local whole = math.floor(t)
  if whole ~= last_second then   -- os.date once a second, not once a record
    last_second, last_text = whole, os.date("!%Y-%m-%dT%H:%M:%S", whole)
  end
  return string.format("%s.%03dZ", last_text, math.floor((t - whole) * 1000))
end

return M
