-- What the DKIM specs share: keys made with `openssl genpkey` at test
-- time, and dkimpy (spec/support/dkim_verify.py) as the independent
-- verifier and signer.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"

local M = {}

local PYTHON = "/usr/bin/python3"
local SCRIPT = "spec/support/dkim_verify.py"

--- keys(dir) -> {rsa512=, rsa1024=, rsa2048=, rsa4096=, ed25519=}: for
-- each, {path=, key=DkimKey (nil for rsa512, which is refused)}.
function M.keys(dir)
  local out = {}
  local specs = {
    rsa512 = "-algorithm RSA -pkeyopt rsa_keygen_bits:512",
    rsa1024 = "-algorithm RSA -pkeyopt rsa_keygen_bits:1024",
    rsa2048 = "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
    rsa4096 = "-algorithm RSA -pkeyopt rsa_keygen_bits:4096",
    ed25519 = "-algorithm ed25519",
  }
  for name, args in pairs(specs) do
    local path = dir .. "/" .. name .. ".pem"
    local out_text, code = helper.sh("openssl genpkey " .. args .. " -out " .. mime.sh_quote(path))
    assert(code == 0, "openssl genpkey failed: " .. out_text)
    out[name] = { path = path }
    if name ~= "rsa512" then out[name].key = assert(mailcast.dkim.key(path)) end
  end
  return out
end

--- dkimpy_verify(raw, records, dir) -> {"pass" | "fail: why", ...}: one
-- per signature, top to bottom. records: {[name] = TXT text}.
function M.dkimpy_verify(raw, records, dir)
  local msg, keys = dir .. "/dkimpy.eml", dir .. "/dkimpy.keys"
  mime.write(msg, raw)
  local lines = {}
  for name, text in pairs(records) do lines[#lines + 1] = name .. " " .. text end
  mime.write(keys, table.concat(lines, "\n") .. "\n")
  local out, code = helper.sh(PYTHON .. " " .. SCRIPT .. " verify " .. mime.sh_quote(msg) .. " " .. mime.sh_quote(keys))
  assert(code == 0, "dkim_verify.py failed: " .. out)
  local results = {}
  for line in out:gmatch("[^\n]+") do results[#results + 1] = line end
  return results
end

--- dkimpy_sign(raw, key_path, selector, domain, canon, algorithm, dir)
-- -> the DKIM-Signature field dkimpy makes.
function M.dkimpy_sign(raw, key_path, selector, domain, canon, algorithm, dir)
  local msg = dir .. "/unsigned.eml"
  mime.write(msg, raw)
  local cmd = table.concat({ PYTHON, SCRIPT, "sign", mime.sh_quote(msg), mime.sh_quote(key_path),
    selector, domain, canon, algorithm }, " ")
  local p = assert(io.popen(cmd))
  local field = p:read("a")
  assert(p:close(), "dkim_verify.py sign failed")
  return field
end

--- statuses(results) -> the status of each result, in order.
function M.statuses(results)
  local out = {}
  for i, r in ipairs(results) do out[i] = r.status end
  return out
end

return M
