-- mailcast.message and mailcast.build: the MIME structure chosen for each
-- shape, the header fields, line format, transfer encodings, round trips
-- through mailcast.parse, and refusing data that would forge a field.
local mailcast = require "mailcast"
local mime = require "support.mime"

local PNG = "\137PNG\r\n\26\n\0\0\0\rIHDR" .. mime.random_bytes(200, 9)
local PDF = "%PDF-1.4\n%\226\227\207\211\n" .. mime.random_bytes(3000, 4)

-- A message table with a sender, a recipient and a subject, plus t.
local function spec(t)
  local m = { from = "Sender <sender@example.com>", to = "rcpt@example.org", subject = "Test" }
  for k, v in pairs(t or {}) do m[k] = v end
  return m
end

local function build(t)
  local raw, err = mailcast.message(spec(t))
  assert(raw, err)
  return raw
end

local function parsed(t)
  return mailcast.parse(build(t))
end

-- Runs mailcast.message and expects it to refuse with a message.
local function refused(t)
  local raw, err = mailcast.message(spec(t))
  assert.is_nil(raw)
  assert.is_string(err)
  return err
end

local function boundaries(raw)
  local list = {}
  for b in raw:gmatch('boundary="([^"]*)"') do list[#list + 1] = b end
  return list
end


describe("mailcast.message structure", function()
  it("makes a text-only message a single text/plain part", function()
    local raw = build { text = "Hello" }
    local msg = mailcast.parse(raw)
    assert.equal("text/plain", msg.content_type)
    assert.equal("utf-8", msg.params.charset)
    assert.is_nil(msg.parts)
    assert.is_nil(raw:find("multipart", 1, true))
  end)

  it("makes an html-only message a single text/html part", function()
    assert.equal("text/html", mime.shape(parsed { html = "<p>Hi</p>" }))
  end)

  it("puts text and html in multipart/alternative, text first", function()
    assert.equal("multipart/alternative(text/plain,text/html)", mime.shape(parsed { text = "a", html = "<p>a</p>" }))
  end)

  it("puts inline images with the html in multipart/related inside the alternative", function()
    local msg = parsed { text = "a", html = '<img src="cid:logo">', inline = { { data = PNG, cid = "logo", filename = "logo.png" } } }
    assert.equal("multipart/alternative(text/plain,multipart/related(text/html,image/png))", mime.shape(msg))
  end)

  it("puts html and inline images without text in multipart/related", function()
    local msg = parsed { html = '<img src="cid:logo">', inline = { { data = PNG, cid = "logo", filename = "logo.png" } } }
    assert.equal("multipart/related(text/html,image/png)", mime.shape(msg))
  end)

  it("puts attachments after the body in multipart/mixed", function()
    local msg = parsed { text = "a", attachments = { { data = PDF, filename = "a.pdf" }, { data = "x,y\r\n", filename = "b.csv" } } }
    assert.equal("multipart/mixed(text/plain,application/pdf,text/csv)", mime.shape(msg))
  end)

  it("nests every level when given text, html, inline images and attachments", function()
    local msg = parsed {
      text = "a", html = '<img src="cid:logo">',
      inline = { { data = PNG, cid = "logo", filename = "logo.png" } },
      attachments = { { data = PDF, filename = "a.pdf" } },
    }
    assert.equal("multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),application/pdf)",
      mime.shape(msg))
  end)

  it("gives a message without any body an empty text/plain part", function()
    local raw = build {}
    local msg = mailcast.parse(raw)
    assert.equal("text/plain", msg.content_type)
    assert.is_nil(msg.parts)
    -- the one line break SMTP needs at the end of the data
    assert.equal("\r\n", msg.body)
    assert.equal("\r\n\r\n\r\n", raw:sub(-6))
  end)

  it("gives a message with only attachments an empty text part before them", function()
    local msg = parsed { attachments = { { data = PDF, filename = "a.pdf" } } }
    assert.equal("multipart/mixed(text/plain,application/pdf)", mime.shape(msg))
    assert.equal("", msg.parts[1].body)
  end)

  it("keeps empty text and html bodies as empty parts", function()
    local msg = parsed { text = "", html = "" }
    assert.equal("multipart/alternative(text/plain,text/html)", mime.shape(msg))
    assert.equal("", msg.parts[1].body)
    assert.equal("", msg.parts[2].body)
  end)

  it("ends a single-part message with a line break", function()
    assert.equal("\r\n", build({ text = "no newline at the end" }):sub(-2))
  end)

  it("refuses inline images without an html body", function()
    local err = refused { text = "a", inline = { { data = PNG, cid = "logo" } } }
    assert.matches("^inline: inline images need an html body", err)
  end)

  local function files(n)
    local list = {}
    for i = 1, n do list[i] = { data = "file " .. i, filename = "f" .. i .. ".txt" } end
    return list
  end

  it("takes 62 attachments", function()
    assert.equal(63, #parsed({ text = "a", attachments = files(62) }).parts)
  end)

  it("refuses 63 attachments", function()
    assert.matches("attachments: more than 62 parts", refused { text = "a", attachments = files(63) }, 1, true)
  end)
end)


describe("mailcast.message boundaries", function()
  it("start every boundary with =_mc and use a different one for each multipart", function()
    local raw = build {
      text = "a", html = '<img src="cid:logo">',
      inline = { { data = PNG, cid = "logo", filename = "logo.png" } },
      attachments = { { data = PDF, filename = "a.pdf" } },
    }
    local list = boundaries(raw)
    assert.equal(3, #list)
    local seen = {}
    for _, b in ipairs(list) do
      assert.matches("^=_mc", b)
      assert.is_nil(seen[b])
      seen[b] = true
    end
  end)

  it("never lets a boundary occur in the content, even when the text imitates one", function()
    local fake = "=_mc" .. string.rep("0", 24)
    local text = "--" .. fake .. "\n--" .. fake .. "--\nThe boundary =_mc is ours; so is =_.\n"
    local raw = build { text = text, html = "<p>--" .. fake .. "</p>\n--" .. fake .. "--\n",
      attachments = { { data = text, filename = "fake.txt" } } }
    for _, b in ipairs(boundaries(raw)) do
      for _, line in ipairs(mime.lines(raw)) do
        local at = line:find(b, 1, true)
        if at then
          assert.truthy(line == "--" .. b or line == "--" .. b .. "--" or line:find('boundary="' .. b .. '"', 1, true), line)
        end
      end
    end
    assert.is_nil(raw:find("\r\n--=_mc0000", 1, true))
  end)

  it("gives back text that imitates a boundary unchanged", function()
    local fake = "=_mc" .. string.rep("a", 24)
    local text = "--" .. fake .. "\r\nContent-Type: text/html\r\n\r\n--" .. fake .. "--\r\n"
    local msg = parsed { text = text, html = "<b>" .. text .. "</b>" }
    assert.equal(2, #msg.parts)
    assert.equal(text, msg.parts[1].body)
    assert.equal("<b>" .. text .. "</b>", msg.parts[2].body)
  end)
end)


describe("mailcast.message header fields", function()
  it("writes Date in RFC 5322 form", function()
    local date = mime.field(build {}, "Date")
    assert.matches("^%u%l%l, %d%d? %u%l%l %d%d%d%d %d%d:%d%d:%d%d [+-]%d%d%d%d$", date)
  end)

  it("writes a Date for a given time", function()
    local date = mime.field(build { date = 1700000000 }, "Date")
    assert.matches("^%u%l%l, 1[45] Nov 2023 %d%d:%d%d:%d%d [+-]%d%d%d%d$", date)
  end)

  it("writes a Date given as a string as it is", function()
    assert.equal("Tue, 1 Jul 2003 10:52:37 +0200", mime.field(build { date = "Tue, 1 Jul 2003 10:52:37 +0200" }, "Date"))
  end)

  it("refuses a date string too long to be a date", function()
    local raw, err = mailcast.message(spec { date = string.rep("x", 129) })
    assert.is_nil(raw)
    assert.matches("^date must be 1 to 128 characters", err)
  end)

  it("makes a Message-ID at the sender's domain", function()
    assert.matches("^<[%w%.%-]+@example%.com>$", mime.field(build {}, "Message-ID"))
  end)

  it("makes a different Message-ID for every message", function()
    local seen = {}
    for _ = 1, 2000 do
      local id = mime.field(build {}, "Message-ID")
      assert.is_nil(seen[id])
      seen[id] = true
    end
  end)

  it("reports the Message-ID it wrote through message:id()", function()
    local msg = assert(mailcast.build(spec { text = "a" }))
    assert.equal(mime.field(msg:tostring(), "Message-ID"), msg:id())
    msg:close()
  end)

  it("uses a given message_id, adding angle brackets when it has none", function()
    assert.equal("<abc.123@example.net>", mime.field(build { message_id = "abc.123@example.net" }, "Message-ID"))
    assert.equal("<abc.123@example.net>", mime.field(build { message_id = "<abc.123@example.net>" }, "Message-ID"))
  end)

  it("refuses a message_id that is not of the form left@right", function()
    assert.matches("message_id 'nope' is not of the form <left@right>", refused { message_id = "nope" }, 1, true)
    assert.matches("message_id", refused { message_id = "a b@c" }, 1, true)
  end)

  it("writes MIME-Version 1.0", function()
    assert.equal("1.0", mime.field(build {}, "MIME-Version"))
  end)

  it("writes From, Reply-To, To and Cc as given", function()
    local raw = build { from = "Sender <sender@example.com>", reply_to = "replies@example.com",
      to = { "a@example.org", "B <b@example.org>" }, cc = "c@example.org" }
    assert.equal("Sender <sender@example.com>", mime.field(raw, "From"))
    assert.equal("replies@example.com", mime.field(raw, "Reply-To"))
    assert.equal("a@example.org, B <b@example.org>", mime.field(raw, "To"))
    assert.equal("c@example.org", mime.field(raw, "Cc"))
  end)

  it("writes each field the builder owns exactly once", function()
    local raw = build { cc = "c@example.org", reply_to = "r@example.org", text = "a", headers = { ["X-A"] = "1" } }
    local count = {}
    for _, name in ipairs(mime.field_names(raw)) do count[name:lower()] = (count[name:lower()] or 0) + 1 end
    for _, name in ipairs { "date", "from", "to", "cc", "reply-to", "subject", "message-id", "mime-version",
                            "content-type", "content-transfer-encoding" } do
      assert.equal(1, count[name], name)
    end
  end)

  it("writes no Subject field when there is no subject", function()
    local t = spec {}
    t.subject = nil
    local raw = assert(mailcast.message(t))
    assert.is_nil(mime.field(raw, "Subject"))
  end)

  it("refuses a message without a sender", function()
    local t = spec {}
    t.from = nil
    local raw, err = mailcast.message(t)
    assert.is_nil(raw)
    assert.equal("from: no sender given", err)
  end)

  it("refuses more than one sender", function()
    assert.equal("from: one sender only", refused { from = "a@example.com, b@example.com" })
  end)

  it("writes extra header fields from a map sorted by name", function()
    local names = mime.field_names(build { headers = { ["X-Zeta"] = "z", ["X-Alpha"] = "a", ["List-Unsubscribe"] = "<mailto:u@example.com>" } })
    local extra = {}
    for _, n in ipairs(names) do if n:find("^X%-") or n:find("^List") then extra[#extra + 1] = n end end
    assert.same({ "List-Unsubscribe", "X-Alpha", "X-Zeta" }, extra)
  end)

  it("writes extra header fields from a list in the order given", function()
    local names = mime.field_names(build { headers = { { "X-Zeta", "z" }, { "X-Alpha", "a" } } })
    local extra = {}
    for _, n in ipairs(names) do if n:find("^X%-") then extra[#extra + 1] = n end end
    assert.same({ "X-Zeta", "X-Alpha" }, extra)
  end)

  it("encodes a non-ASCII extra header value so that it decodes back", function()
    local msg = parsed { headers = { ["X-Campaign"] = "Grüße aus Köln" } }
    assert.equal("Grüße aus Köln", msg.header["x-campaign"])
  end)

  it("folds a long Subject into lines of at most 78 octets", function()
    local subject = string.rep("A rather long subject line ", 20):gsub(" $", "")
    local raw = build { subject = subject }
    for _, f in ipairs(mime.fields(raw)) do
      if f.name == "Subject" then
        assert.is_true(#mime.lines(f.raw) > 1)
        assert.is_true(mime.longest_line(f.raw) <= 78)
      end
    end
    assert.equal(subject, mailcast.parse(raw).header.subject)
  end)

  it("folds a long To list into lines of at most 78 octets", function()
    local to = {}
    for i = 1, 40 do to[i] = { name = "Recipient Number " .. i, address = "rcpt" .. i .. "@example.org" } end
    local raw = build { to = to }
    for _, f in ipairs(mime.fields(raw)) do
      if f.name == "To" then assert.is_true(mime.longest_line(f.raw) <= 78) end
    end
    assert.matches("Recipient Number 40 <rcpt40@example.org>$", mailcast.parse(raw).header.to)
  end)

  it("keeps every header line within 78 octets for non-ASCII subjects and names", function()
    local raw = build {
      from = { name = string.rep("Zoë Ågren ", 12), address = "zoe@example.com" },
      subject = string.rep("Neuigkeiten für Sie — ", 12),
      headers = { ["X-Campaign-Description"] = string.rep("Grüße ", 30) },
    }
    local head = raw:match("^(.-)\r\n\r\n")
    assert.is_true(mime.longest_line(head) <= 78, head)
  end)
end)


describe("mailcast.message line format", function()
  local shapes = {
    ["text only"] = { text = "a\nb\rc\r\nd" },
    ["text and html"] = { text = "a\nb", html = "<p>\n</p>\r" },
    ["inline images"] = { text = "a\n", html = "<img src='cid:i'>\n", inline = { { data = PNG, cid = "i", filename = "i.png" } } },
    ["attachments"] = { text = "a\n", attachments = { { data = PDF, filename = "a.pdf" }, { data = "x\ny\rz", filename = "t.txt" } } },
    ["8bit text"] = { text = "Grüße\nund\rmehr", allow_8bit = true },
  }

  for name, t in pairs(shapes) do
    it("uses CRLF for every line break (" .. name .. ")", function()
      assert.is_true(mime.crlf_only(build(t)))
    end)
  end

  it("keeps every line within 998 octets with a 5000-character text line", function()
    local raw = build { text = string.rep("word ", 1000) .. "\n" .. string.rep("x", 5000) }
    assert.is_true(mime.longest_line(raw) <= 998)
  end)

  it("keeps every line within 998 octets with a 5000-character html line", function()
    local raw = build { text = "a", html = "<p>" .. string.rep("<b>bold</b> ", 500) .. "</p>" }
    assert.is_true(mime.longest_line(raw) <= 998)
  end)

  it("keeps every line within 998 octets with a 5000-character non-ASCII line", function()
    local raw = build { text = string.rep("ä", 2500), allow_8bit = true }
    assert.is_true(mime.longest_line(raw) <= 998)
  end)

  it("keeps every line within 998 octets with a 2000-character subject", function()
    for _, subject in ipairs { string.rep("subject ", 250), string.rep("s", 2000), string.rep("ü", 1000) } do
      local raw = build { subject = subject }
      assert.is_true(mime.longest_line(raw) <= 998)
    end
  end)

  it("keeps every line within 998 octets with a 2000-character display name", function()
    for _, name in ipairs { string.rep("n", 2000), string.rep("Name, ", 330), string.rep("é", 1000) } do
      local raw = build { to = { name = name, address = "rcpt@example.org" } }
      assert.is_true(mime.longest_line(raw) <= 998)
    end
  end)

  it("keeps every line within 998 octets with a 255-byte non-ASCII filename", function()
    local raw = build { text = "a", attachments = { { data = PDF, filename = string.rep("日", 83) .. ".pdf" } } }
    assert.is_true(mime.longest_line(raw) <= 998)
  end)

  it("keeps every line within 998 octets with a 2000-character extra header value", function()
    local raw = build { headers = { ["X-Long"] = string.rep("v", 2000) } }
    assert.is_true(mime.longest_line(raw) <= 998)
  end)

  it("keeps every line within 998 octets for a data attachment with a long text line", function()
    local raw = build { text = "a", attachments = { { data = string.rep("x", 5000) .. "\r\n", filename = "long.txt" } } }
    assert.is_true(mime.longest_line(raw) <= 998)
  end)
end)


describe("mailcast.message attachments and inline parts", function()
  it("writes a plain ASCII filename quoted", function()
    local raw = build { text = "a", attachments = { { data = PDF, filename = "report.pdf" } } }
    assert.truthy(raw:find('Content-Disposition: attachment; filename="report.pdf"', 1, true))
  end)

  it("writes a non-ASCII filename as an RFC 2231 extended parameter", function()
    local raw = build { text = "a", attachments = { { data = PDF, filename = "Grüße.pdf" } } }
    assert.truthy(raw:find("filename*=utf-8''Gr%C3%BC%C3%9Fe.pdf", 1, true))
    assert.equal("Grüße.pdf", mailcast.parse(raw).parts[2].filename)
  end)

  it("splits a long non-ASCII filename into RFC 2231 continuations", function()
    local name = "Broschüre November 2024 — final version with a very long name.pdf"
    local raw = build { text = "a", attachments = { { data = PDF, filename = name } } }
    assert.truthy(raw:find("filename*0*=utf-8''", 1, true))
    assert.truthy(raw:find("filename*1*=", 1, true))
    assert.equal(name, mailcast.parse(raw).parts[2].filename)
  end)

  it("escapes quotes and backslashes in a filename and reads them back", function()
    local name = [[my "quoted" \ file.txt]]
    local raw = build { text = "a", attachments = { { data = "x", filename = name } } }
    assert.equal(name, mailcast.parse(raw).parts[2].filename)
  end)

  it("also names the file in Content-Type for older readers", function()
    local raw = build { text = "a", attachments = { { data = PDF, filename = "Grüße.pdf" } } }
    local msg = mailcast.parse(raw)
    assert.equal("Grüße.pdf", msg.parts[2].params.name)
  end)

  it("uses the file's base name when a path is given without a filename", function()
    local dir = mime.tmpdir()
    mime.write(dir .. "/brochure.pdf", PDF)
    local ok, msg = pcall(parsed, { text = "a", attachments = { { path = dir .. "/brochure.pdf" } } })
    mime.rmdir(dir)
    assert(ok, msg)
    assert.equal("brochure.pdf", msg.parts[2].filename)
    assert.equal("application/pdf", msg.parts[2].content_type)
    assert.equal(PDF, msg.parts[2].body)
  end)

  it("refuses a path that does not exist and names the attachment", function()
    local err = refused { text = "a", attachments = { { data = "x", filename = "x" }, { path = "/nonexistent/file.pdf" } } }
    assert.matches("^attachments%[2%]: cannot open '/nonexistent/file.pdf'", err)
  end)

  -- A FIFO hung the build for good; /dev/zero filled the memory.
  it("refuses a path that is no regular file, at once, streamed or not", function()
    local dir = mime.tmpdir()
    assert(os.execute("mkfifo " .. mime.sh_quote(dir .. "/fifo")))
    for _, path in ipairs { dir .. "/fifo", "/dev/zero", dir } do
      assert.equal("attachments[1]: cannot read '" .. path .. "': not a regular file",
        refused { text = "a", attachments = { { path = path } } })
      assert.equal("attachments[1]: cannot stream '" .. path .. "': not a regular file",
        refused { text = "a", attachments = { { path = path, stream = true } } })
    end
    assert.equal("inline[1]: cannot read '/dev/zero': not a regular file",
      refused { html = "<img src='cid:x@y'>", inline = { { path = "/dev/zero", cid = "x@y" } } })
    mime.rmdir(dir)
  end)

  it("refuses a file of more than 64 MiB unless it is streamed", function()
    local dir = mime.tmpdir()
    local big = dir .. "/big.bin"
    assert(os.execute("truncate -s " .. (64 * 1024 * 1024 + 1) .. " " .. mime.sh_quote(big)))   -- sparse
    local err = refused { text = "a", attachments = { { path = big } } }
    local msg = mailcast.build(spec { text = "a", attachments = { { path = big, stream = true } } })
    mime.rmdir(dir)
    assert.equal("attachments[1]: '" .. big .. "' has 67108865 bytes, more than the 64 MiB a part read into"
      .. " memory may have (stream = true sends it from the file)", err)
    assert.is_true(msg:size() > 64 * 1024 * 1024)
    msg:close()
  end)

  it("refuses a part with both path and data, or neither", function()
    assert.matches("^attachments%[1%]: a part needs either 'path' or 'data'", refused { text = "a", attachments = { { filename = "x" } } })
    assert.matches("^attachments%[1%]: a part needs either 'path' or 'data'",
      refused { text = "a", attachments = { { data = "x", path = "/etc/hostname" } } })
  end)

  it("writes a Content-ID for an inline part and marks it inline", function()
    local raw = build { html = "<img src='cid:logo@example.com'>", inline = { { data = PNG, cid = "logo@example.com", filename = "logo.png" } } }
    assert.truthy(raw:find("Content-ID: <logo@example.com>\r\n", 1, true))
    local img = mailcast.parse(raw).parts[2]
    assert.equal("logo@example.com", img.content_id)
    assert.equal("inline", img.disposition)
  end)

  it("takes content_id as another name for cid", function()
    local msg = parsed { html = "x", inline = { { data = PNG, content_id = "pic", filename = "p.png" } } }
    assert.equal("pic", msg.parts[2].content_id)
  end)

  local by_extension = {
    ["a.pdf"] = "application/pdf", ["a.png"] = "image/png", ["PHOTO.JPG"] = "image/jpeg",
    ["a.jpeg"] = "image/jpeg", ["a.csv"] = "text/csv", ["a.docx"] = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ["a.unknownext"] = "application/octet-stream", ["noextension"] = "application/octet-stream",
    ["archive.tar.gz"] = "application/gzip",
  }
  for filename, ctype in pairs(by_extension) do
    it("types " .. filename .. " as " .. ctype, function()
      assert.equal(ctype, parsed({ text = "a", attachments = { { data = "x", filename = filename } } }).parts[2].content_type)
    end)
  end

  it("lets content_type override the type from the extension", function()
    local msg = parsed { text = "a", attachments = { { data = "x", filename = "a.pdf", content_type = "application/x-custom" } } }
    assert.equal("application/x-custom", msg.parts[2].content_type)
  end)

  it("writes a charset for a text attachment only when one is given", function()
    local msg = parsed { text = "a", attachments = { { data = "x", filename = "a.txt" }, { data = "y", filename = "b.txt", charset = "iso-8859-1" } } }
    assert.is_nil(msg.parts[2].params.charset)
    assert.equal("iso-8859-1", msg.parts[3].params.charset)
  end)

  it("lets disposition make an attachment inline", function()
    local msg = parsed { text = "a", attachments = { { data = "x", filename = "a.txt", disposition = "inline" } } }
    assert.equal("inline", msg.parts[2].disposition)
  end)

  it("refuses a disposition other than inline or attachment", function()
    assert.matches("^attachments%[1%]: disposition must be 'inline' or 'attachment'",
      refused { text = "a", attachments = { { data = "x", disposition = "form-data" } } })
  end)

  it("refuses a content_type that is not type/subtype", function()
    for _, ct in ipairs { "texthtml", "text/html; charset=x", "text/ html", "a/b/c", "" } do
      assert.matches("^attachments%[1%]: content_type", refused { text = "a", attachments = { { data = "x", content_type = ct } } })
    end
  end)

  it("refuses an unknown encoding name", function()
    assert.matches("^attachments%[1%]: encoding 'uuencode' is not",
      refused { text = "a", attachments = { { data = "x", encoding = "uuencode" } } })
  end)

  it("refuses a filename longer than 255 bytes", function()
    assert.matches("^attachments%[1%]: filename longer than 255 bytes",
      refused { text = "a", attachments = { { data = "x", filename = string.rep("f", 256) } } })
  end)

  it("takes mailcast.part objects as attachments", function()
    local part = assert(mailcast.part { data = PDF, filename = "a.pdf" })
    local msg = parsed { text = "a", attachments = { part } }
    assert.equal(PDF, msg.parts[2].body)
    part:close()
  end)

  it("reports the head it writes through part:head()", function()
    local part = assert(mailcast.part { data = PDF, filename = "a.pdf" })
    local raw = build { text = "a", attachments = { part } }
    assert.truthy(raw:find(part:head(), 1, true))
    assert.equal("base64", part:encoding())
    part:close()
  end)

  it("raises when a closed part is used", function()
    local part = assert(mailcast.part { data = "x" })
    part:close()
    part:close()  -- a second close does nothing
    assert.has_error(function() part:size() end, "attempt to use a closed part")
    assert.has_error(function() mailcast.message(spec { text = "a", attachments = { part } }) end)
  end)
end)


describe("mailcast.message transfer encodings", function()
  local function enc(t) return parsed(t) end

  it("sends ASCII text as 7bit", function()
    assert.equal("7bit", enc({ text = "Hello, world." }).encoding)
  end)

  it("sends mostly-ASCII text as quoted-printable", function()
    assert.equal("quoted-printable", enc({ text = "Grüße aus Köln, this is mostly English text with a few umlauts." }).encoding)
  end)

  it("sends mostly non-ASCII text as base64", function()
    assert.equal("base64", enc({ text = "日本語のメールです。よろしくお願いします。" }).encoding)
  end)

  it("sends ASCII text with a line over 998 octets as quoted-printable", function()
    assert.equal("quoted-printable", enc({ text = string.rep("x", 1200) }).encoding)
  end)

  it("sends binary attachments as base64", function()
    assert.equal("base64", enc({ text = "a", attachments = { { data = PDF, filename = "a.pdf" } } }).parts[2].encoding)
  end)

  it("sends an ASCII data attachment with CRLF lines as 7bit", function()
    assert.equal("7bit", enc({ text = "a", attachments = { { data = "a,b\r\n1,2\r\n", filename = "a.csv" } } }).parts[2].encoding)
  end)

  it("sends a text attachment with bare LF line breaks as base64 to keep its bytes", function()
    local msg = enc { text = "a", attachments = { { data = "a,b\n1,ü\n", filename = "a.csv" } } }
    assert.equal("base64", msg.parts[2].encoding)
    assert.equal("a,b\n1,ü\n", msg.parts[2].body)
  end)

  it("sends non-ASCII text as 8bit when allow_8bit is set", function()
    assert.equal("8bit", enc({ text = "Grüße", allow_8bit = true }).encoding)
  end)

  it("never sends 8bit unless allow_8bit is set", function()
    local raw = build { text = "Grüße ü", html = "<p>日本語</p>", attachments = { { data = "ü\r\n", filename = "a.txt" } } }
    assert.is_nil(raw:find("8bit", 1, true))
    assert.is_nil(raw:find("[\128-\255]"))
  end)

  it("keeps binary attachments base64 when allow_8bit is set", function()
    assert.equal("base64", enc({ text = "a", allow_8bit = true, attachments = { { data = PDF, filename = "a.pdf" } } }).parts[2].encoding)
  end)

  it("does not send 8bit text with a line over 998 octets", function()
    assert.not_equal("8bit", enc({ text = string.rep("ü", 600), allow_8bit = true }).encoding)
  end)

  it("sends ASCII text that contains '=_' as quoted-printable", function()
    assert.equal("quoted-printable", enc({ text = "x =_mc y" }).encoding)
  end)

  it("honours an explicit base64 encoding for text", function()
    assert.equal("base64", enc({ text = "a", attachments = { { data = "plain", filename = "a.txt", encoding = "base64" } } }).parts[2].encoding)
  end)

  it("refuses an explicit 7bit encoding for 8-bit data", function()
    assert.matches("^attachments%[1%]: content is not 7bit",
      refused { text = "a", attachments = { { data = "ü", filename = "a.txt", encoding = "7bit" } } })
  end)

  it("keeps every byte of a binary attachment sent with an explicit quoted-printable encoding", function()
    local data = mime.all_bytes()
    local msg = parsed { text = "a", attachments = { { data = data, filename = "a.bin", encoding = "quoted-printable" } } }
    assert.equal("quoted-printable", msg.parts[2].encoding)
    assert.equal(mailcast.b64(data), mailcast.b64(msg.parts[2].body))
  end)
end)


describe("mailcast.message round trip through mailcast.parse", function()
  it("gives back a text body with its line breaks made CRLF", function()
    assert.equal("line one\r\nline two\r\n\r\nend\r\n", parsed({ text = "line one\nline two\r\n\rend\n" }).body)
  end)

  it("ends a single-part text body that has no final line break with one, as SMTP needs", function()
    assert.equal("no break\r\n", parsed({ text = "no break" }).body)
    assert.equal("no break", parsed({ text = "no break", html = "x" }).parts[1].body)
  end)

  it("gives back text and html bodies", function()
    local msg = parsed { text = "Hello\r\n", html = "<p>Hello</p>\r\n" }
    assert.equal("Hello\r\n", msg.parts[1].body)
    assert.equal("<p>Hello</p>\r\n", msg.parts[2].body)
  end)

  it("gives back quoted-printable, base64 and 8bit text exactly", function()
    local texts = {
      "Grüße aus Köln,\r\nthis is mostly English. \r\nTrailing blanks\t\r\n",
      "日本語のメールです。\r\n",
      "From the start\r\n.\r\n=3D is not an escape\r\n",
    }
    for _, text in ipairs(texts) do
      assert.equal(text, parsed({ text = text }).body)
      assert.equal(text, parsed({ text = text, allow_8bit = true }).body)
      assert.equal(text, parsed({ text = "a", html = text }).parts[2].body)
    end
  end)

  it("gives back random text, its line breaks made CRLF, wherever the special bytes fall", function()
    -- The scan takes 8 plain bytes at a time: breaks, '=', '=_', tabs,
    -- control and UTF-8 bytes at every offset of a word, both bodies.
    local pieces = { "a", "bcdefgh", " ", "\t", "\r", "\n", "\r\n", "=", "=_", "ü", "€", "\1", "~", "\127" }
    math.randomseed(20261129)
    for _ = 1, 300 do
      local t = {}
      for i = 1, math.random(0, 40) do t[i] = pieces[math.random(#pieces)] end
      local text = table.concat(t)
      local canonical = text:gsub("\r\n", "\n"):gsub("\r", "\n"):gsub("\n", "\r\n")
      local msg = parsed { text = "x", html = text }
      assert.equal(canonical, msg.parts[2].body, string.format("%q", text))
    end
  end)

  it("gives back text with lines longer than 998 octets", function()
    local text = string.rep("a", 5000) .. "\r\n" .. string.rep("ö", 3000) .. "\r\n" .. string.rep("b ", 2000)
    assert.equal(text, parsed({ text = text }).body)
    assert.equal(text, parsed({ text = "x", html = text }).parts[2].body)
  end)

  it("gives back a binary attachment with every byte value", function()
    local data = string.rep(mime.all_bytes(), 4)
    local msg = parsed { text = "a", attachments = { { data = data, filename = "bytes.bin" } } }
    assert.equal(mailcast.b64(data), mailcast.b64(msg.parts[2].body))
    assert.equal("application/octet-stream", msg.parts[2].content_type)
  end)

  it("gives back an attachment read from a file", function()
    local dir = mime.tmpdir()
    local data = mime.all_bytes() .. PDF
    mime.write(dir .. "/data.bin", data)
    local ok, msg = pcall(parsed, { text = "a", attachments = { { path = dir .. "/data.bin" } } })
    mime.rmdir(dir)
    assert(ok, msg)
    assert.equal(mailcast.b64(data), mailcast.b64(msg.parts[2].body))
  end)

  it("gives back an empty attachment", function()
    local msg = parsed { text = "a", attachments = { { data = "", filename = "empty.bin" } } }
    assert.equal("", msg.parts[2].body)
    assert.equal("empty.bin", msg.parts[2].filename)
  end)

  it("gives back inline images with their content ids", function()
    local msg = parsed { text = "a", html = "<img src='cid:a'><img src='cid:b'>",
      inline = { { data = PNG, cid = "a", filename = "a.png" }, { data = PNG .. "2", cid = "b", filename = "b.png" } } }
    local related = msg.parts[2]
    assert.equal(PNG, related.parts[2].body)
    assert.equal("a", related.parts[2].content_id)
    assert.equal(PNG .. "2", related.parts[3].body)
    assert.equal("b", related.parts[3].content_id)
  end)

  it("gives back decoded filenames", function()
    local names = { "plain.pdf", "Grüße.pdf", "日本語のファイル名.pdf", string.rep("é", 100) .. ".txt", "a;b=c.txt", "tab\tname.txt" }
    local list = {}
    for i, n in ipairs(names) do list[i] = { data = "x" .. i, filename = n } end
    local msg = parsed { text = "a", attachments = list }
    for i, n in ipairs(names) do assert.equal(n, msg.parts[i + 1].filename) end
  end)

  it("gives back a non-ASCII subject and display names", function()
    local msg = parsed { subject = "Our November news — Neuigkeiten für Sie",
      from = { name = "Zoë Ågren", address = "zoe@example.com" },
      to = { { name = "Åsa Lindqvist", address = "asa@example.net" }, "Bob <bob@example.org>" } }
    assert.equal("Our November news — Neuigkeiten für Sie", msg.header.subject)
    assert.equal("Zoë Ågren <zoe@example.com>", msg.header.from)
    assert.equal("Åsa Lindqvist <asa@example.net>, Bob <bob@example.org>", msg.header.to)
  end)

  it("gives back a 2000-character subject", function()
    local subject = string.rep("Grüße und ", 200) .. "Ende"
    assert.equal(subject, parsed({ subject = subject }).header.subject)
  end)
end)


describe("mailcast.message refuses data that would forge a header field", function()
  -- Each case: a field given a value with a line break, and the start of
  -- the message that names it.
  local injections = {
    { "subject", { subject = "Hi\r\nBcc: victim@example.net" }, "^subject contains CR or LF %(header injection refused%)$" },
    { "subject (LF alone)", { subject = "Hi\nBcc: victim@example.net" }, "^subject contains CR or LF" },
    { "subject (CR alone)", { subject = "Hi\rBcc: victim@example.net" }, "^subject contains CR or LF" },
    { "a header value", { headers = { ["X-Tag"] = "a\r\nBcc: victim@example.net" } }, "^header 'X%-Tag' contains CR or LF" },
    { "a header value in a list", { headers = { { "X-Tag", "a\nBcc: v@example.net" } } }, "^header 'X%-Tag' contains CR or LF" },
    { "a header name", { headers = { ["X-Tag\r\nBcc"] = "victim@example.net" } }, "^header name 'X%-Tag\r\nBcc' may hold only" },
    { "a display name", { to = { name = "Bob\r\nBcc: v@example.net", address = "bob@example.org" } }, "^to: display name contains CR, LF or NUL" },
    { "a display name in a string", { to = { "a@example.org", "\"Bob\r\nBcc: v@example.net\" <bob@example.org>" } }, "^to%[2%]: display name contains CR, LF or NUL" },
    { "the sender's display name", { from = { name = "S\nBcc: v@example.net", address = "s@example.com" } }, "^from: display name contains CR, LF or NUL" },
    { "an address", { to = "bob@example.org\r\nBcc: victim@example.net" }, "^to: invalid address" },
    { "a cc address", { cc = { "ok@example.org", "x@example.org\nBcc: v@example.net" } }, "^cc%[2%]: invalid address" },
    { "a reply_to address", { reply_to = "r@example.org\r\nX: y" }, "^reply_to: invalid address" },
    { "message_id", { message_id = "<a@b>\r\nBcc: victim@example.net" }, "^message_id contains CR or LF" },
    { "date", { date = "Mon, 1 Jan 2024 00:00:00 +0000\r\nBcc: v@example.net" }, "^date contains CR or LF" },
    { "a filename", { text = "a", attachments = { { data = "x", filename = "a.txt\r\nBcc: v@example.net" } } }, "^attachments%[1%]: filename contains CR or LF" },
    { "an inline filename", { html = "x", inline = { { data = "x", cid = "c", filename = "a.png\nX: y" } } }, "^inline%[1%]: filename contains CR or LF" },
    { "a cid", { html = "x", inline = { { data = "x", cid = "logo>\r\nBcc: v@example.net" } } }, "^inline%[1%]: content_id" },
    { "a content_id", { html = "x", inline = { { data = "x", content_id = "logo\nX: y" } } }, "^inline%[1%]: content_id" },
    { "a content_type", { text = "a", attachments = { { data = "x", content_type = "text/plain\r\nBcc: v@example.net" } } }, "^attachments%[1%]: content_type" },
    { "a charset", { text = "a", attachments = { { data = "x", content_type = "text/plain", charset = "utf-8\r\nX: y" } } }, "^attachments%[1%]: charset" },
  }

  for _, case in ipairs(injections) do
    it("refuses CR or LF in " .. case[1] .. " and names the field", function()
      local err = refused(case[2])
      assert.matches(case[3], err)
    end)
  end

  it("refuses CR or LF in a part's fields without the parts cache as well", function()
    local err = refused { text = "a", cache = false, attachments = { { data = "x", filename = "a\r\nX: y" } } }
    assert.matches("^attachments%[1%]: filename contains CR or LF", err)
    err = refused { html = "x", cache = false, inline = { { data = "x", cid = "c\r\nX: y" } } }
    assert.matches("^inline%[1%]: content_id", err)
  end)

  it("refuses NUL in the subject and in a header value", function()
    assert.equal("subject contains NUL", refused { subject = "a\0b" })
    assert.equal("header 'X-A' contains NUL", refused { headers = { ["X-A"] = "a\0b" } })
  end)

  it("keeps field-like text on continuation lines, never as a field of its own", function()
    local evil = string.rep("x ", 30) .. "Bcc: victim@example.net " .. string.rep("y ", 30) .. "\tBcc: v2@example.net"
    local raw = build { subject = evil, headers = { ["X-Note"] = evil } }
    for _, name in ipairs(mime.field_names(raw)) do assert.not_equal("bcc", name:lower()) end
    local msg = mailcast.parse(raw)
    assert.is_nil(msg.header.bcc)
    assert.equal(evil, msg.header.subject)
  end)

  it("refuses a subject that is not UTF-8 and names the byte", function()
    assert.equal("subject is not valid UTF-8 (byte 3)", refused { subject = "ab\255" })
  end)

  it("refuses a text body that is not UTF-8", function()
    assert.equal("text: text/plain body is not valid UTF-8 (byte 1)", refused { text = "\233t\233" })
  end)

  it("refuses an html body that is not UTF-8", function()
    assert.equal("html: text/html body is not valid UTF-8 (byte 4)", refused { html = "<p>\192\128</p>" })
  end)

  it("refuses a display name that is not UTF-8", function()
    assert.matches("^to: display name is not valid UTF%-8", refused { to = { name = "Bj\246rn", address = "b@example.org" } })
  end)

  it("refuses a filename that is not UTF-8", function()
    assert.matches("^attachments%[1%]: filename is not valid UTF%-8",
      refused { text = "a", attachments = { { data = "x", filename = "r\233sum\233.pdf" } } })
  end)

  local reserved = { "Content-Type", "content-type", "From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date",
                     "Message-ID", "MIME-Version", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID" }
  for _, name in ipairs(reserved) do
    it("refuses " .. name .. " among the extra headers", function()
      assert.equal("header '" .. name .. "' is set by its own field, not in headers",
        refused { headers = { [name] = "x" } })
    end)
  end

  it("refuses extra header names that are not letters, digits and '-'", function()
    for _, name in ipairs { "X Tag", "X:Tag", "X_Tag", "-X", "Xü", "" } do
      assert.matches("^header name '.*' ", refused { headers = { { name, "v" } } })
    end
  end)

  it("refuses more than 100 extra header fields", function()
    local list = {}
    for i = 1, 101 do list[i] = { "X-H" .. i, "v" } end
    assert.equal("more than 100 extra header fields", refused { headers = list })
  end)
end)


describe("mailcast.message misuse", function()
  it("raises when not given a table", function()
    assert.has_error(function() mailcast.message("from: a@b") end)
  end)

  it("raises when subject is not a string", function()
    assert.has_error(function() mailcast.message(spec { subject = {} }) end,
      "message field 'subject' must be a string, not table")
  end)

  it("raises when headers is not a table", function()
    assert.has_error(function() mailcast.message(spec { headers = "X-A: 1" }) end)
  end)

  it("raises when a part field is not a string", function()
    assert.has_error(function() mailcast.message(spec { text = "a", attachments = { { data = "x", filename = 42 } } }) end)
  end)

  it("raises when an attachment is not a table or a Part", function()
    assert.has_error(function() mailcast.message(spec { text = "a", attachments = { "report.pdf" } }) end)
  end)

  it("raises when attachments is a string instead of a list", function()
    assert.has_error(function() mailcast.message(spec { text = "a", attachments = "report.pdf" }) end)
  end)

  it("raises when attachments is a string instead of a list, without the parts cache", function()
    assert.has_error(function() mailcast.message(spec { text = "a", attachments = "report.pdf", cache = false }) end)
  end)

  it("keeps numbers given as text fields intact while the rest of the table is read", function()
    -- Lua may collect garbage whenever a field is read (here: an __index
    -- metamethod that forces a full collection).
    -- (No string literal of these numbers here: it would keep the very
    -- same interned string alive and hide the problem.)
    local subject, count = 1234567890123, 4242424242
    local t = setmetatable(spec { subject = subject, headers = { ["X-Count"] = count }, text = "a" },
      { __index = function()
          collectgarbage()
          -- new strings of every short length reuse what was freed
          local junk = {}
          for i = 1, 3000 do junk[i] = string.format("%0" .. (i % 30 + 1) .. "d", i) end
          return nil
        end })
    local msg = assert(mailcast.build(t))
    local raw = msg:tostring()
    msg:close()
    assert.equal(tostring(subject), mime.field(raw, "Subject"))
    assert.equal(tostring(count), mime.field(raw, "X-Count"))
  end)

  it("keeps a number given as a header name intact while the rest of the table is read", function()
    local name = 12345   -- digits make a valid field name
    local t = setmetatable(spec { headers = { { name, "v" } }, text = "a" },
      { __index = function()
          collectgarbage()
          local junk = {}
          for i = 1, 3000 do junk[i] = string.format("%0" .. (i % 30 + 1) .. "d", i) end
          return nil
        end })
    local msg = assert(mailcast.build(t))
    local raw = msg:tostring()
    msg:close()
    assert.equal("v", mime.field(raw, tostring(name)))
  end)
end)

-- Inputs the fuzzers found (csrc/fuzz), kept as plain regressions.
describe("mailcast.message on inputs found by fuzzing", function()
  it("keeps a long run of spaces in a subject within the line limit", function()
    local subject = "a" .. string.rep(" ", 1000) .. "b"
    local raw = build { subject = subject }
    assert.is_true(mime.longest_line(raw) <= 998)
    assert.equal(subject, mailcast.parse(raw).header.subject)
  end)

  it("keeps a display name full of backslashes within the line limit", function()
    local name = string.rep("\\", 600)
    local raw = build { to = { { name = name, address = "bob@example.org" } } }
    assert.is_true(mime.longest_line(raw) <= 998)
    assert.equal(name .. " <bob@example.org>", mailcast.parse(raw).header.to)
  end)

  it("keeps a filename that looks like an encoded-word as it is", function()
    local tree = parsed { attachments = { { data = "x", filename = "=?utf-8?q?a?=" } } }
    assert.equal("=?utf-8?q?a?=", tree.parts[2].filename)
  end)

  it("builds an empty attachment sent as base64", function()
    local tree = parsed { attachments = { { data = "", filename = "empty.bin", encoding = "base64" } } }
    assert.equal("", tree.parts[2].body)
    assert.equal("base64", tree.parts[2].encoding)
  end)
end)
