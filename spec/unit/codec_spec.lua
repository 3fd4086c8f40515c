-- The encoders: base64 (RFC 4648, RFC 2045 6.8), quoted-printable
-- (RFC 2045 6.7), header encoded-words (RFC 2047) and UTF-8 checks.
local mailcast = require "mailcast"
local mime = require "support.mime"

local b64, qp = mailcast.b64, mailcast.qp

-- The text of one encoded-word, decoded to its bytes (no charset
-- conversion), so a spec can look at each word on its own.
local function word_bytes(word)
  local enc, text = word:match("^=%?[^?]+%?([QqBb])%?(.*)%?=$")
  assert(enc, "not an encoded-word: " .. word)
  if enc:upper() == "B" then return assert(b64.decode(text)) end
  return (text:gsub("_", " "):gsub("=(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function encoded_words(s)
  local words = {}
  for w in s:gmatch("=%?[^?%s]+%?[QqBb]%?[^?%s]*%?=") do words[#words + 1] = w end
  return words
end

-- Unfolds a field and drops "Name: ".
local function unfold(field)
  return (field:gsub("\r\n", ""):gsub("^[^:]*: ", ""))
end


describe("base64", function()
  -- RFC 4648 section 10.
  local vectors = {
    { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
  }

  for _, v in ipairs(vectors) do
    it(string.format("encodes %q as %q (RFC 4648 section 10)", v[1], v[2]), function()
      assert.equal(v[2], b64(v[1]))
      assert.equal(v[2], b64.encode(v[1]))
    end)

    it(string.format("decodes %q to %q (RFC 4648 section 10)", v[2], v[1]), function()
      assert.equal(v[1], b64.decode(v[2]))
    end)
  end

  it("writes one unbroken line unless wrapping is asked for", function()
    local out = b64(string.rep("x", 1000))
    assert.is_nil(out:find("[\r\n]"))
    assert.equal(1336, #out)
  end)

  it("wraps at 76 characters, every line ended by CRLF, the last one too", function()
    local out = b64(mime.random_bytes(1000, 7), true)
    assert.equal("\r\n", out:sub(-2))
    local lines = mime.lines(out)
    for i, line in ipairs(lines) do
      if i < #lines then assert.equal(76, #line) else assert.is_true(#line <= 76) end
    end
    assert.equal(math.ceil(1000 / 57), #lines)
  end)

  it("wraps 57 input bytes to exactly one full line", function()
    local out = b64(string.rep("a", 57), true)
    assert.equal(78, #out)
    assert.equal("\r\n", out:sub(-2))
  end)

  it("wraps nothing to nothing", function()
    assert.equal("", b64("", true))
  end)

  it("decodes its own wrapped output", function()
    local data = mime.random_bytes(5000, 3)
    assert.equal(data, b64.decode(b64(data, true)))
  end)

  it("decodes input wrapped with CRLF, LF, spaces and tabs", function()
    assert.equal("foobar", b64.decode("Zm9v\r\nYmFy\r\n"))
    assert.equal("foobar", b64.decode("Zm9v\nYm Fy\t"))
  end)

  it("refuses a character outside the alphabet and says where it is", function()
    local out, err = b64.decode("Zm9v!mFy")
    assert.is_nil(out)
    assert.equal("base64: invalid character at byte 5", err)
  end)

  it("refuses the URL-safe alphabet", function()
    assert.is_nil(b64.decode("-_-_"))
  end)

  it("refuses data after the padding", function()
    assert.is_nil(b64.decode("Zg==Zg=="))
  end)

  it("refuses padding where no group has started", function()
    assert.is_nil(b64.decode("=Zm9"))
  end)

  it("refuses a lone trailing character as truncated input", function()
    local out, err = b64.decode("Zm9vY")
    assert.is_nil(out)
    assert.equal("base64: truncated input", err)
  end)

  it("round-trips every byte value", function()
    local all = mime.all_bytes()
    assert.equal(all, b64.decode(b64(all)))
    assert.equal(all, b64.decode(b64(all, true)))
  end)

  it("round-trips each byte value alone and at every offset in a group", function()
    for i = 0, 255 do
      local c = string.char(i)
      for _, s in ipairs { c, "a" .. c, "ab" .. c, c .. "ab" } do
        assert.equal(s, b64.decode(b64(s)))
      end
    end
  end)

  it("round-trips every length from 0 to 300, wrapped and not", function()
    local data = mime.random_bytes(300, 11)
    for n = 0, 300 do
      local s = data:sub(1, n)
      assert.equal(s, b64.decode(b64(s)))
      assert.equal(s, b64.decode(b64(s, true)))
    end
  end)
end)


describe("quoted-printable", function()
  it("leaves printable ASCII as it is", function()
    assert.equal("Hello, world! ~@#$%^&*()[]{}<>?/|\\", qp("Hello, world! ~@#$%^&*()[]{}<>?/|\\"))
  end)

  it("encodes '=' as =3D", function()
    assert.equal("a=3Db", qp("a=b"))
  end)

  it("encodes bytes above 126 as =XX with upper-case hex", function()
    assert.equal("caf=C3=A9", qp("café"))
  end)

  it("encodes control characters other than tab", function()
    assert.equal("=00=01=1B=7F", qp("\0\1\27\127"))
  end)

  it("keeps every encoded line within 76 characters", function()
    local text = string.rep("abcé=\t ", 300) .. "\n" .. string.rep("x", 1000)
    for _, binary in ipairs { false, true } do
      local out = qp(text, binary)
      assert.is_true(mime.longest_line(out) <= 76)
    end
  end)

  it("keeps lines within 76 characters for lines of every length up to 200", function()
    for n = 1, 200 do
      assert.is_true(mime.longest_line(qp(string.rep("ab=", n))) <= 76, "length " .. n)
    end
  end)

  it("breaks a long line with soft line breaks that decode away", function()
    local line = string.rep("0123456789", 30)
    local out = qp(line)
    assert.truthy(out:find("=\r\n", 1, true))
    assert.equal(line, qp.decode(out))
  end)

  it("encodes a space or tab before a line break", function()
    assert.equal("a=20\r\nb=09\r\nc", qp("a \nb\t\r\nc"))
  end)

  it("encodes a space or tab at the very end", function()
    assert.equal("a=20", qp("a "))
    assert.equal("a=09", qp("a\t"))
  end)

  it("keeps white space inside a line literal", function()
    assert.equal("a b\tc", qp("a b\tc"))
  end)

  it("makes every line break CRLF in text mode", function()
    assert.equal("a\r\nb\r\nc\r\nd", qp("a\nb\rc\r\nd"))
  end)

  it("encodes CR and LF as bytes in binary mode", function()
    assert.equal("a=0Ab=0Dc=0D=0Ad", qp("a\nb\rc\r\nd", true))
  end)

  it("round-trips every byte value in binary mode", function()
    local all = mime.all_bytes()
    assert.equal(all, qp.decode(qp(all, true)))
    assert.equal(all .. all, qp.decode(qp(all .. all, true)))
  end)

  it("round-trips random bytes of every length up to 300 in binary mode", function()
    local data = mime.random_bytes(300, 5)
    for n = 0, 300 do
      local s = data:sub(1, n)
      assert.equal(s, qp.decode(qp(s, true)), "length " .. n)
    end
  end)

  it("ends every output line with a soft break in binary mode", function()
    local out = qp(string.rep("\r\n", 200) .. mime.all_bytes(), true)
    local lines = mime.lines(out)
    for i = 1, #lines - 1 do assert.equal("=", lines[i]:sub(-1)) end
  end)

  it("round-trips a 5000-character line in text mode", function()
    local text = string.rep("Lorem ipsum dolor sit amet, consectetur. ", 125) .. "\r\nend\r\n"
    assert.is_true(#text > 5000)
    local out = qp(text)
    assert.is_true(mime.longest_line(out) <= 76)
    assert.equal(text, qp.decode(out))
  end)

  it("round-trips UTF-8 text with CRLF line breaks and trailing blanks", function()
    local text = "Grüße \r\nan alle\t\r\n\r\nZeile mit = und ?=_ \r\n" .. string.rep("ü", 200)
    assert.equal(text, qp.decode(qp(text)))
  end)

  it("escapes 'From ' at the start of a line", function()
    assert.equal("=46rom me\r\nnot From here", qp("From me\nnot From here"))
  end)

  it("escapes 'From ' that begins an encoded line after a soft break", function()
    -- mbox writers on the way mangle any encoded line starting "From ".
    for pad = 70, 80 do
      local out = qp(string.rep("a", pad) .. "From me")
      for _, line in ipairs(mime.lines(out)) do
        assert.is_nil(line:find("^From "), "pad " .. pad .. ": " .. out)
      end
    end
  end)

  it("decodes the soft line breaks of RFC 2045 section 6.7 rule 5", function()
    local encoded = "Now's the time =\r\nfor all folk to come=\r\n to the aid of their country."
    assert.equal("Now's the time for all folk to come to the aid of their country.", qp.decode(encoded))
  end)

  it("decodes soft breaks followed by a bare LF", function()
    assert.equal("abcdef", qp.decode("abc=\ndef"))
  end)

  it("drops white space a transport added after a soft break", function()
    assert.equal("abcdef", qp.decode("abc=  \r\ndef"))
  end)

  it("drops white space a transport added before a hard break", function()
    assert.equal("abc\r\ndef", qp.decode("abc \t\r\ndef"))
  end)

  it("decodes lower-case hex digits", function()
    assert.equal("é", qp.decode("=c3=a9"))
  end)

  it("keeps a malformed escape literally", function()
    assert.equal("a=ZZb=4", qp.decode("a=ZZb=4"))
  end)
end)


describe("encode_header", function()
  it("writes a short ASCII value as it is", function()
    assert.equal("Subject: Hello world", mailcast.encode_header("Subject", "Hello world"))
  end)

  it("writes an empty value as the name and a space", function()
    assert.equal("Subject: ", mailcast.encode_header("Subject", ""))
  end)

  it("folds a long ASCII value at white space into lines of at most 78", function()
    local value = string.rep("folding ", 60) .. "end"
    local out = mailcast.encode_header("Subject", value)
    assert.is_true(#mime.lines(out) > 1)
    assert.is_true(mime.longest_line(out) <= 78)
    assert.equal(value, unfold(out))
  end)

  it("folds only in front of existing white space, so unfolding restores runs of blanks", function()
    local value = string.rep("a  b\tc ", 40) .. "d"
    local out = mailcast.encode_header("X-Note", value)
    assert.is_true(mime.longest_line(out) <= 78)
    for _, line in ipairs(mime.lines(out)) do
      if not line:find("^X%-Note:") then assert.truthy(line:find("^[ \t]")) end
    end
    assert.equal(value, unfold(out))
  end)

  it("uses UTF-8 encoded-words for a non-ASCII value", function()
    local out = mailcast.encode_header("Subject", "Grüße")
    assert.truthy(out:find("^Subject: =%?UTF%-8%?[QB]%?[^?]+%?=$"))
  end)

  it("encodes a value that merely looks like an encoded-word", function()
    local value = "=?utf-8?q?not_an_encoded_word?="
    local out = mailcast.encode_header("Subject", value)
    assert.not_equal("Subject: " .. value, out)
    assert.equal(value, mailcast.decode_header(unfold(out)))
  end)

  it("keeps each encoded-word within 75 characters", function()
    local value = string.rep("Grüße aus Köln, ", 40) .. string.rep("日本語", 40)
    local out = mailcast.encode_header("Subject", value)
    local words = encoded_words(out)
    assert.is_true(#words > 5)
    for _, w in ipairs(words) do assert.is_true(#w <= 75, w) end
  end)

  it("keeps every line within 78 octets for non-ASCII values of any length", function()
    local alphabet = { "é", "a", " ", "日", "😀", "=", "?", "_" }
    for n = 1, 150 do
      local t = {}
      for i = 1, n do t[i] = alphabet[(i * 7 + n) % #alphabet + 1] end
      local out = mailcast.encode_header("Subject", "ü" .. table.concat(t) .. "x")
      assert.is_true(mime.longest_line(out) <= 78, out)
    end
  end)

  it("keeps every line within 78 octets even after a long field name", function()
    for _, value in ipairs { "Grüße aus Köln und noch viel mehr", string.rep("word", 8) .. " and more words" } do
      for len = 40, 76 do
        local out = mailcast.encode_header(string.rep("X", len), value)
        assert.is_true(mime.longest_line(out) <= 78, out)
        assert.equal(value, mailcast.decode_header(unfold(out)))
      end
    end
  end)

  it("never splits a UTF-8 character between encoded-words", function()
    for _, ch in ipairs { "é", "€", "日", "😀" } do
      for n = 20, 60 do
        local out = mailcast.encode_header("Subject", string.rep(ch, n) .. " " .. string.rep("a" .. ch, n))
        for _, w in ipairs(encoded_words(out)) do
          assert.is_true(mailcast.utf8_valid(word_bytes(w)), w)
        end
      end
    end
  end)

  it("decodes back to the value it encoded", function()
    local values = {
      "Grüße", "Our November news — Neuigkeiten für Sie", "日本語のメール",
      "emoji 😀 and more 🎉 here", "question? under_score = equals", "tab\tinside",
      "ASCII with \1 control", string.rep("Ünïcödé ", 30) .. "end",
    }
    for _, v in ipairs(values) do
      assert.equal(v, mailcast.decode_header(unfold(mailcast.encode_header("Subject", v))))
    end
  end)

  it("decodes back a huge subject with every line within 78 octets", function()
    local value = string.rep("Ein sehr langer Betreff mit Umlauten äöü und 日本語 ", 200)
    value = value:gsub(" $", "")
    local out = mailcast.encode_header("Subject", value)
    assert.is_true(mime.longest_line(out) <= 78)
    assert.equal(value, mailcast.decode_header(unfold(out)))
  end)

  it("encodes a word too long to fold so that no line passes 78", function()
    local value = string.rep("x", 2000)
    local out = mailcast.encode_header("Subject", value)
    assert.is_true(mime.longest_line(out) <= 78)
    assert.equal(value, mailcast.decode_header(unfold(out)))
  end)

  it("refuses CR or LF in the value", function()
    for _, v in ipairs { "a\r\nBcc: x@y", "a\nb", "a\rb" } do
      local out, err = mailcast.encode_header("Subject", v)
      assert.is_nil(out)
      assert.equal("Subject contains CR or LF (header injection refused)", err)
    end
  end)

  it("refuses NUL in the value", function()
    local out, err = mailcast.encode_header("Subject", "a\0b")
    assert.is_nil(out)
    assert.equal("Subject contains NUL", err)
  end)

  it("refuses a value that is not UTF-8 and names the byte", function()
    local out, err = mailcast.encode_header("Subject", "ab\255c")
    assert.is_nil(out)
    assert.equal("Subject is not valid UTF-8 (byte 3)", err)
  end)

  it("raises on a field name with a space, a colon or a line break", function()
    for _, name in ipairs { "Sub ject", "Subject:", "X\r\nBcc", "" .. "\195\169" } do
      assert.has_error(function() mailcast.encode_header(name, "x") end)
    end
  end)
end)


describe("decode_header", function()
  -- RFC 2047 section 8: each encoded form and how it displays.
  local examples = {
    { "(=?ISO-8859-1?Q?a?=)", "(a)" },
    { "(=?ISO-8859-1?Q?a?= b)", "(a b)" },
    { "(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)" },
    { "(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)" },
    { "(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)" },
    { "(=?ISO-8859-1?Q?a_b?=)", "(a b)" },
    { "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)" },
    { "=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "Keith Moore <moore@cs.utk.edu>" },
    { "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>", "Keld Jørn Simonsen <keld@dkuug.dk>" },
    { "=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", "André Pirard <PIRARD@vm1.ulg.ac.be>" },
    { "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n    =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
      "If you can read this you understand the example." },
    { "=?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>", "Olle Järnefors <ojarnef@admin.kth.se>" },
    { "=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?= <paf@nada.kth.se>", "Patrik Fältström <paf@nada.kth.se>" },
    { "Nathaniel Borenstein <nsb@thumper.bellcore.com> (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)",
      "Nathaniel Borenstein <nsb@thumper.bellcore.com> (םולש ןב ילטפנ)" },
  }

  for _, ex in ipairs(examples) do
    local shown = ex[1]:gsub("\r\n", "\\r\\n")
    it(string.format("decodes %s as RFC 2047 section 8 shows", shown), function()
      assert.equal(ex[2], mailcast.decode_header(ex[1]))
    end)
  end

  it("accepts a language after the charset (RFC 2231 section 5)", function()
    assert.equal("Keith Moore", mailcast.decode_header("=?US-ASCII*EN?Q?Keith_Moore?="))
  end)

  it("accepts lower-case encoding letters and charset names", function()
    assert.equal("café café", mailcast.decode_header("=?utf-8?q?caf=C3=A9?= =?utf-8?b?IGNhZsOp?="))
  end)

  it("converts windows-1252 words to UTF-8", function()
    assert.equal("€", mailcast.decode_header("=?windows-1252?Q?=80?="))
  end)

  it("keeps the white space between an encoded-word and plain text", function()
    assert.equal("Grüße  from Köln", mailcast.decode_header("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=  from =?UTF-8?Q?K=C3=B6ln?="))
  end)

  it("leaves a word in an unknown charset as it was written", function()
    assert.equal("=?x-unknown?Q?abc?=", mailcast.decode_header("=?x-unknown?Q?abc?="))
  end)

  it("leaves a UTF-8 word that decodes to invalid UTF-8 as it was written", function()
    assert.equal("=?UTF-8?Q?=FF?=", mailcast.decode_header("=?UTF-8?Q?=FF?="))
  end)

  it("leaves text without encoded-words untouched", function()
    assert.equal("plain = text ?= with =? marks", mailcast.decode_header("plain = text ?= with =? marks"))
  end)

  it("does not take a word with white space inside as an encoded-word", function()
    assert.equal("=?UTF-8?Q?a b?=", mailcast.decode_header("=?UTF-8?Q?a b?="))
  end)
end)


describe("utf8_valid", function()
  it("accepts ASCII and well-formed multi-byte sequences", function()
    assert.is_true(mailcast.utf8_valid("plain"))
    assert.is_true(mailcast.utf8_valid("é€日😀\u{10FFFF}"))
    assert.is_true(mailcast.utf8_valid(""))
  end)

  it("reports the 1-based position of the first bad byte", function()
    local ok, pos = mailcast.utf8_valid("abcdefghij\255")
    assert.is_false(ok)
    assert.equal(11, pos)
  end)

  it("refuses overlong forms, surrogates, code points above U+10FFFF and truncated sequences", function()
    for _, bad in ipairs { "\192\128", "\224\128\175", "\237\160\128", "\244\144\128\128", "\195", "\226\130", "\128" } do
      local ok, pos = mailcast.utf8_valid("x" .. bad)
      assert.is_false(ok, string.format("%q", bad))
      assert.equal(2, pos)
    end
  end)
end)


describe("core.printable", function()
  local core = require "mailcast.core"

  it("writes control bytes as escapes and leaves the rest as it is", function()
    assert.equal("a\\r\\nb\\tc\\x00d\\x7fe é", core.printable("a\r\nb\tc\0d\127e é"))
    assert.equal("", core.printable(""))
  end)

  it("has room for a string of nothing but control bytes", function()
    assert.equal(string.rep("\\x01", 1000), core.printable(string.rep("\1", 1000)))
  end)
end)
