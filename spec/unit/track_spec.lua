-- Tracking: the HTML scanner and rewriter in C (mailcast.core.track_html),
-- the signed tokens (core.token_make / token_check) and the Lua layer
-- (mailcast.track) on top of them.
local mailcast = require "mailcast"
local core = require "mailcast.core"
local mime = require "support.mime"
local helper = require "helper"

local track = mailcast.track

local BASE = "https://t.example.com"
local SECRET = "0123456789abcdef-test-secret-32b"
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

-- core.track_html with tokens that are easy to read: "C<index>" for a
-- click, "O0" for the pixel; extra overrides the options.
local function rewrite(html, extra)
  local opts = {
    base = BASE,
    pixel = false,
    token = function(kind, index) return (kind == "open" and "O" or "C") .. index end,
  }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return core.track_html(html, opts)
end

local function click(index)
  return BASE .. "/c/C" .. index
end

local PIXEL = '<img src="' .. BASE .. '/o/O0" width="1" height="1" alt="" '
  .. 'style="display:block;border:0;margin:0;padding:0;width:1px;height:1px" />'

local function count(s, plain)
  local n, pos = 0, 1
  while true do
    local a, b = s:find(plain, pos, true)
    if not a then return n end
    n, pos = n + 1, b + 1
  end
end

-- s with every occurrence of the plain string what removed.
local function without(s, what)
  local out, pos = {}, 1
  while true do
    local a, b = s:find(what, pos, true)
    if not a then break end
    out[#out + 1] = s:sub(pos, a - 1)
    pos = b + 1
  end
  out[#out + 1] = s:sub(pos)
  return table.concat(out)
end

local function tracked_indexes(links)
  local t = {}
  for _, l in ipairs(links) do if l.tracked then t[#t + 1] = l.index end end
  return t
end

local function opts(extra)
  local o = { base = BASE, secret = SECRET, campaign = 7, recipient = 42 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end


describe("core.track_html", function()
  describe("finds hrefs", function()
    it("in double quotes", function()
      local out, links = rewrite('<p><a href="https://x.example/a">A</a></p>')
      assert.equal('<p><a href="' .. click(1) .. '">A</a></p>', out)
      assert.same({ { index = 1, url = "https://x.example/a", text = "A", tracked = true } }, links)
    end)

    it("in single quotes, keeping them", function()
      local out = rewrite("<a class=x href='https://x.example/a'>A</a>")
      assert.equal("<a class=x href='" .. click(1) .. "'>A</a>", out)
    end)

    it("unquoted, writing the new one in double quotes", function()
      local out = rewrite("<a href=https://x.example/a>A</a><a href=https://y.example/ class=b>B</a>")
      assert.equal('<a href="' .. click(1) .. '">A</a><a href="' .. click(2) .. '" class=b>B</a>', out)
    end)

    it("in upper and mixed case tags and attributes", function()
      local out, links = rewrite('<A HREF="https://x.example/">X</A><a hReF=https://y.example/>Y</a>')
      assert.equal('<A HREF="' .. click(1) .. '">X</A><a hReF="' .. click(2) .. '">Y</a>', out)
      assert.equal(2, #links)
    end)

    it("across white space and newlines inside the tag", function()
      local html = '<a\n  class="btn"\r\n  href\n=\n"https://x.example/"\n>Go</a>'
      local out, links = rewrite(html)
      assert.equal('<a\n  class="btn"\r\n  href\n=\n"' .. click(1) .. '"\n>Go</a>', out)
      assert.equal("https://x.example/", links[1].url)
    end)

    it("after attributes without values and a stray slash", function()
      local out = rewrite('<a download / target=_blank href="https://x.example/f.pdf">F</a>')
      assert.equal('<a download / target=_blank href="' .. click(1) .. '">F</a>', out)
    end)

    it("taking the first of two href attributes, as a browser does", function()
      local out, links = rewrite('<a href="https://one.example/" href="https://two.example/">x</a>')
      assert.equal('<a href="' .. click(1) .. '" href="https://two.example/">x</a>', out)
      assert.equal("https://one.example/", links[1].url)
    end)

    it("not in other tags' href, src or data-href", function()
      local html = '<link href="https://x.example/s.css"><area href="https://x.example/">'
        .. '<abbr href="https://x.example/">a</abbr><a data-href="https://x.example/">n</a>'
      local out, links = rewrite(html)
      assert.equal(html, out)
      assert.same({}, links)
    end)

    it("and writes the new ones escaped for their quotes", function()
      local html = "<a href='https://x.example/'>x</a><a href=\"https://y.example/\">y</a><a href=https://z.example/>z</a>"
      local out = rewrite(html, { base = "https://t.example.com/a'b&c\"d" })
      assert.equal("<a href='https://t.example.com/a&#39;b&amp;c\"d/c/C1'>x</a>"
        .. '<a href="https://t.example.com/a\'b&amp;c&quot;d/c/C2">y</a>'
        .. '<a href="https://t.example.com/a\'b&amp;c&quot;d/c/C3">z</a>', out)
    end)

    it("as a reader reads them: references decoded, white space a URL drops removed", function()
      local _, links = rewrite('<a href="  https://x.example/?a=1&amp;b=2&#38;c=3&#x26;d=&quot;4&quot;\n">x</a>'
        .. '<a href="https://x.example/?q=1&copy=2&lt=3">y</a><a href="https://x.example/&amp">z</a>')
      assert.equal('https://x.example/?a=1&b=2&c=3&d="4"', links[1].url)
      assert.equal("https://x.example/?q=1&copy=2&lt=3", links[2].url)   -- query strings stay as written
      assert.equal("https://x.example/&", links[3].url)
    end)
  end)

  describe("leaves alone", function()
    it("links inside comments, including after a false end", function()
      local html = '<!-- <a href="https://x.example/">x</a> --><!-- -- > <a href="https://y.example/"> -->'
        .. '<!--- <a href="https://z.example/"> ---><a href="https://w.example/">w</a>'
      local out, links = rewrite(html)
      assert.equal(1, #links)
      assert.equal("https://w.example/", links[1].url)
      assert.equal(without(html, "https://w.example/"), without(out, click(1)))
    end)

    it("links after comments that end early (<!--> and --!>)", function()
      local _, links = rewrite('<!--><a href="https://a.example/">a</a><!--->'
        .. '<a href="https://b.example/">b</a><!-- x --!><a href="https://c.example/">c</a>')
      assert.same({ "https://a.example/", "https://b.example/", "https://c.example/" },
        { links[1].url, links[2].url, links[3].url })
    end)

    it("the content of <style> and <script>, up to their end tag in any case", function()
      local html = '<style>a[href="x"]{} <a href="https://s.example/">s</a></style >'
        .. '<SCRIPT>var s = "<a href=\'https://j.example/\'>"; if (a </scripty) {}</Script>'
        .. '<a href="https://ok.example/">ok</a>'
      local out, links = rewrite(html)
      assert.equal(1, #links)
      assert.equal("https://ok.example/", links[1].url)
      assert.equal(without(html, "https://ok.example/"), without(out, click(1)))
    end)

    it("the content of <title>, <textarea>, CDATA, doctypes and processing instructions", function()
      local html = '<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN">'
        .. '<title><a href="https://t.example/">t</a></title><textarea><a href="https://x.example/"></TEXTAREA>'
        .. '<![CDATA[ <a href="https://c.example/">c</a> ]]><a href="https://ok.example/">ok</a>'
      local _, links = rewrite(html)
      assert.equal(1, #links)
      assert.equal("https://ok.example/", links[1].url)
    end)

    it("mailto, tel, sms, javascript, anchors, empty and relative hrefs, with the reason", function()
      local html = '<a href="mailto:a@example.com">m</a><a href="TEL:+1555">t</a><a href="sms:+1555">s</a>'
        .. '<a href=" java\nscript:alert(1)">j</a><a href="#top">a</a><a href="">e</a><a href>b</a>'
        .. '<a href="/relative">r</a><a href="ftp://x.example/">f</a>'
      local out, links = rewrite(html)
      assert.equal(html, out)
      local reasons = {}
      for i, l in ipairs(links) do
        assert.is_false(l.tracked)
        reasons[i] = l.skip
      end
      assert.same({ "mailto", "tel", "sms", "javascript", "anchor", "empty", "empty", "not-http", "not-http" }, reasons)
    end)

    it("links marked data-mc-notrack, mc:notrack or #mc-notrack", function()
      local html = '<a data-mc-notrack href="https://a.example/">a</a><a href="https://b.example/" MC:NOTRACK>b</a>'
        .. '<a href="https://c.example/#mc-notrack">c</a><a href="https://d.example/">d</a>'
      local out, links = rewrite(html)
      assert.same({ "notrack", "notrack", "notrack" }, { links[1].skip, links[2].skip, links[3].skip })
      assert.same({ 4 }, tracked_indexes(links))
      assert.equal(without(html, "https://d.example/"), without(out, click(4)))
    end)

    it("the unsubscribe link, given or as the {{unsubscribe_url}} variable", function()
      local html = '<a href="https://x.example/u/abc?x=1&amp;y=2">unsubscribe</a>'
        .. '<a href="{{unsubscribe_url}}">u</a><a href="https://x.example/">x</a>'
      local out, links = rewrite(html, { unsubscribe_url = "https://x.example/u/abc?x=1&y=2" })
      assert.same({ "unsubscribe", "unsubscribe" }, { links[1].skip, links[2].skip })
      assert.same({ 3 }, tracked_indexes(links))
      assert.truthy(out:find('href="https://x.example/u/abc?x=1&amp;y=2"', 1, true))
    end)

    it("links that already point at the tracking server", function()
      local html = '<a href="' .. BASE .. '/c/abc">a</a>'
      local out, links = rewrite(html)
      assert.equal(html, out)
      assert.equal("tracked", links[1].skip)
    end)
  end)

  describe("asks the links function", function()
    it("with the index, the decoded URL and the link's text", function()
      local seen = {}
      rewrite('<a href="https://x.example/?a=1&amp;b=2"> Tom &amp;\n  <b>Jerry</b>&nbsp;&#x263A; </a>', {
        links = function(index, url, text) seen = { index, url, text } end,
      })
      assert.same({ 1, "https://x.example/?a=1&b=2", "Tom & Jerry ☺" }, seen)
    end)

    it("and tracks the URL it returns, or leaves the link alone on false", function()
      local out, links = rewrite('<a href="https://a.example/">a</a><a href="https://b.example/">b</a>', {
        links = function(index, url)
          if index == 1 then return url .. "?utm_source=mail&utm_medium=email" end
          return false
        end,
      })
      assert.equal('<a href="' .. click(1) .. '">a</a><a href="https://b.example/">b</a>', out)
      assert.equal("https://a.example/?utm_source=mail&utm_medium=email", links[1].url)
      assert.same({ false, "hook" }, { links[2].tracked, links[2].skip })
    end)

    it("and reports an error inside it as nil and a message naming the link", function()
      local html = '<a href="https://a.example/">a</a><a href="https://b.example/">b</a>'
      for _ = 1, 50 do   -- a leak would show under the sanitizers
        local out, err = rewrite(html, { links = function(index) if index == 2 then error("boom") end end })
        assert.is_nil(out)
        assert.matches("link 2:.*boom", err)
      end
      collectgarbage()
    end)

    it("and reports a token function that fails or returns nonsense", function()
      local html = '<a href="https://a.example/">a</a>'
      local out, err = rewrite(html, { pixel = true, token = function(kind) if kind == "open" then error({}) end return "T" end })
      assert.is_nil(out)
      assert.matches("open pixel", err)
      out, err = rewrite(html, { token = function() return "not a/token" end })
      assert.is_nil(out)
      assert.matches("link 1: .*not URL%-safe", err)
      out, err = rewrite(html, { token = function() return 12 end })
      assert.is_nil(out)
      out = rewrite(html, { token = function() return false end })
      assert.equal(html, out)
    end)

    it("raises on misuse", function()
      assert.has_error(function() core.track_html("x", { token = function() end }) end)
      assert.has_error(function() core.track_html("x", { base = BASE }) end)
      assert.has_error(function() core.track_html("x", { base = BASE, token = print, links = 1 }) end)
    end)
  end)

  describe("link text", function()
    it("drops tags, comments and styles, and uses an image's alt", function()
      local _, links = rewrite('<a href="https://x.example/"><img src="logo.png" alt="Example &amp; Co">'
        .. '<!-- no --><span>Shop<br>now</span></a>')
      assert.equal("Example & Co Shop now", links[1].text)
    end)

    it("ends at </a>, at the next <a> or at the end", function()
      local _, links = rewrite('<a href="https://a.example/">one<a href="https://b.example/">two</a>three'
        .. '<a href="https://c.example/">four')
      assert.same({ "one", "two", "four" }, { links[1].text, links[2].text, links[3].text })
    end)

    it("is at most 200 bytes of whole UTF-8 characters", function()
      local _, links = rewrite('<a href="https://x.example/">' .. string.rep("é", 300) .. "</a>")
      assert.is_true(#links[1].text <= 200)
      assert.is_true(#links[1].text >= 198)
      assert.is_true(mailcast.utf8_valid(links[1].text))
    end)
  end)

  describe("the open pixel", function()
    it("goes just before the last </body>, in any case, not one in a comment", function()
      local html = "<html><body>a</body></BODY>b<!-- </body> --></html>"
      local out = rewrite(html, { pixel = true })
      assert.equal("<html><body>a</body>" .. PIXEL .. "</BODY>b<!-- </body> --></html>", out)
    end)

    it("goes at the end when there is no </body>", function()
      local out = rewrite('<p><a href="https://x.example/">x</a></p>', { pixel = true })
      assert.equal('<p><a href="' .. click(1) .. '">x</a></p>' .. PIXEL, out)
    end)

    it("is left out when the token function says false or pixel is false", function()
      assert.equal("<body></body>", rewrite("<body></body>", { pixel = false }))
      assert.equal("<body></body>", rewrite("<body></body>", {
        pixel = true, token = function() return false end,
      }))
    end)

    it("has its URL escaped for the attribute", function()
      local out = rewrite("x", { pixel = true, base = "https://t.example.com/a&b\"c/" })
      assert.truthy(out:find('src="https://t.example.com/a&amp;b&quot;c/o/O0"', 1, true))
    end)
  end)

  describe("changes nothing but the hrefs", function()
    local doc = table.concat({
      "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><title>News & more</title>\r\n",
      "<style>a { color: #c00 } .x::after { content: '<a href=\"https://no.example/\">' }</style></head>\r\n",
      "<body style=\"margin:0\"><!-- header <a href=\"https://no.example/\"> -->\r\n",
      "<p>Grüße, Zoë — <a href=\"https://shop.example/?a=1&amp;b=2\" title='Shop &amp; more'>Shop &amp; save</a></p>\r\n",
      "<p><A HREF='https://blog.example/post?id=9'>Read</A> or <a href=\"mailto:info@example.com\">write</a>.</p>\r\n",
      "<table><tr><td><a target=_blank href=\"https://x.example/a\"><img src=\"cid:logo\" alt=\"Logo\"></a></td></tr></table>\r\n",
      "<script>document.write('<a href=\"https://no.example/\">')</script>\r\n",
      "<p><a href=\"#top\">top</a> <a data-mc-notrack href=\"https://keep.example/\">keep</a></p>\r\n",
      "</body>\r\n</html>\r\n",
    })
    local originals = { "https://shop.example/?a=1&amp;b=2", "https://blog.example/post?id=9", "https://x.example/a" }

    it("byte for byte: removing the old and new hrefs leaves the same text", function()
      local out, links = rewrite(doc, { pixel = true })
      assert.same({ 1, 2, 4 }, tracked_indexes(links))
      local a, b = doc, out
      for _, o in ipairs(originals) do a = without(a, o) end
      for _, i in ipairs({ 1, 2, 4 }) do b = without(b, click(i)) end
      assert.equal(a, without(b, PIXEL))
      assert.equal(#doc + #PIXEL + #click(1) + #click(2) + #click(4) - #originals[1] - #originals[2] - #originals[3], #out)
    end)

    it("as Python's html.parser reads it: the same <a> tags, the new hrefs", function()
      local dir = mime.tmpdir()
      local function python_links(html)
        mime.write(dir .. "/doc.html", html)
        local out, code = helper.sh("/usr/bin/python3 spec/support/html_links.py " .. dir .. "/doc.html")
        assert.equal(0, code, out)
        local list = {}
        for tag, value in out:gmatch("(%a+) (%S+)\n") do
          list[#list + 1] = { tag = tag, value = value ~= "-" and mailcast.b64.decode(value) or nil }
        end
        return list
      end
      local out, links = rewrite(doc, { pixel = true, base = "https://t.example.com/x&y" })
      local before, after = python_links(doc), python_links(out)
      mime.rmdir(dir)
      assert.equal(#before + 1, #after)   -- the pixel
      local n = 0
      for i, entry in ipairs(before) do
        assert.equal(entry.tag, after[i].tag)
        if entry.tag == "a" then
          n = n + 1
          local l = links[n]
          assert.equal(entry.value, l.url)
          if l.tracked then assert.equal("https://t.example.com/x&y/c/C" .. l.index, after[i].value)
          else assert.equal(entry.value, after[i].value) end
        end
      end
      assert.equal(#links, n)
      assert.same({ tag = "img", value = "https://t.example.com/x&y/o/O0" }, after[#after])
    end)
  end)

  it("rewrites a 100 KB document with 200 links", function()
    local parts = { "<html><body>" }
    for i = 1, 200 do
      parts[#parts + 1] = string.format('<p>%s<a href="https://shop.example/item/%d?ref=mail&amp;n=%d">Item %d</a></p>\n',
        string.rep("Lorem ipsum dolor sit amet. ", 17), i, i, i)
    end
    parts[#parts + 1] = "</body></html>"
    local html = table.concat(parts)
    assert.is_true(#html > 100000)
    local out, links = rewrite(html, { pixel = true })
    assert.equal(200, #links)
    local delta = #PIXEL
    for i, l in ipairs(links) do
      assert.is_true(l.tracked)
      assert.equal(i, l.index)
      assert.equal(string.format("https://shop.example/item/%d?ref=mail&n=%d", i, i), l.url)
      assert.equal("Item " .. i, l.text)
      delta = delta + #click(i) - #string.format("https://shop.example/item/%d?ref=mail&amp;n=%d", i, i)
    end
    assert.equal(#html + delta, #out)
    assert.equal(200, count(out, 'href="' .. BASE .. "/c/C"))
  end)

  describe("survives malformed HTML", function()
    local cases = {
      { "an unterminated tag", '<p>x</p><a href="https://x.example/"', 0 },
      { "an unterminated quote", '<a href="https://x.example/>x</a>', 0 },
      { "an unterminated unquoted value", "<a href=https://x.example/", 0 },
      { "an unterminated comment", '<!-- <a href="https://x.example/">x</a>', 0 },
      { "an unterminated style", '<style><a href="https://x.example/">x</a>', 0 },
      { "an unterminated CDATA", '<![CDATA[ <a href="https://x.example/">', 0 },
      { "markup cut at the end", "<a href='https://x.example/'>x</a><", 1 },
      { "an end tag cut at the end", "<a href='https://x.example/'>x</", 1 },
      { "a reference cut at the end", "<a href='https://x.example/'>x &#", 1 },
      { "a bogus comment without its end", "<a href='https://x.example/'>x</a><!x", 1 },
      { "stray markup characters", "<<a href='https://x.example/'>>x</a></><//>< a>&&;&#xZZ;", 1 },
    }
    for _, c in ipairs(cases) do
      it("with " .. c[1], function()
        local out, links = rewrite(c[2], { pixel = true })
        assert.equal(c[3], #links)
        if c[3] == 0 then assert.equal(c[2] .. PIXEL, out) end
      end)
    end

    it("with every byte value and runs of binary data", function()
      local junk = mime.all_bytes() .. mime.random_bytes(20000, 5)
      for _, html in ipairs({ junk, "<a href=" .. junk, "<a href='" .. junk .. "'>" .. junk }) do
        local out, links = assert(rewrite(html, { pixel = true }))
        assert.is_true(#out >= #html + #PIXEL)
        assert.truthy(out:find(PIXEL, 1, true))
        assert.is_table(links)
      end
    end)
  end)
end)


describe("tokens", function()
  local function make(t) return assert(core.token_make(SECRET, t)) end

  it("round trip: open, click and unsubscribe", function()
    for _, t in ipairs({
      { kind = "open", campaign = 7, recipient = 42, link = 0 },
      { kind = "click", campaign = 7, recipient = 42, link = 3 },
      { kind = "unsubscribe", campaign = 1, recipient = 99, link = 0 },
      { kind = "click", campaign = math.maxinteger, recipient = math.maxinteger, link = 4294967295 },
      { kind = "click", campaign = 0, recipient = 0, link = 1 },
    }) do
      local tok = make(t)
      assert.matches("^[%w_-]+$", tok)
      assert.same(t, core.token_check(SECRET, tok))
    end
  end)

  it("check the same after the cached key for a secret has been collected", function()
    local tok = make({ kind = "open", campaign = 5 })
    collectgarbage()
    collectgarbage()
    assert.same({ kind = "open", campaign = 5, recipient = 0, link = 0 }, core.token_check(SECRET, tok))
  end)

  it("are compact", function()
    assert.is_true(#make({ kind = "click", campaign = 12, recipient = 123456, link = 17 }) <= 32)
  end)

  it("carry an HMAC-SHA256 anyone with the secret can check (Python's hmac)", function()
    local tok = make({ kind = "click", campaign = 300, recipient = 5, link = 2 })
    local script = "import base64,hmac,hashlib,sys\n"
      .. "t=sys.argv[1]; raw=base64.urlsafe_b64decode(t+'='*(-len(t)%4))\n"
      .. "p,m=raw[:-16],raw[-16:]\n"
      .. "ok=hmac.new(sys.argv[2].encode(),b'mailcast-token\\n'+p,hashlib.sha256).digest()[:16]==m\n"
      .. "print(ok, p.hex())\n"
    local out, code = helper.sh("/usr/bin/python3 -c " .. mime.sh_quote(script) .. " " .. tok .. " " .. mime.sh_quote(SECRET))
    assert.equal(0, code, out)
    -- version 1, kind 2; 300 = ac 02; 5; 2
    assert.equal("True 12ac020502\n", out)
  end)

  it("in aggregate mode name no recipient", function()
    local out = assert(track.html('<a href="https://x.example/">x</a>', opts({ mode = "aggregate" })))
    for tok in out:gmatch("/[co]/([%w_-]+)") do
      assert.equal(0, core.token_check(SECRET, tok).recipient)
    end
  end)

  it("refuse every single-byte alteration", function()
    local tok = make({ kind = "click", campaign = 7, recipient = 42, link = 3 })
    local tried = 0
    for i = 1, #tok do
      for c in (ALPHABET .. "=+/. \0"):gmatch(".") do
        if c ~= tok:sub(i, i) then
          local bad = tok:sub(1, i - 1) .. c .. tok:sub(i + 1)
          local t, why = core.token_check(SECRET, bad)
          assert.is_nil(t, bad)
          assert.matches("^token: ", why)
          tried = tried + 1
        end
      end
    end
    assert.is_true(tried > 1000)
  end)

  it("refuse a token made with another secret", function()
    local tok = assert(core.token_make(string.rep("z", 32), { kind = "open", campaign = 7 }))
    assert.same({ nil, "token: bad signature" }, { core.token_check(SECRET, tok) })
  end)

  it("refuse a truncated or extended token", function()
    local tok = make({ kind = "click", campaign = 7, recipient = 42, link = 3 })
    for n = 0, #tok - 1 do
      local t, why = core.token_check(SECRET, tok:sub(1, n))
      assert.is_nil(t)
      assert.matches("^token: ", why)
    end
    assert.is_nil(core.token_check(SECRET, tok .. "A"))
    assert.is_nil(core.token_check(SECRET, tok .. "AAAA"))
    assert.is_nil(core.token_check(SECRET, string.rep("A", 1000)))
  end)

  it("refuse a token of another version", function()
    assert.same({ nil, "token: unknown version" }, { core.token_check(SECRET, "IAAAAAAAAAAAAAAAAAAAAAAAAAA") })
  end)

  it("raise on misuse: a short secret, a click without a link, an open with one", function()
    assert.has_error(function() core.token_make("short", { campaign = 1 }) end)
    assert.has_error(function() core.token_make(SECRET, { kind = "click", campaign = 1 }) end)
    assert.has_error(function() core.token_make(SECRET, { kind = "open", campaign = 1, link = 2 }) end)
    assert.has_error(function() core.token_make(SECRET, { kind = "view", campaign = 1 }) end)
    assert.has_error(function() core.token_make(SECRET, { campaign = -1 }) end)
    assert.has_error(function() core.token_make(SECRET, { recipient = 1 }) end)
  end)
end)


describe("mailcast.track", function()
  it("is the module mailcast.track", function()
    assert.equal(require "mailcast.track", mailcast.track)
  end)

  it("tracks each link and the open with tokens naming campaign, recipient and link", function()
    local html = '<body><a href="https://a.example/">A</a><a href="mailto:x@example.com">m</a>'
      .. '<a href="https://b.example/">B</a></body>'
    local out, links = assert(track.html(html, opts()))
    local got = {}
    for kind, tok in out:gmatch(BASE:gsub("%p", "%%%0") .. "/([co])/([%w_-]+)") do
      local t = assert(track.check(tok, SECRET))
      got[#got + 1] = { kind, t.kind, t.campaign, t.recipient, t.link }
    end
    assert.same({ { "c", "click", 7, 42, 1 }, { "c", "click", 7, 42, 3 }, { "o", "open", 7, 42, 0 } }, got)
    assert.same({ 1, 3 }, tracked_indexes(links))
  end)

  it("passes each link to the track hook: false, a URL, a tag", function()
    local html = '<a href="https://a.example/">A</a><a href="https://b.example/">B</a>'
      .. '<a href="https://c.example/">C</a><a href="https://d.example/">D</a>'
    local seen = {}
    local out, links = assert(track.html(html, opts({
      pixel = false,
      track = function(link)
        seen[#seen + 1] = link.index .. " " .. link.url .. " " .. link.text
        if link.index == 1 then return false end
        if link.index == 2 then return "https://b.example/?utm=1" end
        if link.index == 3 then return "footer" end
        return { url = "https://d.example/new", tag = "cta" }
      end,
    })))
    assert.same({ "1 https://a.example/ A", "2 https://b.example/ B", "3 https://c.example/ C", "4 https://d.example/ D" }, seen)
    assert.truthy(out:find('<a href="https://a.example/">A</a>', 1, true))
    assert.same({ false, "hook" }, { links[1].tracked, links[1].skip })
    assert.same({ "https://b.example/?utm=1", "https://b.example/" }, { links[2].url, links[2].original })
    assert.same({ "https://c.example/", "footer" }, { links[3].url, links[3].tag })
    assert.same({ "https://d.example/new", "cta" }, { links[4].url, links[4].tag })
  end)

  it("reports a hook that raises as nil and a message naming the link", function()
    local out, err = track.html('<a href="https://a.example/">A</a><a href="https://b.example/">B</a>',
      opts({ track = function(link) if link.index == 2 then error("no such product") end end }))
    assert.is_nil(out)
    assert.matches("link 2: .*no such product", err)
  end)

  it("returns only the same HTML with list = false", function()
    local html = '<body><a href="https://a.example/">A</a><a href="mailto:x@example.com">m</a></body>'
    local out, links = assert(track.html(html, opts()))
    assert.equal(2, #links)
    assert.same({ out }, { track.html(html, opts({ list = false })) })
    assert.same({ out }, { track.html(html, opts({ list = false, track = function() end })) })
  end)

  it("returns the HTML as it is with mode off", function()
    local html = '<a href="https://a.example/">A</a>'
    assert.same({ html, {} }, { track.html(html, { mode = "off" }) })
  end)

  it("raises on misuse: no base, no secret, a recipient mode without a recipient", function()
    assert.has_error(function() track.html("x", opts({ base = "t.example.com" })) end)
    assert.has_error(function() track.html("x", opts({ secret = "short" })) end)
    assert.has_error(function() track.html("x", opts({ mode = "recipient", recipient = false })) end)
    assert.has_error(function() track.html("x", opts({ mode = "sometimes" })) end)
  end)

  it("takes the secret from MAILCAST_TRACK_SECRET", function()
    local dir = mime.tmpdir()
    mime.write(dir .. "/t.lua", 'local t = require("mailcast").track\n'
      .. 'local tok = t.token{kind = "open", campaign = 3}\n'
      .. 'print(t.check(tok, "' .. SECRET .. '").campaign)\n')
    local out, code = helper.sh("MAILCAST_TRACK_SECRET=" .. SECRET .. " " .. helper.runner .. " run " .. dir .. "/t.lua")
    mime.rmdir(dir)
    assert.equal(0, code, out)
    assert.equal("3\n", out)
  end)

  describe("with the campaign's stored links", function()
    local html = '<a href="https://shop.example/account?u=42">Account</a>'
      .. '<a href="https://example.com/news">News</a><a href="mailto:x@example.com">Mail</a>'
    local stored = { "https://shop.example/account?u=17", "https://example.com/news" }

    it("report nothing, and make the same HTML, when every link is the stored one", function()
      local same = { "https://shop.example/account?u=42", "https://example.com/news" }
      local out, links, changed = track.html(html, opts({ list = false, stored = same }))
      assert.is_nil(links)
      assert.is_nil(changed)
      assert.equal(track.html(html, opts({ list = false })), out)
    end)

    it("report a personalised link, and one whose index has nothing stored", function()
      local _, _, changed = track.html(html, opts({ list = false, stored = stored }))
      assert.same({ [1] = "https://shop.example/account?u=42" }, changed)
      _, _, changed = track.html(html, opts({ list = false, stored = {} }))
      assert.same({ "https://shop.example/account?u=42", "https://example.com/news" }, changed)
    end)

    it("compare the URL the track hook gave", function()
      local hook = function(link) return link.url .. "&utm=mail" end
      local _, _, changed = track.html(html, opts({ list = false, stored = {}, track = hook }))
      assert.equal("https://example.com/news&utm=mail", changed[2])
      _, _, changed = track.html(html, opts({ list = false, track = hook,
        stored = { "https://shop.example/account?u=42&utm=mail", "https://example.com/news&utm=mail" } }))
      assert.is_nil(changed)
    end)

    it("leave a link unlike the stored one untracked in aggregate mode, and track the rest", function()
      local out, links, changed = track.html(html, opts({ mode = "aggregate", stored = stored }))
      assert.is_nil(changed)
      assert.matches('href="https://shop.example/account?u=42"', out, 1, true)
      assert.same({ false, "personal" }, { links[1].tracked, links[1].skip })
      assert.is_true(links[2].tracked)
      local tok = out:match('href="' .. BASE .. '/c/([%w_-]+)"')
      assert.same({ 2, 0 }, { track.check(tok, SECRET).link, track.check(tok, SECRET).recipient })
      -- An index nothing is stored for yet is tracked, and reported for the store.
      _, _, changed = track.html(html, opts({ mode = "aggregate", stored = { [2] = stored[2] } }))
      assert.same({ [1] = "https://shop.example/account?u=42" }, changed)
    end)

    it("compare the text part's links too, keeping their indexes", function()
      local text = "Account: https://shop.example/account?u=42\nNews: https://example.com/news\n"
      local t_stored = { "https://shop.example/account?u=17", "https://example.com/news" }
      local _, _, changed = track.text(text, opts({ text = true, stored = t_stored }), {})
      assert.same({ [1] = "https://shop.example/account?u=42" }, changed)
      local out, links
      out, links, changed = track.text(text, opts({ text = true, mode = "aggregate", stored = t_stored }), {})
      assert.is_nil(changed)
      assert.matches("Account: https://shop.example/account?u=42\n", out, 1, true)
      assert.same({ "personal", true }, { links[1].skip, links[2].tracked })
      assert.equal(2, track.check(out:match("/c/([%w_-]+)"), SECRET).link)
    end)

    it("raise on stored links that are not URLs", function()
      assert.has_error(function() core.track_html("x", { base = BASE, token = print, stored = "x" }) end)
      local out, err = track.html(html, opts({ stored = { 5 } }))
      assert.is_nil(out)
      assert.matches("link 1: the stored links must be URLs", err)
    end)
  end)

  describe("text", function()
    local text = "See https://a.example/x, and (https://b.example/y).\n"
      .. "Unsubscribe: https://u.example/u/1\nMail: info@example.com\n<https://c.example/z?q=1&r=2>\n"

    it("keeps the text part's links as they are unless asked", function()
      assert.equal(text, (track.text(text, opts())))
    end)

    it("rewrites bare URLs when asked, reusing the HTML's link indexes", function()
      local _, links = assert(track.html('<a href="https://b.example/y">B</a>', opts()))
      local out, all = assert(track.text(text, opts({ text = true, unsubscribe_url = "https://u.example/u/1" }), links))
      local indexes = {}
      for tok in out:gmatch("/c/([%w_-]+)") do indexes[#indexes + 1] = track.check(tok, SECRET).link end
      assert.same({ 2, 1, 3 }, indexes)
      assert.matches("^See https://t%.example%.com/c/[%w_-]+, and %(https://t%.example%.com/c/[%w_-]+%)%.\n", out)
      assert.truthy(out:find("Unsubscribe: https://u.example/u/1\n", 1, true))
      assert.truthy(out:find("\n<https://t.example.com/c/[%w_-]+>\n$"))
      assert.same({ "https://b.example/y", "https://a.example/x", "https://c.example/z?q=1&r=2" },
        { all[1].url, all[2].url, all[3].url })
      assert.equal("text", all[2].part)
    end)
  end)
end)
