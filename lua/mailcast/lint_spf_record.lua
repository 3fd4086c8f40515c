-- The syntax of an SPF record (RFC 7208 4.6, 5, 6, 7.1): a record is
-- read whole before it is evaluated, so an error anywhere in it is a
-- permerror even when an earlier term would have matched (4.6).
local M = {}

local MECHANISMS = { all = true, include = true, a = true, mx = true, ptr = true, ip4 = true, ip6 = true,
                     exists = true }

--- ip_bytes(ip) -> the address as a list of 4 or 16 byte values | nil
function M.ip_bytes(ip)
  if ip:find(":", 1, true) then
    local v4 = ip:match(":(%d+%.%d+%.%d+%.%d+)$")
    local head = v4 and ip:sub(1, #ip - #v4) .. "0:0" or ip
    local left, right = head:match("^(.-)::(.*)$")
    local groups = {}
    local function add(part)
      if part == "" then return true end
      for g in (part .. ":"):gmatch("([^:]*):") do
        if not g:match("^%x%x?%x?%x?$") then return false end
        groups[#groups + 1] = tonumber(g, 16)
      end
      return true
    end
    if left then
      if not add(left) then return nil end
      local n = #groups
      local tail = {}
      local saved = groups
      groups = tail
      if not add(right) then return nil end
      groups = saved
      if n + #tail > 7 then return nil end
      for _ = 1, 8 - n - #tail do groups[#groups + 1] = 0 end
      for _, g in ipairs(tail) do groups[#groups + 1] = g end
    elseif not add(head) then
      return nil
    end
    if #groups ~= 8 then return nil end
    local out = {}
    for i, g in ipairs(groups) do out[2 * i - 1], out[2 * i] = g >> 8, g & 0xff end
    if v4 then
      local b4 = M.ip_bytes(v4)
      if not b4 then return nil end
      for i = 1, 4 do out[12 + i] = b4[i] end
    end
    return out
  end
  local a, b, c, d = ip:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local out = { tonumber(a), tonumber(b), tonumber(c), tonumber(d) }
  for _, x in ipairs(out) do if x > 255 then return nil end end
  return out
end


--- macro_string_ok(s, in_exp) -> whether s is a macro-string (7.1):
-- visible characters, each % starting %%, %_, %- or %{letter digits
-- [r] delimiters}; c, r and t only in an explanation.
function M.macro_string_ok(s, in_exp)
  if s:find("[^\33-\126]") then return false end
  local i = 1
  while true do
    local at = s:find("%", i, true)
    if not at then return true end
    local n = s:sub(at + 1, at + 1)
    if n == "%" or n == "_" or n == "-" then
      i = at + 2
    elseif n == "{" then
      local letter, rest = s:match("^{(%a)(%d*[rR]?[.%-+,/_=]*)}", at + 1)
      if not letter then return false end
      local l = letter:lower()
      if not ("slodiphv"):find(l, 1, true) and not (in_exp and ("crt"):find(l, 1, true)) then return false end
      i = at + 3 + #rest + 1
    else
      return false
    end
  end
end

-- A domain-spec (7.1): a macro-string whose end is a macro or "."
-- followed by a top label (letters and digits with a letter, or with an
-- inner hyphen), a trailing dot allowed.
local function domain_spec_ok(s)
  if s == "" or not M.macro_string_ok(s) then return false end
  if s:match("%%{[^}]*}%.?$") then return true end   -- ends with a macro-expand
  local body = s:gsub("%.$", "")
  local top = body:match("%.([^.]+)$")
  if not top then return false end
  if top:match("^%w*%a%w*$") then return true end
  return top:match("^%w+%-[%w%-]*%w$") ~= nil
end

-- A prefix length: "0" or a number without leading zeros, up to max.
local function prefix(digits, max)
  if not digits then return nil end
  if digits ~= "0" and not digits:match("^[1-9]%d?%d?$") then return false end
  local n = tonumber(digits)
  if n > max then return false end
  return n
end

-- Splits "domain/cidr4//cidr6" (each part optional): domain, c4, c6 |
-- nil when a prefix length is wrong.
local function dual_cidr(s)
  local d, c4, c6 = s:match("^(.-)/(%d*)//(%d*)$")
  if not d then d, c6 = s:match("^(.-)//(%d*)$") end
  if not d then d, c4 = s:match("^(.-)/(%d*)$") end
  if not d then return s end
  local n4, n6 = prefix(c4, 32), prefix(c6, 128)
  if n4 == false or n6 == false or (c4 and c4 == "") or (c6 and c6 == "") then return nil end
  return d, n4, n6
end

-- One mechanism term: {qualifier=, name=, domain=, cidr4=, cidr6=,
-- net=, bits=} | nil, why.
local function mechanism(term)
  local q, name, rest = term:match("^([+%-~?]?)(%a[%w]*)(.*)$")
  if not name then return nil, "bad term " .. term end
  name = name:lower()
  if not MECHANISMS[name] then return nil, "unknown mechanism " .. name end
  local m = { qualifier = q ~= "" and q or "+", name = name }
  if name == "all" then
    if rest ~= "" then return nil, "all takes nothing: " .. term end
    return m
  end
  if name == "ip4" or name == "ip6" then
    local net, bits = rest:match("^:([^/]+)/?(%d*)$")
    if not net then return nil, "bad " .. term end
    local b = M.ip_bytes(net)
    if not b or (#b == 4) ~= (name == "ip4") or (name == "ip4" and net:find(":")) then
      return nil, "bad address in " .. term
    end
    if rest:find("/", 1, true) then
      m.bits = prefix(bits, name == "ip4" and 32 or 128)
      if not m.bits then return nil, "bad prefix length in " .. term end
    end
    m.net = net
    return m
  end
  if name == "a" or name == "mx" then
    local colon = rest:sub(1, 1) == ":"
    if not colon and rest ~= "" and rest:sub(1, 1) ~= "/" then return nil, "bad term " .. term end
    local d, c4, c6 = dual_cidr(colon and rest:sub(2) or rest)
    if d == nil then return nil, "bad prefix length in " .. term end
    if colon then
      if not domain_spec_ok(d) then return nil, "bad domain in " .. term end
      m.domain = d
    elseif d ~= "" then
      return nil, "bad term " .. term
    end
    m.cidr4, m.cidr6 = c4, c6
    return m
  end
  if rest == "" and name == "ptr" then return m end
  if rest:sub(1, 1) ~= ":" then return nil, name .. " needs :domain, not " .. term end
  if not domain_spec_ok(rest:sub(2)) then return nil, "bad domain in " .. term end
  m.domain = rest:sub(2)
  return m
end


--- parse(record) -> {terms = {mechanism...}, redirect=, exp=} | nil, why
function M.parse(record)
  if record:find("[^\32-\126]") then return nil, "the record has characters no record may have" end
  local out = { terms = {} }
  local first = true
  for term in record:gmatch("[^ ]+") do
    if first then
      first = false   -- "v=spf1", checked by the caller
    else
      local mod, value = term:match("^(%a[%w%-_.]*)=(.*)$")
      if mod then
        mod = mod:lower()
        if mod == "redirect" or mod == "exp" then
          if out[mod] then return nil, "two " .. mod .. " modifiers" end
          if not domain_spec_ok(value) then return nil, "bad domain in " .. term end
          out[mod] = value
        elseif not M.macro_string_ok(value) then
          return nil, "bad modifier " .. term
        end
      else
        local m, why = mechanism(term)
        if not m then return nil, why end
        out.terms[#out.terms + 1] = m
      end
    end
  end
  return out
end

return M
