-- Helpers shared by the specs of real bounces (bounce_exim_spec,
-- bounce_postfix_spec, bounce_dovecot_spec): running a capture script of
-- spec/support/bounces/ and checking a notice against the newsletter those
-- scripts send.
local mailcast = require "mailcast"
local helper = require "helper"
local assert = require "luassert"

local M = {}


--- Whether the shell test CMD passes here: true, or false and what it
-- printed (trailing white space removed), for a pending's message.
function M.can_run(cmd)
  local out, code = helper.sh(cmd)
  local why = (out or ""):gsub("%s+$", "")
  return code == 0, why
end


--- Runs spec/support/bounces/<NAME>_capture.sh into a temporary
-- directory and returns the notices it wrote, by token, for each token of
-- TOKENS (a token with no file is absent). The directory is removed before
-- it returns; raises with the script's output when the script fails.
function M.run(name, tokens)
  local p = assert(io.popen("mktemp -d /tmp/mailcast-bounces-" .. name .. ".XXXXXX"))
  local dir = p:read("l")
  p:close()
  local out, code = helper.sh("sh spec/support/bounces/" .. name .. "_capture.sh " .. dir)
  local fresh = {}
  for _, token in ipairs(tokens) do
    local f = io.open(dir .. "/" .. token .. ".eml", "rb")
    if f then fresh[token] = f:read("a") f:close() end
  end
  helper.sh("rm -rf " .. dir)
  assert(code == 0, name .. "_capture.sh failed:\n" .. out)
  return fresh
end


--- Parses RAW, the notice for the newsletter a capture script sent to
-- TOKEN, and checks what every such notice must say: one failed,
-- permanent recipient with each field of WANT (reason included), the
-- VERP tag, the original message's id and headers, and REPORTING_MTA.
-- Returns the bounce and its recipient for a spec's own checks.
function M.check(token, raw, want, reporting_mta)
  local b = assert(mailcast.bounce.parse(raw))
  assert.equal("dsn", b.kind)
  assert.equal(1, #b.recipients)
  local r = b.recipients[1]
  assert.equal("failed", r.action)
  for k, v in pairs(want) do assert.equal(v, r[k], token .. ": " .. k) end
  assert.is_true(r.permanent)
  assert.equal(token, b.verp)
  assert.equal("<" .. token .. ".20241104@sender.test>", b.message_id)
  assert.same({ ["x-mailcast-campaign"] = "november", ["x-mailcast-recipient"] = token }, b.headers)
  assert.equal(reporting_mta, b.reporting_mta)
  assert.equal(want.reason, b.reason)
  return b, r
end


return M
