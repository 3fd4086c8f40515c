-- A JSON reader for the answers of the services mailcast asks (Rspamd's
-- /checkv2): objects, arrays, strings with their escapes, numbers,
-- true, false, null (as nil in an object, as json_decode.null in an
-- array). Depth is bounded, so a hostile answer cannot exhaust the stack.
local M = {}

M.null = setmetatable({}, { __tostring = function() return "null" end })

local MAX_DEPTH = 64

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function fail(s, i, what)
  error(string.format("json: %s at byte %d", what, i), 0)
end

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local value

local function codepoint(s, i)
  local hex = s:match("^%x%x%x%x", i)
  if not hex then fail(s, i, "bad \\u escape") end
  return tonumber(hex, 16), i + 4
end

local function str(s, i)
  local out, j = {}, i + 1
  while true do
    local k = s:find('["\\]', j)
    if not k then fail(s, i, "unterminated string") end
    out[#out + 1] = s:sub(j, k - 1)
    if s:sub(k, k) == '"' then return table.concat(out), k + 1 end
    local c = s:sub(k + 1, k + 1)
    if c == "u" then
      local cp
      cp, j = codepoint(s, k + 2)
      if cp >= 0xD800 and cp <= 0xDBFF and s:sub(j, j + 1) == "\\u" then   -- a surrogate pair
        local low, after = codepoint(s, j + 2)
        if low >= 0xDC00 and low <= 0xDFFF then
          cp, j = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00), after
        end
      end
      if cp >= 0xD800 and cp <= 0xDFFF then cp = 0xFFFD end   -- a lone surrogate
      out[#out + 1] = utf8.char(cp)
    else
      local e = ESCAPES[c]
      if not e then fail(s, k, "bad escape") end
      out[#out + 1] = e
      j = k + 2
    end
  end
end

-- After a member of an array or an object: true and the position past
-- its closing bracket, or false and the position of the next member.
local function after_member(s, i, close)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == close then return true, i + 1 end
  if c ~= "," then fail(s, i, "expected , or " .. close) end
  return false, skip(s, i + 1)
end

local function array(s, i, depth)
  local out, n = {}, 0
  i = skip(s, i + 1)
  if s:sub(i, i) == "]" then return out, i + 1 end
  while true do
    local v
    v, i = value(s, i, depth)
    n = n + 1
    out[n] = v == nil and M.null or v
    local done
    done, i = after_member(s, i, "]")
    if done then return out, i end
  end
end

local function object(s, i, depth)
  local out = {}
  i = skip(s, i + 1)
  if s:sub(i, i) == "}" then return out, i + 1 end
  while true do
    if s:sub(i, i) ~= '"' then fail(s, i, "expected a key") end
    local k
    k, i = str(s, i)
    i = skip(s, i)
    if s:sub(i, i) ~= ":" then fail(s, i, "expected :") end
    local v
    v, i = value(s, skip(s, i + 1), depth)
    out[k] = v
    local done
    done, i = after_member(s, i, "}")
    if done then return out, i end
  end
end

function value(s, i, depth)
  if depth > MAX_DEPTH then fail(s, i, "too deep") end
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then return object(s, i, depth + 1) end
  if c == "[" then return array(s, i, depth + 1) end
  if c == '"' then return str(s, i) end
  if s:sub(i, i + 3) == "true" then return true, i + 4 end
  if s:sub(i, i + 4) == "false" then return false, i + 5 end
  if s:sub(i, i + 3) == "null" then return nil, i + 4 end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
  if num and #num > 0 then
    local n = tonumber(num)
    if n then return n, i + #num end
  end
  fail(s, i, "unexpected input")
end

--- decode(s) -> value | nil, message
function M.decode(s)
  local ok, v, i = pcall(value, s, 1, 0)
  if not ok then return nil, v end
  if skip(s, i) <= #s then return nil, string.format("json: text after the value at byte %d", i) end
  return v
end

return M
