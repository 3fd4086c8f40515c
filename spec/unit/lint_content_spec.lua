-- The content checks of `mailcast lint` (mailcast.lint_content) and the
-- scanner's inventory they read (core.html_inventory): a clean message
-- has no findings, and a message built to trip each check trips it.
local mailcast = require "mailcast"
local core = require "mailcast.core"
local lint = require "mailcast.lint_content"

local TEXT = "Hello Ada,\n\nOur spring range is out: wool coats, linen shirts and boots for the rain. " ..
  "Read about each of them, with the prices for members, on our site. See you soon, the shop.\n"
local HTML = [[<html><body><p>Hello Ada,</p>
<p>Our spring range is out: wool coats, linen shirts and boots for the rain.
Read about each of them, with the prices for members, on <a href="https://shop.example.com/spring">our site</a>.</p>
<p><img src="cid:logo" alt="The shop"> See you soon, the shop.</p>
<p><a href="https://shop.example.com/u/abc">Unsubscribe</a></p></body></html>]]

-- A message table as a campaign renders it, clean unless changed.
local function message(changes)
  local t = {
    from = "The Shop <news@shop.example.com>", to = "ada@example.org",
    subject = "Our spring range is out", text = TEXT, html = HTML,
    inline = { { data = "\137PNG fake", cid = "logo", content_type = "image/png", filename = "logo.png" } },
    headers = { ["List-Unsubscribe"] = "<https://shop.example.com/u/abc>",
                ["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click" },
  }
  for k, v in pairs(changes or {}) do
    if v == false then t[k] = nil else t[k] = v end
  end
  return t
end

local function findings(changes)
  local t = message(changes)
  local raw = assert(mailcast.message(t))
  return lint.check(t, raw)
end

-- The findings of a check (by name) among the list.
local function of(list, check)
  local out = {}
  for _, f in ipairs(list) do
    if f.check == check then out[#out + 1] = f end
  end
  return out
end

local function trips(check, severity, changes)
  local list = findings(changes)
  local found = of(list, check)
  assert.are.equal(1, #found, check .. " expected once, got: " .. require("mailcast.lint").json(list))
  assert.are.equal(severity, found[1].severity)
  assert.is_string(found[1].fix)
  return found[1]
end

local function with_html(body)
  return { html = "<html><body>" .. body .. "</body></html>" }
end

describe("core.html_inventory", function()
  it("lists links with their text, images with their alt, and counts visible text", function()
    local inv = core.html_inventory('<p>Hi &amp; all</p><a href=" https://x.example/a ">see <img src="cid:a">' ..
      'x.example</a><img src=b.png alt><style>.x{color:red}</style>')
    assert.are.same({ { url = "https://x.example/a", text = "see x.example" } }, inv.links)
    assert.are.same({ { src = "cid:a", alt = false, in_link = true }, { src = "b.png", alt = true, in_link = false } },
      inv.images)
    assert.are.equal(#"Hi&amp;allseex.example", inv.text_bytes)
  end)

  it("counts no text in comments, scripts or tags", function()
    local inv = core.html_inventory('<!-- hidden words --><script>var a = 1</script><div class="x"></div>')
    assert.are.equal(0, inv.text_bytes)
  end)
end)

describe("lint content checks", function()
  it("find nothing in a clean message", function()
    assert.are.same({}, findings())
  end)

  it("warn about HTML over Gmail's 102 KB clipping", function()
    trips("html.clipped", "warning", { html = HTML:gsub("</body>", "<!--" .. string.rep("x", 103 * 1024) .. "--></body>") })
  end)

  it("warn about a message over 1 MB", function()
    trips("size.total", "warning", { attachments = { { data = string.rep("z", 1100 * 1024), filename = "data.csv" } } })
  end)

  it("warn about an HTML message without a text part", function()
    trips("text.missing", "warning", { text = false })
  end)

  it("warn about a text part much shorter than the HTML", function()
    trips("text.short", "warning", { text = "See the HTML.\n" })
  end)

  it("warn about images without alt", function()
    local f = trips("img.alt", "warning", { html = HTML:gsub(' alt="The shop"', "") })
    assert.matches("1 of 1 images", f.message)
  end)

  it("warn about a message of images with little text", function()
    trips("img.ratio", "warning", with_html('<img src="https://cdn.example.com/a.png" alt="a">' ..
      '<img src="https://cdn.example.com/b.png" alt="b"><a href="https://shop.example.com/u/abc">Unsubscribe</a>'))
  end)

  it("refuse an unresolved cid: reference", function()
    local f = trips("cid.unresolved", "error", { html = HTML:gsub("cid:logo", "cid:banner") })
    assert.matches("banner", f.message)
  end)

  it("refuse malformed links", function()
    trips("link.malformed", "error", { html = HTML:gsub("https://shop.example.com/spring", "htps//shop.example.com") })
    trips("link.malformed", "error", { html = HTML:gsub("https://shop.example.com/spring", "https://shop..example.com/") })
    trips("link.malformed", "error", { html = HTML:gsub("https://shop.example.com/spring", "javascript:alert(1)") })
  end)

  it("warn about http: links", function()
    trips("link.http", "warning", { html = HTML:gsub("https://shop.example.com/spring", "http://shop.example.com/spring") })
  end)

  it("warn about URL shorteners, in the HTML and in the text", function()
    trips("link.shortener", "warning", { html = HTML:gsub("https://shop.example.com/spring", "https://bit.ly/3xYz") })
    trips("link.shortener", "warning", { text = TEXT .. "https://tinyurl.com/abc\n" })
  end)

  it("refuse a link whose text shows another domain than it goes to", function()
    local f = trips("link.mismatch", "error",
      { html = HTML:gsub('>our site<', '>www.bank.example<') })
    assert.matches("bank.example", f.message)
    assert.matches("shop.example.com", f.message)
  end)

  it("accept a link whose text shows the same organization's domain", function()
    assert.are.same({}, of(findings({ html = HTML:gsub('>our site<', '>example.com<') }), "link.mismatch"))
  end)

  it("refuse bulk mail without List-Unsubscribe", function()
    trips("unsubscribe.missing", "error", { headers = {} })
  end)

  it("warn when List-Unsubscribe has no one-click", function()
    trips("unsubscribe.one_click", "warning", { headers = { ["List-Unsubscribe"] = "<mailto:u@shop.example.com>" } })
  end)

  it("refuse a From at a freemail domain", function()
    trips("from.freemail", "error", { from = "The Shop <theshop@gmail.com>" })
  end)

  it("warn about a From name that shows another address", function()
    trips("from.name", "warning", { from = '"support@bank.example" <news@shop.example.com>' })
  end)

  it("refuse an empty subject, and warn about a long, shouting or !!! one", function()
    trips("subject.missing", "error", { subject = "" })
    trips("subject.long", "warning", { subject = string.rep("Spring news and more ", 5) })
    trips("subject.caps", "warning", { subject = "OUR SPRING RANGE IS OUT" })
    trips("subject.punctuation", "warning", { subject = "Our spring range is out!!!" })
  end)

  it("refuse template tags left in the rendered message", function()
    trips("template.unbalanced", "error", { subject = "Hello {{first_name" })
    trips("template.unbalanced", "error", { text = TEXT .. "*|FNAME|*\n" })
  end)

  it("refuse attachments that filters block, macro documents included", function()
    for _, name in ipairs({ "setup.exe", "invoice.js", "run.vbs", "photo.scr", "report.docm", "sheet.xlsm" }) do
      local f = trips("attachment.blocked", "error", { attachments = { { data = "x", filename = name } } })
      assert.matches(name, f.message, 1, true)
    end
  end)

  it("accept ordinary attachments", function()
    assert.are.same({}, findings({ attachments = { { data = "%PDF-1.4", filename = "brochure.pdf" } } }))
  end)

  it("note an inline image the HTML never shows", function()
    trips("cid.unused", "note", { inline = { { data = "\137PNG", cid = "logo", content_type = "image/png" },
                                             { data = "\137PNG", cid = "spare", content_type = "image/png" } } })
  end)

  it("read the organizational domain under two-level suffixes", function()
    assert.are.equal("example.co.uk", lint.organizational("www.mail.example.co.uk"))
    assert.are.equal("example.com", lint.organizational("a.b.example.com"))
  end)
end)
