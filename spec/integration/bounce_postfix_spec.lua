-- Real bounces from a real Postfix: DSNs for an unknown user, a full
-- mailbox, a domain that does not exist, a recipient refused over SMTP,
-- a delivery that expired, a recipient refused for a block list, a
-- refused sender and a message too big for the next server, read by mailcast.bounce.parse. The DSNs
-- saved in spec/support/bounces/postfix/ are always checked; fresh ones
-- are made by spec/support/bounces/postfix_capture.sh (a private Postfix
-- in its own namespaces, on 127.0.0.1 only) when this machine allows it.
local mailcast = require "mailcast"
local capture = require "support.bounce_capture"

local FIXTURES = "spec/support/bounces/postfix"

-- What each DSN must say: its recipient, reason, hard, status.
local EXPECT = {
  ["unknown-user"] = { address = "nosuch@dest.test", reason = "user_unknown", hard = true, status = "5.1.1" },
  ["mailbox-full"] = { address = "full@dest.test", reason = "mailbox_full", hard = false, status = "5.2.2" },
  ["unroutable"] = { address = "someone@nowhere.invalid", reason = "host_unknown", hard = true, status = "5.4.4" },
  ["remote-unknown"] = { address = "nosuch@remote.test", reason = "user_unknown", hard = true, status = "5.1.1",
                         code = 550, remote_mta = "127.0.0.1" },
  ["expired"] = { address = "user@refused.test", reason = "expired", hard = false, status = "4.4.1" },
  ["remote-blocked"] = { address = "blocked@remote.test", reason = "blocked", hard = false, status = "5.7.1", code = 554 },
  ["sender-refused"] = { address = "known@remote.test", reason = "blocked", hard = false, status = "5.7.1", code = 554 },
  ["too-big"] = { address = "big@remote.test", reason = "message_too_big", hard = false, status = "5.3.4" },
}

local ORDER = { "unknown-user", "mailbox-full", "unroutable", "remote-unknown", "expired",
                "remote-blocked", "sender-refused", "too-big" }


-- Checks one DSN against what its token says it must be.
local function check(token, raw)
  local want = EXPECT[token]
  local b, r = capture.check(token, raw, want, "mta.sender.test")
  assert.equal(mailcast.bounce.reasons[want.reason].category, r.category)
  assert.equal("bounces+" .. token .. "@sender.test", b.original_mail_from)
end


capture.describe_notices {
  mta = "Postfix", noun = "DSN", fixtures = FIXTURES, order = ORDER, expect = EXPECT, check = check,
  script = "postfix",
  -- Whether the capture script can run here: root, namespaces, Postfix
  -- and dnsmasq.
  requires = "[ \"$(id -u)\" = 0 ] && command -v postfix && command -v dnsmasq && " ..
             "command -v ip && unshare --mount --net --pid --fork true",
  needs = "a private Postfix needs root, unshare, postfix and dnsmasq",
}
