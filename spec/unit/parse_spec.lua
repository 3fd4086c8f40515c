-- mailcast.parse: reading messages into a tree, well-formed or not. It
-- must never raise on data, only give back what it could make of it.
local mailcast = require "mailcast"
local mime = require "support.mime"

local parse = mailcast.parse

-- Joins lines with CRLF, with a CRLF at the end.
local function crlf(...)
  return table.concat({ ... }, "\r\n") .. "\r\n"
end

-- Parses without letting an error escape, and checks the result is a tree.
local function parses(raw)
  local ok, tree = pcall(parse, raw)
  assert(ok, tree)
  assert.is_table(tree)
  assert.is_string(tree.content_type)
  return tree
end

local function depth(tree)
  local d = 0
  while tree and tree.parts and tree.parts[1] do
    tree = tree.parts[1]
    d = d + 1
  end
  return d
end


describe("mailcast.parse on well-formed messages", function()
  local simple = crlf(
    "From: Sender <sender@example.com>",
    "To: =?UTF-8?Q?=C3=85sa?= <asa@example.net>",
    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=",
    "  aus =?UTF-8?B?S8O2bG4=?=",
    "X-Twice: first",
    "x-twice: second",
    "",
    "Body line")

  it("keeps the header fields in order with their names as written", function()
    local tree = parse(simple)
    assert.equal(5, #tree.headers)
    assert.same({ name = "From", value = "Sender <sender@example.com>" }, tree.headers[1])
    assert.equal("X-Twice", tree.headers[4].name)
    assert.equal("x-twice", tree.headers[5].name)
  end)

  it("unfolds folded fields and keeps encoded-words in the raw list", function()
    assert.equal("=?ISO-8859-1?Q?Gr=FC=DFe?=  aus =?UTF-8?B?S8O2bG4=?=", parse(simple).headers[3].value)
  end)

  it("decodes encoded-words in the header map, keyed by lower-case name", function()
    local tree = parse(simple)
    assert.equal("Grüße  aus Köln", tree.header.subject)
    assert.equal("Åsa <asa@example.net>", tree.header.to)
  end)

  it("keeps the first of two fields with the same name in the header map", function()
    assert.equal("first", parse(simple).header["x-twice"])
  end)

  it("takes text/plain and 7bit when the fields are absent", function()
    local tree = parse(simple)
    assert.equal("text/plain", tree.content_type)
    assert.equal("7bit", tree.encoding)
    assert.equal("Body line\r\n", tree.body)
  end)

  it("lower-cases the type and parameter names and unquotes values", function()
    local tree = parse(crlf("Content-Type: Text/HTML; CharSet=\"ISO-8859-1\"; Format=flowed (comment)", "", "x"))
    assert.equal("text/html", tree.content_type)
    assert.equal("ISO-8859-1", tree.params.charset)
    assert.equal("flowed", tree.params.format)
  end)

  it("joins RFC 2231 continuations and converts their charset", function()
    local tree = parse(crlf(
      "Content-Type: application/octet-stream",
      "Content-Disposition: attachment;",
      " filename*0*=iso-8859-1''Gr%FC%DFe%20;",
      " filename*1=\"aus \";",
      " filename*2*=K%F6ln.txt",
      "", "x"))
    assert.equal("attachment", tree.disposition)
    assert.equal("Grüße aus Köln.txt", tree.filename)
  end)

  it("takes the filename from Content-Type's name when the disposition has none", function()
    local tree = parse(crlf("Content-Type: image/png; name=\"=?UTF-8?Q?Gr=C3=BC=C3=9Fe.png?=\"", "", "x"))
    assert.equal("Grüße.png", tree.filename)
  end)

  it("gives the Content-ID without its angle brackets", function()
    assert.equal("logo@example.com", parse(crlf("Content-ID: <logo@example.com>", "", "")).content_id)
  end)

  it("decodes base64 and quoted-printable bodies", function()
    assert.equal("foobar", parse(crlf("Content-Transfer-Encoding: base64", "", "Zm9v", "YmFy")).body)
    assert.equal("café au lait\r\n", parse(crlf("Content-Transfer-Encoding: Quoted-Printable", "", "caf=C3=A9 au=", " lait")).body)
  end)

  it("splits a multipart into its parts without the line break before each delimiter", function()
    local tree = parse(crlf(
      "Content-Type: multipart/mixed; boundary=\"b1\"",
      "",
      "preamble",
      "--b1",
      "",
      "first",
      "--b1",
      "Content-Type: text/html",
      "",
      "<p>second</p>",
      "",
      "--b1--",
      "epilogue"))
    assert.equal(2, #tree.parts)
    assert.equal("first", tree.parts[1].body)
    assert.equal("text/html", tree.parts[2].content_type)
    assert.equal("<p>second</p>\r\n", tree.parts[2].body)
    assert.is_nil(tree.unterminated)
  end)

  it("does not take a line that merely starts with the boundary as a delimiter", function()
    -- RFC 2046 5.1.1: a delimiter is "--" boundary, then "--" or only
    -- white space up to the line break; "--b10" does not end part "b1".
    local tree = parse(crlf(
      "Content-Type: multipart/mixed; boundary=\"b1\"",
      "",
      "--b1",
      "Content-Type: multipart/alternative; boundary=\"b10\"",
      "",
      "--b10",
      "",
      "inner one",
      "--b10",
      "",
      "inner two",
      "--b10--",
      "--b1",
      "",
      "outer two",
      "--b1--"))
    assert.equal("multipart/mixed(multipart/alternative(text/plain,text/plain),text/plain)", mime.shape(tree))
  end)

  it("does not take a line that merely starts with the close delimiter as one", function()
    -- "b--x" is a boundary of its own: "--b--x" neither closes "b" nor
    -- starts one of its parts.
    local tree = parse(crlf(
      "Content-Type: multipart/mixed; boundary=\"b\"",
      "",
      "--b",
      "Content-Type: multipart/alternative; boundary=\"b--x\"",
      "",
      "--b--x",
      "",
      "inner one",
      "--b--x",
      "",
      "inner two",
      "--b--x--",
      "--b",
      "",
      "outer two",
      "--b--"))
    assert.equal("multipart/mixed(multipart/alternative(text/plain,text/plain),text/plain)", mime.shape(tree))
  end)

  it("accepts white space after a delimiter", function()
    local tree = parse("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b  \r\n\r\none\r\n--b\t\r\n\r\ntwo\r\n--b-- \r\n")
    assert.equal(2, #tree.parts)
    assert.equal("one", tree.parts[1].body)
    assert.equal("two", tree.parts[2].body)
  end)

  it("reads an enclosed message/rfc822 into message", function()
    local tree = parse(crlf(
      "Content-Type: message/rfc822",
      "",
      "Subject: inner",
      "",
      "inner body"))
    assert.equal("inner", tree.message.header.subject)
    assert.equal("inner body\r\n", tree.message.body)
  end)

  it("takes message/rfc822 as the default type inside multipart/digest", function()
    local tree = parse(crlf(
      "Content-Type: multipart/digest; boundary=d",
      "", "--d", "", "Subject: one", "", "body one", "--d--"))
    assert.equal("message/rfc822", tree.parts[1].content_type)
    assert.equal("one", tree.parts[1].message.header.subject)
  end)

  it("reads a message with bare LF line breaks", function()
    local tree = parse("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\none\n--b\n\ntwo\n--b--\n")
    assert.equal(2, #tree.parts)
    assert.equal("one", tree.parts[1].body)
    assert.equal("two", tree.parts[2].body)
  end)

  it("skips an mbox From_ line at the start", function()
    local tree = parse("From sender@example.com Mon Jan  1 00:00:00 2024\r\nSubject: hi\r\n\r\nbody")
    assert.equal("hi", tree.header.subject)
  end)
end)


describe("mailcast.parse on malformed input", function()
  it("returns an empty text part for an empty string", function()
    local tree = parses("")
    assert.equal("text/plain", tree.content_type)
    assert.equal("", tree.body)
    assert.same({}, tree.headers)
  end)

  it("reads headers without a body", function()
    local tree = parses("Subject: only headers\r\nX-A: 1")
    assert.equal("only headers", tree.header.subject)
    assert.equal("1", tree.header["x-a"])
    assert.equal("", tree.body)
  end)

  it("ends the header at a line that is not a field and keeps it as body", function()
    local tree = parses("Subject: hi\r\nthis is not a field\r\nmore\r\n")
    assert.equal("hi", tree.header.subject)
    assert.equal("this is not a field\r\nmore\r\n", tree.body)
  end)

  it("returns the parts it found in a truncated multipart and marks it unterminated", function()
    local tree = parses(crlf(
      "Content-Type: multipart/mixed; boundary=b",
      "", "--b", "", "complete part", "--b", "Content-Type: text/plain", "", "cut off in the mid"))
    assert.is_true(tree.unterminated)
    assert.equal(2, #tree.parts)
    assert.equal("complete part", tree.parts[1].body)
    assert.equal("cut off in the mid\r\n", tree.parts[2].body)
  end)

  it("returns a multipart cut inside a part's header", function()
    local tree = parses("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Ty")
    assert.is_true(tree.unterminated)
    assert.equal(1, #tree.parts)
  end)

  it("reads a multipart without a boundary parameter as a leaf", function()
    local tree = parses(crlf("Content-Type: multipart/mixed", "", "--x", "", "a", "--x--"))
    assert.equal("multipart/mixed", tree.content_type)
    assert.is_nil(tree.parts)
    assert.equal("--x\r\n\r\na\r\n--x--\r\n", tree.body)
  end)

  it("returns no parts when the boundary never occurs", function()
    local tree = parses(crlf("Content-Type: multipart/mixed; boundary=never", "", "just text"))
    assert.same({}, tree.parts)
    assert.is_true(tree.unterminated)
  end)

  it("takes an invalid Content-Type as text/plain", function()
    assert.equal("text/plain", parses(crlf("Content-Type: garbage", "", "x")).content_type)
    assert.equal("text/plain", parses(crlf("Content-Type: ", "", "x")).content_type)
  end)

  it("survives unbalanced comments and quotes in parameters", function()
    parses(crlf("Content-Type: text/plain; (unclosed comment", "", "x"))
    parses(crlf("Content-Type: text/plain; charset=\"unclosed", "", "x"))
    parses(crlf("Content-Type: text/plain; =; ;; a=; b", "", "x"))
    parses(crlf("Content-Type: text/plain; a=(\\", "", "x"))
  end)

  it("survives broken RFC 2231 parameters", function()
    local tree = parses(crlf("Content-Disposition: attachment; filename*1*=%ZZ; filename*99999999999=x; filename**=''%",
      "", "x"))
    assert.is_table(tree.params)
  end)

  it("decodes invalid base64 leniently", function()
    assert.equal("foobar", parses(crlf("Content-Transfer-Encoding: base64", "", "Zm9v!!!", "Ym Fy", "")).body)
    assert.equal("f", parses(crlf("Content-Transfer-Encoding: base64", "", "Zg==Z")).body)
  end)

  it("keeps malformed quoted-printable escapes", function()
    assert.equal("a=ZZb=4", parses(crlf("Content-Transfer-Encoding: quoted-printable", "", "a=ZZ=", "b=4=")).body)
  end)

  it("keeps an encoded-word with bad base64 or an unknown charset", function()
    local tree = parses(crlf("Subject: =?UTF-8?B?####?= =?no-such-charset?Q?x?=", "", ""))
    assert.is_string(tree.header.subject)
    assert.matches("no%-such%-charset", tree.header.subject)
  end)

  it("bounds 100 levels of nested multiparts", function()
    local open, close = {}, {}
    for i = 1, 100 do
      local b = string.format("b%03d", i)
      open[#open + 1] = "Content-Type: multipart/mixed; boundary=\"" .. b .. "\"\r\n\r\n--" .. b .. "\r\n"
      table.insert(close, 1, "\r\n--" .. b .. "--\r\n")
    end
    local raw = table.concat(open) .. "Content-Type: text/plain\r\n\r\ndeep\r\n" .. table.concat(close)
    local tree = parses(raw)
    local d = depth(tree)
    assert.is_true(d >= 10 and d <= 40, "depth " .. d)
  end)

  it("bounds 100 levels of nested message/rfc822", function()
    local raw = string.rep("Content-Type: message/rfc822\r\n\r\n", 100) .. "Subject: bottom\r\n\r\nx"
    local tree = parses(raw)
    local d = 0
    while tree.message do tree, d = tree.message, d + 1 end
    assert.is_true(d >= 10 and d <= 40, "depth " .. d)
  end)

  it("bounds a multipart with 20000 parts", function()
    local raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n" .. string.rep("--b\r\n\r\nx\r\n", 20000) .. "--b--\r\n"
    local tree = parses(raw)
    assert.is_true(#tree.parts >= 1000 and #tree.parts <= 10000, #tree.parts .. " parts")
  end)

  it("reads a 100 KB header line", function()
    local tree = parses("X-Long: " .. string.rep("v", 100000) .. "\r\n\r\nbody")
    assert.equal(100000, #tree.header["x-long"])
  end)

  it("survives random bytes", function()
    for seed = 1, 200 do
      parses(mime.random_bytes(seed * 13, seed))
    end
  end)

  it("survives random bytes after a multipart header", function()
    for seed = 1, 100 do
      local junk = mime.random_bytes(500, seed):gsub("x", "\r\n--b\r\n")
      parses("Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\n" .. junk)
    end
  end)

  it("survives every truncation of a message mailcast built", function()
    local raw = assert(mailcast.message {
      from = "Zoë <zoe@example.com>", to = "rcpt@example.org", subject = "Grüße",
      text = "Grüße\n", html = "<img src='cid:i'>",
      inline = { { data = "PNG" .. mime.all_bytes(), cid = "i", filename = "i.png" } },
      attachments = { { data = "x", filename = "Grüße.txt" } },
    })
    for n = 0, #raw do parses(raw:sub(1, n)) end
  end)

  it("survives single-byte corruptions of a message mailcast built", function()
    local raw = assert(mailcast.message {
      from = "a@example.com", to = "b@example.org", subject = "s", text = "t", html = "h",
      attachments = { { data = "data", filename = "f.txt" } },
    })
    for i = 1, #raw do
      for _, c in ipairs { "\0", "\r", "\n", "-", "=", ";", "\"", "\255" } do
        parses(raw:sub(1, i - 1) .. c .. raw:sub(i + 1))
      end
    end
  end)

  it("raises only on misuse: an argument that is not a string", function()
    assert.has_error(function() parse({}) end)
    assert.has_error(function() parse() end)
  end)
end)
