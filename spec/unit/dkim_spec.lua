-- DKIM (RFC 6376, RFC 8463): signatures mailcast makes, checked by dkimpy
-- (Debian's python3-dkim, an independent implementation) and by
-- mailcast's own verifier; dkimpy's signatures checked by mailcast; keys,
-- the signature field's form, and the ways a signature must fail.
local mailcast = require "mailcast"
local mime = require "support.mime"
local support = require "support.dkim"

local dkim = mailcast.dkim
local D = "example.com"
local CANONS = { "relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed" }

local HEAD = "From: Zoe <zoe@example.com>\r\nTo: reader@example.org\r\nSubject: News\r\n" ..
  "Date: Mon, 4 Nov 2024 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"
local PLAIN = HEAD .. "\r\nHello,\r\nthe news.\r\n"

local dir, keys, records

-- The record of each key, published under its own selector.
local SELECTORS = { rsa1024 = "r1024", rsa2048 = "r2048", rsa4096 = "r4096", ed25519 = "ed" }

local function sign(raw, name, extra)
  local opts = { key = keys[name].key, domain = D, selector = SELECTORS[name] }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return dkim.sign(raw, opts)
end

local function verify(raw, opts)
  opts = opts or {}
  opts.keys = opts.keys or records
  return assert(dkim.verify(raw, opts))
end

local function replace(raw, from, to)
  local i, j = raw:find(from, 1, true)
  assert(i, "not in the message: " .. from)
  return raw:sub(1, i - 1) .. to .. raw:sub(j + 1)
end

-- The message signed with rsa2048 and ed25519 in every canonicalisation:
-- eight signatures on top of it, each made over the unsigned message.
local function sign_all_ways(raw, extra)
  local list = {}
  for _, name in ipairs { "rsa2048", "ed25519" } do
    for _, c in ipairs(CANONS) do
      local o = { key = keys[name].key, domain = D, selector = SELECTORS[name], canonicalization = c }
      for k, v in pairs(extra or {}) do o[k] = v end
      list[#list + 1] = o
    end
  end
  return assert(dkim.sign(raw, list))
end

local function all(value, n)
  local t = {}
  for i = 1, n do t[i] = value end
  return t
end


describe("mailcast.dkim", function()
  setup(function()
    dir = mime.tmpdir()
    keys = support.keys(dir)
    records = {}
    for name, sel in pairs(SELECTORS) do records[sel .. "._domainkey." .. D] = keys[name].key:record() end
  end)

  teardown(function()
    mime.rmdir(dir)
  end)

  describe("keys", function()
    it("loads RSA keys of 1024, 2048 and 4096 bits and an Ed25519 key, telling them apart", function()
      assert.same({ "rsa-sha256", 1024 }, { keys.rsa1024.key:algorithm(), keys.rsa1024.key:bits() })
      assert.same({ "rsa-sha256", 2048 }, { keys.rsa2048.key:algorithm(), keys.rsa2048.key:bits() })
      assert.same({ "rsa-sha256", 4096 }, { keys.rsa4096.key:algorithm(), keys.rsa4096.key:bits() })
      assert.equal("ed25519-sha256", keys.ed25519.key:algorithm())
    end)

    it("loads a key from PEM text, {pem=} and {path=} alike", function()
      local pem = mime.read(keys.ed25519.path)
      for _, k in ipairs { dkim.key(pem), dkim.key { pem = pem }, dkim.key { path = keys.ed25519.path } } do
        assert.equal(keys.ed25519.key:record(), k:record())
      end
    end)

    it("refuses an RSA key under 1024 bits", function()
      local k, err = dkim.key(keys.rsa512.path)
      assert.is_nil(k)
      assert.matches("^dkim: an RSA key of 512 bits is too small", err)
    end)

    it("says clearly that a bad PEM is not a key", function()
      local k, err = dkim.key("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
      assert.is_nil(k)
      assert.matches("^dkim: not an unencrypted PEM private key", err)
      local path = dir .. "/garbage.pem"
      mime.write(path, "this is not a key\n")
      k, err = dkim.key(path)
      assert.is_nil(k)
      assert.matches("^dkim: not an unencrypted PEM private key .* in '.*garbage%.pem'$", err)
    end)

    it("says when the key file cannot be opened", function()
      local k, err = dkim.key(dir .. "/missing.pem")
      assert.is_nil(k)
      assert.matches("^dkim: cannot open key file '.*missing%.pem'", err)
    end)

    it("refuses a public key for signing", function()
      local path = dir .. "/public.pem"
      os.execute("openssl pkey -in " .. mime.sh_quote(keys.rsa2048.path) .. " -pubout -out " .. mime.sh_quote(path))
      local k, err = dkim.key(path)
      assert.is_nil(k)
      assert.matches("^dkim: not an unencrypted PEM private key", err)
    end)

    it("gives the TXT record to publish for each kind of key", function()
      assert.matches("^v=DKIM1; k=rsa; p=MII[%w+/]+=*$", keys.rsa2048.key:record())
      assert.matches("^v=DKIM1; k=ed25519; p=[%w+/]+=$", keys.ed25519.key:record())
      assert.equal(44, #keys.ed25519.key:record():match("p=(.*)"))
    end)

    it("raises when a closed key is used", function()
      local k = assert(dkim.key(keys.ed25519.path))
      k:close()
      assert.has_error(function() k:bits() end)
      assert.has_error(function() dkim.sign(PLAIN, { key = k, domain = D, selector = "s" }) end)
      k:close()   -- twice is harmless
    end)
  end)

  describe("the signature field", function()
    it("is one header field to prepend, folded to lines of at most 78 columns", function()
      for _, name in ipairs { "rsa1024", "rsa2048", "rsa4096", "ed25519" } do
        local field = assert(dkim.signature(PLAIN, { key = keys[name].key, domain = D, selector = "s",
          body_length = true, expire = 3600, identity = "news@mail.example.com" }))
        assert.matches("^DKIM%-Signature: v=1; a=", field)
        assert.equal("\r\n", field:sub(-2))
        assert.is_true(mime.crlf_only(field))
        local lines = mime.lines(field)
        for i, line in ipairs(lines) do
          assert.is_true(#line <= 78, name .. ": line of " .. #line .. ": " .. line)
          if i > 1 then assert.matches("^ ", line) end
        end
        assert.equal(1, #mime.fields(field .. "\r\n"))
      end
    end)

    it("has the tags asked for: algorithm, canonicalisation, domain, selector, t=, x=, l=, i=", function()
      local field = assert(dkim.signature(PLAIN, { key = keys.ed25519.key, domain = D, selector = "ed",
        canonicalization = "simple/relaxed", timestamp = 1700000000, expire = 600, body_length = true,
        identity = "@news.example.com" }))
      local text = field:gsub("\r\n ", " ")
      for _, tag in ipairs { "a=ed25519%-sha256;", "c=simple/relaxed;", "d=example%.com;", "s=ed;",
        "t=1700000000;", "x=1700000600;", "l=19;", "i=@news%.example%.com;" } do
        assert.matches(" " .. tag, text)
      end
    end)

    it("leaves out t= when timestamp is false", function()
      local field = assert(dkim.signature(PLAIN, { key = keys.ed25519.key, domain = D, selector = "ed", timestamp = false }))
      assert.not_matches(" t=", field)
    end)

    it("signs the default fields present, From once more than present", function()
      local raw = "Reply-To: r@example.com\r\nList-Unsubscribe: <https://example.com/u>\r\n" ..
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nX-Other: not signed\r\n" .. PLAIN
      local field = assert(dkim.signature(raw, { key = keys.ed25519.key, domain = D, selector = "ed" }))
      local h = field:gsub("\r\n ", ""):match(" h=([^;]*);")
      assert.equal("from:from:to:subject:date:message-id:reply-to:list-unsubscribe:list-unsubscribe-post", h)
    end)

    it("signs only the fields named, with From always, when headers are given", function()
      local field = assert(dkim.signature(PLAIN, { key = keys.ed25519.key, domain = D, selector = "ed",
        headers = { "Subject", "X-Missing", "subject" }, oversign = {} }))
      assert.equal("from:subject", field:gsub("\r\n ", ""):match(" h=([^;]*);"))
    end)

    it("names a field once for every instance, so all of them are signed (RFC 6376 5.4.2)", function()
      local raw = "X-Tag: one\r\n" .. HEAD .. "X-Tag: two\r\n\r\nbody\r\n"
      local signed = assert(dkim.sign(raw, { key = keys.ed25519.key, domain = D, selector = "ed",
        headers = { "X-Tag" } }))
      assert.matches(" h=from:from:x%-tag:x%-tag;", signed:gsub("\r\n ", ""))
      assert.same({ "pass" }, support.statuses(verify(signed)))
      assert.same({ "pass" }, support.dkimpy_verify(signed, records, dir))
      assert.same({ "fail" }, support.statuses(verify(replace(signed, "X-Tag: one", "X-Tag: uno"))))
    end)
  end)

  describe("checked by dkimpy and by mailcast", function()
    local messages = {
      { "folded headers", "From: Zoe\r\n <zoe@example.com>\r\nTo: a@example.org,\r\n\tb@example.org,\r\n   c@example.org\r\n" ..
        "Subject: a subject that goes on\r\n\tand on  \t and on \r\nDate: Mon, 4 Nov 2024 10:00:00 +0000\r\n\r\nHello\r\n" },
      { "a non-ASCII (RFC 2047) subject", function()
        return "From: Zoe <zoe@example.com>\r\nTo: reader@example.org\r\n" ..
          assert(mailcast.encode_header("Subject", "Grüße aus Köln — Neuigkeiten für Åsa und Zoë, mit einem sehr langen Betreff")) ..
          "\r\n\r\nHallo\r\n"
      end },
      { "long lines", HEAD .. "X-Long: " .. string.rep("x", 900) .. "\r\n\r\n" .. string.rep("word ", 199) .. "end\r\n" .. string.rep("y", 998) .. "\r\n" },
      { "trailing blank lines", PLAIN .. "\r\n\r\n\r\n" },
      { "white space at line ends and in runs", HEAD .. "\r\na  b\t\tc  \r\n \t\r\n  indented\t\r\n\t\r\n  \r\n" },
      { "an empty body", HEAD .. "\r\n" },
      { "no body at all", HEAD },
      { "a last line without CRLF", HEAD .. "\r\nno line break at the end" },
      { "text, html and an attachment built by mailcast.message", function()
        return assert(mailcast.message {
          from = { name = "Zoë Ågren", address = "zoe@example.com" }, to = "reader@example.org",
          subject = "Grüße — Neuigkeiten", text = "Hallo,\nein Gruß.\n\n", html = "<p>Hallo, <b>ein Gruß</b></p>\n",
          attachments = { { data = mime.random_bytes(3000, 5), filename = "Broschüre.pdf" } },
          headers = { ["List-Unsubscribe"] = "<https://example.com/u/1>", ["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click" },
        })
      end },
    }

    for _, m in ipairs(messages) do
      it("agree that all eight signatures (RSA and Ed25519, four canonicalisations) pass on " .. m[1], function()
        local raw = type(m[2]) == "function" and m[2]() or m[2]
        local signed = sign_all_ways(raw)
        assert.same(all("pass", 8), support.dkimpy_verify(signed, records, dir))
        assert.same(all("pass", 8), support.statuses(verify(signed)))
      end)
    end

    it("agree that signatures with 1024- and 4096-bit keys pass", function()
      local signed = assert(dkim.sign(PLAIN, {
        { key = keys.rsa1024.key, domain = D, selector = "r1024" },
        { key = keys.rsa4096.key, domain = D, selector = "r4096", canonicalization = "simple/simple" },
      }))
      assert.same({ "pass", "pass" }, support.dkimpy_verify(signed, records, dir))
      assert.same({ "pass", "pass" }, support.statuses(verify(signed)))
    end)

    it("agree that a message signed with l= passes after text is appended to its body", function()
      local signed = sign_all_ways(PLAIN .. "\r\n\r\n", { body_length = true })
      local appended = signed .. "-- \r\nA footer a list added\r\n"
      assert.same(all("pass", 8), support.dkimpy_verify(appended, records, dir))
      assert.same(all("pass", 8), support.statuses(verify(appended)))
      assert.equal(19, verify(appended)[1].body_length)
    end)

    it("agree that a message with RSA and Ed25519 signatures for two domains passes", function()
      local signed = assert(dkim.sign(PLAIN, {
        { key = keys.rsa2048.key, domain = D, selector = "r2048" },
        { key = keys.ed25519.key, domain = "esp.example.net", selector = "ed" },
      }))
      local both = { ["r2048._domainkey.example.com"] = records["r2048._domainkey.example.com"],
        ["ed._domainkey.esp.example.net"] = records["ed._domainkey.example.com"] }
      assert.same({ "pass", "pass" }, support.dkimpy_verify(signed, both, dir))
      local results = verify(signed, { keys = both })
      assert.same({ "pass", "pass" }, support.statuses(results))
      assert.same({ D, "esp.example.net" }, { results[1].domain, results[2].domain })
      assert.same({ "rsa-sha256", "ed25519-sha256" }, { results[1].algorithm, results[2].algorithm })
    end)

    it("agree that a changed header field fails", function()
      local tampered = replace(sign_all_ways(PLAIN), "Subject: News", "Subject: Newz")
      assert.same(all("fail", 8), support.statuses(verify(tampered)))
      assert.equal("signature did not verify", verify(tampered)[1].reason)
      for _, line in ipairs(support.dkimpy_verify(tampered, records, dir)) do assert.matches("^fail", line) end
    end)

    it("agree that a changed body fails", function()
      local tampered = replace(sign_all_ways(PLAIN), "the news.", "the newz.")
      assert.same(all("fail", 8), support.statuses(verify(tampered)))
      assert.equal("body hash mismatch", verify(tampered)[1].reason)
      for _, line in ipairs(support.dkimpy_verify(tampered, records, dir)) do assert.matches("^fail", line) end
    end)

    -- Without oversigning, the From added above the signed one was
    -- passed over, and the signature passed (dkimpy said fail).
    it("agree that a second From added above a signed one fails, oversigned or not", function()
      local signed = assert(dkim.sign(PLAIN, { key = keys.ed25519.key, domain = D, selector = "ed", oversign = {} }))
      assert.not_matches("from:from", signed:gsub("\r\n ", ""), 1, true)
      local tampered = replace(signed, "From: Zoe", "From: Mallory <m@example.net>\r\nFrom: Zoe")
      assert.same({ "fail" }, support.statuses(verify(tampered)))
      assert.equal("the message has more than one From field", verify(tampered)[1].reason)
      for _, line in ipairs(support.dkimpy_verify(tampered, records, dir)) do assert.matches("^fail", line) end
      assert.same({ "pass" }, support.statuses(verify(signed)))
    end)

    it("fails a message with more of a single field the signature signs than it signs", function()
      local signed = assert(dkim.sign(PLAIN, { key = keys.ed25519.key, domain = D, selector = "ed", oversign = {} }))
      local tampered = replace(signed, "Subject: News", "Subject: Your account is closed\r\nSubject: News")
      assert.same({ "fail" }, support.statuses(verify(tampered)))
      assert.equal("a signed field was added after signing", verify(tampered)[1].reason)
    end)

    it("agree that a second From added after signing fails (From is oversigned)", function()
      local tampered = replace(sign_all_ways(PLAIN), "From: Zoe", "From: Mallory <m@example.net>\r\nFrom: Zoe")
      assert.same(all("fail", 8), support.statuses(verify(tampered)))
      for _, line in ipairs(support.dkimpy_verify(tampered, records, dir)) do assert.matches("^fail", line) end
    end)

    it("agree that white space changes pass relaxed and fail simple canonicalisation", function()
      local changed = replace(replace(sign_all_ways(PLAIN), "Subject: News", "Subject:   News  "), "the news.", "the   news.  ")
      local want = { "pass", "fail", "fail", "fail", "pass", "fail", "fail", "fail" }
      assert.same(want, support.statuses(verify(changed)))
      local py = support.dkimpy_verify(changed, records, dir)
      for i, line in ipairs(py) do py[i] = line:match("^%a+") end
      assert.same(want, py)
    end)
  end)

  describe("verifying what dkimpy signed", function()
    for _, c in ipairs(CANONS) do
      it("passes dkimpy's RSA and Ed25519 signatures, " .. c, function()
        local raw = "From: Zoe <zoe@example.com>\r\nTo: a@example.org,\r\n\tb@example.org\r\nSubject:  folded\r\n  subject \r\n\r\n" ..
          "a  b \r\n\r\nend\r\n\r\n"
        local signed = support.dkimpy_sign(raw, keys.rsa2048.path, "r2048", D, c, "rsa-sha256", dir) ..
          support.dkimpy_sign(raw, keys.ed25519.path, "ed", D, c, "ed25519-sha256", dir) .. raw
        assert.same({ "pass", "pass" }, support.statuses(verify(signed)))
        assert.same({ "pass", "pass" }, support.dkimpy_verify(signed, records, dir))
      end)
    end
  end)

  describe("refusing bad signing options", function()
    local function refused(opts, pattern)
      opts.key = opts.key or keys.ed25519.key
      opts.domain = opts.domain or D
      opts.selector = opts.selector or "ed"
      local out, err = dkim.sign(PLAIN, opts)
      assert.is_nil(out)
      assert.matches(pattern, err)
    end

    it("refuses a domain or selector that would inject a header field or a tag", function()
      refused({ domain = "example.com\r\nBcc: victim@example.org" }, "^dkim: the domain %(d=%) is not a domain name")
      refused({ domain = "example.com; l=0" }, "^dkim: the domain")
      refused({ selector = "ed\r\n\tb=" }, "^dkim: the selector %(s=%) is not")
      refused({ selector = "ed; h=from" }, "^dkim: the selector")
      refused({ domain = "" }, "^dkim: the domain")
      refused({ domain = "a..b" }, "^dkim: the domain")
    end)

    it("refuses an identity outside the domain or with white space", function()
      refused({ identity = "news@example.net" }, "^dkim: the identity")
      refused({ identity = "news@badexample.com" }, "^dkim: the identity")
      refused({ identity = "ne ws@example.com" }, "^dkim: the identity")
      refused({ identity = "news@example.com\r\nX: y" }, "^dkim: the identity")
      assert.truthy(dkim.sign(PLAIN, { key = keys.ed25519.key, domain = D, selector = "ed", identity = "n@mail.example.com" }))
    end)

    it("refuses a field name with a colon or white space in headers", function()
      refused({ headers = { "Subject:" } }, "^dkim: headers%[1%] is not a field name")
      refused({ headers = { "To", "Sub ject" } }, "^dkim: headers%[2%]")
    end)

    it("refuses a message without a From field", function()
      local out, err = dkim.sign("To: a@example.org\r\n\r\nhi\r\n", { key = keys.ed25519.key, domain = D, selector = "ed" })
      assert.is_nil(out)
      assert.equal("dkim: the message has no From field", err)
    end)

    it("refuses a message with two From fields, which verifiers fail", function()
      local out, err = dkim.sign("From: a@example.com\r\nFrom: b@example.com\r\n\r\nhi\r\n",
        { key = keys.ed25519.key, domain = D, selector = "ed" })
      assert.is_nil(out)
      assert.equal("dkim: the message has more than one From field", err)
    end)

    it("returns the key's error when the key is a path that does not load", function()
      local out, err = dkim.sign(PLAIN, { key = keys.rsa512.path, domain = D, selector = "s" })
      assert.is_nil(out)
      assert.matches("^dkim: an RSA key of 512 bits is too small", err)
    end)

    it("raises on misuse: no key, a bad canonicalization, a missing domain", function()
      assert.has_error(function() dkim.sign(PLAIN, { domain = D, selector = "s" }) end)
      assert.has_error(function() mailcast.core.dkim_sign(PLAIN, { key = "x", domain = D, selector = "s" }) end)
      assert.has_error(function() dkim.sign(PLAIN, { key = keys.ed25519.key, domain = D, selector = "s", canonicalization = "loose" }) end)
      assert.has_error(function() dkim.sign(PLAIN, { key = keys.ed25519.key, domain = D, selector = "s", canonicalization = "relaxed/" }) end)
      assert.has_error(function() dkim.sign(PLAIN, { key = keys.ed25519.key, selector = "s" }) end)
      assert.has_error(function() dkim.sign(PLAIN, { key = keys.ed25519.key, domain = D, selector = "s", expire = -1 }) end)
    end)

    it("takes a key given as a path, loading it once", function()
      local a = assert(dkim.sign(PLAIN, { key = keys.ed25519.path, domain = D, selector = "ed" }))
      assert.same({ "pass" }, support.statuses(verify(a)))
    end)
  end)

  describe("verifying", function()
    local function with_field(field) return field .. PLAIN end

    it("returns nothing for a message without signatures", function()
      assert.same({}, verify(PLAIN))
    end)

    it("gives domain, selector, algorithm, key name and times of each signature", function()
      local signed = assert(sign(PLAIN, "ed25519", { timestamp = 1700000000, expire = 3600, identity = "z@example.com" }))
      local r = verify(signed, { now = 1700000100 })[1]
      assert.same({ status = "pass", domain = D, selector = "ed", algorithm = "ed25519-sha256",
        identity = "z@example.com", key_name = "ed._domainkey.example.com", timestamp = 1700000000,
        expire = 1700003600 }, r)
    end)

    it("fails a signature past its x= expiry", function()
      local signed = assert(sign(PLAIN, "ed25519", { timestamp = 1700000000, expire = 60 }))
      local r = verify(signed, { now = 1700000061 })[1]
      assert.same({ "fail", "signature expired" }, { r.status, r.reason })
    end)

    it("takes the key from key= for every signature, as a DkimKey, a PEM or a record", function()
      local signed = assert(sign(PLAIN, "rsa2048"))
      local pub = dir .. "/pub.pem"
      os.execute("openssl pkey -in " .. mime.sh_quote(keys.rsa2048.path) .. " -pubout -out " .. mime.sh_quote(pub))
      for _, key in ipairs { keys.rsa2048.key, mime.read(pub), mime.read(keys.rsa2048.path), keys.rsa2048.key:record() } do
        assert.equal("pass", dkim.verify(signed, { key = key })[1].status)
      end
    end)

    it("asks key_lookup for the key by its DNS name", function()
      local asked = {}
      local signed = assert(dkim.sign(PLAIN, { { key = keys.rsa2048.key, domain = D, selector = "r2048" },
        { key = keys.ed25519.key, domain = D, selector = "ed" } }))
      local results = dkim.verify(signed, { key_lookup = function(name)
        asked[#asked + 1] = name
        return records[name]
      end })
      assert.same({ "r2048._domainkey.example.com", "ed._domainkey.example.com" }, asked)
      assert.same({ "pass", "pass" }, support.statuses(results))
    end)

    it("gives permerror when key_lookup finds no key", function()
      local signed = assert(sign(PLAIN, "ed25519"))
      local r = dkim.verify(signed, { key_lookup = function() return nil, "not published" end })[1]
      assert.same({ "permerror", "key_lookup: not published" }, { r.status, r.reason })
    end)

    it("checks only the first max signatures", function()
      local signed = sign_all_ways(PLAIN)
      assert.equal(3, #verify(signed, { max = 3 }))
      assert.equal(8, #verify(signed))
    end)

    it("gives permerror for a revoked key, a key of the wrong type and a malformed record", function()
      local signed = assert(sign(PLAIN, "rsa2048"))
      local function reason_with(record)
        local r = dkim.verify(signed, { key = record })[1]
        assert.equal("permerror", r.status)
        return r.reason
      end
      assert.equal("key record: the key is revoked (empty p=)", reason_with("v=DKIM1; k=rsa; p="))
      assert.equal("the key is not for a=", reason_with(records["ed._domainkey.example.com"]))
      assert.equal("key record: v= is not DKIM1 first", reason_with("k=rsa; v=DKIM1; p=AAAA"))
      assert.equal("key record: p= is not an RSA public key", reason_with("v=DKIM1; p=AAAA"))
      assert.equal("key record: h= does not allow sha256", reason_with("v=DKIM1; h=sha1; " .. records["r2048._domainkey.example.com"]:match("p=.*")))
      assert.equal("key record: a tag given twice", reason_with("v=DKIM1; p=AAAA; p=AAAA"))
    end)

    it("gives permerror for a signature with a 512-bit key", function()
      local small = dir .. "/small.pub"
      os.execute("openssl pkey -in " .. mime.sh_quote(keys.rsa512.path) .. " -pubout -out " .. mime.sh_quote(small))
      local signed = assert(sign(PLAIN, "rsa2048"))
      local r = dkim.verify(signed, { key = mime.read(small) })[1]
      assert.equal("permerror", r.status)
      assert.matches("too small", r.reason)
    end)

    it("honours the key record's t=s: i= may not be a subdomain", function()
      local signed = assert(sign(PLAIN, "ed25519", { identity = "z@mail.example.com" }))
      local record = records["ed._domainkey.example.com"]
      assert.equal("pass", dkim.verify(signed, { key = record })[1].status)
      local r = dkim.verify(signed, { key = record .. "; t=s" })[1]
      assert.equal("permerror", r.status)
      assert.is_true(dkim.verify(signed, { key = record .. "; t=y" })[1].testing)
    end)

    it("gives permerror for malformed signatures, saying why", function()
      local good = assert(dkim.signature(PLAIN, { key = keys.ed25519.key, domain = D, selector = "ed" }))
      local cases = {
        { good:gsub(" bh=", " xh="), "a required tag (v, a, b, bh, d, h, s) is missing" },
        { good:gsub("a=ed25519%-sha256", "a=rsa-sha1"), "rsa-sha1 is not accepted (RFC 8301)" },
        { good:gsub("a=ed25519%-sha256", "a=ed448-sha512"), "unknown algorithm a=" },
        { good:gsub("v=1", "v=2"), "v= is not 1" },
        { good:gsub("h=from:from:", "h=to:"), "h= does not sign From" },
        { good:gsub("c=relaxed/relaxed", "c=relaxed/loose"), "unknown canonicalization c=" },
        { good:gsub("d=example.com", "d=exa mple.com"), "d= is not a domain name" },
        { good:gsub("s=ed;", "s=ed;;"), "malformed signature: empty tag" },
        { good:gsub("s=ed;", "s=ed; s=ed;"), "malformed signature: a tag given twice" },
        { good:gsub("s=ed;", "s=ed; 3x=1;"), "malformed signature: bad tag name" },
        { good:gsub("s=ed;", "s=ed; l=12a;"), "l= is not a number" },
        { good:gsub("s=ed;", "s=ed; i=z@example.net;"), "i= is not in d=" },
        { good:gsub("t=(%d+);", "t=%1; x=1;"), "x= is before t=" },
      }
      for _, c in ipairs(cases) do
        local r = verify(with_field(c[1]))[1]
        assert.same({ "permerror", c[2] }, { r.status, r.reason })
      end
    end)

    it("fails a signature whose l= is longer than the body", function()
      local field = assert(dkim.signature(PLAIN, { key = keys.ed25519.key, domain = D, selector = "ed", body_length = true }))
      local r = verify(field:gsub("l=19;", "l=20;") .. PLAIN)[1]
      assert.same({ "fail", "l= is longer than the body" }, { r.status, r.reason })
    end)

    it("fails a signature whose b= was changed", function()
      local field = assert(dkim.signature(PLAIN, { key = keys.rsa2048.key, domain = D, selector = "r2048" }))
      local b = field:match("b=(%w)")
      local changed = field:gsub(" b=%w", " b=" .. (b == "A" and "B" or "A"))
      local r = verify(changed .. PLAIN)[1]
      assert.same({ "fail", "signature did not verify" }, { r.status, r.reason })
    end)

    it("gives permerror when there is no key and no way to find one", function()
      local signed = assert(sign(PLAIN, "ed25519"))
      local r = dkim.verify(signed, { keys = {}, dns = false })[1]
      assert.same({ "permerror", "no key for ed._domainkey.example.com" }, { r.status, r.reason })
    end)

    it("signs a message with LF line ends as it will be on the wire, with CRLF", function()
      local lf = PLAIN:gsub("\r\n", "\n")
      local signed = assert(dkim.sign(lf, { { key = keys.ed25519.key, domain = D, selector = "ed" },
        { key = keys.rsa2048.key, domain = D, selector = "r2048", canonicalization = "simple/simple" } }))
      local crlf = signed:gsub("\r?\n", "\r\n")
      assert.same({ "pass", "pass" }, support.statuses(verify(crlf)))
      assert.same({ "pass", "pass" }, support.dkimpy_verify(crlf, records, dir))
      assert.same({ "pass", "pass" }, support.statuses(verify(signed)))
    end)
  end)
end)
