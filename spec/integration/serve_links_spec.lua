-- Clicks go to the link as it was rendered for the recipient who clicked:
-- a campaign whose HTML has a personalised link ({{id}} in the href), a
-- plain one and a section repeated over a per-recipient list, sent to the
-- built-in sink, then clicked through `mailcast serve` on 127.0.0.1. In
-- aggregate mode (no recipient in a token) a link unlike the campaign's
-- is left untracked, so nobody is sent to someone else's URL.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"

local q = mime.sh_quote
local serve = require "support.serve"
local SECRET = serve.SECRET

-- `mailcast serve` on a free port of 127.0.0.1 next to store (with the
-- tracking secret of support.serve): {port=, request(method, path) ->
-- code, body, headers (redirects not followed), stop() -> its output}.
local function start_serve(dir, store)
  local port, pid = serve.start(dir, store, "--quiet")
  local srv = { port = port, pid = pid }
  function srv.request(method, path) return serve.request(port, method, path) end
  function srv.stop()
    if not srv.pid then return "" end
    assert(serve.stop(srv.pid), "mailcast serve did not stop on SIGTERM")
    srv.pid = nil
    return serve.try_read(dir .. "/serve.out") or ""
  end
  return srv
end

local function campaign_script(name, port, mode, more)
  return string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = %q, from = "News <news@example.com>", subject = "%s {{name}}",
  text = "Hello {{name}}\n",
  html = [=[<html><body><p>Hello {{name}}</p>
<a href="https://shop.example/account?u={{id}}">Account</a>
<a href="https://example.com/news">News</a>
{{#picks}}<a href="{{url}}">{{title}}</a>
{{/picks}}</body></html>]=],
  recipients = { { email = "anna@example.net", name = "Anna", id = "17" },
                 { email = "bob@example.net", name = "Bob", id = "42" }, %s },
  personalize = function(address, vars)
    if vars.name == "Anna" then
      vars.picks = { { url = "https://shop.example/p/1", title = "One" },
                     { url = "https://shop.example/p/2", title = "Two" } }
    else
      vars.picks = { { url = "https://shop.example/p/3", title = "Three" } }
    end
  end,
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  track = { base = "https://t.example.com", secret = %q, mode = %q },
}
]], name, name, more or "", port, SECRET, mode)
end

-- The HTML each recipient got in a campaign (by subject prefix): by
-- address, {html=, clicks = {token...}}.
local function sent(sink, subject)
  local out = {}
  for _, raw in ipairs(sink.files()) do
    local msg = mailcast.parse(raw)
    local to, subj, html
    for _, h in ipairs(msg.headers) do
      local n = h.name:lower()
      if n == "to" then to = h.value elseif n == "subject" then subj = h.value end
    end
    local function walk(e)
      if e.content_type == "text/html" then html = e.body end
      for _, p in ipairs(e.parts or {}) do walk(p) end
    end
    walk(msg)
    if subj:find(subject, 1, true) == 1 then
      local t = { html = html, clicks = {} }
      for tok in html:gmatch('href="https://t%.example%.com/c/([^"]+)"') do
        local c = assert(mailcast.track.check(tok, SECRET))
        t.clicks[c.link] = tok
      end
      out[to:match("<?([^<>%s]+@[^<>%s]+)>?")] = t
    end
  end
  return out
end

describe("click redirects of personalised links", function()
  local dir, sink, srv, store, store_path
  local personal, aggregate, cid, aid

  local function location(tok)
    local code, _, h = srv.request("GET", "/c/" .. tok)
    assert.equal(302, code)
    return h.location
  end

  local function recipient_id(address, campaign)
    return assert(store:recipients(address, campaign)[1]).id
  end

  setup(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("--quiet")
    store_path = dir .. "/links.mailcast.db"
    for name, mode in pairs { personal = "recipient", aggregate = "aggregate" } do
      mime.write(dir .. "/" .. name .. ".lua", campaign_script(name, sink.port, mode))
      local out, code = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/" .. name .. ".lua")
        .. " --quiet --store " .. q(store_path))
      assert.equal(0, code, out)
    end
    personal, aggregate = sent(sink, "personal"), sent(sink, "aggregate")
    store = assert(mailcast.store(store_path))
    cid = assert(store:find_campaign("personal"))
    aid = assert(store:find_campaign("aggregate"))
    srv = start_serve(dir, store_path)
  end)

  teardown(function()
    if srv then srv.stop() end
    if store then store:close() end
    if sink then sink.cleanup() end
    if dir then mime.rmdir(dir) end
  end)

  it("sends each recipient's click on a personalised link to their own URL", function()
    assert.equal("https://shop.example/account?u=17", location(personal["anna@example.net"].clicks[1]))
    assert.equal("https://shop.example/account?u=42", location(personal["bob@example.net"].clicks[1]))
  end)

  it("sends every recipient's click on a plain link to the shared URL", function()
    assert.equal("https://example.com/news", location(personal["anna@example.net"].clicks[2]))
    assert.equal("https://example.com/news", location(personal["bob@example.net"].clicks[2]))
  end)

  it("follows a repeated section whose link indexes differ by recipient", function()
    assert.equal("https://shop.example/p/1", location(personal["anna@example.net"].clicks[3]))
    assert.equal("https://shop.example/p/2", location(personal["anna@example.net"].clicks[4]))
    assert.equal("https://shop.example/p/3", location(personal["bob@example.net"].clicks[3]))
  end)

  it("stores only the links that differ from the campaign's", function()
    assert.same({ "https://shop.example/account?u=17", "https://example.com/news",
                  "https://shop.example/p/1", "https://shop.example/p/2" }, store:links(cid))
    assert.same({}, store:links(cid, recipient_id("anna@example.net", cid)))
    assert.same({ [1] = "https://shop.example/account?u=42", [3] = "https://shop.example/p/3" },
      store:links(cid, recipient_id("bob@example.net", cid)))
  end)

  it("compares a later run's messages with the links stored by the first", function()
    mime.write(dir .. "/again.lua", campaign_script("personal", sink.port, "recipient",
      '{ email = "cleo@example.net", name = "Cleo", id = "99" }'))
    local out, code = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/again.lua")
      .. " --quiet --store " .. q(store_path))
    assert.equal(0, code, out)
    local cleo = sent(sink, "personal")["cleo@example.net"]
    assert.equal("https://shop.example/account?u=99", location(cleo.clicks[1]))
    assert.equal("https://shop.example/p/3", location(cleo.clicks[3]))
    assert.same({ [1] = "https://shop.example/account?u=99", [3] = "https://shop.example/p/3" },
      store:links(cid, recipient_id("cleo@example.net", cid)))
    assert.equal("https://shop.example/account?u=17", location(personal["anna@example.net"].clicks[1]))
  end)

  it("still answers a forged token, or one of an index nobody had, with 404", function()
    local forged = assert(mailcast.track.token { kind = "click", campaign = cid,
      recipient = recipient_id("bob@example.net", cid), link = 1, secret = "another secret of some length" })
    assert.equal(404, (srv.request("GET", "/c/" .. forged)))
    local unknown = assert(mailcast.track.token { kind = "click", campaign = cid,
      recipient = recipient_id("bob@example.net", cid), link = 9, secret = SECRET })
    assert.equal(404, (srv.request("GET", "/c/" .. unknown)))
  end)

  it("in aggregate mode leaves a link unlike the campaign's untracked, and tracks the plain one", function()
    local bob = aggregate["bob@example.net"]
    assert.matches('href="https://shop.example/account?u=42"', bob.html, 1, true)
    assert.matches('href="https://shop.example/p/3"', bob.html, 1, true)
    assert.is_nil(bob.clicks[1])
    assert.is_nil(bob.clicks[3])
    assert.equal(0, assert(mailcast.track.check(bob.clicks[2], SECRET)).recipient)
    assert.equal("https://example.com/news", location(bob.clicks[2]))
    -- The first message's links are the campaign's, all tracked.
    local anna = aggregate["anna@example.net"]
    assert.equal("https://shop.example/account?u=17", location(anna.clicks[1]))
    assert.equal("https://shop.example/p/2", location(anna.clicks[4]))
    assert.same({}, store:links(aid, recipient_id("bob@example.net", aid)))
  end)

  it("stops cleanly, with nothing a sanitizer would report", function()
    local out = srv.stop()
    assert.not_matches("Sanitizer", out)
    assert.not_matches("runtime error", out)
  end)
end)

describe("personalised links sent by several workers", function()
  local dir, sink
  before_each(function() dir, sink = mime.tmpdir(), builtin_sink.start("--quiet") end)
  after_each(function() sink.cleanup() mime.rmdir(dir) end)

  -- Runs a campaign of n recipients over three workers; the store.
  local function run(name, mode, n)
    mime.write(dir .. "/" .. name .. ".lua", string.format([[
local mailcast = require "mailcast"
local list = {}
for i = 1, %d do list[i] = { email = ("u%%d@d%%d.example"):format(i, i %% 7), name = "U" .. i, id = tostring(i) } end
return mailcast.campaign{
  name = %q, from = "News <news@example.com>", subject = "Hi {{name}}",
  html = [=[<a href="https://shop.example/account?u={{id}}">Account</a>
<a href="https://example.com/news">News</a>]=],
  recipients = list,
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  limits = { connections = 6, messages_per_connection = 50 },
  track = { base = "https://t.example.com", secret = %q, mode = %q },
}
]], n, name, sink.port, SECRET, mode))
    local out, code = helper.sh(q(helper.runner) .. " run " .. q(dir .. "/" .. name .. ".lua")
      .. " --quiet --workers 3 --store " .. q(dir .. "/w.mailcast.db"))
    assert.equal(0, code, out)
    return assert(mailcast.store(dir .. "/w.mailcast.db"))
  end

  it("sends each recipient's click to their own URL, whichever worker stored the campaign's", function()
    local store = run("workers", "recipient", 90)
    local cid = assert(store:find_campaign("workers"))
    for i = 1, 90 do
      local r = assert(store:recipients(("u%d@d%d.example"):format(i, i % 7), cid)[1])
      assert.equal("https://shop.example/account?u=" .. i, store:link_for(cid, r.id, 1))
      assert.equal("https://example.com/news", store:link_for(cid, r.id, 2))
    end
    store:close()
  end)

  it("in aggregate mode tracks a personalised link only in the message whose URL was stored", function()
    local store = run("agg", "aggregate", 90)
    local cid = assert(store:find_campaign("agg"))
    local tracked, news = 0, 0
    for address, t in pairs(sent(sink, "Hi")) do
      local own = "https://shop.example/account?u=" .. address:match("^u(%d+)@")
      if t.clicks[1] then
        tracked = tracked + 1
        assert.equal(own, store:link_for(cid, 0, 1))
      else
        assert.matches('href="' .. own .. '"', t.html, 1, true)
      end
      if t.clicks[2] then news = news + 1 end
    end
    assert.equal(1, tracked)
    assert.equal(90, news)
    store:close()
  end)
end)
