-- The openspf.org RFC 7208 test suite (release 2014.04, as Debian's
-- python3-spf ships it) run against mailcast.lint_spf: each scenario's
-- zone data becomes the DNS the evaluator asks, each test's result must
-- be one the suite allows. The driver follows the suite's own
-- (testspf.py): SPF-type records stand in for TXT where a name has no
-- TXT, TIMEOUT fails the look-ups of types not listed before it.
local spf = require "mailcast.lint_spf"

local SUITE = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz"

-- lyaml ends a string at its first NUL byte: a "\0" escape of the suite
-- is read as this mark instead, and made a NUL again in the records.
local NUL_MARK = "<NUL>"

local function load_suite()
  local ok, lyaml = pcall(require, "lyaml")
  if not ok then return nil, "lyaml is not installed" end
  local p = io.popen("zcat " .. SUITE .. " 2>/dev/null")
  local text = p:read("a")
  p:close()
  if text == "" then return nil, "the suite is not installed (apt-get install python3-spf)" end
  assert(not text:find(NUL_MARK, 1, true), "the suite holds the mark " .. NUL_MARK)
  return lyaml.load((text:gsub("\\0", NUL_MARK)), { all = true })
end

local function with_nul(v)
  if type(v) == "string" then return (v:gsub(NUL_MARK, "\0")) end
  return v
end

local function strings_of(v)
  if type(v) == "table" then return table.concat(v) end
  return tostring(v)
end

-- {name = {{type, value}..., "TIMEOUT"}} from a scenario's zonedata.
local function zone_of(zonedata)
  local zone = {}
  for name, records in pairs(zonedata or {}) do
    local list, has_txt, spf_txt = {}, false, {}
    for _, r in ipairs(records) do
      if r == "TIMEOUT" then
        list[#list + 1] = "TIMEOUT"
      else
        for t, v in pairs(r) do
          if t == "TXT" then has_txt = true end
          if t == "SPF" then spf_txt[#spf_txt + 1] = { "TXT", with_nul(v) } end
          if v ~= "NONE" then list[#list + 1] = { t, with_nul(v) } end
        end
      end
    end
    if not has_txt then
      for _, r in ipairs(spf_txt) do list[#list + 1] = r end
    end
    zone[name:lower()] = list
  end
  return zone
end

local KIND = { a = "A", aaaa = "AAAA", mx = "MX", ptr = "PTR", txt = "TXT" }

local function dns_of(zone)
  local function lookup(kind, name, depth)
    name = name:lower():gsub("%.$", "")
    for label in (name .. "."):gmatch("([^.]*)%.") do
      if #label > 63 then return { status = "temporary", records = {}, error = "label too long" } end
    end
    local list = zone[name]
    if not list then
      if name:find("^error%.") then return { status = "temporary", records = {} } end
      return { status = "no_domain", records = {} }
    end
    local want, out, seen = KIND[kind], {}, false
    for _, r in ipairs(list) do
      if r == "TIMEOUT" then
        if not seen then return { status = "temporary", records = {}, error = "timeout" } end
        break
      end
      local t, v = r[1], r[2]
      if t == want then
        seen = true
        if v == "TIMEOUT" then return { status = "temporary", records = {} } end
        if t == "MX" then out[#out + 1] = v[2]
        elseif t == "TXT" then out[#out + 1] = strings_of(v)
        else out[#out + 1] = tostring(v) end
      elseif t == "CNAME" and not depth then
        local r2 = lookup(kind, v, true)
        for _, x in ipairs(r2.records) do out[#out + 1] = x end
      end
    end
    return { status = "ok", records = out }
  end
  return function(kind, name) return lookup(kind, name) end
end

local scenarios, why = load_suite()

describe("the RFC 7208 test suite", function()
  if not scenarios then
    -- (.ci/deps installs it: there, a missing suite is a failure)
    it("needs the suite", function()
      if os.getenv("CI") then error(why) end
      pending(why)
    end)
    return
  end
  for _, scenario in ipairs(scenarios) do
    local zone = zone_of(scenario.zonedata)
    local names = {}
    for name in pairs(scenario.tests or {}) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local t = scenario.tests[name]
      it(scenario.description .. ": " .. name, function()
        if name:find("%-null$") then   -- the test is of that NUL byte: it reaches the evaluator
          local nul = false
          for _, list in pairs(zone) do
            for _, r in ipairs(list) do nul = nul or (type(r) == "table" and tostring(r[2]):find("\0", 1, true) ~= nil) end
          end
          assert.is_true(nul, "no record of the zone holds a NUL byte")
        end
        local sender = t.mailfrom ~= "" and t.mailfrom or ("postmaster@" .. t.helo)
        local domain = sender:match("@([^@]*)$") or t.helo
        if sender:sub(1, 1) == "@" then sender = "postmaster" .. sender end
        local r = spf.check_host(t.host, domain, sender, dns_of(zone), t.helo)
        local allowed = type(t.result) == "table" and t.result or { t.result }
        local ok = false
        for _, a in ipairs(allowed) do ok = ok or a == r.result end
        assert.is_true(ok, string.format("%s: got %s (%s), want %s [spec %s]", name, r.result, tostring(r.why),
          table.concat(allowed, " or "), tostring(t.spec)))
      end)
    end
  end
end)
