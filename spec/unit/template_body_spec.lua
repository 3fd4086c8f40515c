-- mailcast.template.body: a template's rendering as a message body part,
-- its static text encoded once; the message it goes into is the same,
-- byte for byte, as the one made from the rendered string.
local template = require "mailcast.template"
local mailcast = require "mailcast"

-- Fixed Message-ID and date: a single-part message has no other
-- randomness, so two builds of the same body compare byte for byte.
local function message(field, body)
  return mailcast.message { from = "news@example.com", to = "ann@example.org", subject = "s",
                            message_id = "<1@example.com>", date = "Mon, 7 Dec 2026 06:00:00 +0000",
                            [field] = body }
end

local LINES = {}
for i = 1, 40 do
  LINES[i] = string.format("Line %d of the letter = a long stretch of static text, with a tab\tand More.", i)
end
LINES[12] = "From here on the lines say From at their start, which gets escaped."
LINES[20] = "A line that ends with blanks   "
LINES[30] = "." .. string.rep("very long ", 20)
local LETTER = "Hello {{name}},\n" .. table.concat(LINES, "\n") .. "\nBye {{name}}\n{{#items}}- {{.}}\n{{/items}}" ..
  table.concat(LINES, "\r\n") .. "\r\n"

local NAMES = { "Ann", "Zoë Müller", "Åsa", "O'Neill & Co <x>", "", "line\nbreak", "ends in CR\r", "\nstarts in LF",
  "From me", "a=_b", string.rep("é", 400) }

describe("mailcast.template.body", function()
  for _, html in ipairs { false, true } do
    local field = html and "html" or "text"
    it("makes the same " .. field .. " body as the rendered string, whatever the variables", function()
      local render = template.compile(LETTER, field, { html = html })
      local body = template.body(render)
      local parts = 0
      for _, name in ipairs(NAMES) do
        local vars = { name = name, items = { "one", name } }
        local made = body(vars)
        if type(made) ~= "string" then parts = parts + 1 end
        local want = assert(message(field, assert(render(vars))))
        assert.equal(want, assert(message(field, made)), name)
      end
      assert.is_true(parts >= #NAMES - 1)
    end)
  end

  it("gives a Part of the body's type, with the encoding mailcast.part would choose", function()
    local body = template.body(template.compile(LETTER, "html", { html = true }))
    local part = body { name = "Zoë", items = {} }
    assert.equal("userdata", type(part))
    assert.equal("quoted-printable", part:encoding())
    assert.matches("^Content%-Type: text/html; charset=\"utf%-8\"\r\n", part:head())
    assert.equal("7bit", body { name = "Ann", items = {} }:encoding())
  end)

  it("gives the string when the body would be base64", function()
    local body = template.body(template.compile("{{x}}\n" .. string.rep("static text line\n", 10), "t"))
    local heavy = string.rep("é", 100)
    assert.equal(heavy .. "\n" .. string.rep("static text line\n", 10), body { x = heavy })
  end)

  it("gives the string when it is not UTF-8, and building then says so", function()
    local body = template.body(template.compile("{{x}}\n" .. string.rep("static text line\n", 10), "t"))
    local made = body { x = "bad \255 byte" }
    assert.equal("string", type(made))
    local msg, err = message("text", made)
    assert.is_nil(msg)
    assert.equal("text: text/plain body is not valid UTF-8 (byte 5)", err)
  end)

  it("reports a missing variable as render does", function()
    local render = template.compile("a\n{{x}}", "t")
    local made, err = template.body(render) {}
    assert.is_nil(made)
    assert.equal(select(2, render {}), err)
  end)

  it("is not given for a function of its own", function()
    assert.is_nil(template.body(function() return "x" end))
  end)

  it("does not let a text body go in as html", function()
    local part = template.body(template.compile(LETTER, "text")) { name = "Ann", items = {} }
    assert.has_error(function() message("html", part) end,
      "message field 'html' must be a string or a text/html part from a template")
  end)

  it("keeps its part whole after the template is gone", function()
    local part = template.body(template.compile(LETTER, "text")) { name = "Zoë", items = {} }
    collectgarbage()
    collectgarbage()
    local raw = assert(message("text", part))
    local want = assert(message("text", template.compile(LETTER, "text") { name = "Zoë", items = {} }))
    assert.equal(want, raw)
  end)
end)
