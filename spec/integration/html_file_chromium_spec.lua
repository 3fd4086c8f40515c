-- A web page sent as it is, as a person sees it: headless Chromium
-- renders the original page (spec/support/page) and the HTML part of the
-- message made of it, with each cid: image written to a folder and the
-- references pointed at those files. The images must load as they do on
-- the web, the stylesheet's rules must reach the elements, and the two
-- screenshots must be the same above the form the mail leaves out.
-- Chromium reaches no network: every host name fails to resolve and
-- every request goes to a closed port of 127.0.0.1.
--
-- MAILCAST_SCREENSHOTS=DIR keeps both screenshots in DIR (the docs'
-- examples/newsletter/screenshots/ are made so).
local mailcast = require "mailcast"
local json = require "dkjson"
local mime = require "support.mime"
local helper = require "spec.helper"

local q = mime.sh_quote
local PAGE = helper.root .. "/spec/support/page"
local CHROMIUM = os.getenv("MAILCAST_CHROMIUM") or "/usr/bin/chromium"

-- Measures what a person would check, once the page has loaded: each
-- image's natural width (0: it did not load), the computed styles the
-- stylesheet and the <style> block give, and where the form begins.
-- Added to both pages only to read them; it draws nothing.
local PROBE = [[<script>window.onload = function () {
  var form = document.querySelector("form");
  document.title = JSON.stringify({
    images: [].map.call(document.images, function (i) { return i.naturalWidth; }),
    note: getComputedStyle(document.querySelector(".note")).borderLeftWidth,
    banner: getComputedStyle(document.querySelector(".banner")).backgroundImage,
    body: getComputedStyle(document.body).backgroundImage,
    form: form ? form.getBoundingClientRect().top : null
  });
};</script>
</body>]]

local function chromium(dir, args, url)
  return helper.sh(string.format("timeout 120 %s --headless --no-sandbox --disable-gpu --no-first-run"
    .. " --disable-background-networking --disable-component-update --disable-default-apps --disable-sync"
    .. " --hide-scrollbars --force-device-scale-factor=1 --window-size=800,1000"
    .. " --host-resolver-rules='MAP * ~NOTFOUND' --proxy-server=127.0.0.1:9 --user-data-dir=%s %s %s 2>/dev/null",
    q(CHROMIUM), q(dir .. "/profile"), args, q(url)))
end

local function need_chromium()
  local f = io.open(CHROMIUM)
  if not f then
    error("headless Chromium is needed by this spec and is not installed at " .. CHROMIUM
      .. ": run .ci/deps (it installs the Debian package chromium)")
  end
  f:close()
end

-- What PROBE found in the page at path.
local function probe(dir, path)
  local dom, code = chromium(dir, "--dump-dom --virtual-time-budget=5000", "file://" .. path)
  assert.equal(0, code, dom)
  local title = assert(dom:match("<title>(.-)</title>"), "no title in:\n" .. dom)
  title = title:gsub("&quot;", '"'):gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&amp;", "&")
  return assert(json.decode(title))
end

local function screenshot(dir, path, png)
  local out, code = chromium(dir, "--screenshot=" .. q(png) .. " --virtual-time-budget=5000", "file://" .. path)
  assert.equal(0, code, out)
  assert(mime.try_read(png), "no screenshot: " .. out)
end

-- The message's leaves as Python's email reads them.
local function leaves(raw, dir)
  mime.write(dir .. "/message.eml", raw)
  local p = assert(io.popen("/usr/bin/python3 spec/support/pypage.py " .. q(dir .. "/message.eml")))
  local view = json.decode(p:read("a"))
  p:close()
  return view.parts
end

describe("a web page sent as it is, rendered by headless Chromium", function()
  local dir, original, mail

  setup(function()
    need_chromium()
    dir = mime.tmpdir()
    -- The original page, with the probe, in a copy of its folder.
    os.execute(string.format("cp -R %s %s", q(PAGE), q(dir .. "/original")))
    local page = mime.read(dir .. "/original/index.html")
    mime.write(dir .. "/original/index.html", (page:gsub("</body>", function() return PROBE end)))
    -- The mail's HTML, its cid: references pointed at the parts written
    -- to a folder beside it.
    local raw = assert(mailcast.message { from = "news@example.com", to = "reader@example.org", subject = "s",
      html_file = PAGE .. "/index.html", base_url = "https://shop.example.com/news/" })
    os.execute("mkdir -p " .. q(dir .. "/mail/parts"))
    local html
    for _, part in ipairs(leaves(raw, dir)) do
      if part.type == "text/html" then html = part.text
      elseif part.cid then mime.write(dir .. "/mail/parts/" .. part.cid:gsub("[^%w.-]", "_"), mailcast.b64.decode(part.body)) end
    end
    html = html:gsub("cid:([^\"')%s]+)", function(cid) return "parts/" .. cid:gsub("[^%w.-]", "_") end)
    assert.is_nil(html:find("cid:", 1, true))
    mime.write(dir .. "/mail/index.html", (html:gsub("</body>", function() return PROBE end)))
    original = probe(dir, dir .. "/original/index.html")
    mail = probe(dir, dir .. "/mail/index.html")
  end)

  teardown(function()
    if dir then mime.rmdir(dir) end
  end)

  it("loads every image of the mail as the web page loads it", function()
    -- logo, photo, remote (no network here), the form's and the script's
    assert.same({ 120, 60, 0, 0, 0 }, original.images)
    assert.same({ 120, 60, 0 }, mail.images)   -- the last two went with the form and the script
  end)

  it("applies the stylesheet's and the <style> block's rules, their images resolved", function()
    assert.equal("4px", original.note)
    assert.equal("4px", mail.note)
    assert.matches("/img/bg/header%.png", original.banner)
    assert.matches("/mail/parts/page%d+%.header%.png", mail.banner)
    assert.matches("/mail/parts/page%d+%.tile%.png", mail.body)
  end)

  it("looks the same as the web page above the form the mail leaves out", function()
    assert.is_number(original.form)
    assert.is_nil(mail.form)
    screenshot(dir, dir .. "/original/index.html", dir .. "/original.png")
    screenshot(dir, dir .. "/mail/index.html", dir .. "/mail.png")
    local keep = os.getenv("MAILCAST_SCREENSHOTS")
    if keep then
      os.execute(string.format("mkdir -p %s && cp %s %s && cp %s %s", q(keep), q(dir .. "/original.png"),
        q(keep .. "/original.png"), q(dir .. "/mail.png"), q(keep .. "/mail.png")))
    end
    local out, code = helper.sh(string.format("/usr/bin/python3 spec/support/png_diff.py %s %s %d",
      q(dir .. "/original.png"), q(dir .. "/mail.png"), math.floor(original.form)))
    assert.equal(0, code, out)
    local width, height, differing = out:match("^(%d+) (%d+) ([%d.]+)")
    assert.equal("800", width)
    assert.equal("1000", height)
    assert.is_true(tonumber(differing) < 0.005, "pixels that differ above the form: " .. out)
    -- and below it the mail is shorter by what it left out: it does differ
    out = helper.sh(string.format("/usr/bin/python3 spec/support/png_diff.py %s %s",
      q(dir .. "/original.png"), q(dir .. "/mail.png")))
    assert.is_true(tonumber(out:match("^%d+ %d+ ([%d.]+)")) > 0, out)
  end)
end)


describe("a page's @import rules that stay, rendered by headless Chromium", function()
  setup(need_chromium)

  it("applies the rules of an @import kept after one whose stylesheet was put in its place", function()
    local dir = mime.tmpdir()
    mime.write(dir .. "/local.css", ".local{border-left:3px solid}")
    -- (a data: stylesheet stays as it is, and loads with no network)
    mime.write(dir .. "/index.html", [[<style>@import "local.css";]]
      .. [[@import url("data:text/css,.kept{border-left:7px%20solid}");</style>]]
      .. [[<p class="local">a</p><p class="kept">b</p>]])
    local p = assert(require("mailcast.page").load(dir .. "/index.html"))
    mime.write(dir .. "/mail.html", p.html .. [[<script>window.onload = function () {
  function width(c) { return getComputedStyle(document.querySelector(c)).borderLeftWidth; }
  document.title = width(".local") + " " + width(".kept");
};</script>]])
    local dom, code = chromium(dir, "--dump-dom --virtual-time-budget=5000", "file://" .. dir .. "/mail.html")
    mime.rmdir(dir)
    assert.equal(0, code, dom)
    assert.equal("3px 7px", dom:match("<title>(.-)</title>"))
  end)
end)
