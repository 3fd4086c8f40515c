-- mailcast.template: mail-merge templates with {{x}}, {{{x}}}, sections
-- and inverted sections; missing variables are errors with their line.
local template = require "mailcast.template"
local mailcast = require "mailcast"

local function render(src, vars, opts)
  return template.compile(src, "t", opts)(vars)
end

-- The message compile raises for src (luassert's has_error would strip
-- the "template NAME:LINE: " prefix as if it were a source position).
local function compile_error(src, name)
  local ok, err = pcall(template.compile, src, name)
  assert.is_false(ok)
  return err
end

describe("mailcast.template", function()
  it("is the module mailcast.template", function()
    assert.equal(template, mailcast.template)
  end)

  it("replaces variables", function()
    assert.equal("Hello Ann, you are 42.", render("Hello {{name}}, you are {{age}}.", { name = "Ann", age = 42 }))
  end)

  it("allows white space inside the braces", function()
    assert.equal("Hello Ann", render("Hello {{ name }}", { name = "Ann" }))
  end)

  it("looks up dotted names in nested tables", function()
    assert.equal("Springfield", render("{{address.city}}", { address = { city = "Springfield" } }))
  end)

  it("leaves text without tags and lone braces as they are", function()
    assert.equal("a { b } {c} {{ }}", render("a { b } {c} {{ }}", {}))
  end)

  it("escapes & < > \" and ' in HTML templates", function()
    assert.equal("&lt;b&gt;Tom &amp; &quot;Jerry&quot; &#39;s&lt;/b&gt;",
      render("{{x}}", { x = "<b>Tom & \"Jerry\" 's</b>" }, { html = true }))
  end)

  it("does not escape in text templates", function()
    assert.equal("<b>Tom & Jerry</b>", render("{{x}}", { x = "<b>Tom & Jerry</b>" }))
  end)

  it("inserts {{{x}}} as it is in HTML templates", function()
    assert.equal("<b>bold</b> &lt;b&gt;bold&lt;/b&gt;", render("{{{x}}} {{x}}", { x = "<b>bold</b>" }, { html = true }))
  end)

  it("keeps a brace that follows a tag", function()
    -- CSS in an HTML template: the last brace is the rule's, not the tag's.
    assert.equal("p {color: red}", render("p {color: {{c}}}", { c = "red" }, { html = true }))
  end)

  it("keeps a section when its variable is set", function()
    assert.equal("Hi VIP!", render("Hi{{#vip}} VIP{{/vip}}!", { vip = true }))
    assert.equal("Hi VIP!", render("Hi{{#vip}} VIP{{/vip}}!", { vip = "yes" }))
  end)

  it("drops a section when its variable is false, empty or missing", function()
    for _, v in ipairs { { vip = false }, { vip = "" }, {} } do
      assert.equal("Hi!", render("Hi{{#vip}} VIP{{/vip}}!", v))
    end
  end)

  it("keeps an inverted section when its variable is not set", function()
    assert.equal("Hi guest!", render("Hi{{^name}} guest{{/name}}!", {}))
    assert.equal("Hi!", render("Hi{{^name}} guest{{/name}}!", { name = "Ann" }))
  end)

  it("nests sections", function()
    local src = "{{#a}}A{{#b}}B{{/b}}{{^b}}notB{{/b}}{{/a}}"
    assert.equal("AB", render(src, { a = 1, b = 1 }))
    assert.equal("AnotB", render(src, { a = 1 }))
    assert.equal("", render(src, { b = 1 }))
  end)

  it("does not ask for variables inside a dropped section", function()
    assert.equal("", render("{{#vip}}{{discount}}{{/vip}}", {}))
  end)

  it("reports a missing variable with the template name and line", function()
    local out, err = template.compile("Dear {{name}},\n\nyour code: {{code}}\n", "welcome.txt")({ name = "Ann" })
    assert.is_nil(out)
    assert.equal("template welcome.txt:3: missing variable 'code'", err)
  end)

  it("raises at compile time on a section that is never closed", function()
    assert.equal("template t.txt:2: {{#x}} is never closed", compile_error("a\n{{#x}}b", "t.txt"))
  end)

  it("raises at compile time on a close tag that does not match", function()
    assert.equal("template t.txt:1: {{/b}} closes {{#a}}", compile_error("{{#a}}{{/b}}", "t.txt"))
    assert.equal("template t.txt:1: {{/b}} closes nothing", compile_error("{{/b}}", "t.txt"))
  end)

  it("raises at compile time on {{{x}} without its third brace", function()
    assert.equal("template t.txt:1: '{{{x' needs '}}}'", compile_error("{{{x}}", "t.txt"))
  end)

  it("renders the same compiled template for many recipients", function()
    local render_fn = template.compile("Hello {{name}}", "t")
    assert.equal("Hello Ann", render_fn { name = "Ann" })
    assert.equal("Hello Bob", render_fn { name = "Bob" })
  end)
end)
