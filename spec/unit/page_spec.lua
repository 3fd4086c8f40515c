-- A web page sent as it is (html_file): the scanner's findings, the
-- page written again with its images as cid: parts, the paths a page may
-- not reach, relative links, and the text part made of the HTML.
local mailcast = require "mailcast"
local core = require "mailcast.core"
local page = require "mailcast.page"
local mime = require "support.mime"
local helper = require "spec.helper"

local PNG = "\137PNG\r\n\26\n" .. string.rep("\0\1\2\255", 40)

-- A page folder made of files ({["img/a.png"] = bytes, ...}); returns
-- its directory (absolute, with a trailing slash).
local function folder(files)
  local dir = mime.tmpdir() .. "/"
  for name, data in pairs(files) do
    local sub = name:match("^(.*)/")
    if sub then os.execute("mkdir -p " .. mime.sh_quote(dir .. sub)) end
    mime.write(dir .. name, data)
  end
  return dir
end

local function kinds(refs)
  local out = {}
  for i, r in ipairs(refs) do out[i] = r.kind .. " " .. r.url end
  return out
end

describe("core.html_page", function()
  it("finds the images of src, srcset, background, style attributes and <style>", function()
    local html = [[<style>.a{background:url( "img/s.png" )} /* url(no.png) */ .b{content:"url(x.png)"}</style>]]
      .. [[<body background=img/b.png><img src="img/i.png" srcset=" img/1x.png 1x, img/2x.png 2x">]]
      .. [[<td style="background:url(&quot;img/t.png&quot;)">]]
    assert.same({ "style_block img/s.png", "background img/b.png", "src img/i.png",
                  "srcset img/1x.png 1x, img/2x.png 2x", "style img/t.png" }, kinds(core.html_page(html).refs))
  end)

  it("gives each reference's bytes as they are in the page", function()
    local html = [[<img src='a&amp;b.png'><p style="x:url(&quot;c.png&quot;)">]]
    local refs = core.html_page(html).refs
    assert.equal("a&amp;b.png", html:sub(refs[1].at, refs[1].stop))
    assert.equal("a&b.png", refs[1].url)
    assert.equal("'", refs[1].quote)
    assert.equal("&quot;c.png&quot;", html:sub(refs[2].at, refs[2].stop))
    assert.equal("c.png", refs[2].url)
  end)

  it("finds linked stylesheets as whole tags, whatever the order of their attributes", function()
    local html = [[<head><link href="s.css" rel="Alternate StyleSheet"><link rel="icon" href="f.ico"></head>]]
    local scan = core.html_page(html)
    assert.same({ "stylesheet s.css" }, kinds(scan.refs))
    assert.equal([[<link href="s.css" rel="Alternate StyleSheet">]], html:sub(scan.refs[1].at, scan.refs[1].stop))
    assert.equal("</head>", html:sub(scan.head_end, scan.head_end + 6))
  end)

  it("cuts scripts, iframes and forms whole, and what is inside them is no reference", function()
    local html = [[a<script>x = "<img src='s.png'>"</script>b<form><img src="f.png"></form>c<IFRAME src=v.html>]]
      .. [[</iframe>d<script>never closed <img src="n.png">]]
    local scan = core.html_page(html)
    assert.same({}, scan.refs)
    local cut = {}
    for i, c in ipairs(scan.cuts) do cut[i] = c.name .. " " .. html:sub(c.at, c.stop) end
    assert.same({ [[script <script>x = "<img src='s.png'>"</script>]], [[form <form><img src="f.png"></form>]],
                  "iframe <IFRAME src=v.html></iframe>", [[script <script>never closed <img src="n.png">]] }, cut)
  end)

  it("finds the url(...) of a stylesheet outside its comments and strings", function()
    local urls = core.css_urls([[a{b:url(x.png)} /* url(c.png) */ s{content:"url(d.png)"} c{d:URL( 'y y.png' )} u{]]
      .. [[e:myurl(z.png)} f{g:url(]])
    local got = {}
    for i, u in ipairs(urls) do got[i] = u.url end
    assert.same({ "x.png", "y y.png" }, got)
  end)
end)

describe("core.html_text", function()
  it("reads as text: headings, paragraphs, lists, links with their URL, references decoded", function()
    local text = core.html_text([[<html><head><title>T</title><style>p{color:red}</style></head><body>]]
      .. [[<h1>News &amp; offers</h1><p>Hello   {{name}},<br>see <a href="https://x.example/a?b=1&amp;c=2">our shop</a>]]
      .. [[ or <a href="https://x.example/">https://x.example/</a>.</p><ul><li>one</li><li>two<ul><li>inner</li>]]
      .. [[</ul></li></ul><script>document.write("no")</script><p>caf&#233;&nbsp;bar &rsquo;</p></body></html>]])
    assert.equal("News & offers\n\nHello {{name}},\nsee our shop (https://x.example/a?b=1&c=2) or "
      .. "https://x.example/.\n\n- one\n- two\n  - inner\n\ncafé bar ’\n", text)
  end)

  it("decodes the named references of Latin-1, Greek, math and typography, found by a binary search", function()
    assert.equal("éÄßÆÿ½ α→∉ …€—–‘’“”•·™®© ✓\n", core.html_text("<p>&eacute;&Auml;&szlig;&AElig;&yuml;&frac12; "
      .. "&alpha;&rarr;&notin; &hellip;&euro;&mdash;&ndash;&lsquo;&rsquo;&ldquo;&rdquo;&bull;&middot;&trade;&reg;"
      .. "&copy; &check;</p>"))
  end)

  it("decodes legacy names without ';' as a browser does, and leaves unknown names as written", function()
    assert.equal("©2024 &x &bogus; &Zzz;\n", core.html_text("<p>&copy2024 &ampx &bogus; &Zzz;</p>"))
  end)

  it("replaces a numeric reference to no character, a surrogate or a control character with U+FFFD", function()
    assert.equal("😀|\u{FFFD}|\u{FFFD}|\u{FFFD}|\u{FFFD}|\u{FFFD}|–\n",
      core.html_text("<p>&#x1F600;|&#xD800;|&#1;|&#xFFFE;|&#0;|&#x110000;|&#150;</p>"))
  end)

  it("says an image link by its alt, and by its URL when it has none", function()
    assert.equal("Shop (https://s.example/) https://t.example/\n",
      core.html_text([[<a href="https://s.example/"><img alt="Shop"></a> <a href="https://t.example/"><img></a>]]))
  end)
end)

describe("mailcast.page.load", function()
  it("makes each local image a cid: part, the same file once, and leaves every other byte", function()
    local dir = folder { ["img/a.png"] = PNG, ["img/b.png"] = PNG .. "b" }
    local html = [[<p>Hi</p><img src="img/a.png" alt="x"><IMG SRC=./img/a.png>]]
      .. [[<div style="background: url('img/b.png') repeat">text</div><img src="https://cdn.example/r.png">]]
    mime.write(dir .. "index.html", html)
    local p = assert(page.load(dir .. "index.html"))
    assert.equal(2, #p.inline)
    local a, b = "cid:" .. p.inline[1].cid, "cid:" .. p.inline[2].cid
    assert.equal(dir .. "img/a.png", p.inline[1].path)
    assert.equal(dir .. "img/b.png", p.inline[2].path)
    assert.equal([[<p>Hi</p><img src="]] .. a .. [[" alt="x"><IMG SRC=]] .. a .. [[>]]
      .. [[<div style="background: url(]] .. b .. [[) repeat">text</div><img src="https://cdn.example/r.png">]], p.html)
  end)

  it("refuses a reference that leads outside the page's folder", function()
    local dir = folder { ["page/index.html"] = [[<img src="../../../../etc/passwd">]], ["secret.png"] = PNG }
    local p, err = page.load(dir .. "page/index.html", { name = "page/index.html" })
    assert.is_nil(p)
    assert.equal("page/index.html: <img src>: '../../../../etc/passwd' leads outside the page's folder", err)
    mime.write(dir .. "page/index.html", [[<p style="background:url(img/..%2f..%2fsecret.png)">]])
    p, err = page.load(dir .. "page/index.html", { name = "page/index.html" })
    assert.is_nil(p)
    assert.matches("leads outside the page's folder", err, 1, true)
    mime.write(dir .. "page/index.html", [[<img src="img\..\..\secret.png">]])
    p, err = page.load(dir .. "page/index.html", { name = "page/index.html" })
    assert.is_nil(p)
    assert.matches("leads outside the page's folder", err, 1, true)
  end)

  it("follows no symbolic link out of the page's folder, and one inside it is the same file", function()
    local dir = folder { ["page/index.html"] = [[<img src="img/key.png"><img src="img/alias.png">]],
                         ["page/img/logo.png"] = PNG, ["secret.txt"] = "private key" }
    os.execute(string.format("ln -s %s %s && ln -s logo.png %s", mime.sh_quote(dir .. "secret.txt"),
      mime.sh_quote(dir .. "page/img/key.png"), mime.sh_quote(dir .. "page/img/alias.png")))
    local p, err = page.load(dir .. "page/index.html", { name = "page/index.html" })
    assert.is_nil(p)
    assert.matches("page/index.html: <img src>: 'img/key.png' leads outside the page's folder (a symbolic link to ",
      err, 1, true)
    mime.write(dir .. "page/index.html", [[<img src="img/logo.png"><img src="img/alias.png">]])
    p = assert(page.load(dir .. "page/index.html"))
    assert.equal(1, #p.inline)
    assert.matches("/page/img/logo%.png$", p.inline[1].path)
  end)

  it("refuses a reference to a folder or a device as a missing file", function()
    local dir = folder { ["img/x.png"] = PNG, ["index.html"] = [[<img src="img">]] }
    local p, err = page.load(dir .. "index.html", { name = "index.html" })
    assert.is_nil(p)
    assert.matches("'img' is not there", err, 1, true)
  end)

  it("takes a path from / as from the page's folder, not the machine's root", function()
    local dir = folder { ["index.html"] = [[<img src="/etc/passwd">]] }
    local p, err = page.load(dir .. "index.html", { name = "index.html" })
    assert.is_nil(p)
    assert.equal("index.html: <img src>: '/etc/passwd' is not there (" .. dir .. "etc/passwd)", err)
  end)

  it("names the page and the reference of a file that is missing", function()
    local dir = folder { ["index.html"] = [[<table background="img/gone.png">]] }
    local p, err = page.load(dir .. "index.html", { name = "news/index.html" })
    assert.is_nil(p)
    assert.equal("news/index.html: background: 'img/gone.png' is not there (" .. dir .. "img/gone.png)", err)
  end)

  it("refuses a file: URL", function()
    local dir = folder { ["index.html"] = [[<img src="file:///etc/passwd">]] }
    local p, err = page.load(dir .. "index.html", { name = "index.html" })
    assert.is_nil(p)
    assert.matches("file: URL is not sent", err, 1, true)
  end)

  it("puts a linked stylesheet into the page, its images taken from its own folder", function()
    local dir = folder { ["css/s.css"] = "body { background: url(../img/t.png) }", ["img/t.png"] = PNG,
                         ["index.html"] = [[<head><link rel="stylesheet" href="css/s.css"></head><p>x</p>]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal("<head><style>\nbody { background: url(cid:" .. p.inline[1].cid .. ") }\n</style></head><p>x</p>",
      p.html)
    assert.equal(dir .. "img/t.png", p.inline[1].path)
  end)

  it("keeps a linked stylesheet's media: a print stylesheet stays for print", function()
    local dir = folder { ["print.css"] = "nav { display: none }", ["all.css"] = "p { color: red }",
                         ["index.html"] = [[<link rel=stylesheet media="print" href=print.css>]]
                           .. [[<link rel=stylesheet media=all href=all.css>]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal("<style>\n@media print {\nnav { display: none }\n}\n</style><style>\np { color: red }\n</style>", p.html)
  end)

  it("refuses a stylesheet media attribute that is no media query list", function()
    local dir = folder { ["s.css"] = "a{}", ["index.html"] = [[<link rel=stylesheet media="x{}a" href=s.css>]] }
    local p, err = page.load(dir .. "index.html", { name = "index.html" })
    assert.is_nil(p)
    assert.matches("index.html: <link rel=stylesheet>: media 'x{}a' is not a media query list", err, 1, true)
  end)

  it("refuses a stylesheet that would end the <style> it goes into", function()
    local dir = folder { ["s.css"] = "a{}</style><script>x()</script>",
                         ["index.html"] = [[<link rel=stylesheet href=s.css>]] }
    local p, err = page.load(dir .. "index.html", { name = "index.html" })
    assert.is_nil(p)
    assert.matches("'s.css' holds \"</style\"", err, 1, true)
  end)

  it("removes scripts, iframes and forms and says so, naming the page", function()
    local dir = folder { ["index.html"] = [[<p>a</p><script src="t.js"></script><form><input></form><p>b</p>]] }
    local p = assert(page.load(dir .. "index.html", { name = "news.html" }))
    assert.equal("<p>a</p><p>b</p>", p.html)
    assert.same({ "news.html: <script> removed: mail readers block it",
                  "news.html: <form> removed: mail readers block it" }, p.warnings)
  end)

  it("makes relative links absolute from base_url, and reports them without it", function()
    local html = [[<a href="about.html">a</a><a href='/shop?x=1&amp;y=2'>s</a><a href=../up.html>u</a>]]
      .. [[<a href="#top">t</a><a href="mailto:a@example.com">m</a><a href="{{unsubscribe_url}}">u</a>]]
    local dir = folder { ["index.html"] = html }
    local p = assert(page.load(dir .. "index.html", { name = "index.html" }))
    assert.equal(html, p.html)
    assert.same({ "about.html", "/shop?x=1&y=2", "../up.html" }, (function()
      local out = {}
      for i, problem in ipairs(p.problems) do out[i] = problem:match("relative link '([^']*)'") end
      return out
    end)())
    p = assert(page.load(dir .. "index.html", { base_url = "https://example.com/news/spring/index.html" }))
    assert.equal([[<a href="https://example.com/news/spring/about.html">a</a>]]
      .. [[<a href='https://example.com/shop?x=1&amp;y=2'>s</a><a href="https://example.com/news/up.html">u</a>]]
      .. [[<a href="#top">t</a><a href="mailto:a@example.com">m</a><a href="{{unsubscribe_url}}">u</a>]], p.html)
    assert.same({}, p.problems)
  end)

  it("resolves links as a browser does", function()
    local base = "https://example.com/a/b/page.html?q=1"
    assert.equal("https://example.com/a/b/c.html", page.absolute(base, "c.html"))
    assert.equal("https://example.com/a/c.html#x", page.absolute(base, "../c.html#x"))
    assert.equal("https://example.com/c", page.absolute(base, "../../../../c"))
    assert.equal("https://example.com/x?y", page.absolute(base, "/x?y"))
    assert.equal("https://cdn.example/x", page.absolute(base, "//cdn.example/x"))
    assert.equal("https://example.com/a/b/page.html?z", page.absolute(base, "?z"))
    assert.equal("https://example.com/c.html", page.absolute("https://example.com", "c.html"))
  end)
end)

describe("srcset in a page", function()
  it("reads every candidate of a srcset, its descriptors kept, as HTML parses them", function()
    assert.same({ { url = "a.png", descriptor = "1x" }, { url = "b.png", descriptor = "2x" },
                  { url = "c.png", descriptor = "" }, { url = "d,e.png", descriptor = "100w" },
                  { url = "f.png", descriptor = "(x, y) 3x" } },
      page.srcset(" a.png 1x,b.png  2x ,c.png,, d,e.png 100w, f.png (x, y) 3x"))
  end)

  it("makes each local picture of a srcset its own cid: part, a picture named twice one part", function()
    local dir = folder { ["img/a.png"] = PNG, ["img/b.png"] = PNG .. "b", ["img/c.png"] = PNG .. "c",
      ["index.html"] = [[<img src="img/a.png" srcset="img/a.png 1x, img/b.png 2x">]]
        .. [[<picture><source srcset='img/c.png 480w,https://cdn.example/d.png?a=1&amp;b=2 800w'></picture>]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal(3, #p.inline)
    local cid = {}
    for _, part in ipairs(p.inline) do cid[part.path:match("[^/]+$")] = "cid:" .. part.cid end
    assert.equal([[<img src="]] .. cid["a.png"] .. [[" srcset="]] .. cid["a.png"] .. " 1x, " .. cid["b.png"]
      .. [[ 2x"><picture><source srcset=']] .. cid["c.png"]
      .. [[ 480w, https://cdn.example/d.png?a=1&amp;b=2 800w'></picture>]], p.html)
  end)

  it("names the page and the candidate that is missing", function()
    local dir = folder { ["img/a.png"] = PNG, ["index.html"] = [[<img srcset="img/a.png 1x, img/gone.png 2x">]] }
    local p, err = page.load(dir .. "index.html", { name = "news.html" })
    assert.is_nil(p)
    assert.equal("news.html: srcset: 'img/gone.png' is not there (" .. dir .. "img/gone.png)", err)
  end)
end)

describe("<base href> in a page", function()
  it("takes the references from a local base folder and takes the <base> out", function()
    local dir = folder { ["assets/a.png"] = PNG, ["assets/b.png"] = PNG .. "b", ["assets/img/c.png"] = PNG .. "c",
      ["assets/s.css"] = "p{background:url(img/c.png)}",
      ["index.html"] = [[<head><base href="assets/"><link rel="stylesheet" href="s.css"></head>]]
        .. [[<img src="a.png"><p style="background:url(b.png)"><a href="more.html">m</a>]] }
    local p = assert(page.load(dir .. "index.html", { base_url = "https://example.com/news/" }))
    local cid = {}
    for _, part in ipairs(p.inline) do cid[part.path:match("[^/]+$")] = part.cid end
    assert.equal("<head><style>\np{background:url(cid:" .. cid["c.png"] .. ")}\n</style></head>"
      .. [[<img src="cid:]] .. cid["a.png"] .. [["><p style="background:url(cid:]] .. cid["b.png"] .. [[)">]]
      .. [[<a href="https://example.com/news/assets/more.html">m</a>]], p.html)
  end)

  it("makes the relative references of a page with a remote base remote, and its links absolute", function()
    local dir = folder { ["index.html"] = [[<base href='https://cdn.example.com/news/'><link rel=stylesheet href=s.css>]]
      .. [[<style>.x{background:url(img/b.png)}</style><img src="img/a b.png" srcset="img/a.png 1x, img/a2.png 2x">]]
      .. [[<td background=../t.png><a href="more.html">m</a>]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal([[<link rel="stylesheet" href="https://cdn.example.com/news/s.css">]]
      .. [[<style>.x{background:url(https://cdn.example.com/news/img/b.png)}</style>]]
      .. [[<img src="https://cdn.example.com/news/img/a b.png" srcset="https://cdn.example.com/news/img/a.png 1x, ]]
      .. [[https://cdn.example.com/news/img/a2.png 2x"><td background="https://cdn.example.com/t.png">]]
      .. [[<a href="https://cdn.example.com/news/more.html">m</a>]], p.html)
    assert.same({}, p.inline)
    assert.same({}, p.problems)
  end)

  it("fetches the images a remote base makes remote with embed_remote", function()
    local asked = {}
    local dir = folder { ["index.html"] = [[<base href="https://cdn.example.com/news/"><img src="img/a.png">]] }
    local p = assert(page.load(dir .. "index.html", { embed_remote = true, fetch = function(url)
      asked[#asked + 1] = url
      return PNG, "image/png"
    end }))
    assert.same({ "https://cdn.example.com/news/img/a.png" }, asked)
    assert.equal([[<img src="cid:]] .. p.inline[1].cid .. [[">]], p.html)
  end)

  it("follows only the first <base href>, and refuses one that leads outside the page's folder", function()
    local dir = folder { ["a/x.png"] = PNG, ["index.html"] = [[<base href="a/"><base href="b/"><img src="x.png">]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal(dir .. "a/x.png", p.inline[1].path)
    assert.equal([[<base href="b/"><img src="cid:]] .. p.inline[1].cid .. [[">]], p.html)
    mime.write(dir .. "index.html", [[<base href="../"><img src="x.png">]])
    local err
    p, err = page.load(dir .. "index.html", { name = "index.html" })
    assert.is_nil(p)
    assert.equal("index.html: <base href>: '../' leads outside the page's folder", err)
  end)
end)

describe("@import in a page", function()
  -- Why the page made of files (folder) is refused.
  local function refusal(files)
    local p, err = page.load(folder(files) .. "index.html", { name = "index.html" })
    assert.is_nil(p)
    return err
  end

  it("finds @import rules in CSS, their stylesheet and media list, outside comments and strings", function()
    local css = [[@import url("a.css") screen and (min-width: 10px);@IMPORT 'b.css';/* @import "c.css"; */]]
      .. [[ s{content:"@import 'x.css';"} @importx "e.css"; p{background:url(i.png)}]]
    local got = {}
    for i, u in ipairs(core.css_urls(css)) do
      got[i] = (u.import and "import " or "url ") .. u.url .. (u.media and " [" .. u.media .. "]" or "")
        .. " " .. css:sub(u.at, u.stop)
    end
    assert.same({ [[import a.css [screen and (min-width: 10px)] @import url("a.css") screen and (min-width: 10px);]],
                  "import b.css [] @IMPORT 'b.css';", "url i.png i.png" }, got)
  end)

  it("puts a local imported stylesheet in its place, its images taken from its own folder, deep", function()
    local dir = folder { ["img/x.png"] = PNG, ["css/img2/y.png"] = PNG .. "y",
      ["css/a.css"] = [[@import "b.css" print;.a{background:url(../img/x.png)}]],
      ["css/b.css"] = ".b{background:url(img2/y.png)}",
      ["index.html"] = [[<style>@import "css/a.css"; p{color:red}</style><p style="@import 'no.css'">]] }
    local p = assert(page.load(dir .. "index.html"))
    local cid = {}
    for _, part in ipairs(p.inline) do cid[part.path:match("[^/]+$")] = part.cid end
    assert.equal("<style>@media print {\n.b{background:url(cid:" .. cid["y.png"] .. ")}\n}"
      .. ".a{background:url(cid:" .. cid["x.png"] .. [[)} p{color:red}</style><p style="@import 'no.css'">]], p.html)
  end)

  it("puts in what a linked stylesheet imports", function()
    local dir = folder { ["css/s.css"] = "@import url(parts/t.css);\nh1{}", ["css/parts/t.css"] = "h2{}",
      ["index.html"] = [[<link rel="stylesheet" href="css/s.css">]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal("<style>\nh2{}\nh1{}\n</style>", p.html)
  end)

  it("moves the @import rules that stay to the top of their <style>, in order, before what was put in", function()
    local dir = folder { ["a.css"] = [[@import url(//cdn.example/x.css) screen;.a{}]],
      ["index.html"] = [[<style>@import "a.css";@import url(https://fonts.example/f.css);p{color:red}</style>]]
        .. [[<style>p{}@import 'https://b.example/b.css';</style>]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal([[<style>@import url(//cdn.example/x.css) screen;]] .. "\n"
      .. [[@import url(https://fonts.example/f.css);.a{}p{color:red}</style>]]
      .. [[<style>@import 'https://b.example/b.css';p{}</style>]], p.html)
  end)

  it("moves the @import rules a linked stylesheet keeps before its rules", function()
    local dir = folder { ["css/s.css"] = [[@import "t.css";@import url(https://fonts.example/f.css);h1{}]],
      ["css/t.css"] = "h2{}", ["index.html"] = [[<link rel="stylesheet" href="css/s.css">]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal("<style>\n@import url(https://fonts.example/f.css);\nh2{}h1{}\n</style>", p.html)
  end)

  it("gives an @import that stays the media of the stylesheets it was in, joined to its own", function()
    local dir = folder {
      ["a.css"] = [[@import url(https://fonts.example/f.css) (min-width: 10px);@import "https://x.example/p.css";.a{}]],
      ["b.css"] = [[@import "https://x.example/p.css" print;@import "https://x.example/s.css";.b{}]],
      ["index.html"] = [[<style>@import url(a.css) print;</style><link rel="stylesheet" href="b.css" media="screen">]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal("<style>@import url(https://fonts.example/f.css) print and (min-width: 10px);\n"
      .. [[@import "https://x.example/p.css" print;@media print {]] .. "\n.a{}\n}</style>"
      .. [[<style>]] .. "\n" .. [[@import "https://x.example/s.css" screen;]] .. "\n"
      .. "@media screen {\n.b{}\n}\n</style>", p.html)
  end)

  it("refuses an @import that stays whose media cannot be joined to those of the stylesheet it was in", function()
    local err = refusal { ["a.css"] = [[@import url(https://fonts.example/f.css) not print;]],
      ["index.html"] = [[<style>@import url(a.css) screen;</style>]] }
    assert.equal("index.html: <style> @import: 'a.css' is put in for media 'screen', but the @import it keeps"
      .. " cannot be: media 'not print' cannot be joined to another list", err)
  end)

  it("takes the @charset and byte order mark out of a stylesheet it puts in, and leaves the page's", function()
    local dir = folder { ["a.css"] = '\239\187\191@charset "utf-8";\n.a{content:"\226\128\148"}',
      ["b.css"] = "@CHARSET 'UTF-8' ;.b{}",
      ["index.html"] = [[<style>@charset "utf-8";@import "a.css";@import url(https://x.example/s.css);</style>]]
        .. [[<link rel="stylesheet" href="b.css">]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal('<style>@charset "utf-8";@import url(https://x.example/s.css);\n.a{content:"\226\128\148"}'
      .. "</style><style>\n.b{}\n</style>", p.html)
  end)

  it("makes a stylesheet it puts in UTF-8 from its @charset, as a browser reads it", function()
    local dir = folder { ["latin.css"] = '@charset "ISO-8859-1";.l{content:"caf\233 \128"}',
      ["bom.css"] = '\239\187\191@charset "iso-8859-1";.b{content:"caf\195\169"}',
      ["unknown.css"] = '@charset "x-no-such";.u{content:"caf\195\169"}',
      ["index.html"] = [[<style>@import "latin.css";@import "bom.css";@import "unknown.css";</style>]] }
    local p = assert(page.load(dir .. "index.html"))
    assert.equal('<style>.l{content:"caf\195\169 \226\130\172"}.b{content:"caf\195\169"}'
      .. '.u{content:"caf\195\169"}</style>', p.html)
  end)

  it("reads a fetched stylesheet in the charset of its content type, which wins over its @charset", function()
    local dir = folder { ["index.html"] = [[<style>@import url(https://x.example/a.css);@import url(https://x.example/b.css);]]
      .. [[@import url(https://x.example/c.css);</style>]]
      .. [[<img src="https://x.example/i.png">]] }
    local p = assert(page.load(dir .. "index.html", { embed_remote = true, fetch = function(url)
      if url:find("a.css", 1, true) then return '.a{content:"caf\233"}', "Text/CSS; Charset=ISO-8859-1" end
      if url:find("b.css", 1, true) then return '@charset "iso-8859-1";.b{content:"caf\195\169"}', 'text/css;charset="utf-8"' end
      -- a charset no one knows counts for nothing: its @charset is read
      if url:find("c.css", 1, true) then return '@charset "iso-8859-1";.c{content:"caf\233"}', "text/css; charset=x-bogus" end
      return PNG, "image/png; name=i.png"
    end }))
    assert.equal('<style>.a{content:"caf\195\169"}.b{content:"caf\195\169"}.c{content:"caf\195\169"}</style><img src="cid:'
      .. p.inline[1].cid
      .. '">', p.html)
    assert.equal("image/png", p.inline[1].content_type)
  end)

  it("leaves a remote @import without embed_remote, and fetches it as a stylesheet with it", function()
    local html = [[<style>@import url(https://fonts.example/f.css);</style>]]
    local dir = folder { ["index.html"] = html }
    local p = assert(page.load(dir .. "index.html", { fetch = function() error("fetched") end }))
    assert.equal(html, p.html)
    p = assert(page.load(dir .. "index.html", { embed_remote = true, fetch = function(url)
      assert.equal("https://fonts.example/f.css", url)
      return "body{font-family:F}", "text/css"
    end }))
    assert.equal("<style>body{font-family:F}</style>", p.html)
    local err
    p, err = page.load(dir .. "index.html", { name = "index.html", embed_remote = true, fetch = function()
      return "<html>", "text/html"
    end })
    assert.is_nil(p)
    assert.equal("index.html: <style> @import: 'https://fonts.example/f.css' is not a stylesheet "
      .. "(its content type is text/html)", err)
  end)

  it("refuses stylesheets that import each other, naming them", function()
    local err = refusal { ["a.css"] = [[@import "css/b.css";]], ["css/b.css"] = [[@import "../a.css";]],
                          ["index.html"] = [[<link rel="stylesheet" href="a.css">]] }
    assert.equal("index.html: css/b.css: @import: '../a.css': stylesheets that import each other: "
      .. "a.css -> css/b.css -> ../a.css", err)
  end)

  it("refuses imports deeper than IMPORT_DEPTH", function()
    local files = { ["index.html"] = [[<style>@import "s1.css";</style>]] }
    for i = 1, 12 do files["s" .. i .. ".css"] = string.format('@import "s%d.css";', i + 1) end
    files["s13.css"] = "p{}"
    local err = refusal(files)
    assert.matches("stylesheets that import each other more than 8 deep", err, 1, true)
  end)

  it("names the page and the reference of an imported stylesheet that is missing", function()
    local dir = folder { ["a.css"] = [[@import "gone.css";]], ["index.html"] = [[<style>@import "a.css";</style>]] }
    local p, err = page.load(dir .. "index.html", { name = "news/index.html" })
    assert.is_nil(p)
    assert.equal("news/index.html: a.css: @import: 'gone.css' is not there (" .. dir .. "gone.css)", err)
  end)

  it("refuses a stylesheet over CSS_MAX, and stylesheets that come to more together", function()
    local max = page.CSS_MAX
    page.CSS_MAX = 100
    local dir = folder { ["big.css"] = string.rep("p{}", 50), ["index.html"] = [[<style>@import "big.css";</style>]],
                         ["half.css"] = string.rep("p{}", 20), ["twice.css"] = '@import "half.css";@import "half.css";' }
    local p, err = page.load(dir .. "index.html", { name = "index.html" })
    local p2, err2
    mime.write(dir .. "index.html", [[<style>@import "twice.css";@import "twice.css";</style>]])
    p2, err2 = page.load(dir .. "index.html", { name = "index.html" })
    page.CSS_MAX = max
    assert.is_nil(p)
    assert.equal("index.html: <style> @import: 'big.css' is larger than 100 bytes", err)
    assert.is_nil(p2)
    assert.matches("the page's stylesheets come to more than 100 bytes", err2, 1, true)
  end)
end)

describe("mailcast.page_media", function()
  local within = require("mailcast.page_media").within

  it("joins a media list to the one it is inside, query by query", function()
    assert.equal("print", within("print", ""))
    assert.equal("screen", within("all", "screen"))
    assert.equal("print and (min-width: 10px)", within("print", "(min-width: 10px)"))
    assert.equal("print and (hover), screen and (color), screen and (hover)",
      within("print, screen", "screen and (color), (hover)"))
    assert.equal("screen and (color) and ((min-width: 1px) or (max-width: 2px))",
      within("screen and (color)", "(min-width: 1px) or (max-width: 2px)"))
  end)

  it("says when no medium is in both, and when a list cannot be joined", function()
    assert.is_false(within("print", "screen"))
    local m, why = within("not print", "screen")
    assert.is_nil(m)
    assert.equal("media 'not print' cannot be joined to another list", why)
  end)
end)

describe("html_file in mailcast.message", function()
  it("sends the page with its images inline and a text part made of it", function()
    local dir = folder { ["img/a.png"] = PNG, ["index.html"] = [[<h1>Hi</h1><img src="img/a.png" alt="logo">]] }
    local raw = assert(mailcast.message { from = "a@example.com", to = "b@example.com", subject = "s",
                                          html_file = dir .. "index.html" })
    local tree = assert(mailcast.parse(raw))
    local types = {}
    local function walk(n)
      if n.parts then for _, c in ipairs(n.parts) do walk(c) end else types[#types + 1] = n.content_type end
    end
    walk(tree)
    assert.same({ "text/plain", "text/html", "image/png" }, types)
    assert.matches("Hi\r?\n\r?\nlogo", raw)
  end)

  it("takes html_file from the folder of the script, as other file names are", function()
    local raw, err = mailcast.message { from = "a@example.com", to = "b@example.com", subject = "s",
                                        html_file = "../support/page/index.html" }
    assert.is_nil(err)
    assert.matches("Spring news", raw, 1, true)
  end)

  it("refuses html and html_file together, and base_url without html_file", function()
    local t = { from = "a@example.com", to = "b@example.com", subject = "s", html = "<p>x</p>",
                html_file = helper.root .. "/spec/support/page/index.html" }
    local raw, err = mailcast.message(t)
    assert.is_nil(raw)
    assert.matches("html or html_file, not both", err, 1, true)
    raw, err = mailcast.message { from = "a@example.com", to = "b@example.com", subject = "s", html = "<p>x</p>",
                                  base_url = "https://example.com/" }
    assert.is_nil(raw)
    assert.matches("base_url and embed_remote go with html_file", err, 1, true)
  end)

  it("checks the types of html_file, base_url and embed_remote", function()
    local base = { from = "a@example.com", to = "b@example.com", subject = "s",
                   html_file = helper.root .. "/spec/support/page/index.html" }
    for key, bad in pairs { html_file = 12, base_url = "example.com/news", embed_remote = "yes" } do
      local t = {}
      for k, v in pairs(base) do t[k] = v end
      t[key] = bad
      local ok, err = pcall(mailcast.message, t)
      assert.is_false(ok)
      assert.matches(key, tostring(err), 1, true)
    end
  end)
end)

describe("html_file in a campaign", function()
  local function campaign(extra)
    local t = { name = "page-unit", from = "News <news@example.com>", subject = "Hi {{name}}",
                recipients = { { email = "a@example.org", name = "A" }, { email = "b@example.org", name = "B" } },
                route = { host = "127.0.0.1", port = 2525 }, quiet = nil }
    t.quiet = nil
    for k, v in pairs(extra) do t[k] = v end
    return mailcast.campaign(t)
  end

  it("encodes each image of the page once for the whole list, through the campaign's parts cache", function()
    local c = campaign { html_file = helper.root .. "/spec/support/page/index.html",
                         base_url = "https://shop.example.com/news/" }
    for _, address in ipairs { "a@example.org", "b@example.org", "c@example.org" } do
      local t = assert(c:message(address, { name = "X" }))
      assert(mailcast.message(t))
    end
    assert.equal(5, c.parts.misses)   -- srcset's 2x picture is one of them
    assert.equal(10, c.parts.hits)
  end)

  it("reports the page's relative links as problems of a dry run", function()
    local c = campaign { html_file = helper.root .. "/spec/support/page/index.html" }
    local counts = c:run { dry_run = true, quiet = true }
    assert.equal(2, counts.problems)
    assert.equal(2, counts.ready)
  end)

  it("is read by `mailcast status` even when its page is gone since the run", function()
    local campaigns = require "mailcast.campaign"
    campaigns.check_list = false
    local ok, c = pcall(campaign, { html_file = "/nonexistent/page/index.html" })
    campaigns.check_list = true
    assert.is_true(ok, tostring(c))
    assert.equal("page-unit", c.name)
  end)

  it("stops the script at its line when a file of the page is missing", function()
    local dir = folder { ["index.html"] = [[<img src="gone.png">]] }
    local ok, err = pcall(campaign, { html_file = dir .. "index.html" })
    assert.is_false(ok)
    assert.matches("page_spec%.lua:%d+: .*index%.html: <img src>: 'gone%.png' is not there", err)
  end)
end)

describe("the text part of a campaign's page", function()
  it("is made of each recipient's HTML as rendered, its sections and variables included", function()
    local dir = folder { ["index.html"] = "<h1>Hi {{name}}</h1><ul>{{#items}}<li>{{.}}</li>{{/items}}</ul>"
      .. "{{#vip}}<p>You are a <b>VIP</b> &amp; more</p>{{/vip}}" }
    local c = mailcast.campaign { name = "page-text", from = "news@example.com", subject = "s",
      html_file = dir .. "index.html", route = { host = "127.0.0.1", port = 2525 },
      recipients = { { email = "a@example.org" } } }
    local t = assert(c:message("a@example.org", { name = "Zoë & Co", items = { "one", "two" }, vip = true }))
    assert.equal("Hi Zoë & Co\n\n- one\n- two\n\nYou are a VIP & more\n", t.text)
    t = assert(c:message("b@example.org", { name = "B", items = {} }))
    assert.equal("Hi B\n", t.text)
  end)

  it("is the campaign's own text when it has one", function()
    local dir = folder { ["index.html"] = "<p>html</p>" }
    local c = mailcast.campaign { name = "page-text", from = "news@example.com", subject = "s", text = "mine {{name}}",
      html_file = dir .. "index.html", route = { host = "127.0.0.1", port = 2525 },
      recipients = { { email = "a@example.org" } } }
    local raw = assert(mailcast.message(assert(c:message("a@example.org", { name = "X" }))))
    assert.matches("\r\n\r\nmine X\r\n", raw)
  end)
end)


describe("mailcast.page_fetch", function()
  local fetch = require "mailcast.page_fetch"

  it("knows the addresses of a machine's own network from those on the internet", function()
    for _, a in ipairs { "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                         "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1",
                         "fd00::1", "fc12:3::4", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1" } do
      assert.truthy(fetch.private(a), a)
    end
    for _, a in ipairs { "93.184.216.34", "172.32.0.1", "172.15.255.255", "8.8.8.8", "100.128.0.1",
                         "2606:2800:220:1::1", "::ffff:93.184.216.34" } do
      assert.is_nil(fetch.private(a), a)
    end
  end)
end)
