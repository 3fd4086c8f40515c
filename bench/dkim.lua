-- bench/dkim's Lua side (run by bench/dkim in the runner).
--   prepare DIR                 writes DIR/message.eml, the message every row signs
--   time DIR SECONDS ROUND      times one round of the Lua rows into DIR/lua-ROUND.txt
--   report DIR SECONDS ROUNDS   checks, reads every round's rows from DIR (C,
--                               openssl, Lua) and prints the table: each row's
--                               best round
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")
local core = require "mailcast.core"

local mode, dir, seconds, round = arg[1], arg[2], tonumber(arg[3] or "1"), tonumber(arg[4] or "1")
local KINDS = { { "rsa2048", "RSA-2048", "^rsa 2048 bits" }, { "ed25519", "Ed25519", "%(Ed25519%)" } }

-- A newsletter of about 5 KB: text and HTML alternatives, a List-Unsubscribe.
local function message()
  local name, address, subject = common.recipient(3)
  local para = "This month: the new schedule, three stories from our readers, and an offer that "
    .. "ends on Friday. Read on for the details, or follow the links to the full articles. "
  local text = string.format("Hello %s,\n\n%s\n", name, string.rep(para, 10))
  local html = string.format("<html><body><h1>Hello %s</h1>\n%s</body></html>\n", name,
    string.rep("<p>" .. para .. "<a href=\"https://example.com/a\">more</a></p>\n", 12))
  return assert(mailcast.message {
    from = { name = "Example News", address = "news@example.com" }, to = { name = name, address = address },
    subject = subject, text = text, html = html,
    headers = { ["List-Unsubscribe"] = "<https://example.com/u/3>", ["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click" },
  })
end

if mode == "prepare" then
  common.write_file(dir .. "/message.eml", message())
  return
end

local raw = assert(common.read_file(dir .. "/message.eml"))

-- Signatures per CPU second over one round (os.clock: the clock openssl
-- speed uses), after one untimed call.
local function rate(fn)
  fn()
  local count, start, elapsed = 0, os.clock(), 0
  repeat
    for _ = 1, 16 do fn() end
    count = count + 16
    elapsed = os.clock() - start
  until elapsed >= seconds
  return count / elapsed
end

if mode == "time" then
  local out = {}
  for _, kind in ipairs(KINDS) do
    local key = assert(mailcast.dkim.key(dir .. "/" .. kind[1] .. ".pem"))
    local opts = { key = key, domain = "example.com", selector = "bench" }
    out[#out + 1] = string.format("lua %s %.1f", kind[1], rate(function() mailcast.dkim.sign(raw, opts) end))
    out[#out + 1] = string.format("core %s %.1f", kind[1], rate(function() core.dkim_sign(raw, opts) end))
  end
  common.write_file(string.format("%s/lua-%d.txt", dir, round), table.concat(out, "\n") .. "\n")
  return
end

local ROUNDS = round

-- The best of the rounds of f(r) (nil when a round has none).
local function best(f)
  local b
  for r = 1, ROUNDS do
    local v = f(r)
    if v and (not b or v > b) then b = v end
  end
  return b
end

-- The numbers a line of `openssl speed` gives: sign/s is next to last.
local function openssl_rate(pattern)
  return best(function(r)
    for line in io.lines(string.format("%s/openssl-%d.txt", dir, r)) do
      if line:match(pattern) then
        local fields = {}
        for f in line:gmatch("%S+") do fields[#fields + 1] = f end
        return tonumber(fields[#fields - 1])
      end
    end
  end)
end

local function c_rate(name, which)
  return best(function(r)
    for line in io.lines(string.format("%s/c-%s-%d.txt", dir, name, r)) do
      local w, v = line:match("^(%a+) ([%d.]+)$")
      if w == which then return tonumber(v) end
    end
  end)
end

local function lua_rate(name, which)
  return best(function(r)
    for line in io.lines(string.format("%s/lua-%d.txt", dir, r)) do
      local w, n, v = line:match("^(%a+) (%w+) ([%d.]+)$")
      if w == which and n == name then return tonumber(v) end
    end
  end)
end

-- A signature is believed once mailcast's verifier and dkimpy pass it.
local function check(key, signed)
  local results = mailcast.dkim.verify(signed, { key = key })
  if not (results and #results == 1 and results[1].status == "pass") then
    return false, "mailcast.dkim.verify: " .. tostring(results and results[1] and results[1].reason)
  end
  local python = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
  local msg, keys = dir .. "/check.eml", dir .. "/check.keys"
  common.write_file(msg, signed)
  common.write_file(keys, "bench._domainkey.example.com " .. key:record() .. "\n")
  local p = io.popen(python .. " spec/support/dkim_verify.py verify " .. msg .. " " .. keys .. " 2>&1")
  local out = p:read("a")
  p:close()
  if out ~= "pass\n" then return false, "dkimpy: " .. out:gsub("\n$", "") end
  return true, "passes mailcast.dkim.verify and dkimpy"
end

local rows, order = {}, {}
local function row(id, label, r, ok, note)
  rows[id] = { label = label, rate = r, ok = ok, check = note }
  order[#order + 1] = id
end

local status = 0
for _, kind in ipairs(KINDS) do
  local name, label, pattern = kind[1], kind[2], kind[3]
  local key = assert(mailcast.dkim.key(dir .. "/" .. name .. ".pem"))
  local opts = { key = key, domain = "example.com", selector = "bench" }
  local ok, note = check(key, assert(mailcast.dkim.sign(raw, opts)))
  if not ok then status = 1 end
  row(name .. "_lua", label .. "  mailcast.dkim.sign (Lua, signed message)", lua_rate(name, "lua"), ok, note)
  row(name .. "_core", label .. "  core.dkim_sign (Lua, header only)", lua_rate(name, "core"), ok, note)
  local c_full, c_step = c_rate(name, "full"), c_rate(name, "step")
  row(name .. "_c", label .. "  mc_dkim_sign (C, full signature)", c_full, c_full ~= nil, "verified in C before timing")
  row(name .. "_step", label .. "  mc_dkim_key_sign (C, signing step)", c_step, c_step ~= nil, "verified in C before timing")
  local o = openssl_rate(pattern)
  row(name .. "_openssl", label .. "  openssl speed (sign)", o, o ~= nil, "openssl's own")
end

print(string.format("\nDKIM signatures per CPU second, %d-byte message (relaxed/relaxed, default headers);"
  .. " best of %d interleaved rounds\n", #raw, ROUNDS))
for _, id in ipairs(order) do
  local r = rows[id]
  print(string.format("  %-56s %10s", r.label, r.ok and string.format("%.0f", r.rate) or "FAILED"))
end
print("\nchecks:")
for _, id in ipairs(order) do
  if id:match("_lua$") then print(string.format("  %-10s %s: %s", rows[id].label:match("^%S+"), rows[id].ok and "ok" or "FAILED", rows[id].check)) end
end
print("\nratios (target: full signature >= 0.8 of openssl's signing rate):")
for _, name in ipairs { "rsa2048", "ed25519" } do
  local label = name == "rsa2048" and "RSA-2048" or "Ed25519"
  common.ratio(rows, name .. "_lua", name .. "_openssl", label .. " full, Lua / openssl", 0.8, 40)
  common.ratio(rows, name .. "_c", name .. "_openssl", label .. " full, C / openssl", 0.8, 40)
  common.ratio(rows, name .. "_step", name .. "_openssl", label .. " signing step / openssl", 0.8, 40)
end
os.exit(status)
