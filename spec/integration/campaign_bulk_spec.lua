-- A campaign sent as bulk mail should be: tracked links and an open
-- pixel, a one-click unsubscribe, Feedback-ID, and a DKIM signature that
-- an independent verifier (dkimpy) accepts on what the server stored.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local dkim_support = require "support.dkim"

local q = mime.sh_quote
local SECRET = "a tracking secret of some length"

describe("a campaign with tracking, unsubscribe and DKIM", function()
  local dir, sink
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("")
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  it("rewrites the links, adds the pixel and List-Unsubscribe, and signs what the server stores", function()
    local key_path = dir .. "/ed.pem"
    local out, code = helper.sh("openssl genpkey -algorithm ed25519 -out " .. q(key_path))
    assert.equal(0, code, out)
    mime.write(dir .. "/campaign.lua", string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = "bulk", from = "News <news@example.com>", subject = "Hello {{name}}",
  text = "Hello {{name}}, read https://example.com/news\nLeave: {{unsubscribe_url}}\n",
  html = [=[<html><body><p>Hello {{name}}</p>
<a href="https://example.com/news?a=1&amp;b=2">News</a>
<a href="mailto:help@example.com">Help</a>
<a href="{{unsubscribe_url}}">Unsubscribe</a>
</body></html>]=],
  recipients = { { email = "anna@example.net", name = "Anna" } },
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  track = { base = "https://t.example.com", secret = %q },
  unsubscribe = { mailto = "leave@example.com" },
  feedback_id = "nov:newsletter:example",
  dkim = { key = %q, domain = "example.com", selector = "s1" },
}
]], sink.port, SECRET, key_path))
    out, code = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/campaign.lua"))
    assert.equal(0, code, out)
    local files = sink.files()
    assert.equal(1, #files)
    local raw = files[1]
    local msg = mailcast.parse(raw)
    local function field(name)
      for _, h in ipairs(msg.headers) do if h.name:lower() == name:lower() then return h.value end end
    end
    -- One-click unsubscribe (RFC 8058) with the mailto as well.
    local lu = assert(field("List-Unsubscribe"))
    local unsubscribe_url = lu:match("<(https://t%.example%.com/u/[^>]+)>")
    assert.is_string(unsubscribe_url, lu)
    assert.matches("<mailto:leave@example.com?subject=unsubscribe>", lu, 1, true)
    assert.equal("List-Unsubscribe=One-Click", field("List-Unsubscribe-Post"))
    assert.equal("nov:newsletter:example", field("Feedback-ID"))
    local u = assert(mailcast.track.check(unsubscribe_url:match("/u/(.+)$"), SECRET))
    assert.equal("unsubscribe", u.kind)

    -- The HTML: the web link tracked, mailto and unsubscribe left alone, a pixel.
    local html, text
    local function walk(e)
      if e.content_type == "text/html" then html = e.body elseif e.content_type == "text/plain" then text = e.body end
      for _, p in ipairs(e.parts or {}) do walk(p) end
    end
    walk(msg)
    local click = html:match('href="https://t%.example%.com/c/([^"]+)"')
    assert.is_string(click, html)
    local c = assert(mailcast.track.check(click, SECRET))
    assert.same({ "click", u.campaign, u.recipient }, { c.kind, c.campaign, c.recipient })
    assert.matches('href="mailto:help@example.com"', html, 1, true)
    assert.matches('href="' .. unsubscribe_url .. '"', html, 1, true)
    assert.matches('<img src="https://t%.example%.com/o/[^"]+"', html)
    -- The text part keeps its links readable (track.text was not asked for).
    assert.matches("https://example.com/news", text, 1, true)

    -- dkimpy accepts the signature on what the server stored.
    local key = assert(mailcast.dkim.key(key_path))
    local results = dkim_support.dkimpy_verify(raw, { ["s1._domainkey.example.com"] = key:record() }, dir)
    assert.same({ "pass" }, results)
  end)
end)
