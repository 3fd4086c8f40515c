-- An A/B test run as people run it: `mailcast run --wait` sends the test
-- group split between two variants through the built-in sink and is
-- killed while it waits for the pick; the spec opens one variant's
-- pixels more through `mailcast serve`; the next run picks that variant
-- and sends it to the rest, and the pick, recorded in the store, never
-- changes after. Each spec's wait is short, and nothing here depends on
-- how long anything takes: each step waits for what the one before said.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local serve = require "support.serve"
local socket = require "socket"
local json = require "dkjson"

local q = mime.sh_quote

local N = 20

local function script(name, port, test, connections)
  return string.format([[
local mailcast = require "mailcast"
local list = {}
for i = 1, %d do list[i] = { email = "r" .. i .. "@example.net", name = "R" .. i } end
return mailcast.campaign{
  name = %q, from = "News <news@example.com>", subject = "Hello {{name}}",
  text = "Hello {{name}}\n", html = "<p>Hello {{name}}</p>",
  variants = {
    { subject = "A: hello {{name}}" },
    { subject = "B: news for {{name}}", html = "<p>News for {{name}}</p>", from = "Team <team@example.com>" },
  },
  test = %s,
  recipients = list,
  route = { host = "127.0.0.1", port = %d, tls = "none", limits = { connections = %d } },
  track = { base = "https://t.example.com", secret = %q },
}
]], N, name, test, port, connections or 1, serve.SECRET)
end

-- A campaign in c/ of dir whose variants have labels, the second its own
-- page (c/b/page.html, with an image beside it) without text.
local function labelled(dir, port)
  os.execute("mkdir -p " .. q(dir .. "/c/b"))
  mime.write(dir .. "/c/b/dot.png", "\137PNG\r\n\26\nnot really")
  mime.write(dir .. "/c/b/page.html", [[<html><body><h1>Page for {{name}}</h1><img src="dot.png" alt="">
<script>track()</script></body></html>]])
  mime.write(dir .. "/c/labels.lua", string.format([[
local mailcast = require "mailcast"
local list = {}
for i = 1, %d do list[i] = { email = "r" .. i .. "@example.net", name = "R" .. i } end
return mailcast.campaign{
  name = "labels", from = "News <news@example.com>", subject = "Hello {{name}}",
  text = "Hello {{name}}\n", html = "<p>Hello {{name}}</p>",
  variants = {
    { label = "plain", subject = "A: hello {{name}}" },
    { label = "own page", subject = "B: page for {{name}}", html_file = "b/page.html",
      attachments = { { path = "b/dot.png", filename = "terms.png" } } },
  },
  test = { fraction = 0.5, wait = "1s" },
  recipients = list,
  route = { host = "127.0.0.1", port = %d, tls = "none" },
}
]], N, port))
end

-- The messages the sink holds, by variant ("A" or "B"): {address = raw}.
local function received(sink)
  local by = { A = {}, B = {} }
  for _, raw in ipairs(sink.files()) do
    local v = raw:match("\nSubject: ([AB]):")
    local to = raw:match("\nTo: <?([^\r\n<>]+)>?")
    assert(v and to, raw)
    assert.is_nil(by[v][to], "sent twice: " .. to)
    by[v][to] = raw
  end
  return by
end

local function size(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end


describe("an A/B test", function()
  local dir, sink, store_path

  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("--quiet")
  end)

  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  local function run(name, extra)
    return helper.sh("cd " .. q(dir) .. " && " .. q(helper.runner) .. " run " .. name .. ".lua --progress quiet "
      .. (extra or ""))
  end

  it("sends the test fraction split evenly, holds the rest, and says until when", function()
    mime.write(dir .. "/hold.lua", script("hold", sink.port, [[{ fraction = 0.5, wait = "1h" }]]))
    local out, code = run("hold")
    assert.equal(0, code, out)
    assert.matches("10 held for the A/B test's winner, picked at ", out, 1, true)
    local by = received(sink)
    assert.same({ 5, 5 }, { size(by.A), size(by.B) })
    -- The variant's own keys: B's from and body, A's the campaign's.
    local b = next(by.B)
    assert.matches("From: Team <team@example.com>", by.B[b], 1, true)
    local a = next(by.A)
    assert.matches("From: News <news@example.com>", by.A[a], 1, true)
    -- Run again: the held ones stay held until the wait is over.
    out, code = run("hold")
    assert.equal(0, code, out)
    assert.equal(10, #sink.files())
    local store = assert(mailcast.store(dir .. "/hold.mailcast.db"))
    local t = store:report("test", store:find_campaign("hold"), "count")[1]
    store:close()
    assert.same({ 10, 0 }, { t.held, t.unsent })
    assert.is_number(t.sent)
    assert.is_nil(t.winner)
    out, code = helper.sh("cd " .. q(dir) .. " && " .. q(helper.runner) .. " status hold.lua")
    assert.equal(0, code, out)
    assert.matches("pending           10  (10 of them held for the A/B test's winner)", out, 1, true)
    -- The script without its variants: the held ones get its message.
    mime.write(dir .. "/hold.lua", (script("hold", sink.port, "nil"):gsub("  variants = {.-\n  },\n", "")))
    out, code = run("hold")
    assert.equal(0, code, out)
    assert.matches("10 recipients were held for an A/B test's winner, but the campaign has no variants now", out,
      1, true)
    local plain = 0
    for _, raw in ipairs(sink.files()) do
      if raw:find("\nSubject: Hello R", 1, true) then plain = plain + 1 end
    end
    assert.same({ 20, 10 }, { #sink.files(), plain })
  end)

  it("picks the variant opened more after a run killed mid-wait, sends it to the rest, and keeps the pick", function()
    store_path = dir .. "/ab.mailcast.db"
    mime.write(dir .. "/ab.lua", script("ab", sink.port, [[{ fraction = 0.5, wait = "3s", pick = "opens" }]]))
    -- The first run sends the test group, then waits for the pick: killed then.
    local p = io.popen("(cd " .. q(dir) .. " && exec " .. q(helper.runner) .. " run ab.lua --wait --progress quiet) > "
      .. q(dir .. "/first.out") .. " 2>&1 & echo $!")
    local pid = p:read("l")
    p:close()
    local said = serve.wait_until(function()
      return (mime.try_read(dir .. "/first.out") or ""):find("the winner is picked at", 1, true)
    end, 60)
    os.execute("kill -KILL " .. pid)
    assert(said, mime.try_read(dir .. "/first.out"))
    while os.execute("kill -0 " .. pid .. " 2>/dev/null") do socket.sleep(0.02) end
    local by = received(sink)
    assert.same({ 5, 5 }, { size(by.A), size(by.B) })

    -- One of A's opens; three of B's, and a proxy's fetch of A's (not a person's).
    local tokens = serve.tokens(sink.files())
    local port, serve_pid = serve.start(dir, store_path)
    local opened = {}
    local function open(address, agent)
      assert.equal(200, (serve.request(port, "GET", "/o/" .. tokens[address].open, nil,
        agent and { ["user-agent"] = agent } or nil)))
      opened[#opened + 1] = address
    end
    local as, bs = {}, {}
    for address in pairs(by.A) do as[#as + 1] = address end
    for address in pairs(by.B) do bs[#bs + 1] = address end
    table.sort(as)
    table.sort(bs)
    open(as[1])
    open(as[2], "Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
    open(as[3], "Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
    open(bs[1])
    open(bs[2])
    open(bs[3])
    local store = assert(mailcast.store(store_path))
    local cid = assert(store:find_campaign("ab"))
    assert(serve.wait_until(function() return store:hits(cid, "opened") == #opened end, 20), "opens not recorded")
    assert.is_nil(store:report("test", cid)[1].winner)

    -- The next run picks B and sends it to the ten held.
    local out, code = run("ab", "--wait")
    assert.equal(0, code, out)
    assert.matches("variant 2 wins (by opens); sending it to the other 10 recipients", out, 1, true)
    by = received(sink)
    assert.same({ 5, 15 }, { size(by.A), size(by.B) })
    local t = store:report("test", cid, "count")[1]
    assert.same({ 2, 0 }, { t.winner, t.held })

    -- Now A is opened more: nothing changes, nothing is sent again.
    for i = 1, 5 do open(as[i]) end
    assert(serve.wait_until(function() return store:hits(cid, "opened") == #opened end, 20), "opens not recorded")
    assert(serve.stop(serve_pid))
    out, code = run("ab", "--wait")
    assert.equal(0, code, out)
    assert.equal(20, #sink.files())
    assert.equal(2, store:report("test", cid)[1].winner)
    store:close()

    -- mailcast report: each group's figures and the winner.
    out, code = helper.sh(q(helper.runner) .. " report " .. q(dir .. "/ab.lua") .. " --json")
    assert.equal(0, code, out)
    local doc = assert(json.decode(out))
    local v = doc.campaigns[1].variants
    assert.equal(2, v.winner)
    local groups = {}
    for _, g in ipairs(v.groups) do groups[g.variant .. g.group] = { g.recipients, g.delivered, g.opens_unique } end
    assert.same({ ["1test"] = { 5, 5, 5 }, ["2test"] = { 5, 5, 3 }, ["2rest"] = { 10, 10, 0 } }, groups)
    out, code = helper.sh(q(helper.runner) .. " report " .. q(dir .. "/ab.lua"))
    assert.equal(0, code, out)
    assert.matches("A/B test: variant 2 won", out, 1, true)
    out, code = helper.sh(q(helper.runner) .. " report " .. q(dir .. "/ab.lua") .. " --html " .. q(dir .. "/r.html"))
    assert.equal(0, code, out)
    local html = mime.read(dir .. "/r.html")
    local chart = html:match('<svg[^>]*id="chart%-variants".-</svg>')
    assert(chart, "no chart of the variants")
    local _, bars = chart:gsub('<rect class="bar"', "")
    assert.equal(2, bars)   -- the two test groups
    assert.matches("variant 1 opened: 100.0%", chart, 1, true)
    assert.matches("variant 2 opened: 60.0%", chart, 1, true)
    assert.matches("Variant 2 won", html, 1, true)
  end)

  it("is picked once by the workers of a run, each sending its share of the rest the winner", function()
    mime.write(dir .. "/workers.lua", script("workers", sink.port, [[{ fraction = 0.5, wait = "1s" }]], 2))
    local out, code = run("workers", "--workers 2 --wait")
    assert.equal(0, code, out)
    assert.matches("workers: 20 delivered, 0 deferred, 0 failed, 0 skipped, 0 suppressed, 0 pending", out, 1, true)
    local _, n = out:gsub("variant 1 wins", "")
    assert.equal(1, n, out)
    local _, said = out:gsub("the winner is picked at", "")
    assert.equal(1, said, out)   -- once for the run, not once a worker
    local by = received(sink)
    assert.same({ 15, 5 }, { size(by.A), size(by.B) })
  end)

  it("sends a variant its own page (html_file) from the script's folder, its text made of its HTML", function()
    labelled(dir, sink.port)
    -- Run from elsewhere: the page is the script's, as the campaign's own would be.
    local out, code = helper.sh("cd / && " .. q(helper.runner) .. " run " .. q(dir .. "/c/labels.lua")
      .. " --progress quiet --wait")
    assert.equal(0, code, out)
    -- The page named as the script wrote it, as the campaign's own is.
    assert.matches(": b/page.html: <script> removed", out, 1, true)
    local by = received(sink)
    assert.same({ 15, 5 }, { size(by.A), size(by.B) })
    for to, raw in pairs(by.B) do
      local name = to:match("^r(%d+)@")
      assert.matches("<h1>Page for R" .. name .. "</h1>", raw, 1, true)
      assert.matches('<img src="cid:', raw, 1, true)
      assert.matches("Content-ID: <", raw, 1, true)
      assert.matches("Content-Type: image/png", raw, 1, true)
      assert.matches("Page for R" .. name .. "\r\n", raw, 1, true)   -- the text part, made of the page
      assert.matches('Content-Disposition: attachment; filename="terms.png"', raw, 1, true)   -- the script's file too
      assert.is_nil(raw:find("Hello R", 1, true))
      assert.is_nil(raw:find("track()", 1, true))
    end
    for _, raw in pairs(by.A) do
      assert.matches("<p>Hello R", raw, 1, true)
      assert.is_nil(raw:find("image/png", 1, true))
    end
  end)

  it("names variants by their labels in the winner's line, the status and the report", function()
    labelled(dir, sink.port)
    local out, code = helper.sh("cd " .. q(dir .. "/c") .. " && " .. q(helper.runner)
      .. " run labels.lua --progress quiet --wait")
    assert.equal(0, code, out)
    -- No opens: a tie, the first wins.
    assert.matches("A/B test: variant 'plain' wins (by opens); sending it to the other 10 recipients", out, 1, true)
    local script = q(dir .. "/c/labels.lua")
    out, code = helper.sh(q(helper.runner) .. " status " .. script)
    assert.equal(0, code, out)
    assert.matches("A/B test: variant 'plain' won", out, 1, true)
    out, code = helper.sh(q(helper.runner) .. " report " .. script)
    assert.equal(0, code, out)
    assert.matches("A/B test: variant 'plain' won (picked ", out, 1, true)
    assert.matches("\n  plain    test ", out, 1, true)
    assert.matches("\n  own page test ", out, 1, true)
    assert.matches("\n  plain    rest ", out, 1, true)
    out, code = helper.sh(q(helper.runner) .. " report " .. script .. " --json")
    assert.equal(0, code, out)
    local v = assert(json.decode(out)).campaigns[1].variants
    assert.same({ 1, "plain" }, { v.winner, v.winner_label })
    local labels = {}
    for _, g in ipairs(v.groups) do labels[g.variant .. g.group] = g.label end
    assert.same({ ["1test"] = "plain", ["2test"] = "own page", ["1rest"] = "plain" }, labels)
    out, code = helper.sh(q(helper.runner) .. " report " .. script .. " --html " .. q(dir .. "/r.html"))
    assert.equal(0, code, out)
    local html = mime.read(dir .. "/r.html")
    assert.matches("Variant &#39;plain&#39; won", html, 1, true)
    -- The store alone has the labels of the run too.
    out, code = helper.sh(q(helper.runner) .. " report " .. q(dir .. "/c/labels.mailcast.db"))
    assert.equal(0, code, out)
    assert.matches("A/B test: variant 'plain' won", out, 1, true)
    assert.matches("\n  own page test ", out, 1, true)
    out, code = helper.sh(q(helper.runner) .. " status " .. q(dir .. "/c/labels.mailcast.db"))
    assert.equal(0, code, out)
    assert.matches("A/B test: variant 'plain' won", out, 1, true)
  end)

  it("refuses misspelled keys of a variant and of the test, naming the script's line", function()
    local cases = {
      { [[variants = { { subject = "a" }, { subjet = "b" } }]], "variants[2]", "unknown key 'subjet' (did you mean 'subject'?)" },
      { [[variants = { { subject = "a" }, { subject = "b" } }, test = { fraction = 0.2, wiat = "2s" }]], "test",
        "unknown key 'wiat' (did you mean 'wait'?)" },
      { [[variants = { { subject = "a" }, { subject = "b" } }, test = { pick = "views" }]], "pick", "views" },
      { [[variants = { { subject = "a" }, { subject = "b" } }, test = { wait = "4 hours" }]], "wait", "4 hours" },
      { [[variants = { { subject = "a" }, { subject = "b" } }, test = { fraction = 1.5 }]], "fraction", "1.5" },
      { [[variants = { { subject = "a" } }]], "variants", "two variants or more" },
      { [[variants = { { subject = "a" }, { label = "b", htmlfile = "b.html" } }]], "variants[2]",
        "unknown key 'htmlfile' (did you mean 'html_file'?)" },
      { [[variants = { { subject = "a" }, { label = "long", html_file = "gone.html" } }]],
        "campaign variants[2] ('long'): html_file: ", "gone.html" },
      { [[variants = { { subject = "a" }, { html_file = "gone.html", html = "<p>b</p>" } }]], "variants[2]",
        "give html or html_file, not both" },
      { [[variants = { { label = "b", subject = "a" }, { label = "b", subject = "b" } }]], "variants[2] ('b')",
        "label 'b' is variants[1]'s too" },
      { [[test = { fraction = 0.2 }]], "test", "goes with variants" },
    }
    for i, c in ipairs(cases) do
      mime.write(dir .. "/bad.lua", string.format([[
local mailcast = require "mailcast"

return mailcast.campaign{
  name = "bad%d", from = "news@example.com", subject = "Hello", text = "Hello.\n",
  recipients = { { email = "a@example.org" } }, route = { host = "127.0.0.1", port = 9, tls = "none" },
  %s,
}
]], i, c[1]))
      local out, code = run("bad")
      assert.equal(1, code, out)
      assert.matches("bad.lua:3: ", out, 1, true)
      assert.matches(c[2], out, 1, true)
      assert.matches(c[3], out, 1, true)
      assert.is_nil(io.open(dir .. "/bad" .. i .. ".mailcast.db"), "a store was made")
    end
  end)
end)
