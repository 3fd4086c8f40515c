-- SPF (RFC 7208): may this IP address send mail for this domain? The
-- evaluation of check_host() with its mechanisms (all, include, a, mx,
-- ptr, ip4, ip6, exists), the redirect modifier, macros, and the limits
-- that keep it bounded: 10 terms that look up DNS, 10 names per mx or
-- ptr, 2 look-ups that find nothing. DNS comes from a function given by
-- the caller, so the evaluation is tested without a server.
local syntax = require "mailcast.lint_spf_record"

local M = {}

M.MAX_LOOKUPS = 10     -- RFC 7208 4.6.4
M.MAX_VOID = 2
M.MAX_NAMES = 10       -- addresses looked up per mx or ptr term

-- IP addresses ---------------------------------------------------------

--- bytes(ip) -> the address as a list of 4 or 16 byte values | nil
M.bytes = syntax.ip_bytes

--- in_network(ip, network, bits) -> whether the first bits bits agree
-- (false when the families differ)
function M.in_network(ip, network, bits)
  local x, y = M.bytes(ip), M.bytes(network)
  if not x or not y or #x ~= #y then return false end
  bits = bits or #x * 8
  for i = 1, #x do
    local take = math.min(8, math.max(0, bits - (i - 1) * 8))
    if take == 0 then break end
    local mask = (0xff << (8 - take)) & 0xff
    if (x[i] & mask) ~= (y[i] & mask) then return false end
  end
  return true
end

--- reverse_name(ip) -> the in-addr.arpa or ip6.arpa name of ip | nil
function M.reverse_name(ip)
  local b = M.bytes(ip)
  if not b then return nil end
  local parts = {}
  if #b == 4 then
    for i = 4, 1, -1 do parts[#parts + 1] = tostring(b[i]) end
    return table.concat(parts, ".") .. ".in-addr.arpa"
  end
  for i = 16, 1, -1 do
    parts[#parts + 1] = string.format("%x", b[i] & 0xf)
    parts[#parts + 1] = string.format("%x", b[i] >> 4)
  end
  return table.concat(parts, ".") .. ".ip6.arpa"
end

-- Macros (RFC 7208 7) ----------------------------------------------------

local function macro_letter(letter, ctx)
  local l = letter:lower()
  if l == "s" then return ctx.sender end
  if l == "l" then return ctx.sender:match("^(.*)@") or "postmaster" end
  if l == "o" then return ctx.sender:match("@(.*)$") or ctx.sender end
  if l == "d" then return ctx.domain end
  if l == "h" then return ctx.helo or ctx.domain end
  if l == "v" then return ctx.ip:find(":", 1, true) and "ip6" or "in-addr" end
  if l == "i" then
    local b = M.bytes(ctx.ip)
    if #b == 4 then return table.concat(b, ".") end
    local nibbles = {}
    for i = 1, 16 do nibbles[#nibbles + 1] = string.format("%x.%x", b[i] >> 4, b[i] & 0xf) end
    return table.concat(nibbles, ".")
  end
  if l == "p" then   -- a validated name, one in the domain first (7.3)
    local names = ctx.eval and ctx.eval:validated_names() or {}
    for _, n in ipairs(names) do
      if n == ctx.domain or n:sub(-#ctx.domain - 1) == "." .. ctx.domain then return n end
    end
    return names[1] or "unknown"
  end
  return nil
end

-- One macro's body ("d", "ir", "l1r-"): its expansion | nil, why.
local function macro(body, ctx)
  local letter, digits, reverse, delims = body:match("^(%a)(%d*)([rR]?)([.%-+,/_=]*)$")
  if not letter then return nil, "bad macro %{" .. body .. "}" end
  local value = macro_letter(letter, ctx)
  if not value then return nil, "unknown macro letter " .. letter end
  local split = {}
  for ch in (delims ~= "" and delims or "."):gmatch(".") do split[ch] = true end
  local parts, cur = {}, {}
  for ch in value:gmatch(".") do
    if split[ch] then
      parts[#parts + 1], cur = table.concat(cur), {}
    else
      cur[#cur + 1] = ch
    end
  end
  parts[#parts + 1] = table.concat(cur)
  if reverse ~= "" then
    for i = 1, #parts // 2 do parts[i], parts[#parts - i + 1] = parts[#parts - i + 1], parts[i] end
  end
  local n = tonumber(digits)
  if n == 0 then return nil, "a macro that keeps 0 parts" end
  if n and n < #parts then parts = { table.unpack(parts, #parts - n + 1) } end
  return table.concat(parts, ".")
end

--- expand(spec, ctx) -> the domain-spec with its macros expanded | nil, why
-- ctx = {ip=, domain=, sender=, helo=}
function M.expand(spec, ctx)
  local out, i = {}, 1
  while i <= #spec do
    local at = spec:find("%", i, true)
    if not at then
      out[#out + 1] = spec:sub(i)
      break
    end
    out[#out + 1] = spec:sub(i, at - 1)
    local n = spec:sub(at + 1, at + 1)
    if n == "%" then out[#out + 1], i = "%", at + 2
    elseif n == "_" then out[#out + 1], i = " ", at + 2
    elseif n == "-" then out[#out + 1], i = "%20", at + 2
    elseif n == "{" then
      local close = spec:find("}", at + 2, true)
      if not close then return nil, "a macro without its }" end
      local value, why = macro(spec:sub(at + 2, close - 1), ctx)
      if not value then return nil, why end
      out[#out + 1], i = value, close + 1
    else
      return nil, "a % that is no macro"
    end
  end
  return table.concat(out)
end

-- Evaluation --------------------------------------------------------------

local QUALIFIERS = { ["+"] = "pass", ["-"] = "fail", ["~"] = "softfail", ["?"] = "neutral" }

--- records(txts) -> the SPF records among TXT strings
local function spf_records(txts)
  local out = {}
  for _, t in ipairs(txts) do
    if t:lower() == "v=spf1" or t:lower():match("^v=spf1 ") then out[#out + 1] = t end
  end
  return out
end

-- A domain check_host takes (4.3): labels of 1 to 63 characters, at
-- least two of them.
local function domain_ok(d)
  d = d:gsub("%.$", "")
  if not d:find(".", 1, true) or #d > 253 then return false end
  for label in (d .. "."):gmatch("([^.]*)%.") do
    if #label == 0 or #label > 63 then return false end
  end
  return true
end

local Eval = {}
Eval.__index = Eval

-- A DNS look-up that counts toward the void limit; records | nil,
-- "temperror"|"permerror", why.
function Eval:lookup(kind, name)
  -- A name no DNS query can carry (a label over 63 bytes, say from a
  -- macro) exists nowhere: no match (4.8, 5/10).
  local r = domain_ok(name) and self.dns(kind, name) or { status = "no_domain", records = {} }
  if r.status == "temporary" then return nil, "temperror", r.error or ("DNS failed for " .. name) end
  local records = r.status == "ok" and r.records or {}
  if #records == 0 then
    self.void = self.void + 1
    if self.void > M.MAX_VOID then
      return nil, "permerror", "more than " .. M.MAX_VOID .. " look-ups found nothing (RFC 7208 4.6.4)"
    end
  end
  return records
end

function Eval:count(term)
  self.lookups = self.lookups + 1
  if self.lookups > M.MAX_LOOKUPS then
    return "permerror", "more than " .. M.MAX_LOOKUPS .. " DNS look-ups (at " .. term .. "): receivers give up"
  end
end

-- The addresses of name (A or AAAA as the IP is); nil, result, why.
function Eval:addresses(name)
  return self:lookup(self.ip:find(":", 1, true) and "aaaa" or "a", name)
end

function Eval:bits(c4, c6)
  if self.ip:find(":", 1, true) then return c6 or 128 end
  return c4 or 32
end

-- Whether mechanism m matches: true/false, or nil, result, why.
function Eval:mechanism(m, ctx, depth)
  local function target()
    if m.domain == nil then return ctx.domain end
    local d, why = M.expand(m.domain, ctx)
    if not d then return nil, why end
    return d
  end
  if m.name == "all" then return true end
  if m.name == "ip4" or m.name == "ip6" then return M.in_network(self.ip, m.net, m.bits) end
  local err, why = self:count(m.name .. (m.domain and ":" .. m.domain or ""))
  if err then return nil, err, why end
  local d, derr = target()
  if not d then return nil, "permerror", derr end
  if m.name == "include" then
    local r = self:check(d, ctx, depth + 1)
    if r.result == "pass" then return true end
    if r.result == "temperror" then return nil, "temperror", r.why end
    if r.result == "permerror" or r.result == "none" then
      return nil, "permerror", "include:" .. d .. " " .. (r.result == "none" and "has no SPF record" or r.why)
    end
    return false
  end
  if m.name == "a" or m.name == "mx" then
    local hosts = { d }
    if m.name == "mx" then
      local list, rerr, rwhy = self:lookup("mx", d)
      if not list then return nil, rerr, rwhy end
      if #list > M.MAX_NAMES then return nil, "permerror", "mx:" .. d .. " has more than 10 hosts" end
      hosts = list
    end
    for _, h in ipairs(hosts) do
      local addrs, aerr, awhy = self:addresses(h)
      if not addrs then return nil, aerr, awhy end
      for _, a in ipairs(addrs) do
        if M.in_network(self.ip, a, self:bits(m.cidr4, m.cidr6)) then return true end
      end
    end
    return false
  end
  if m.name == "exists" then
    local addrs, aerr, awhy = self:lookup("a", d)
    if not addrs then return nil, aerr, awhy end
    return #addrs > 0
  end
  -- ptr: a validated name of the address, in d or under it
  for _, n in ipairs(self:validated_names()) do
    if n == d:lower() or n:sub(-#d - 1) == "." .. d:lower() then return true end
  end
  return false
end

-- The names of the address's PTR records whose addresses include it
-- (5.5), at most MAX_NAMES looked at; lower case, no trailing dot.
function Eval:validated_names()
  if self.validated then return self.validated end
  local out = {}
  local names = self.dns("ptr", M.reverse_name(self.ip)).records or {}
  for i, n in ipairs(names) do
    if i > M.MAX_NAMES then break end
    local addrs = self.dns(self.ip:find(":", 1, true) and "aaaa" or "a", n).records or {}
    for _, a in ipairs(addrs) do
      if M.in_network(self.ip, a) then
        out[#out + 1] = n:lower():gsub("%.$", "")
        break
      end
    end
  end
  self.validated = out
  return out
end

function Eval:check(domain, ctx, depth)
  if depth > M.MAX_LOOKUPS then return { result = "permerror", why = "includes loop" } end
  if not domain_ok(domain) then return { result = "none", why = domain .. " is no domain name" } end
  ctx = { ip = ctx.ip, sender = ctx.sender, helo = ctx.helo, domain = domain, eval = self }
  local r = self.dns("txt", domain)
  if r.status == "temporary" then return { result = "temperror", why = r.error } end
  if r.status == "no_domain" then return { result = "none", why = domain .. " does not exist" } end
  local records = spf_records(r.records or {})
  if #records == 0 then return { result = "none", why = domain .. " publishes no SPF record" } end
  if #records > 1 then return { result = "permerror", why = domain .. " publishes " .. #records .. " SPF records" } end
  local record = records[1]
  self.records[#self.records + 1] = { domain = domain, record = record }
  local parsed, perr = syntax.parse(record)
  if not parsed then return { result = "permerror", why = domain .. ": " .. perr } end
  for _, m in ipairs(parsed.terms) do
    local matched, err, why = self:mechanism(m, ctx, depth)
    if matched == nil then return { result = err, why = why } end
    if matched then
      return { result = QUALIFIERS[m.qualifier], why = string.format("%s matched %s%s in %s", self.ip,
               m.qualifier == "+" and "" or m.qualifier, m.name .. (m.domain and ":" .. m.domain or "") ..
               (m.net and ":" .. m.net or ""), domain), domain = domain }
    end
  end
  if parsed.redirect then
    local err, why = self:count("redirect=" .. parsed.redirect)
    if err then return { result = err, why = why } end
    local d, derr = M.expand(parsed.redirect, ctx)
    if not d then return { result = "permerror", why = derr } end
    local res = self:check(d, ctx, depth + 1)
    if res.result == "none" then return { result = "permerror", why = "redirect=" .. d .. ": " .. res.why } end
    return res
  end
  return { result = "neutral", why = "no mechanism of " .. domain .. " matched " .. self.ip }
end

--- check_host(ip, domain, sender, dns [, helo]) -> {result = "pass"|"fail"|
-- "softfail"|"neutral"|"none"|"permerror"|"temperror", why=, records =
-- {{domain=, record=}...}, lookups = n}. dns(kind, name) -> {status =
-- "ok"|"no_domain"|"temporary", records = {...}} (core.dns_records).
-- An IPv4-mapped IPv6 address is checked as the IPv4 address it holds.
function M.check_host(ip, domain, sender, dns, helo)
  local b = M.bytes(ip or "")
  if not b then return { result = "permerror", why = "not an IP address: " .. tostring(ip), records = {} } end
  if #b == 16 and table.concat(b, ",", 1, 12) == "0,0,0,0,0,0,0,0,0,0,255,255" then
    ip = table.concat(b, ".", 13, 16)
  end
  local e = setmetatable({ ip = ip, dns = dns, lookups = 0, void = 0, records = {} }, Eval)
  local r = e:check(domain, { ip = ip, sender = sender, helo = helo }, 0)
  r.records, r.lookups = e.records, e.lookups
  return r
end

return M
