-- The DNS side of `mailcast lint`: what Gmail and Yahoo require of bulk
-- senders since February 2024, checked against the campaign's domains
-- and sending addresses: SPF of the envelope domain authorizing each
-- sending address (RFC 7208), the DKIM key published for each of the
-- campaign's signatures and matching its key (RFC 6376), a DMARC record
-- for the From domain with SPF or DKIM aligned to it (RFC 7489), MX of
-- the bounce domain, and reverse DNS of each sending address confirmed
-- forward. Look-ups run on the engine's loop (core.dns_records).
local core = require "mailcast.core"
local spf = require "mailcast.lint_spf"
local content = require "mailcast.lint_content"

local M = {}

local function domain_of(address)
  return (address or ""):match("@([^@>]+)>?$") and (address:match("@([^@>]+)>?$")):lower()
end

-- Relaxed alignment (RFC 7489 3.1): the same organizational domain;
-- strict: the same name.
local function aligned(a, b, strict)
  if not a or not b then return false end
  a, b = a:lower(), b:lower()
  if strict then return a == b end
  return content.organizational(a) == content.organizational(b)
end

local function tags(record)
  local t = {}
  for part in record:gmatch("[^;]+") do
    local k, v = part:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if k then t[k:lower()] = v end
  end
  return t
end

local finding = content.finding

local Checks = {}
Checks.__index = Checks

function Checks:lookup(kind, name)
  local r, err = core.dns_records(kind, name, self.dns_opts)
  if not r then return { status = "temporary", records = {}, error = err } end
  return r
end

-- One line of the checklist, and its finding when it is not ok (none
-- without a severity: the content checks report it already).
function Checks:item(ok, label, text, severity, check, fix)
  self.lines[#self.lines + 1] = string.format("  [%s] %-12s %s", ok and "ok" or (severity == "note" and "--" or "!!"),
    label, core.printable(text))
  self.data[#self.data + 1] = { check = check, ok = ok, text = text }
  if not ok and severity then finding(self.findings, severity, check, text, fix) end
end

-- The sending addresses: those given, else the relay's address.
function Checks:sending_ips(c, o)
  local ips = {}
  if o.ip then
    for ip in o.ip:gmatch("[^,%s]+") do ips[#ips + 1] = ip end
    return ips, "given"
  end
  local route = c.routes[c.default_route]
  if route and route.host then
    if spf.bytes(route.host) then return { route.host }, "the relay" end
    local r = self:lookup("a", route.host)
    for _, a in ipairs(r.records or {}) do ips[#ips + 1] = a end
    return ips, "the relay " .. route.host
  end
  return ips, nil
end

function Checks:spf(envelope_domain, sender, ips, whence)
  if #ips == 0 then
    self:item(false, "SPF", "no sending address to check: give --ip ADDR (the address your mail leaves from)",
      "note", "auth.spf", "run mailcast lint --ip ADDR")
    return {}
  end
  local passed = {}
  for _, ip in ipairs(ips) do
    local r = spf.check_host(ip, envelope_domain, sender, function(kind, name) return self:lookup(kind, name) end)
    local ok = r.result == "pass"
    passed[#passed + 1] = ok
    local text = string.format("%s for %s (%s): %s%s", envelope_domain, ip, whence, r.result, r.why and " - " .. r.why or "")
    local fix
    if r.result == "none" then fix = string.format("publish a TXT record at %s: \"v=spf1 ip4:%s -all\"", envelope_domain, ip)
    elseif r.result == "permerror" then fix = "mend the SPF record of " .. envelope_domain .. " (one record, at most 10 look-ups)"
    else fix = string.format("add ip4:%s (or your provider's include:) to the SPF record of %s", ip, envelope_domain) end
    self:item(ok, "SPF", text, r.result == "temperror" and "warning" or "error", "auth.spf", fix)
  end
  for _, p in ipairs(passed) do if not p then return passed, false end end
  return passed, true
end

function Checks:dkim(c, raw, from_domain)
  local sigs = c.bulk.dkim
  if not sigs then
    self:item(false, "DKIM", "the campaign does not sign its mail", "error", "auth.dkim",
      "add dkim = { key = \"dkim.pem\", domain = \"" .. (from_domain or "your-domain") .. "\", selector = \"s1\" }")
    return false
  end
  local any_aligned = false
  for _, s in ipairs(sigs) do
    local name = string.format("%s._domainkey.%s", s.selector, s.domain)
    local r = self:lookup("txt", name)
    local want = tags(s.key:record()).p
    local published
    for _, rec in ipairs(r.records or {}) do
      local t = tags(rec)
      if t.p then published = (t.p:gsub("%s+", "")) end
    end
    if r.status == "temporary" then
      self:item(false, "DKIM", name .. ": " .. tostring(r.error), "warning", "auth.dkim", "try again; check the DNS server")
    elseif not published then
      self:item(false, "DKIM", "no key published at " .. name, "error", "auth.dkim",
        "publish the TXT record mailcast.dkim.key(...):record() gives at " .. name)
    elseif published ~= want then
      self:item(false, "DKIM", "the key at " .. name .. " is not the campaign's key", "error", "auth.dkim",
        "publish the campaign key's record at " .. name .. " (or sign with the key published there)")
    else
      local is_aligned = aligned(s.domain, from_domain)
      any_aligned = any_aligned or is_aligned
      self:item(true, "DKIM", string.format("key at %s matches the campaign's (d=%s%s)", name, s.domain,
        is_aligned and ", aligned with From" or ", NOT aligned with From " .. tostring(from_domain)), "error", "auth.dkim")
    end
  end
  return any_aligned
end

function Checks:dmarc(from_domain, envelope_domain, spf_ok, dkim_aligned)
  local name = "_dmarc." .. from_domain
  local r = self:lookup("txt", name)
  local record
  for _, rec in ipairs(r.records or {}) do
    if rec:match("^%s*v%s*=%s*DMARC1") then record = rec end
  end
  local org = content.organizational(from_domain)
  if not record and org ~= from_domain then
    name = "_dmarc." .. org
    for _, rec in ipairs(self:lookup("txt", name).records or {}) do
      if rec:match("^%s*v%s*=%s*DMARC1") then record = rec end
    end
  end
  if not record then
    self:item(false, "DMARC", "no DMARC record for " .. from_domain, "error", "auth.dmarc",
      "publish a TXT record at _dmarc." .. from_domain .. ": \"v=DMARC1; p=none; rua=mailto:dmarc@" .. from_domain .. "\"")
    return
  end
  local t = tags(record)
  local spf_aligned = spf_ok and aligned(envelope_domain, from_domain, t.aspf == "s")
  local ok = spf_aligned or dkim_aligned
  local how = {}
  if spf_aligned then how[#how + 1] = "SPF" end
  if dkim_aligned then how[#how + 1] = "DKIM" end
  self:item(ok, "DMARC", string.format("%s: p=%s, %s", name, tostring(t.p),
    ok and "aligned with From by " .. table.concat(how, " and ")
       or "neither SPF nor DKIM passes aligned with From " .. from_domain), "error", "auth.dmarc",
    "sign with d=" .. from_domain .. " (or a subdomain), or send with an envelope sender at " .. from_domain)
end

function Checks:mx(bounce_domain)
  local r, err = core.mx(bounce_domain, self.dns_opts)
  local ok = r and r.status == "ok" and not r.implicit
  local text
  if not r then text = bounce_domain .. ": " .. tostring(err)
  elseif r.status ~= "ok" then text = bounce_domain .. ": " .. tostring(r.error or r.status)
  elseif r.implicit then text = bounce_domain .. " has no MX record (mail to it goes to its address)"
  else text = bounce_domain .. " receives mail at " .. r.hosts[1].name end
  self:item(ok, "MX", text, r and r.implicit and "warning" or "error", "auth.mx",
    "give the bounce domain an MX record, so bounces and replies come back")
end

function Checks:ptr(ips)
  for _, ip in ipairs(ips) do
    local names = self:lookup("ptr", spf.reverse_name(ip)).records or {}
    local confirmed
    for _, n in ipairs(names) do
      for _, a in ipairs(self:lookup(ip:find(":", 1, true) and "aaaa" or "a", n).records or {}) do
        if spf.in_network(ip, a) then confirmed = n end
      end
    end
    local text
    if #names == 0 then text = ip .. " has no reverse DNS (PTR)"
    elseif not confirmed then text = string.format("%s -> %s, which does not resolve back to it", ip, names[1])
    else text = string.format("%s -> %s -> %s", ip, confirmed, ip) end
    self:item(confirmed ~= nil, "rDNS", text, "error", "auth.ptr",
      "ask whoever owns " .. ip .. " for a PTR record naming a host whose A record is " .. ip)
  end
end

-- TLS offered by the relay: a session opened and closed (no mail sent).
function Checks:relay(c)
  local route = c.routes[c.default_route]
  if not route or route.mx then
    self:item(true, "TLS", "direct delivery: TLS is offered by each destination's servers (see mailcast test)")
    return
  end
  local fields = require("mailcast.test_send").session_route(c, c.default_route, nil, {})
  if fields.tls == "none" then
    self:item(false, "TLS", "the route turns TLS off (tls = \"none\")", "error", "auth.tls",
      "let the route use TLS: Gmail and Yahoo require it of bulk senders")
    return
  end
  fields.timeouts = { connect = 5, greeting = 10, ehlo = 10, tls = 10, command = 10 }
  local where = string.format("%s:%s", tostring(fields.host), tostring(fields.port or 25))
  local s, err = core.session(fields)
  if not s then
    self:item(false, "TLS", "could not open a session with the relay " .. where .. ": " .. tostring(err), "warning",
      "auth.tls", "check the route (mailcast test shows the conversation)")
    return
  end
  local tls = s:tls()
  s:quit()
  s:close()
  self:item(tls ~= nil, "TLS", tls and ("the relay " .. where .. " speaks " .. tls) or
    ("the relay " .. where .. " does not offer STARTTLS"), "error", "auth.tls",
    "use a relay that offers TLS: Gmail and Yahoo require it of bulk senders")
end

--- check(campaign, msg, raw, o) -> the "authentication" section of the
-- lint report | nil when o.dns is false. o.dns_server ("127.0.0.1:53"),
-- o.ip ("192.0.2.1,2001:db8::1": the sending addresses).
function M.check(c, msg, raw, o)
  if o.dns == false then return nil end
  local self = setmetatable({ lines = { "authentication (Gmail and Yahoo bulk sender requirements):" },
                              findings = {}, data = {},
                              dns_opts = { server = o.dns_server, timeout = 2, tries = 2 } }, Checks)
  local headers = content.headers(raw)
  local from_list = headers.from and core.addresses(headers.from[1])
  local from_domain = from_list and from_list[1] and domain_of(from_list[1].address)
  -- With a bounce domain a run sends from a VERP address there.
  local envelope_domain = c.bounce_domain and c.bounce_domain:lower() or domain_of(c.envelope_from)
  local sender = c.bounce_domain and ("bounces@" .. envelope_domain) or c.envelope_from
  if not from_domain or not envelope_domain then return nil end
  local ips, whence = self:sending_ips(c, o)
  local _, spf_ok = self:spf(envelope_domain, sender, ips, whence or "given")
  local dkim_aligned = self:dkim(c, raw, from_domain)
  self:dmarc(from_domain, envelope_domain, spf_ok, dkim_aligned)
  self:mx(envelope_domain)
  if #ips > 0 then self:ptr(ips) end
  self:relay(c)
  local unsubscribe = headers["list-unsubscribe-post"] ~= nil
  self:item(unsubscribe, "unsubscribe", unsubscribe and "one-click List-Unsubscribe (RFC 8058)" or
    "no one-click List-Unsubscribe (see the content findings)", nil, "auth.unsubscribe")
  return { name = "authentication", lines = self.lines, findings = self.findings, data = self.data }
end

return M
