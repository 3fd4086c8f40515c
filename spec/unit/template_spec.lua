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

  -- "Hi {{first_name}" once compiled, and the subject went out as it was.
  it("raises at compile time on a tag that is never closed", function()
    assert.equal("template subject:1: '{{first_name' needs '}}'", compile_error("Hi {{first_name}", "subject"))
    assert.equal("template t.txt:2: '{{x' needs '}}'", compile_error("a\n{{x", "t.txt"))
    assert.equal("template t.txt:1: '{{first' needs '}}'", compile_error("{{first name}}", "t.txt"))
    assert.equal("template t.txt:1: '{{a' needs '}}'", compile_error("{{a {{b}}", "t.txt"))
    assert.equal("template t.txt:1: '{{# x' needs '}}'", compile_error("{{# x}", "t.txt"))
    assert.equal("template t.txt:1: '{{/x' needs '}}'", compile_error("{{#x}}{{/x", "t.txt"))
  end)

  it("writes numbers and booleans as tostring does", function()
    assert.equal("42 1.5 true 1e+100", render("{{i}} {{f}} {{b}} {{big}}", { i = 42, f = 1.5, b = true, big = 1e100 }))
  end)

  it("refuses sections nested more than 64 deep, and renders 64", function()
    local deep = function(n) return string.rep("{{#a}}", n) .. "x" .. string.rep("{{/a}}", n) end
    assert.equal("template t.txt:1: sections nested more than 64 deep", compile_error(deep(65), "t.txt"))
    assert.equal("x", render(deep(64), { a = true }))
  end)

  it("gives a failing metamethod of the variables as the message, not an error", function()
    local vars = setmetatable({}, { __index = function(_, k) error("no " .. k, 0) end })
    local out, err = template.compile("{{x}}", "t")(vars)
    assert.is_nil(out)
    assert.equal("no x", err)
  end)

  it("renders a template again from inside its own rendering", function()
    local render_fn = template.compile("{{a}}-{{b}}", "t")
    local vars = setmetatable({ a = "out" }, { __index = function() return render_fn { a = "in", b = "ner" } end })
    assert.equal("out-in-ner", render_fn(vars))
    assert.equal("x-y", render_fn { a = "x", b = "y" })
  end)

  it("renders a list of megabytes, and small renderings after it", function()
    local render_fn = template.compile("{{#items}}{{.}},{{/items}}", "t")
    local items = {}
    for i = 1, 200000 do items[i] = "item " .. i end
    local big = render_fn { items = items }
    assert.equal(#table.concat(items, ",") + 1, #big)
    assert.equal("a,", render_fn { items = { "a" } })
  end)

  it("renders the same compiled template for many recipients", function()
    local render_fn = template.compile("Hello {{name}}", "t")
    assert.equal("Hello Ann", render_fn { name = "Ann" })
    assert.equal("Hello Bob", render_fn { name = "Bob" })
  end)
end)

describe("mailcast.template sections over lists", function()
  it("repeats a section for each item of a list, with the item's fields", function()
    local items = { { title = "One" }, { title = "Two" }, { title = "Three" } }
    assert.equal("[One][Two][Three]", render("{{#items}}[{{title}}]{{/items}}", { items = items }))
  end)

  it("keeps the items in their order", function()
    local items = {}
    for i = 1, 12 do items[i] = { n = i } end
    assert.equal("1,2,3,4,5,6,7,8,9,10,11,12,", render("{{#items}}{{n}},{{/items}}", { items = items }))
  end)

  it("writes a scalar item with {{.}}", function()
    assert.equal("<li>a</li><li>b</li><li>3</li>",
      render("{{#tags}}<li>{{.}}</li>{{/tags}}", { tags = { "a", "b", 3 } }))
  end)

  it("escapes {{.}} and item fields in HTML templates, and not {{{.}}}", function()
    local vars = { tags = { "<b>" }, links = { { label = "Tom & Jerry" } } }
    assert.equal("&lt;b&gt; <b> Tom &amp; Jerry",
      render("{{#tags}}{{.}} {{{.}}}{{/tags}} {{#links}}{{label}}{{/links}}", vars, { html = true }))
  end)

  it("lets an item's field shadow an outer variable of the same name", function()
    local vars = { name = "outer", items = { { name = "inner" }, {} } }
    assert.equal("inner|outer|", render("{{#items}}{{name}}|{{/items}}", vars))
  end)

  it("finds outer variables inside the section", function()
    local vars = { shop = "Acme", items = { { title = "Pen" }, { title = "Ink" } } }
    assert.equal("Pen from Acme; Ink from Acme; ", render("{{#items}}{{title}} from {{shop}}; {{/items}}", vars))
  end)

  it("finds outer variables beside a scalar item", function()
    assert.equal("x-Ann y-Ann ", render("{{#l}}{{.}}-{{name}} {{/l}}", { name = "Ann", l = { "x", "y" } }))
  end)

  it("treats an empty list as not set", function()
    local src = "{{#items}}[{{title}}]{{/items}}{{^items}}nothing{{/items}}"
    assert.equal("nothing", render(src, { items = {} }))
  end)

  it("drops an inverted section when the list has items", function()
    local src = "{{#items}}[{{title}}]{{/items}}{{^items}}nothing{{/items}}"
    assert.equal("[A]", render(src, { items = { { title = "A" } } }))
  end)

  it("nests lists, the inner item seeing the outer one's fields", function()
    local vars = { groups = {
      { name = "G1", members = { { who = "a" }, { who = "b" } } },
      { name = "G2", members = { { who = "c" } } },
    } }
    assert.equal("G1:a@G1 b@G1 ;G2:c@G2 ;",
      render("{{#groups}}{{name}}:{{#members}}{{who}}@{{name}} {{/members}};{{/groups}}", vars))
  end)

  it("uses a table that is not a list as the scope of its section, once", function()
    assert.equal("Ann (Paris)", render("{{#user}}{{name}} ({{city}}){{/user}}", { user = { name = "Ann", city = "Paris" } }))
  end)

  it("reports a field missing from an item and from every outer scope, with its line", function()
    local out, err = template.compile("list:\n{{#items}}{{title}}\n{{price}}{{/items}}", "t.txt")(
      { items = { { title = "A", price = 1 }, { title = "B" } } })
    assert.is_nil(out)
    assert.equal("template t.txt:3: missing variable 'price'", err)
  end)

  it("refuses to write a list as a value", function()
    local out, err = template.compile("{{items}}", "t.txt")({ items = { 1, 2 } })
    assert.is_nil(out)
    assert.matches("template t.txt:1: .*'items'", err)
  end)

  it("renders the same compiled template with lists of different lengths", function()
    local fn = template.compile("{{#l}}{{.}}{{/l}}|", "t")
    assert.equal("abc|", fn { l = { "a", "b", "c" } })
    assert.equal("|", fn { l = {} })
    assert.equal("z|", fn { l = { "z" } })
  end)
end)
