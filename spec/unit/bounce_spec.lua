-- mailcast.bounce: the failure taxonomy, the classifier and its rules,
-- and the bounce reader on every labelled sample (spec/support/
-- bounce_samples.lua), on ordinary mail it must leave alone, and on
-- input that is malformed, truncated, nested or huge.
local mailcast = require "mailcast"
local samples = require "support.bounce_samples"

local bounce = mailcast.bounce
local classify = bounce.classify

-- core.classify's permanent flag for a text with the given hint.
local function core_classify_permanent(text, permanent)
  return require("mailcast.core").classify(nil, nil, text, permanent).permanent
end

-- Parses without letting an error escape, and checks the shape.
local function parses(raw)
  local ok, b = pcall(bounce.parse, raw)
  assert(ok, b)
  assert.is_table(b)
  assert.is_string(b.kind)
  assert.is_table(b.recipients)
  return b
end


describe("mailcast.bounce taxonomy", function()
  it("has the reasons of the issue, in order", function()
    local names = {}
    for i, row in ipairs(bounce.taxonomy) do names[i] = row.name end
    assert.same({ "unknown", "user_unknown", "mailbox_full", "mailbox_disabled", "host_unknown",
      "blocked", "spam", "policy", "rate_limited", "message_too_big", "expired", "network",
      "system_error", "content_rejected" }, names)
  end)

  it("makes only the reasons that prove an address bad hard", function()
    local hard = {}
    for _, row in ipairs(bounce.taxonomy) do if row.hard then hard[#hard + 1] = row.name end end
    assert.same({ "user_unknown", "mailbox_disabled", "host_unknown" }, hard)
  end)

  it("names each reason's PowerMTA category and KumoMTA class", function()
    local pmta = { ["bad-mailbox"] = true, ["inactive-mailbox"] = true, ["quota-issues"] = true,
      ["bad-domain"] = true, ["spam-related"] = true, ["policy-related"] = true,
      ["message-expired"] = true, ["bad-connection"] = true, ["bad-configuration"] = true,
      ["content-related"] = true, other = true }
    for _, row in ipairs(bounce.taxonomy) do
      assert.is_true(pmta[row.category], row.name .. ": " .. row.category)
      assert.matches("^%u%a+$", row.kumo)
      assert.is_string(row.summary)
    end
    assert.equal("bad-mailbox", bounce.reasons.user_unknown.category)
    assert.equal("inactive-mailbox", bounce.reasons.mailbox_disabled.category)
    assert.equal("quota-issues", bounce.reasons.mailbox_full.category)
    assert.equal("bad-domain", bounce.reasons.host_unknown.category)
    assert.equal("InvalidRecipient", bounce.reasons.user_unknown.kumo)
  end)

  it("lists its built-in text rules, each with a reason of the taxonomy", function()
    assert.is_true(#bounce.builtin_rules > 100)
    for _, r in ipairs(bounce.builtin_rules) do
      assert.is_string(r[1])
      assert.is_table(bounce.reasons[r[2]], r[1])
    end
  end)
end)


describe("mailcast.bounce.classify", function()
  it("returns the reason with its category, hardness and the rule that decided", function()
    local c = classify { code = 550, enhanced = "5.1.1", text = "The email account that you tried to reach does not exist." }
    assert.same({ reason = "user_unknown", category = "bad-mailbox", kumo = "InvalidRecipient",
      hard = true, permanent = true, rule = "status 5.1.1" }, c)
  end)

  it("lets a status code whose detail is unambiguous decide before the text", function()
    local c = classify { code = 552, enhanced = "5.2.2", text = "blocked by policy" }
    assert.equal("mailbox_full", c.reason)
    assert.equal("status 5.2.2", c.rule)
  end)

  it("reads the text when the status is one receivers use for everything", function()
    local c = classify { code = 550, enhanced = "5.7.1", text = "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org" }
    assert.equal("blocked", c.reason)
    assert.equal('text "spamhaus"', c.rule)
  end)

  it("falls back to what the status's subject means when no text rule matches", function()
    local c = classify { code = 550, enhanced = "5.7.0", text = "go away" }
    assert.equal("policy", c.reason)
    assert.equal("status 5.7.0", c.rule)
  end)

  it("falls back to the reply code last", function()
    local c = classify { code = 552, text = "Requested mail action aborted" }
    assert.equal("mailbox_full", c.reason)
    assert.equal("code 552", c.rule)
    assert.equal("host_unknown", classify({ code = 556, text = "x" }).reason)
  end)

  it("says unknown, permanent and soft for a 5xx nothing explains", function()
    assert.same({ reason = "unknown", category = "other", kumo = "Uncategorized", hard = false,
      permanent = true, rule = "none" }, classify("550 computer says no"))
  end)

  it("never makes a temporary failure hard, even for a hard reason", function()
    local c = classify("450 4.1.1 <a@example.org>: Recipient address rejected: unverified address")
    assert.equal("user_unknown", c.reason)
    assert.is_false(c.permanent)
    assert.is_false(c.hard)
  end)

  it("does not let a temporary 4.2.1 say the mailbox is disabled when the text says rate", function()
    local c = classify { code = 450, enhanced = "4.2.1", text = "The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered." }
    assert.equal("rate_limited", c.reason)
  end)

  it("finds the codes in a reply given as text, continuation lines included", function()
    local c = classify("550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address")
    assert.equal("status 5.1.1", c.rule)
  end)

  it("matches phrases split over folded lines", function()
    local c = classify { code = 550, enhanced = "5.7.1", text = "Our system has detected that this message is suspicious due to the\n    very low\n    reputation of the sending IP address" }
    assert.equal("blocked", c.reason)
  end)

  it("uses the permanent flag only when no code says which it is", function()
    assert.is_false(core_classify_permanent("mailbox full", false))
    assert.is_true(core_classify_permanent("mailbox full", nil))
    assert.is_true(core_classify_permanent("552 mailbox full", false))
  end)

  -- Replies as the big providers and MTAs write them (from their
  -- published error references), and what each must come out as.
  local provider_replies = {
    { "550 5.1.1 The email account that you tried to reach does not exist.", "user_unknown" },
    { "552 5.2.2 The email account that you tried to reach is over quota.", "mailbox_full" },
    { "550 5.2.1 The email account that you tried to reach is disabled.", "mailbox_disabled" },
    { "421 4.7.28 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP address.", "rate_limited" },
    { "550 5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.", "policy" },
    { "421 4.7.0 [192.0.2.1] Our system has detected that this message is suspicious due to the nature of the content and/or the links within.", "spam" },
    { "550 5.7.606 Access denied, banned sending IP [192.0.2.1].", "blocked" },
    { "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).", "blocked" },
    { "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)", "user_unknown" },
    { "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "user_unknown" },
    { "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "user_unknown" },
    { "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints", "rate_limited" },
    { "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in Spamhaus's list", "blocked" },
    { "554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0]", "user_unknown" },
    { "554 delivery error: dd Sorry your message to x@yahoo.com cannot be delivered. This mailbox is disabled (554.30).", "mailbox_disabled" },
    { "554 5.7.9 Message not accepted for policy reasons.", "policy" },
    { "550 5.7.1 Email rejected per DMARC policy for example.com", "policy" },
    { "550 SPF check failed: sender not permitted", "policy" },
    { "552 5.3.4 Message size exceeds fixed limit", "message_too_big" },
    { "552 Message size exceeds maximum permitted", "message_too_big" },
    { "550 5.7.350 Remote server returned message detected as spam", "spam" },
    { "554 5.7.1 The message was rejected because it contains prohibited virus or spam content", "content_rejected" },
    { "451 4.7.1 Greylisting in action, please come back later", "rate_limited" },
    { "421 Too many connections from your IP", "rate_limited" },
    { "550 5.4.4 Host or domain name not found", "host_unknown" },
    { "550 5.1.2 Host unknown (Name server: example.invalid: host not found)", "host_unknown" },
    { "450 4.4.2 Connection timed out", "network" },
    { "530 5.7.0 Must issue a STARTTLS command first", "network" },
    { "554 5.4.6 Hop count exceeded - possible mail loop", "system_error" },
    { "451 4.3.0 Temporary local problem - please try later", "system_error" },
    { "550 5.4.7 Delivery expired (message too old)", "expired" },
    { "552 5.2.3 Message length exceeds administrative limit", "message_too_big" },
    { "550 Relay access denied", "policy" },
    { "550 User is over quota", "mailbox_full" },
    { "550 No such user here", "user_unknown" },
    { "550 Mailbox unavailable or account suspended", "mailbox_disabled" },
    -- A gap in a rule may be empty: "mailbox * full" reads "mailbox full".
    { "552 Message exceeds maximum message size", "message_too_big" },
    { "550 Mailbox disabled for this recipient", "mailbox_disabled" },
    -- A refused sender, and Exim's "Bad SPF", are blocks of the sender.
    { "553 5.1.8 <bounces@news.example.com>: Sender address rejected: Domain not found", "blocked" },
    { "550 5.7.1 Bad SPF for 192.0.2.10: news.example.com is not allowed to send", "blocked" },
    { "550 User taro (taro@example.co.jp) not listed in Domino Directory", "user_unknown" },
    -- Other languages, as providers write them (after conversion to UTF-8).
    { "550 Der Empfänger ist unbekannt", "user_unknown" },
    { "552 Das Postfach des Empfängers ist voll", "mailbox_full" },
    { "550 Adresse électronique inconnue", "user_unknown" },
    { "552 La boîte aux lettres du destinataire est pleine", "mailbox_full" },
    { "550 El usuario no existe", "user_unknown" },
    { "554 Mensaje rechazado por ser correo no deseado", "spam" },
    { "552 A caixa postal do destinatário está cheia", "mailbox_full" },
    { "550 ПОЛЬЗОВАТЕЛЬ НЕ НАЙДЕН", "user_unknown" },
    { "552 Почтовый ящик переполнен", "mailbox_full" },
    { "550 收件人不存在", "user_unknown" },
    { "554 邮件被识别为垃圾邮件", "spam" },
    { "550 宛先のメールアドレスは存在しません", "user_unknown" },
    { "552 メールボックスの容量がいっぱいです", "mailbox_full" },
    { "550 Utente sconosciuto", "user_unknown" },
    { "552 De postvak van de ontvanger is vol", "mailbox_full" },
    { "550 Почтовый ящик заблокирован", "mailbox_disabled" },
    { "550 该用户名不存在", "user_unknown" },
    { "550 域名不存在", "host_unknown" },
    { "552 Le message est trop volumineux", "message_too_big" },
  }
  for _, case in ipairs(provider_replies) do
    it("classifies \"" .. case[1]:sub(1, 60) .. "\" as " .. case[2], function()
      assert.equal(case[2], classify(case[1]).reason)
    end)
  end

  it("accepts the reply tables sessions and send results give", function()
    local c = classify { code = 550, enhanced = "5.1.1", text = "No such user", status = "failed" }
    assert.equal("user_unknown", c.reason)
  end)

  it("raises on something that is not a reply", function()
    assert.has_error(function() classify(42) end)
  end)
end)


describe("mailcast.bounce.classify extended from Lua", function()
  after_each(function()
    bounce.rules = {}
    bounce.hook = nil
  end)

  it("tries a call's own rules before every other rule", function()
    local c = classify({ code = 550, enhanced = "5.1.1", text = "Mailbox frozen by the admin" },
      { { "frozen", "mailbox_disabled" } })
    assert.equal("mailbox_disabled", c.reason)
    assert.equal("inactive-mailbox", c.category)
    assert.is_true(c.hard)
    assert.equal('script "frozen"', c.rule)
  end)

  it("matches a rule's Lua pattern against the text in any case", function()
    local c = classify("550 Computer Says NO", { { pattern = "computer says %a+", reason = "policy" } })
    assert.equal("policy", c.reason)
  end)

  it("uses the script-wide rules after a call's own", function()
    bounce.rules[1] = { "says no", "blocked" }
    assert.equal("blocked", classify("550 computer says no").reason)
    assert.equal("spam", classify("550 computer says no", { { "computer", "spam" } }).reason)
  end)

  it("lets a hook override the result, seeing the reply and the result", function()
    local seen
    local reply = { code = 550, enhanced = "5.7.1", text = "blocked using zen.spamhaus.org" }
    local c = classify(reply, function(r, result)
      seen = { r.code, r.enhanced, r.text, result.reason }
      return "policy"
    end)
    assert.same({ 550, "5.7.1", "blocked using zen.spamhaus.org", "blocked" }, seen)
    assert.equal("policy", c.reason)
    assert.equal("hook", c.rule)
  end)

  it("keeps the result when the hook returns nil", function()
    bounce.hook = function() return nil end
    assert.equal("user_unknown", classify("550 5.1.1 no such user").reason)
  end)

  it("keeps a temporary failure soft whatever reason a rule gives", function()
    local c = classify("450 try later, user gone", { { "user gone", "user_unknown" } })
    assert.equal("user_unknown", c.reason)
    assert.is_false(c.hard)
  end)

  it("takes {rules=, classify=} together", function()
    local c = classify("550 x", { rules = { { "nomatch", "spam" } }, classify = function() return "network" end })
    assert.equal("network", c.reason)
  end)

  it("raises on a reason that is not in the taxonomy", function()
    assert.has_error(function() classify("550 x", { { "x", "no_such_reason" } }) end)
    assert.has_error(function() classify("550 x", function() return "bogus" end) end)
  end)
end)


describe("mailcast.bounce.parse on labelled samples", function()
  for i, s in ipairs(samples.samples) do
    it("reads " .. s.name .. " as " .. s.expect.kind .. " with its recipients and reasons", function()
      local raw, expect = samples.render(s, samples.vars(i))
      local b = parses(raw)
      assert.equal(expect.kind, b.kind)
      assert.equal(#expect.recipients, #b.recipients)
      for j, want in ipairs(expect.recipients) do
        local got = b.recipients[j]
        for k, v in pairs(want) do
          assert.equal(v, got[k], string.format("recipient %d: %s (rule %s)", j, k, tostring(got.rule)))
        end
        if want.reason and want.reason ~= "complaint" then
          assert.equal(bounce.reasons[want.reason].category, got.category)
        end
      end
      for _, k in ipairs { "verp", "message_id", "feedback_type", "source_ip", "original_mail_from", "reporting_mta" } do
        if expect[k] then assert.equal(expect[k], b[k], k) end
      end
      if expect.headers then assert.same(expect.headers, b.headers) end
    end)
  end
end)


describe("mailcast.bounce.parse", function()
  local function render(name, i)
    return samples.render(samples.get(name), samples.vars(i or 7))
  end

  it("gives the notice's own reason from its first failed recipient", function()
    local b = parses((render("rfc3464_multi")))
    assert.equal("user_unknown", b.reason)
    assert.is_true(b.hard)
    assert.matches("registered gateway user", b.diagnostic)
  end)

  it("reads an HTML-only notice with its character references decoded and <pre> not a paragraph", function()
    local b = parses(table.concat({
      "From: Mail Delivery System <MAILER-DAEMON@mail.example.net>",
      "To: news@news.example.com",
      "Subject: Undeliverable: November news",
      "MIME-Version: 1.0",
      "Content-Type: text/html; charset=us-ascii",
      "",
      "<html><body><p>Your message to <b>reader7&#64;example.org</b> couldn&#39;t be delivered.</p>",
      "<pre>550 5.1.1 &lt;reader7&#x40;example.org&gt;: User unknown</pre></body></html>",
      "" }, "\r\n"))
    assert.equal("reader7@example.org", b.recipients[1] and b.recipients[1].address)
    assert.equal("user_unknown", b.reason)
    assert.equal("Your message to reader7@example.org couldn't be delivered.\n"
      .. "550 5.1.1 <reader7@example.org>: User unknown", b.diagnostic)
  end)

  it("takes the VERP tag from the envelope recipient the bounce came to", function()
    local raw = render("qmail_unknown", 41)
    assert.equal("r000041", parses(raw).verp)
  end)

  it("finds the returned message's Message-ID and our headers in a text bounce's copy", function()
    local b = parses((render("exim_unknown", 5)))
    assert.equal("<r000005.nov@news.example.com>", b.message_id)
    assert.same({ ["x-mailcast-campaign"] = "november", ["x-mailcast-recipient"] = "r000005" }, b.headers)
  end)

  it("gives an auto-reply's In-Reply-To as the message id and names no recipient", function()
    local b = parses((render("vacation_rfc3834", 3)))
    assert.equal("autoreply", b.kind)
    assert.equal("<r000003.nov@news.example.com>", b.message_id)
    assert.is_nil(b.reason)
  end)

  it("reports a success DSN's recipients without a reason", function()
    local raw = render("gmail_not_found"):gsub("Action: failed", "Action: delivered"):gsub("Status: 5.1.1", "Status: 2.0.0")
    local b = parses(raw)
    assert.equal("dsn", b.kind)
    assert.equal("delivered", b.recipients[1].action)
    assert.is_nil(b.recipients[1].reason)
  end)

  it("reads the same message with LF and with CRLF line ends alike", function()
    local lf = render("sendmail_rbl")
    local crlf = lf:gsub("\n", "\r\n")
    local a, b = parses(lf), parses(crlf)
    assert.equal(a.recipients[1].address, b.recipients[1].address)
    assert.equal(a.recipients[1].reason, b.recipients[1].reason)
    assert.equal(a.message_id, b.message_id)
  end)

  it("decodes RFC 3461 xtext and RFC 6533 escapes in recipient fields", function()
    local raw = render("gmail_not_found")
      :gsub("Final%-Recipient: rfc822; [^\n]+", "Final-Recipient: utf-8; j\\x{00F6}rg@example.org")
      :gsub("Status: 5.1.1\n", "Status: 5.1.1\nOriginal-Recipient: rfc822;a+2Bb@example.org\n", 1)
    local r = parses(raw).recipients[1]
    assert.equal("jörg@example.org", r.address)
    assert.equal("a+b@example.org", r.original)
  end)

  it("applies a script's rules to every failed recipient", function()
    local b = bounce.parse((render("exim_retry_timeout")), { { "retry timeout", "network" } })
    assert.equal("network", b.recipients[1].reason)
    assert.equal("network", b.reason)
  end)

  it("separates recipients of a report that leaves out the blank lines", function()
    local raw = table.concat({
      "From: MAILER-DAEMON@x.example", "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
      "", "--b", "Content-Type: message/delivery-status", "",
      "Reporting-MTA: dns; x.example",
      "Final-Recipient: rfc822; a@example.org", "Action: failed", "Status: 5.1.1",
      "Final-Recipient: rfc822; b@example.org", "Action: failed", "Status: 5.2.2", "--b--", "" }, "\n")
    local b = parses(raw)
    assert.equal(2, #b.recipients)
    assert.same({ "user_unknown", "mailbox_full" }, { b.recipients[1].reason, b.recipients[2].reason })
  end)

  it("takes a bracketed auto-reply tag for an auto-reply and another tag for nothing", function()
    local function kind(subject)
      return parses("From: Ann <ann@example.org>\nTo: news@news.example.com\nSubject: " .. subject .. "\n\nHello\n").kind
    end
    assert.equal("autoreply", kind("[Auto-Reply] Your November news"))
    assert.equal("autoreply", kind("[External] Out of Office: back Monday"))
    assert.equal("none", kind("[Autobahn] New routes for November"))
  end)

  it("does not take a person's mail with bounce words for a bounce, even with an empty Return-Path", function()
    local raw = "Return-Path: <>\nFrom: Ann <ann@example.org>\nSubject: Re: your question\n\n" ..
      "It could not be delivered, this is a permanent error, she said.\n"
    assert.equal("none", parses(raw).kind)
  end)

  it("raises when given something other than a string", function()
    assert.has_error(function() bounce.parse(nil) end)
  end)
end)


describe("mailcast.bounce.parse on hostile input", function()
  it("reads every sample cut short at any of many points without failing", function()
    for i, s in ipairs(samples.samples) do
      local raw = samples.render(s, samples.vars(i))
      for cut = 0, #raw, 37 do parses(raw:sub(1, cut)) end
    end
  end)

  it("never takes a truncated ordinary message for a bounce", function()
    for _, name in ipairs { "newsletter", "reply_quoting_bounce", "forwarded_bounce", "out_of_office_plans", "postmaster_notice" } do
      local raw = samples.render(samples.get(name), samples.vars(1))
      for cut = 0, #raw, 11 do
        local kind = parses(raw:sub(1, cut)).kind
        assert.is_true(kind == "none", name .. " cut at " .. cut .. " read as " .. kind)
      end
    end
  end)

  it("reads a 64 KB line of addresses in a sentence in linear time", function()
    -- Every address once looked for the line's failure word again: such
    -- a line took about a second.
    for _, phrase in ipairs { "delivered to a@b.cc ", "message to a@b.cc " } do
      local raw = "From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        .. "Content-Type: text/plain\r\n\r\n" .. phrase:rep(65536 // #phrase) .. "\r\n"
      local t0 = os.clock()
      parses(raw)
      assert.is_true(os.clock() - t0 < 0.25, string.format("%s...: %.2f s of CPU", phrase, os.clock() - t0))
    end
  end)

  it("survives empty input, binary noise and a lone header", function()
    assert.equal("none", parses("").kind)
    assert.equal("none", parses("\0\1\2\255\254\r\n\r\n\0").kind)
    assert.equal("none", parses("Content-Type: multipart/report; boundary=").kind)
    local noise = {}
    math.randomseed(6)
    for i = 1, 20000 do noise[i] = string.char(math.random(0, 255)) end
    parses(table.concat(noise))
  end)

  it("bounds deeply nested multiparts", function()
    local parts = {}
    for i = 1, 300 do
      parts[#parts + 1] = "Content-Type: multipart/mixed; boundary=b" .. i .. "\n\n--b" .. i .. "\n"
    end
    parts[#parts + 1] = "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n"
    local b = parses(table.concat(parts))
    assert.equal("none", b.kind)   -- the report is deeper than a report is ever nested
  end)

  it("bounds nested returned messages", function()
    local raw = "Subject: x\n\n"
    for _ = 1, 100 do raw = "Content-Type: message/rfc822\n\n" .. raw end
    parses(raw)
  end)

  it("reads only the head of a huge message and still finds the report", function()
    local raw = samples.render(samples.get("gmail_not_found"), samples.vars(2))
    raw = raw:gsub("Hello,\n", "Hello,\n" .. string.rep("padding line of the original body\n", 200000), 1)
    assert.is_true(#raw > 6 * 1024 * 1024)
    local b = parses(raw)
    assert.equal("dsn", b.kind)
    assert.equal("user_unknown", b.recipients[1].reason)
  end)

  it("keeps at most 1000 recipients and bounded diagnostics", function()
    local lines = { "From: MAILER-DAEMON@x.example", "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
      "", "--b", "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; x.example", "" }
    for i = 1, 1500 do
      local diag = string.rep("x", i == 1 and 5000 or 20)
      lines[#lines + 1] = "Final-Recipient: rfc822; u" .. i .. "@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 " .. diag .. "\n"
    end
    local b = parses(table.concat(lines, "\n"))
    assert.equal(1000, #b.recipients)
    assert.is_true(#b.recipients[1].diagnostic <= 2048)
  end)

  it("does not take a bounce's own addresses for recipients", function()
    local raw = table.concat({ "From: MAILER-DAEMON@mx.example.org", "To: bounces+t1@news.example.com",
      "Subject: Undelivered Mail Returned to Sender", "", "This is a permanent error.", "",
      "bounces+t1@news.example.com", "postmaster@mx.example.org", "<gone@example.org>:", "550 5.1.1 no such user", "" }, "\n")
    local b = parses(raw)
    assert.equal(1, #b.recipients)
    assert.equal("gone@example.org", b.recipients[1].address)
  end)
end)


describe("mailcast.bounce.parse when a bounce's words fit no known shape", function()
  local function notice(body, extra)
    return table.concat({ "From: Mail Delivery System <MAILER-DAEMON@mx.example.de>", "To: bounces+t2@news.example.com",
      "Subject: Unzustellbar", extra or "X-Nothing: 1", "", body, "" }, "\n")
  end

  it("takes the one address the words name", function()
    local b = assert(bounce.parse(notice("Ihre Nachricht an <anna@example.de> konnte nicht zugestellt werden.\nDas Postfach existiert nicht.")))
    assert.equal("bounce", b.kind)
    assert.equal(1, #b.recipients)
    assert.equal("anna@example.de", b.recipients[1].address)
    assert.equal("user_unknown", b.recipients[1].reason)
  end)

  it("guesses nobody when the words name two addresses", function()
    local b = assert(bounce.parse(notice("Ihre Nachricht an <anna@example.de> konnte nicht zugestellt werden.\n" ..
      "Bei Fragen: hilfe@isp.example.de, Postfach existiert nicht.")))
    assert.equal("bounce", b.kind)
    assert.equal(0, #b.recipients)
    assert.equal("user_unknown", b.reason)
  end)

  it("takes a notice from a provider's own address when it says it was sent automatically", function()
    local body = { "From: Example Mail <notices@mail.example.net>", "Subject: Undeliverable: your message",
      "Return-Path: <notices@mail.example.net>", "", "Your message could not be delivered to <sam@example.net>:",
      "the mailbox does not exist.", "" }
    assert.equal("none", assert(bounce.parse(table.concat(body, "\n"))).kind)
    table.insert(body, 2, "Auto-Submitted: auto-replied")
    local b = assert(bounce.parse(table.concat(body, "\n")))
    assert.equal("bounce", b.kind)
    assert.equal("sam@example.net", b.recipients[1].address)
    assert.equal("user_unknown", b.recipients[1].reason)
  end)

  it("takes the subject's one address before an address of the words", function()
    local b = assert(bounce.parse(table.concat({ "From: Mail Delivery System <mailer-daemon@mx.example.co.uk>",
      "Subject: Undeliverable: ruth@example.co.uk", "", "We could not deliver your message.", "",
      "Questions? Write to desk@example.co.uk.", "" }, "\n")))
    assert.equal(1, #b.recipients)
    assert.equal("ruth@example.co.uk", b.recipients[1].address)
  end)

  it("never takes a help address for the recipient", function()
    local b = assert(bounce.parse(notice("Zustellung fehlgeschlagen: konnte nicht zugestellt werden.\nHilfe: help@isp.example.de")))
    assert.equal("bounce", b.kind)
    assert.equal(0, #b.recipients)
  end)

  it("never takes an address from a quoted header field such as Errors-To", function()
    local b = assert(bounce.parse(notice("Zustellung fehlgeschlagen: konnte nicht zugestellt werden.\nErrors-To: owner@list.example.de\nFrom: news@news.example.com")))
    assert.equal("bounce", b.kind)
    assert.equal(0, #b.recipients)
  end)

  it("takes a Lotus Domino recipient on the line after 'was not delivered to:'", function()
    local b = assert(bounce.parse(table.concat({ "From: Postmaster@notes.example.com", "To: bounces+t3@news.example.com",
      "Subject: DELIVERY FAILURE: User not listed", "", "Your message", "", "  Subject: News", "", "was not delivered to:", "",
      "  kai@notes.example.com", "", "because:", "", "  User kai (kai@notes.example.com) not listed in Domino Directory", "" }, "\n")))
    assert.equal(1, #b.recipients)
    assert.equal("kai@notes.example.com", b.recipients[1].address)
    assert.equal("user_unknown", b.recipients[1].reason)
  end)

  it("reads a notice whose lines end in CR alone", function()
    local raw = (("From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n\n" ..
      "I'm afraid I wasn't able to deliver your message to the following addresses.\n" ..
      "This is a permanent error; I've given up.\n\n<cr@example.net>:\nSorry, no mailbox here by that name. (#5.1.1)\n"):gsub("\n", "\r"))
    local b = assert(bounce.parse(raw))
    assert.equal(1, #b.recipients)
    assert.equal("cr@example.net", b.recipients[1].address)
    assert.equal("user_unknown", b.recipients[1].reason)
  end)

  it("converts a text part with a stray byte, the rest still read", function()
    local sjis = "\255\131\129\129\91\131\139\131\123\131\98\131\78\131\88\130\204\151\101\151\202" ..
      "\130\170\130\162\130\193\130\207\130\162\130\197\130\183\129\66"
    local b = assert(bounce.parse(table.concat({ "From: MAILER-DAEMON@mail.example.jp", "Subject: Returned mail",
      "Content-Type: text/plain; charset=Shift_JIS", "", "<hanako@example.jp>:", sjis, "" }, "\n")))
    assert.equal(1, #b.recipients)
    assert.equal("mailbox_full", b.recipients[1].reason)
  end)

  it("reads 8-bit text labelled us-ascii as Windows Latin-1", function()
    local b = assert(bounce.parse(table.concat({ "From: MAILER-DAEMON@mx.example.de", "Subject: Unzustellbar",
      "Content-Type: text/plain; charset=us-ascii", "", "<voll@example.de>:", "Das Postfach ist \252berf\252llt.", "" }, "\n")))
    assert.equal("mailbox_full", b.recipients[1].reason)
  end)

  it("converts a text part from its charset before reading it", function()
    local latin1 = "Das Postfach des Empf\228ngers ist voll."
    local b = assert(bounce.parse(table.concat({ "From: MAILER-DAEMON@mx.example.de", "Subject: Unzustellbar",
      "Content-Type: text/plain; charset=iso-8859-1", "", "<voll@example.de>:", latin1, "" }, "\n")))
    assert.equal(1, #b.recipients)
    assert.equal("mailbox_full", b.recipients[1].reason)
    assert.matches("Empfängers", b.recipients[1].diagnostic)
  end)
end)


describe("mailcast.bounce.parse on report fields as MTAs write them", function()
  local function report(fields)
    return table.concat({ "From: MAILER-DAEMON@mx.example.org", "Subject: Undelivered Mail Returned to Sender",
      "Content-Type: multipart/report; report-type=delivery-status; boundary=b", "", "--b",
      "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; mx.example.org", "", fields, "", "--b--", "" }, "\n")
  end

  it("takes an Original-Recipient address over a Final-Recipient that is none", function()
    local b = assert(bounce.parse(report("Original-Recipient: rfc822;lena@example.org\n" ..
      "Final-Recipient: LOCAL;lena\nAction: failed\nStatus: 5.1.1")))
    assert.equal("lena@example.org", b.recipients[1].address)
    assert.equal("lena", b.recipients[1].original)
  end)

  it("drops a comment after the address", function()
    local b = assert(bounce.parse(report("Final-Recipient: rfc822; max@example.org (Max Muster)\nAction: failed\nStatus: 5.1.1")))
    assert.equal("max@example.org", b.recipients[1].address)
  end)
end)
