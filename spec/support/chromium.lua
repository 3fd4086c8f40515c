-- Debian's Chromium in headless mode, for the specs that look at a page
-- as a person's browser shows it. It is kept on this machine: every
-- request goes to a proxy on 127.0.0.1 where nothing listens, no name is
-- resolved, and the browser's own background services (updates, sync,
-- accounts) are turned off; its net log tells which requests the page
-- itself made.
local helper = require "helper"
local mime = require "support.mime"

local q = mime.sh_quote

local M = {}

M.PATH = "/usr/bin/chromium"

local FLAGS = table.concat({
  "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
  "--no-default-browser-check", "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
  "--disable-client-side-phishing-detection", "--disable-breakpad",
  "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,SpellCheck",
  "--proxy-server=http://127.0.0.1:9", "'--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'",
}, " ")

--- available() -> whether Chromium is installed (.ci/deps installs it).
function M.available()
  return os.execute("test -x " .. q(M.PATH)) == true
end

--- load(file, opts) -> {dom=, fetches={urls}, screenshot=path|nil}: the
-- page at file (a path, or an http:// URL of 127.0.0.1) loaded; dom is the document after loading, as
-- --dump-dom writes it; fetches, the URLs the page asked for. opts:
-- screenshot (a PNG path), width and height of the window.
function M.load(file, opts)
  opts = opts or {}
  local url = file:match("^http://127%.0%.0%.1:%d+/") and file or "file://" .. file
  local dir = mime.tmpdir()
  local common = string.format("%s --user-data-dir=%s --window-size=%d,%d", FLAGS, q(dir .. "/profile"),
    opts.width or 1024, opts.height or 2000)
  -- (stderr apart: Chromium writes its complaints there, the DOM on stdout)
  local out, code = helper.sh(string.format("(timeout 120 %s %s --log-net-log=%s --dump-dom %s 2>/dev/null)",
    q(M.PATH), common, q(dir .. "/net.json"), q(url)))
  assert(code == 0, "chromium --dump-dom failed: " .. tostring(out))
  local page = { dom = out, fetches = {} }
  local urls = assert(helper.sh("/usr/bin/python3 spec/support/netlog.py " .. q(dir .. "/net.json")))
  for fetched in urls:gmatch("[^\n]+") do page.fetches[#page.fetches + 1] = fetched end
  if opts.screenshot then
    local shot_out, shot_code = helper.sh(string.format("timeout 120 %s %s --screenshot=%s %s", q(M.PATH), common,
      q(opts.screenshot), q(url)))
    assert(shot_code == 0, "chromium --screenshot failed: " .. tostring(shot_out))
    page.screenshot = opts.screenshot
  end
  mime.rmdir(dir)
  return page
end

return M
