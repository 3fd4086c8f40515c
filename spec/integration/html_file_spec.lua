-- A web page sent as it is, read back by an independent parser: the
-- page of spec/support/page (images in subfolders, a linked stylesheet
-- with a background image, a <style> block, a relative link, a script,
-- a form, an iframe) built by mailcast and parsed by Python's email
-- package (spec/support/pypage.py).
local mailcast = require "mailcast"
local core = require "mailcast.core"
local json = require "dkjson"
local mime = require "support.mime"
local helper = require "spec.helper"

local PAGE = helper.root .. "/spec/support/page/"

-- Python's view of raw: {defects=, parts={{type=, cid=, body=, text=}...}}.
local function python_view(raw)
  local dir = mime.tmpdir()
  mime.write(dir .. "/message.eml", raw)
  local p = assert(io.popen("/usr/bin/python3 spec/support/pypage.py " .. mime.sh_quote(dir .. "/message.eml") .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  mime.rmdir(dir)
  assert(ok, "pypage.py failed:\n" .. out)
  local view = assert(json.decode(out))
  for _, part in ipairs(view.parts) do part.body = mailcast.b64.decode(part.body) end
  return view
end

local function of_type(view, ctype)
  local out = {}
  for _, part in ipairs(view.parts) do
    if part.type == ctype then out[#out + 1] = part end
  end
  return out
end

describe("a web page sent as it is, read by Python's email", function()
  local view, html, text
  setup(function()
    local raw = assert(mailcast.message { from = "News <news@example.com>", to = "reader@example.org",
      subject = "Spring news", html_file = PAGE .. "index.html",
      base_url = "https://shop.example.com/news/spring.html" })
    view = python_view(raw)
    html = of_type(view, "text/html")[1].text
    text = of_type(view, "text/plain")[1].text
  end)

  it("parses without defects into text, HTML and one part per image file", function()
    assert.equal(0, view.defects)
    local types = {}
    for i, part in ipairs(view.parts) do types[i] = part.type end
    assert.same({ "text/plain", "text/html", "image/png", "image/png", "image/png", "image/png", "image/png" }, types)
  end)

  it("has every image as a cid: part whose bytes are the file's", function()
    local by_cid = {}
    for _, part in ipairs(of_type(view, "image/png")) do
      assert.equal("inline", part.disposition)
      by_cid[part.cid] = part.body
    end
    local function image(pattern)
      local cid = assert(html:match(pattern), "not in the HTML: " .. pattern)
      return by_cid[cid]
    end
    assert.equal(mime.read(PAGE .. "img/logo.png"), image('<img src="cid:([^"]+)" srcset="cid:[^"]+ 1x, cid:[^"]+ 2x"'))
    assert.equal(mime.read(PAGE .. "img/logo@2x.png"), image('srcset="cid:[^"]+ 1x, cid:([^"]+) 2x" alt="Example Shop"'))
    assert.equal(mime.read(PAGE .. "img/photo.png"), image("url%(cid:([^)]+)%) no%-repeat"))
    assert.equal(mime.read(PAGE .. "img/photo.png"), image('<img src="cid:([^"]+)" alt="The same photo again"'))
    assert.equal(mime.read(PAGE .. "img/bg/header.png"), image("%.banner { background%-image: url%(cid:([^)]+)%)"))
    assert.equal(mime.read(PAGE .. "img/bg/tile.png"), image('<table background="cid:([^"]+)"'))
    assert.equal(mime.read(PAGE .. "img/bg/tile.png"), image("background: #fff url%(cid:([^)]+)%)"))
  end)

  it("leaves no relative reference: images are cid: or remote, links absolute", function()
    local scan = core.html_page(html)
    assert.is_true(#scan.refs >= 6)
    for _, r in ipairs(scan.refs) do
      assert.matches("^cid:", r.url:gsub("^https://cdn%.example%.com/", "cid:"))
    end
    for _, l in ipairs(scan.links) do
      assert.matches("^[%a]+:", l.url)
    end
    assert.matches('href="https://shop.example.com/news/shop/garden.html"', html, 1, true)
    assert.matches('href="https://shop.example.com/news/about.html#team"', html, 1, true)
  end)

  it("carries the stylesheet's rules into a <style> of the page", function()
    local head = html:match("<head>(.-)</head>")
    assert.matches(".note { border-left: 4px solid #1e5aa0; padding-left: 8px; }", head, 1, true)
    assert.matches("h1 { color: #1e5aa0; }", head, 1, true)
    assert.is_nil(html:find("<link", 1, true))
  end)

  it("has no script, form or iframe left, and keeps the rest of the page as it was", function()
    for _, gone in ipairs { "<script", "tracker.js", "document.write", "<form", "<input", "<iframe" } do
      assert.is_nil(html:find(gone, 1, true), gone)
    end
    assert.matches('<p class="note">Hello {{name}}, here is what&rsquo;s new.</p>', html, 1, true)
    assert.matches("<h1>Spring news &amp; offers</h1>", html, 1, true)
  end)

  it("has a text part that reads well", function()
    assert.equal(table.concat({
      "Spring news & offers",
      "",
      "Hello {{name}}, here is what’s new.",
      "",
      "Example Shop",
      "",
      "Photo of the week",
      "",
      "- New garden tools (https://shop.example.com/news/shop/garden.html)",
      "- Free delivery",
      "",
      "The same photo again remote",
      "",
      "Read more about us (https://shop.example.com/news/about.html#team) or write to news@example.com.",
      "" }, "\n"), text)
  end)
end)

-- (The test server is on 127.0.0.1: embed_remote = "private" lets the
-- page reach it.)
describe("a page's remote images with embed_remote", function()
  local serve = require "support.serve"
  local page = require "mailcast.page"
  local PNG = mime.read(PAGE .. "img/photo.png")
  local dir, port, pid, log

  setup(function()
    dir = mime.tmpdir()
    os.execute("mkdir -p " .. mime.sh_quote(dir .. "/files/img"))
    mime.write(dir .. "/files/img/remote.png", PNG)
    mime.write(dir .. "/files/page.html", "<p>not an image</p>")
    os.execute("mkdir -p " .. mime.sh_quote(dir .. "/files/css"))
    mime.write(dir .. "/files/css/site.css", ".hero { background: url(../img/remote.png) }\n")
    mime.write(dir .. "/files/css/latin.css", '.l{content:"caf\233"}')
    mime.write(dir .. "/files/css/says-utf8.css", '@charset "utf-8";.s{content:"\233t\233"}')
    log = dir .. "/requests.log"
    port, pid = serve.background(string.format("timeout 300 /usr/bin/python3 %s %s %s %s",
      mime.sh_quote(helper.root .. "/spec/support/http_files.py"), mime.sh_quote(dir .. "/files"),
      mime.sh_quote(dir .. "/port"), mime.sh_quote(log)), dir .. "/port", dir .. "/server.out")
  end)

  teardown(function()
    if pid then serve.stop(pid) end
    mime.rmdir(dir)
  end)

  local function requests()
    local out = {}
    for line in (serve.try_read(log) or ""):gmatch("[^\n]+") do out[#out + 1] = line end
    return out
  end

  local function page_with(body)
    local path = dir .. "/index-" .. tostring(#requests()) .. "-" .. tostring(math.random(1e9)) .. ".html"
    mime.write(path, body)
    return path
  end

  it("fetches each remote image once at the start and sends it inline to every recipient", function()
    local url = "http://127.0.0.1:" .. port .. "/img/remote.png"
    local before = #requests()
    local c = mailcast.campaign { name = "remote-images", from = "news@example.com", subject = "Hi",
      html_file = page_with('<img src="' .. url .. '"><p style="background:url(' .. url .. ')">x</p>'),
      embed_remote = "private", route = { host = "127.0.0.1", port = 2525 },
      recipients = { { email = "a@example.org" }, { email = "b@example.org" }, { email = "c@example.org" } } }
    local seen = {}
    for _, address in ipairs { "a@example.org", "b@example.org", "c@example.org" } do
      local view = python_view(assert(mailcast.message(assert(c:message(address, {})))))
      local images = of_type(view, "image/png")
      assert.equal(1, #images)
      assert.equal(PNG, images[1].body)
      local html = of_type(view, "text/html")[1].text
      assert.equal(2, select(2, html:gsub("cid:" .. images[1].cid:gsub("%p", "%%%0"), "")))
      seen[#seen + 1] = address
    end
    assert.equal(3, #seen)
    assert.same({ "/img/remote.png" }, { table.unpack(requests(), before + 1) })
  end)

  it("puts a remote stylesheet into the page, its relative images fetched from its own address", function()
    local url = "http://127.0.0.1:" .. port .. "/css/site.css"
    local before = #requests()
    local p = assert(page.load(page_with('<head><link rel="stylesheet" href="' .. url .. '"></head>'),
      { embed_remote = "private" }))
    assert.equal("<head><style>\n.hero { background: url(cid:" .. p.inline[1].cid .. ") }\n\n</style></head>", p.html)
    assert.equal(PNG, p.inline[1].data)
    assert.same({ "/css/site.css", "/img/remote.png" }, { table.unpack(requests(), before + 1) })
  end)

  it("reads a remote stylesheet in the charset its server gives, before its @charset", function()
    local base = "http://127.0.0.1:" .. port .. "/css/"
    local p = assert(page.load(page_with('<head><link rel="stylesheet" href="' .. base .. 'latin.css?charset=ISO-8859-1">'
      .. '<link rel="stylesheet" href="' .. base .. 'says-utf8.css?charset=&quot;latin1&quot;"></head>'),
      { embed_remote = "private" }))
    assert.equal('<head><style>\n.l{content:"caf\195\169"}\n</style><style>\n.s{content:"\195\169t\195\169"}\n</style></head>',
      p.html)
  end)

  it("keeps the media of a stylesheet a remote base makes remote", function()
    local p = assert(page.load(page_with('<head><base href="http://127.0.0.1:' .. port .. '/">'
      .. '<link rel="stylesheet" media="print" href="css/site.css"></head>')))
    assert.equal('<head><link rel="stylesheet" href="http://127.0.0.1:' .. port .. '/css/site.css" media="print"></head>',
      p.html)
  end)

  it("fetches nothing from the machine's own network with embed_remote = true", function()
    local url = "http://127.0.0.1:" .. port .. "/img/remote.png"
    local before = #requests()
    local p, err = page.load(page_with('<img src="' .. url .. '">'), { name = "inside.html", embed_remote = true })
    assert.is_nil(p)
    assert.matches("inside.html: <img src>: fetching '" .. url .. "' failed: 127.0.0.1 is a private or local address: "
      .. 'not fetched (embed_remote = "private" allows it)', err, 1, true)
    assert.equal(before, #requests())
  end)

  it("follows redirects one at a time, a few of them", function()
    local url = "http://127.0.0.1:" .. port .. "/redirect/3/img/remote.png"
    local p = assert(page.load(page_with('<img src="' .. url .. '">'), { embed_remote = "private" }))
    assert.equal(PNG, p.inline[1].data)
    local too_many = "http://127.0.0.1:" .. port .. "/redirect/9/img/remote.png"
    local q, err = page.load(page_with('<img src="' .. too_many .. '">'), { name = "loop.html", embed_remote = "private" })
    assert.is_nil(q)
    assert.matches("fetching '" .. too_many .. "' failed: more than 5 redirects", err, 1, true)
  end)

  it("leaves remote images as links without embed_remote, and fetches nothing", function()
    local url = "http://127.0.0.1:" .. port .. "/img/remote.png"
    local before = #requests()
    local p = assert(page.load(page_with('<img src="' .. url .. '">')))
    assert.equal('<img src="' .. url .. '">', p.html)
    assert.equal(before, #requests())
  end)

  it("refuses an image larger than the cap, naming the page and the URL", function()
    local url = "http://127.0.0.1:" .. port .. "/big"
    local p, err = page.load(page_with('<img src="' .. url .. '">'), { name = "big.html", embed_remote = "private" })
    assert.is_nil(p)
    assert.matches("big.html: <img src>: fetching '" .. url .. "' failed: larger than " .. page.REMOTE_MAX, err, 1, true)
  end)

  it("gives up on a server that does not answer, after the timeout", function()
    local saved = page.REMOTE_TIMEOUT
    page.REMOTE_TIMEOUT = 0.5
    local url = "http://127.0.0.1:" .. port .. "/hang"
    local p, err = page.load(page_with('<img src="' .. url .. '">'), { name = "hang.html", embed_remote = "private" })
    page.REMOTE_TIMEOUT = saved
    assert.is_nil(p)
    assert.matches("hang.html: <img src>: fetching '" .. url .. "' failed: timeout", err, 1, true)
  end)

  it("refuses what a server sends that is not an image", function()
    local url = "http://127.0.0.1:" .. port .. "/page.html"
    local p, err = page.load(page_with('<img src="' .. url .. '">'), { name = "odd.html", embed_remote = "private" })
    assert.is_nil(p)
    assert.matches("odd.html: <img src>: '" .. url .. "' is not an image (its content type is application/octet-stream)",
      err, 1, true)
  end)

  it("says what a missing remote image is", function()
    local url = "http://127.0.0.1:" .. port .. "/img/gone.png"
    local p, err = page.load(page_with('<img src="' .. url .. '">'), { name = "gone.html", embed_remote = "private" })
    assert.is_nil(p)
    assert.matches("fetching '" .. url .. "' failed: HTTP 404", err, 1, true)
  end)
end)

describe("mailcast run --dry-run of a campaign sent from a page", function()
  it("takes the page from the script's folder and reports its relative links as problems", function()
    local dir = mime.tmpdir()
    os.execute("mkdir -p " .. mime.sh_quote(dir .. "/site/img"))
    mime.write(dir .. "/site/img/logo.png", mime.read(PAGE .. "img/logo.png"))
    mime.write(dir .. "/site/index.html", '<p><img src="img/logo.png"> Hi {{name}}, see <a href="about.html">us</a>'
      .. '<script>x()</script></p>')
    mime.write(dir .. "/news.lua", [[
local mailcast = require "mailcast"
return mailcast.campaign {
  name = "page-dry-run", from = "news@example.com", subject = "Hi",
  html_file = "site/index.html",
  recipients = { { email = "a@example.org", name = "A" }, { email = "b@example.org", name = "B" } },
  route = { host = "127.0.0.1", port = 9 },
}
]])
    local out, code = helper.sh(string.format("cd / && %s run %s --dry-run --store %s", mime.sh_quote(helper.runner),
      mime.sh_quote(dir .. "/news.lua"), mime.sh_quote(dir .. "/store.db")))
    mime.rmdir(dir)
    assert.equal(1, code, out)
    assert.matches("page-dry-run: site/index.html: <script> removed: mail readers block it", out, 1, true)
    assert.matches("page-dry-run: site/index.html: the relative link 'about.html' leads nowhere in a mail", out, 1, true)
    assert.matches("page-dry-run: 2 messages ready, 1 problems", out, 1, true)
  end)
end)
