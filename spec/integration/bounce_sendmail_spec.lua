-- Real bounces from a real Sendmail (Debian's sendmail-bin 8.17,
-- unpacked for the run), read by
-- mailcast.bounce.parse as spec/support/bounces/manifest.lua says. The
-- notices saved in spec/support/bounces/sendmail-8/ are always checked; fresh
-- ones are made by spec/support/bounces/sendmail_capture.sh (a private
-- Sendmail in its own namespaces, on 127.0.0.1 only) when this machine
-- allows it.
local capture = require "support.bounce_capture"

local FIXTURES = "spec/support/bounces/sendmail-8"
local EXPECT, ORDER = capture.from_manifest("sendmail-8")


capture.describe_notices {
  mta = "Sendmail", noun = "notice", fixtures = FIXTURES, order = ORDER, expect = EXPECT,
  check = function(token, raw) capture.check(token, raw, EXPECT[token], "mta.sender.test") end,
  script = "sendmail",
  requires = capture.package_requires { "sendmail-bin", "sendmail-base", "sendmail-cf", "m4" },
  needs = "a private Sendmail needs root, unshare, overlayfs, dnsmasq, postfix and its packages from Debian's mirror",
}
