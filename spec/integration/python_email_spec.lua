-- An independent parser agrees: messages mailcast builds, read back by
-- Python's email package (policy=email.policy.default) through
-- spec/support/pyemail.py, give the subject, addresses, part types,
-- filenames and decoded bytes that went in, and no defects.
local mailcast = require "mailcast"
local mime = require "support.mime"

local PYTHON = "/usr/bin/python3"
local SCRIPT = "spec/support/pyemail.py"

local PNG = "\137PNG\r\n\26\n\0\0\0\rIHDR" .. mime.random_bytes(700, 2)
local ALL = string.rep(mime.all_bytes(), 3)

local function b64(s)
  if s == nil then return "-" end
  return mailcast.b64(s)
end

-- Runs pyemail.py on raw; returns {subject=, from={...}, to={...},
-- defects=, parts={"type filename body", ...}}.
local function python_view(raw, dir)
  local path = dir .. "/message.eml"
  mime.write(path, raw)
  local p = assert(io.popen(PYTHON .. " " .. SCRIPT .. " " .. mime.sh_quote(path) .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  assert(ok, "pyemail.py failed:\n" .. out)
  local view = { from = {}, to = {}, parts = {} }
  for line in out:gmatch("[^\n]+") do
    local kind, rest = line:match("^(%S+) (.*)$")
    if kind == "subject" then view.subject = rest
    elseif kind == "defects" then view.defects = tonumber(rest)
    elseif kind == "from" or kind == "to" then table.insert(view[kind], rest)
    elseif kind == "part" then table.insert(view.parts, rest)
    else error("unexpected output from pyemail.py: " .. line) end
  end
  return view
end

-- What Python should see: leaves is a list of {type, filename, bytes};
-- text bytes are compared in canonical form (CRLF), as pyemail.py gives them.
local function expected_parts(leaves)
  local out = {}
  for i, leaf in ipairs(leaves) do
    local body = leaf[3]
    if leaf[1]:find("^text/") then body = mime.crlf(body) end
    out[i] = leaf[1] .. " " .. b64(leaf[2]) .. " " .. b64(body)
  end
  return out
end

local function expected_mailboxes(list)
  local out = {}
  for i, m in ipairs(list) do out[i] = b64(m[1]) .. " " .. b64(m[2]) end
  return out
end

-- Declares the specs for one message shape: t is the message table (or
-- a function of a temporary directory that returns it), want =
-- {subject=, from={{name, addr}}, to={{name, addr}...}, leaves=}.
local function agrees(shape, t, want)
  describe("Python's email package reading " .. shape, function()
    local dir, view
    lazy_setup(function()
      dir = mime.tmpdir()
      local msg = assert(mailcast.build(type(t) == "function" and t(dir) or t))
      local raw = assert(msg:tostring())
      msg:close()
      view = python_view(raw, dir)
    end)
    lazy_teardown(function() mime.rmdir(dir) end)

    it("finds no defects", function()
      assert.equal(0, view.defects)
    end)

    it("reads the subject that was given", function()
      assert.equal(b64(want.subject), view.subject)
    end)

    it("reads the sender and recipients that were given", function()
      assert.same(expected_mailboxes(want.from), view.from)
      assert.same(expected_mailboxes(want.to), view.to)
    end)

    it("reads the same parts, in order, with their types, filenames and bytes", function()
      assert.same(expected_parts(want.leaves), view.parts)
    end)
  end)
end


local SENDER = { "Zoë Ågren", "zoe@example.com" }
local function base(t)
  local m = {
    from = { name = SENDER[1], address = SENDER[2] },
    to = { "\"Doe, John\" <john@example.org>", { name = "Åsa Lindqvist", address = "asa@example.net" } },
    subject = "Grüße — Neuigkeiten für Sie",
  }
  for k, v in pairs(t) do m[k] = v end
  return m
end
local TO = { { "Doe, John", "john@example.org" }, { "Åsa Lindqvist", "asa@example.net" } }

local TEXT = "Hallo Åsa,\nwie geht's? Ein Gruß aus Köln.\n\n-- \nZoë\n"
local HTML = "<p>Hallo Åsa,</p>\n<p>wie geht's? <img src=\"cid:logo@example.com\"></p>\n"

agrees("a text-only message with non-ASCII subject and names", base { text = TEXT }, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, TEXT } },
})

agrees("a message with text and html", base { text = TEXT, html = HTML }, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, TEXT }, { "text/html", nil, HTML } },
})

agrees("a message with an inline image", base {
  text = TEXT, html = HTML,
  inline = { { data = PNG, cid = "logo@example.com", filename = "Logo Köln.png" } },
}, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, TEXT }, { "text/html", nil, HTML }, { "image/png", "Logo Köln.png", PNG } },
})

local LONG_NAME = "Broschüre November 2024 — endgültige Fassung mit einem sehr langen Namen.pdf"
agrees("a message with binary attachments and non-ASCII filenames", base {
  text = TEXT,
  attachments = {
    { data = ALL, filename = "every byte.bin" },
    { data = ALL, filename = LONG_NAME, content_type = "application/pdf" },
    { data = "x,y\n1,ü\n", filename = "liste.csv" },
    { data = "", filename = [[quoted "name" \ here.txt]] },
  },
}, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = {
    { "text/plain", nil, TEXT },
    { "application/octet-stream", "every byte.bin", ALL },
    { "application/pdf", LONG_NAME, ALL },
    { "text/csv", "liste.csv", "x,y\n1,ü\n" },
    { "text/plain", [[quoted "name" \ here.txt]], "" },
  },
})

local LONG_TEXT = string.rep("Lorem ipsum dolor sit amet. ", 200) .. "\n" .. string.rep("x", 5000) .. "\n"
  .. string.rep("Grüße ", 900) .. "\n"
local LONG_HTML = "<p>" .. string.rep("<b>bold</b> ", 600) .. "</p>\n"
agrees("a message with lines far over 998 octets", base { text = LONG_TEXT, html = LONG_HTML }, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, LONG_TEXT }, { "text/html", nil, LONG_HTML } },
})

local HUGE_SUBJECT = string.rep("Ein sehr langer Betreff für alle Empfänger — ", 45) .. "Ende"
local MANY = {}
local MANY_WANT = {}
for i = 1, 30 do
  MANY[i] = { name = "Empfänger Nummer " .. i .. ", Abteilung", address = "r" .. i .. "@example.org" }
  MANY_WANT[i] = { MANY[i].name, MANY[i].address }
end
agrees("a message with a 2000-character subject and 30 recipients", base { subject = HUGE_SUBJECT, to = MANY, text = "kurz\n" }, {
  subject = HUGE_SUBJECT, from = { SENDER }, to = MANY_WANT,
  leaves = { { "text/plain", nil, "kurz\n" } },
})

local FAKE = "=_mc" .. string.rep("0", 24)
local TRICKY = "From the start of a line\n--" .. FAKE .. "\nContent-Type: text/html\n\n--" .. FAKE .. "--\n=?UTF-8?Q?x?= =3D\n.\n"
agrees("a message whose text imitates boundaries, encoded-words and mbox lines", base {
  subject = "=?UTF-8?Q?not_encoded?= really", text = TRICKY, html = "<pre>" .. TRICKY .. "</pre>\n",
}, {
  subject = "=?UTF-8?Q?not_encoded?= really", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, TRICKY }, { "text/html", nil, "<pre>" .. TRICKY .. "</pre>\n" } },
})

agrees("an 8bit message", base { text = TEXT, html = HTML, allow_8bit = true }, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, TEXT }, { "text/html", nil, HTML } },
})

agrees("a message with mostly non-ASCII text", base { text = string.rep("日本語のメールです。\n", 20) }, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, string.rep("日本語のメールです。\n", 20) } },
})

agrees("a message with empty text and html", base { text = "", html = "" }, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, "" }, { "text/html", nil, "" } },
})

local STREAMED = string.rep(ALL, 300)
agrees("a message with a streamed attachment", function(dir)
  mime.write(dir .. "/streamed.bin", STREAMED)
  return base { text = TEXT, attachments = { { path = dir .. "/streamed.bin", stream = true, filename = "Größe.bin" } } }
end, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, TEXT }, { "application/octet-stream", "Größe.bin", STREAMED } },
})

agrees("a message without a body", base {}, {
  subject = "Grüße — Neuigkeiten für Sie", from = { SENDER }, to = TO,
  leaves = { { "text/plain", nil, "\r\n" } },  -- the line break SMTP needs at the end
})
