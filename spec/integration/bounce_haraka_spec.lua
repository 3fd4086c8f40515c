-- Real bounces from a real Haraka (the Haraka 3 package from npm, its
-- outbound delivery), read by mailcast.bounce.parse as spec/support/bounces/manifest.lua says. The
-- notices saved in spec/support/bounces/haraka/ are always checked; fresh
-- ones are made by spec/support/bounces/haraka_capture.sh (a private
-- Haraka in its own namespaces, on 127.0.0.1 only) when this machine
-- allows it.
local capture = require "support.bounce_capture"

local FIXTURES = "spec/support/bounces/haraka"
local EXPECT, ORDER = capture.from_manifest("haraka")


capture.describe_notices {
  mta = "Haraka", noun = "notice", fixtures = FIXTURES, order = ORDER, expect = EXPECT,
  check = function(token, raw) capture.check(token, raw, EXPECT[token], "me.sender.test") end,
  script = "haraka",
  requires = "[ \"$(id -u)\" = 0 ] && command -v dnsmasq && command -v ip && command -v postfix && " ..
             "command -v node && command -v npm && unshare --mount --net --pid --fork true && " ..
             "timeout 20 npm view Haraka@3 version",
  needs = "a private Haraka needs root, unshare, dnsmasq, postfix, node and the npm registry",
}
