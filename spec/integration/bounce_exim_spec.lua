-- Real bounces from a real Exim (Debian's exim4 4.96): its notices for an
-- unknown local part, a disabled mailbox, a full one, a domain that does
-- not exist, recipients and a sender refused by the next server, a
-- message too big for it and a delivery that expired, read by
-- mailcast.bounce.parse. The notices saved in spec/support/bounces/exim/
-- are always checked; fresh ones are made by
-- spec/support/bounces/exim_capture.sh (a private Exim in its own
-- namespaces, on 127.0.0.1 only) when this machine allows it.
local capture = require "support.bounce_capture"

local FIXTURES = "spec/support/bounces/exim"

-- What each notice must say of its one recipient. Exim's report says
-- "Status: 5.0.0" for its own failures and its text "Unrouteable
-- address" both for a missing domain and a missing local part, so the
-- unroutable domain reads as user_unknown: hard either way.
local EXPECT = {
  ["unknown-local"] = { address = "nosuch@dest.test", reason = "user_unknown", hard = true },
  ["disabled"] = { address = "disabled@dest.test", reason = "mailbox_disabled", hard = true },
  ["mailbox-full"] = { address = "full@dest.test", reason = "mailbox_full", hard = false },
  ["unroutable"] = { address = "someone@nowhere.invalid", reason = "user_unknown", hard = true },
  ["remote-unknown"] = { address = "nosuch@remote.test", reason = "user_unknown", hard = true, code = 550,
                         remote_mta = "127.0.0.1" },
  ["remote-blocked"] = { address = "blocked@remote.test", reason = "blocked", hard = false, code = 550 },
  ["sender-refused"] = { address = "someone@remote.test", reason = "blocked", hard = false, code = 550 },
  ["too-big"] = { address = "big@remote.test", reason = "message_too_big", hard = false, code = 550 },
  ["expired"] = { address = "user@refused.test", reason = "expired", hard = false },
}

local ORDER = { "unknown-local", "disabled", "mailbox-full", "unroutable", "remote-unknown",
                "remote-blocked", "sender-refused", "too-big", "expired" }


capture.describe_notices {
  mta = "Exim", noun = "notice", fixtures = FIXTURES, order = ORDER, expect = EXPECT,
  check = function(token, raw) capture.check(token, raw, EXPECT[token], "mx.sender.test") end,
  script = "exim",
  requires = "[ \"$(id -u)\" = 0 ] && sh spec/support/exim_smtpd.sh --check && " ..
             "command -v dnsmasq && command -v ip && unshare --mount --net --pid --fork true",
  needs = "a private Exim needs root, unshare, dnsmasq and .ci/deps's exim",
}
