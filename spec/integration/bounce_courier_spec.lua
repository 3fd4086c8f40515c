-- Real bounces from a real Courier (Debian's courier-mta 1.0.16,
-- unpacked for the run), read by
-- mailcast.bounce.parse as spec/support/bounces/manifest.lua says. The
-- notices saved in spec/support/bounces/courier-mta/ are always checked; fresh
-- ones are made by spec/support/bounces/courier_capture.sh (a private
-- Courier in its own namespaces, on 127.0.0.1 only) when this machine
-- allows it.
local capture = require "support.bounce_capture"

local FIXTURES = "spec/support/bounces/courier-mta"
local EXPECT, ORDER = capture.from_manifest("courier-mta")


capture.describe_notices {
  mta = "Courier", noun = "notice", fixtures = FIXTURES, order = ORDER, expect = EXPECT,
  check = function(token, raw) capture.check(token, raw, EXPECT[token], "mta.sender.test") end,
  script = "courier",
  requires = capture.package_requires { "courier-mta", "courier-base", "courier-authlib", "libcourier-unicode4" },
  needs = "a private Courier needs root, unshare, overlayfs, dnsmasq, postfix and its packages from Debian's mirror",
}
