-- The parts of `mailcast report` that need no server: number formats,
-- escaping, the JSON and CSV writers, the SVG charts, and the store's
-- reports by domain and provider and by reason on a store filled here.
local mailcast = require "mailcast"
local text = require "mailcast.report_text"
local export = require "mailcast.report_export"
local svg = require "mailcast.report_svg"
local report = require "mailcast.report"
local mime = require "support.mime"

describe("mailcast report's formats", function()
  it("writes counts with thousands separators and rates to a tenth of a percent", function()
    assert.same({ "0", "999", "1,000", "1,234", "12,345,678", "-1,234", "-" },
      { text.count(0), text.count(999), text.count(1000), text.count(1234), text.count(12345678),
        text.count(-1234), text.count(nil) })
    assert.same({ "12.3%", "0.0%", "100.0%", "-" }, { text.pct(0.1234), text.pct(0), text.pct(1), text.pct(nil) })
  end)

  it("writes durations as people read them", function()
    assert.same({ "42 s", "5 min 3 s", "2 h 5 min", "3 d 4 h", "-" },
      { text.duration(42), text.duration(303), text.duration(7500), text.duration(3 * 86400 + 4 * 3600),
        text.duration(nil) })
  end)

  it("keeps a reply on one line without the terminal's control bytes", function()
    assert.equal("550 no\\x1b[31m user h...", text.clean("550 no\27[31m user\r\nhere and there", 24))
  end)

  it("escapes text for HTML, and replaces bytes that are not UTF-8", function()
    assert.equal("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;", svg.esc([[<script>alert('x')</script> & "]]))
    assert.equal("caf\u{FFFD} é", svg.esc("caf\233 é"))
    assert.equal("ab", svg.esc("a\0\27b"))
  end)
end)


describe("mailcast report's JSON and CSV", function()
  it("writes objects with sorted keys, lists, empty lists, null and rounded fractions", function()
    local out = export.json { b = 1, a = { 1, 2 }, e = setmetatable({}, report.ARRAY), n = export.NULL,
      f = 2 / 3, z = 0.5, s = "x\"y" }
    assert.equal('{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1,\n  "e": [],\n  "f": 0.666667,\n  "n": null,\n'
      .. '  "s": "x\\"y",\n  "z": 0.5\n}\n', out)
  end)

  it("quotes a CSV field only when it must", function()
    assert.same({ "plain", '"a,b"', '"say ""hi"""', '"two\nlines"', "", "3", "0.25" },
      { export.csv_field("plain"), export.csv_field("a,b"), export.csv_field('say "hi"'),
        export.csv_field("two\nlines"), export.csv_field(nil), export.csv_field(3), export.csv_field(0.25) })
  end)

  it("writes an accounting record as PowerMTA does", function()
    local row = export.accounting_row({ at = 0, kind = "failed", address = "a@example.org", code = 550,
      enhanced = "5.1.1", text = "no such user", category = "bad-mailbox" }, "november", "news@example.com")
    assert.same({ "b", "1970-01-01 00:00:00+0000", "news@example.com", "a@example.org", "failed", "5.1.1",
      "smtp;550 no such user", "", "november", "bad-mailbox" }, row)
    row = export.accounting_row({ at = 60, kind = "delivered", address = "b@example.org", code = 250, text = "ok" },
      "november")
    assert.same({ "d", "delivered", "2.0.0", "", "" }, { row[1], row[5], row[6], row[3], row[10] })
  end)
end)


describe("mailcast report's charts", function()
  local function count(s, pattern)
    local n = 0
    for _ in s:gmatch(pattern) do n = n + 1 end
    return n
  end

  it("draws a column per value, zeros too, with labels escaped", function()
    local s = svg.columns("c", "a <chart>", { 3, 0, 5 }, function(i) return "<" .. i .. ">" end, tostring)
    assert.equal(3, count(s, '<rect class="bar"'))
    assert.not_matches("<1>", s, 1, true)
    assert.matches("&lt;1&gt;", s, 1, true)
    assert.matches('aria-label="a &lt;chart&gt;"', s, 1, true)
  end)

  it("draws a point per value of each series", function()
    local s = svg.lines("l", "x", { { name = "a", class = "opens", values = { 1, 2, 3 } },
      { name = "b", class = "clicks", values = { 0, 1, 0 } } }, tostring, tostring)
    assert.equal(6, count(s, '<circle class="point'))
    assert.equal(2, count(s, "<polyline"))
  end)

  it("draws nothing for a share of nothing", function()
    local s = svg.stacked("s", "x", { { name = "a", p = 0.5, q = 0 } },
      { { key = "p", class = "delivered", name = "p" }, { key = "q", class = "failed", name = "q" } }, tostring)
    assert.equal(1, count(s, '<rect class="bar'))
  end)
end)


describe("mailcast report's store queries", function()
  local dir, store, cid

  before_each(function()
    dir = mime.tmpdir()
    store = assert(mailcast.store(dir .. "/s.db"))
    cid = assert(store:campaign("november"))
  end)

  after_each(function()
    store:close()
    mime.rmdir(dir)
  end)

  it("puts each domain in its provider's group", function()
    for _, a in ipairs { "a@gmail.com", "b@GoogleMail.com", "c@hotmail.co.uk", "d@outlook.com", "e@live.fr",
                         "f@yahoo.co.jp", "g@aol.com", "h@icloud.com", "i@me.com", "j@example.org",
                         "k@notyahoo.com", "l@yahoo" } do
      assert(store:add(cid, a))
    end
    local by = {}
    for _, g in ipairs(store:report("groups", cid, "provider", -1)) do by[g.name] = g.recipients end
    assert.same({ gmail = 2, microsoft = 3, yahoo = 2, apple = 2, other = 3 }, by)
    local domains = {}
    for _, g in ipairs(store:report("groups", cid, "domain", 2)) do domains[#domains + 1] = g.name end
    assert.equal(2, #domains)   -- the limit
    local all = {}
    for _, g in ipairs(store:report("groups", cid, "domain", -1)) do all[#all + 1] = g.name end
    assert.same({ "aol.com", "example.org", "gmail.com", "googlemail.com" }, { table.unpack(all, 1, 4) })   -- lower case
  end)

  it("classifies a failure during the run with the bounce taxonomy", function()
    assert(store:add(cid, "a@example.org"))
    assert(store:add(cid, "b@example.org"))
    local claimed = store:claim(cid, 10)
    assert(store:finish(claimed[1].id, "failed", { code = 550, enhanced = "5.1.1", text = "no such user" }))
    assert(store:finish(claimed[2].id, "failed", { code = 552, enhanced = "5.2.2", text = "mailbox full" }))
    local by = {}
    for _, o in ipairs(store:report("outcomes", cid)) do by[o.reason] = o end
    assert.same({ "failed", "bad-mailbox", 1, 1 }, { by.user_unknown.kind, by.user_unknown.category,
      by.user_unknown.hard, by.user_unknown.count })
    assert.equal(0, by.mailbox_full.hard)
    local f = store:report("funnel", cid)[1]
    assert.same({ 2, 2, 1 }, { f.sent, f.failed, f.failed_hard })
  end)

  it("hands a report's rows to a function one at a time, and is usable again after it raises", function()
    for i = 1, 3 do assert(store:add(cid, "r" .. i .. "@example.org")) end
    for _, c in ipairs(store:claim(cid, 10)) do assert(store:finish(c.id, "delivered", { code = 250, text = "ok" })) end
    local seen = {}
    assert.is_true(store:report("accounting", cid, nil, -1, function(row) seen[#seen + 1] = row.address end))
    assert.same({ "r1@example.org", "r2@example.org", "r3@example.org" }, seen)
    assert.has_error(function()
      store:report("accounting", cid, nil, -1, function() error("enough") end)
    end, "enough")
    assert.equal(3, #store:report("accounting", cid, nil, -1))
    assert.equal(3, store:report("funnel", cid)[1].delivered)
  end)

  it("takes the median delay to a first open of an even count as the mean of the middle two", function()
    assert.same({ opened = 0 }, report.gather(store, { id = cid, name = "november" }).open_delay)
    for i = 1, 5 do assert(store:add(cid, "r" .. i .. "@example.org")) end
    for _, c in ipairs(store:claim(cid, 10)) do assert(store:finish(c.id, "delivered", { code = 250, text = "ok" })) end
    local delays = { 10, 1000, 30, 20 }   -- the fifth never opens
    for i, r in ipairs(store:report("recipients", cid, "delivered")) do
      if delays[i] then
        -- A second open, and a proxy's before the first, change nothing.
        assert(store:event { campaign = cid, recipient = r.id, kind = "opened", at = r.updated + delays[i] })
        assert(store:event { campaign = cid, recipient = r.id, kind = "opened", at = r.updated + delays[i] + 5000 })
      end
    end
    assert.same({ opened = 4, median_seconds = 25 }, report.gather(store, { id = cid, name = "november" }).open_delay)
  end)

  it("groups the recipients by the route and the server of their last attempt, with the delay deferrals cost", function()
    for i = 1, 3 do assert(store:add(cid, "r" .. i .. "@example.org")) end
    local claimed = store:claim(cid, 10)
    local first = claimed[1]
    assert(store:finish(first.id, "deferred", { code = 451, text = "later", route = "relay", host = "mx1.example.org" },
      0))
    assert(store:finish(claimed[2].id, "delivered", { code = 250, text = "ok", route = "relay", host = "mx1.example.org" }))
    assert(store:finish(claimed[3].id, "failed", { code = 550, text = "no", route = "relay", host = "mx2.example.org" }))
    require("socket").sleep(1.1)
    local again = store:claim(cid, 10)
    assert.same({ first.id }, { again[1].id })
    assert(store:finish(first.id, "delivered", { code = 250, text = "ok", route = "direct", host = "mx9.example.org" }))
    local g = report.gather(store, { id = cid, name = "november" })
    local routes, hosts = {}, {}
    for _, r in ipairs(g.routes) do routes[r.name] = { r.recipients, r.delivered, r.failed } end
    for _, h in ipairs(g.hosts) do hosts[h.name] = h end
    assert.same({ relay = { 2, 1, 1 }, direct = { 1, 1, 0 } }, routes)
    assert.same({ "mx1.example.org", "mx2.example.org", "mx9.example.org" },
      (function() local l = {} for k in pairs(hosts) do l[#l + 1] = k end table.sort(l) return l end)())
    -- Delivered at once: no delay; delivered after a deferral a second before: about a second.
    assert.equal(0, hosts["mx1.example.org"].median_latency)
    assert.is_true(hosts["mx9.example.org"].median_latency >= 1, tostring(hosts["mx9.example.org"].median_latency))
    assert.is_nil(hosts["mx2.example.org"].median_latency)
    -- Each outcome says the route it went by (PowerMTA's vmta).
    local vmta = {}
    for _, row in ipairs(store:report("accounting", cid, nil, -1)) do vmta[#vmta + 1] = row.kind .. " " .. row.route end
    assert.same({ "deferred relay", "delivered relay", "failed relay", "delivered direct" }, vmta)
    assert.equal("relay", export.accounting_row(store:report("accounting", cid, nil, -1)[1], "november")[8])
  end)
end)
