-- Real bounces from a real OpenSMTPD (Debian's opensmtpd 6.8, unpacked
-- for the run), read by
-- mailcast.bounce.parse as spec/support/bounces/manifest.lua says. The
-- notices saved in spec/support/bounces/opensmtpd/ are always checked; fresh
-- ones are made by spec/support/bounces/opensmtpd_capture.sh (a private
-- OpenSMTPD in its own namespaces, on 127.0.0.1 only) when this machine
-- allows it.
local capture = require "support.bounce_capture"

local FIXTURES = "spec/support/bounces/opensmtpd"
local EXPECT, ORDER = capture.from_manifest("opensmtpd")


capture.describe_notices {
  mta = "OpenSMTPD", noun = "notice", fixtures = FIXTURES, order = ORDER, expect = EXPECT,
  check = function(token, raw) capture.check(token, raw, EXPECT[token], "mta.sender.test") end,
  script = "opensmtpd",
  requires = capture.package_requires { "opensmtpd" },
  needs = "a private OpenSMTPD needs root, unshare, overlayfs, dnsmasq, postfix and its packages from Debian's mirror",
}
