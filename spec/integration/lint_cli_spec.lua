-- `mailcast lint` as a CI job runs it: which recipient it renders, its
-- exit status, its JSON. Spam filters and DNS are left out here
-- (lint_spam_spec, lint_dns_spec).
local campaigns = require "support.campaign_scripts"
local json = require "mailcast.json_decode"
local mime = require "support.mime"

local dir

setup(function() dir = mime.tmpdir() end)
teardown(function() mime.rmdir(dir) end)

local function script(name, fields)
  return campaigns.write(dir, name, [[
  from = "The Shop <news@shop.example.com>",
  recipients = { { email = "ada@example.org", name = "Ada" }, { email = "bob@example.org", name = "Bob" } },
  route = { host = "127.0.0.1", port = 9 },
  unsubscribe = { base = "https://shop.example.com", secret = "0123456789abcdef0123" },
]] .. fields)
end

local function lint(args)
  return campaigns.run("lint " .. args .. " --no-spam --no-dns")
end

local CLEAN = [[
  subject = "Our spring range is out, {{name}}",
  text = "Hello {{name}},\n\nOur spring range is out: wool coats, linen shirts and boots for the rain.\n",
  html = "<p>Hello {{name}},</p><p>Our spring range is out: wool coats, linen shirts and boots for the rain. " ..
    "<a href=\"https://shop.example.com/spring\">See it</a>.</p>",
]]

describe("mailcast lint on the command line", function()
  it("exits 0 for a clean message and says there are no findings", function()
    local out, code = lint(mime.sh_quote(script("clean", CLEAN)))
    assert.are.equal(0, code, out)
    assert.matches("recipient 1 (ada@example.org)", out, 1, true)
    assert.matches("no findings", out, 1, true)
    assert.matches("0 errors, 0 warnings, 0 notes", out, 1, true)
  end)

  it("renders the recipient asked for, by row or by address", function()
    local path = mime.sh_quote(script("pick", CLEAN))
    assert.matches("recipient 2 (bob@example.org)", (lint(path .. " --recipient 2")), 1, true)
    assert.matches("recipient 2 (bob@example.org)", (lint(path .. " --address BOB@example.org")), 1, true)
    local out, code = lint(path .. " --address nobody@example.org")
    assert.are.equal(1, code)
    assert.matches("no recipient nobody@example.org in the list", out, 1, true)
  end)

  it("exits 1 on an error, with every finding and its fix in the JSON", function()
    local out, code = lint(mime.sh_quote(script("bad", [[
  subject = "BUY NOW AND SAVE!!!",
  html = "<p><a href=\"http://bit.ly/x\">www.bank.example</a></p><img src=\"cid:missing\">",
]])) .. " --json")
    assert.are.equal(1, code, out)
    local report = assert(json.decode(out))
    local by = {}
    for _, f in ipairs(report.findings) do
      by[f.check] = f
      assert.is_string(f.fix)
    end
    for _, check in ipairs({ "subject.caps", "subject.punctuation", "link.http", "link.shortener", "link.mismatch",
                             "cid.unresolved", "text.missing", "img.alt" }) do
      assert.is_truthy(by[check], check .. " in " .. out)
    end
    assert.are.equal("error", by["link.mismatch"].severity)
    assert.is_true(report.counts.error >= 2)
    assert.matches('"checks":{}', out, 1, true)   -- no section ran: an empty object, not a list
  end)

  it("reports each relative link of html_file's page that stays relative, naming the page, with base_url as fix",
    function()
    mime.write(dir .. "/page.html", [[<p>Our spring range is out: wool coats, linen shirts and boots for the rain.</p>]]
      .. [[<p><a href="about.html">About us</a> and <a href="shop/coats.html?c=1">coats</a>, ]]
      .. [[<a href="https://shop.example.com/spring">spring</a></p>]])
    local fields = [[
  subject = "Our spring range is out, {{name}}",
  html_file = "page.html",
]]
    local out, code = lint(mime.sh_quote(script("page", fields)) .. " --json")
    assert.are.equal(1, code, out)
    local report = assert(json.decode(out))
    local relative, malformed = {}, 0
    for _, f in ipairs(report.findings) do
      if f.check == "page.relative_link" then
        relative[#relative + 1] = f.message
        assert.are.equal("error", f.severity)
        assert.matches("set base_url", f.fix, 1, true)
      elseif f.check == "link.malformed" then
        malformed = malformed + 1
      end
    end
    assert.same({ "page.html: the relative link 'about.html' leads nowhere in a mail",
                  "page.html: the relative link 'shop/coats.html?c=1' leads nowhere in a mail" }, relative)
    assert.are.equal(0, malformed, out)   -- said once, as the page's
    out = lint(mime.sh_quote(script("page_base", fields .. '  base_url = "https://shop.example.com/spring/",\n')))
    assert.is_nil(out:find("page.relative_link", 1, true), out)
    assert.is_nil(out:find("link.malformed", 1, true), out)
  end)

  it("reports the relative links of an A/B test variant's page too, naming that page", function()
    mime.write(dir .. "/plain.html", [[<p>Spring is here: <a href="https://shop.example.com/spring">see it</a>.</p>]])
    mime.write(dir .. "/other.html", [[<p>Spring is here: <a href="range.html">see the range</a>.</p>]])
    local out, code = lint(mime.sh_quote(script("variant_page", [[
  subject = "Our spring range is out, {{name}}",
  html_file = "plain.html", base_url = "https://shop.example.com/",
  variants = { { subject = "Spring, {{name}}" }, { label = "page", html_file = "other.html" } },
]])) .. " --json")
    assert.are.equal(1, code, out)
    local relative = {}
    for _, f in ipairs(assert(json.decode(out)).findings) do
      if f.check == "page.relative_link" then relative[#relative + 1] = f.message end
    end
    assert.same({ "other.html: the relative link 'range.html' leads nowhere in a mail" }, relative)
  end)

  describe("--sample N", function()
    -- 40 rows: the last ten shout in their subject, row 38 has no address.
    local function sampled()
      return script("sampled", [[
  subject = "{{subject}}",
  text = "Hello {{name}},\n\nOur spring range is out: wool coats, linen shirts and boots for the rain.\n",
  recipients = (function()
    local list = {}
    for i = 1, 40 do
      list[i] = { email = "user" .. i .. "@example.org", name = "User " .. i,
                  subject = i > 30 and "FREE COATS FOR YOU NOW!!!" or "Our spring range is out" }
    end
    list[38].email = "nobody"
    return list
  end)(),
]])
    end

    it("lints recipients spread over the list and says which each finding applies to", function()
      local out, code = lint(mime.sh_quote(sampled()) .. " --sample 4")
      assert.are.equal(0, code, out)   -- (the rows with an error are not among these four)
      assert.matches("a sample of 4 of 40 recipients (rows 1, 11, 21, 31)", out, 1, true)
      assert.matches("subject.punctuation", out, 1, true)
      assert.matches("in 1 of 4: user31@example.org (row 31)", out, 1, true)
    end)

    it("reports each finding once, with its count and its first recipients, in the JSON", function()
      local out, code = lint(mime.sh_quote(sampled()) .. " --sample 40 --json")
      assert.are.equal(1, code, out)
      local report = assert(json.decode(out))
      assert.are.equal(40, #report.sample)
      assert.are.equal(40, report.rows)
      local by = {}
      for _, f in ipairs(report.findings) do
        assert.is_nil(by[f.check .. f.message], "one entry per finding: " .. f.check)
        by[f.check .. f.message] = f
        by[f.check] = f
      end
      local shout = by["subject.punctuation"]
      assert.are.equal(9, shout.count)   -- rows 31 to 40 but the one that cannot be rendered
      assert.same({ "user31@example.org (row 31)", "user32@example.org (row 32)", "user33@example.org (row 33)" },
        shout.recipients)
      assert.are.equal("error", by.render.severity)
      assert.are.equal(1, by.render.count)
      assert.matches("(row 38)", by.render.recipients[1], 1, true)
    end)

    it("is a number, and not given with --recipient", function()
      local path = mime.sh_quote(sampled())
      local out, code = lint(path .. " --sample none")
      assert.are.equal(2, code)
      assert.matches("--sample wants a number", out, 1, true)
      out, code = lint(path .. " --sample 3 --recipient 2")
      assert.are.equal(2, code)
      assert.matches("not with --recipient", out, 1, true)
    end)
  end)

  it("refuses a bad command line with its usage and status 2", function()
    local out, code = lint("--frobnicate")
    assert.are.equal(2, code)
    assert.matches("usage: mailcast lint", out, 1, true)
  end)
end)
