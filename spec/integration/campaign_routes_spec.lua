-- A campaign's routes and reply hooks, run as users run them: a script
-- in a directory of its own, `mailcast run campaign.lua`, the built-in
-- sink, the fault servers and dnsmasq on 127.0.0.x.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local servers = require "support.servers"
local dns = require "support.dns"
local json = require "dkjson"

local run = helper.sh
local campaign_run = require "support.campaign_run"

-- Writes campaign.lua into dir: `fields` is Lua source for the rest of
-- the campaign table (routes, hooks, limits ...), `list` the addresses;
-- retries come a second after a deferral.
local function write_campaign(dir, name, list, fields)
  campaign_run.write_campaign(dir, name, list, "retry = { first = 1 },\n  " .. fields, "Message {{n}} for {{email}}.\n")
end

local run_campaign, delivered_to, log_records = campaign_run.run_campaign, campaign_run.delivered_to,
  campaign_run.log_records

-- The line in campaign.lua where `text` first appears.
local function line_of(dir, text)
  local n = 0
  for line in io.lines(dir .. "/campaign.lua") do
    n = n + 1
    if line:find(text, 1, true) then return n end
  end
  error("no '" .. text .. "' in campaign.lua")
end

local function addresses(domain, n, prefix)
  local list = {}
  for i = 1, n do list[i] = string.format("%s%d@%s", prefix or "u", i, domain) end
  return list
end

local function concat(...)
  local out = {}
  for _, l in ipairs { ... } do for _, x in ipairs(l) do out[#out + 1] = x end end
  return out
end

-- The states of a campaign's recipients, by address.
local function states(store_path, name)
  local store = assert(mailcast.store(store_path))
  local id = assert(store:campaign(name))
  local by = {}
  for _, state in ipairs { "pending", "in_flight", "deferred", "delivered", "failed", "skipped", "suppressed" } do
    for _, r in ipairs(store:report("recipients", id, state, 1000)) do
      by[r.address] = { state = state, code = r.code, text = r.text, attempts = r.attempts }
    end
  end
  store:close()
  return by
end


describe("a campaign with named routes", function()
  local dir, one, two
  before_each(function()
    dir = mime.tmpdir()
    one = builtin_sink.start("")
    two = builtin_sink.start("")
  end)
  after_each(function()
    one.cleanup()
    two.cleanup()
    mime.rmdir(dir)
  end)

  local function routes(extra_hook)
    return string.format([[
  routes = {
    first = { host = "127.0.0.1", port = %d, tls = "none" },
    second = { host = "127.0.0.1", port = %d, tls = "none" },
  },
  default_route = "first",
  route = function(m)
    %s
    if m.domain == "two.example" then return "second" end
    return "first"
  end,
]], one.port, two.port, extra_hook or "")
  end

  it("sends each recipient over the route its hook names, exactly once", function()
    local a, b = addresses("one.example", 15), addresses("two.example", 15)
    write_campaign(dir, "split", concat(a, b), routes())
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.matches("split: 30 delivered, 0 deferred, 0 failed, 0 skipped, 0 suppressed, 0 pending", out, 1, true)
    local seen1, n1 = delivered_to(one)
    local seen2, n2 = delivered_to(two)
    assert.equal(15, n1)
    assert.equal(15, n2)
    for _, x in ipairs(a) do assert.equal(1, seen1[x], x) end
    for _, x in ipairs(b) do assert.equal(1, seen2[x], x) end
    -- the accounting log names the route of every transaction
    local route_of = {}
    for _, r in ipairs(log_records(dir .. "/split.log.jsonl")) do
      if r.type == "transaction" then
        assert.is_nil(route_of[r.recipient], "two transactions for " .. r.recipient)
        route_of[r.recipient] = r.route
      end
    end
    for _, x in ipairs(a) do assert.equal("first", route_of[x]) end
    for _, x in ipairs(b) do assert.equal("second", route_of[x]) end
  end)

  it("gives the hook the address, domain, variables and message", function()
    write_campaign(dir, "seen", { "Ann@Two.Example" }, string.format([[
  routes = { only = { host = "127.0.0.1", port = %d, tls = "none" } },
  route = function(m)
    assert(m.address == "Ann@Two.Example", "address " .. tostring(m.address))
    assert(m.domain == "two.example", "domain " .. tostring(m.domain))
    assert(m.vars.n == "1", "vars.n " .. tostring(m.vars.n))
    assert(m.message.subject == "Hello 1", "subject " .. tostring(m.message and m.message.subject))
    return "only"
  end,
]], two.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.not_matches("failed:", out)
    assert.matches("1 delivered", out, 1, true)
    assert.equal(1, #two.files())
  end)

  it("warns with the hook's file and line when it raises, and uses the default route", function()
    write_campaign(dir, "raises", { "boom@two.example", "x@two.example" },
      routes('if m.address == "boom@two.example" then error("no route for you") end'))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    local line = line_of(dir, "route = function(m)")
    assert.matches("hook route (campaign.lua:" .. line .. ") failed: ", out, 1, true)
    assert.matches("no route for you; the default applies", out, 1, true)
    assert.matches("2 delivered", out, 1, true)
    assert.same({ ["boom@two.example"] = 1 }, (delivered_to(one)))
    assert.same({ ["x@two.example"] = 1 }, (delivered_to(two)))
  end)

  it("warns with the hook's file and line when it names a route there is not, and uses the default route", function()
    write_campaign(dir, "unknown", { "lost@two.example", "x@two.example" },
      routes('if m.address == "lost@two.example" then return "nowhere" end'))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.matches("lost@two.example", out, 1, true)
    assert.matches("'nowhere'", out, 1, true)
    assert.matches("2 delivered", out, 1, true)
    assert.same({ ["lost@two.example"] = 1 }, (delivered_to(one)))
    assert.same({ ["x@two.example"] = 1 }, (delivered_to(two)))
    local line = line_of(dir, "route = function(m)")
    assert.matches("campaign.lua:" .. line, out, 1, true)
  end)

  it("sends with return_path as the envelope sender, the From header unchanged", function()
    write_campaign(dir, "bounces", { "a@one.example" }, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  return_path = "bounces+news@example.com",
]], one.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    local files = one.files()
    assert.equal(1, #files)
    assert.matches("^Return%-Path: <bounces%+news@example%.com>\r\n", files[1])
    assert.matches("\r\nFrom: News <news@example%.com>\r\n", files[1])
  end)

  it("uses a route named by a string as the only route", function()
    write_campaign(dir, "named", addresses("x.example", 3), string.format([[
  routes = { a = { host = "127.0.0.1", port = %d, tls = "none" }, b = { host = "127.0.0.1", port = %d, tls = "none" } },
  route = "b",
]], one.port, two.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.equal(0, #one.files())
    assert.equal(3, #two.files())
  end)
end)


describe("a campaign with direct delivery beside a relay", function()
  local dir, direct, relay, resolver
  before_each(function()
    dir = mime.tmpdir()
    direct = builtin_sink.start("")
    relay = builtin_sink.start("")
    resolver = dns.start{
      mx = { { "d.test", "mx.d.test", 10 }, { "e.test", "mx1.e.test", 10 }, { "e.test", "mx2.e.test", 20 } },
      hosts = { { "mx.d.test", "127.0.0.1" }, { "mx1.e.test", "127.0.0.2" }, { "mx2.e.test", "127.0.0.1" } },
      rr = { { "null.test", 15, "000000" } },
    }
  end)
  after_each(function()
    direct.cleanup()
    relay.cleanup()
    resolver:stop()
    mime.rmdir(dir)
  end)

  it("delivers to each domain's MX and through the relay as the hook says", function()
    local d, e, x = addresses("d.test", 4), addresses("e.test", 3), addresses("x.example", 5)
    local list = concat(d, e, x, { "n@null.test", "z@nope.test" })
    write_campaign(dir, "direct", list, string.format([[
  routes = {
    direct = { mx = true, port = %d, tls = "none", dns_server = %q, timeouts = { connect = 2, greeting = 2 } },
    relay = { host = "127.0.0.1", port = %d, tls = "none" },
  },
  default_route = "direct",
  route = function(m) if m.domain == "x.example" then return "relay" end end,
]], direct.port, resolver.server, relay.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.matches("direct: 12 delivered, 0 deferred, 2 failed, 0 skipped, 0 suppressed, 0 pending", out, 1, true)
    local seen_direct, n_direct = delivered_to(direct)
    local seen_relay, n_relay = delivered_to(relay)
    assert.equal(7, n_direct)
    assert.equal(5, n_relay)
    for _, a in ipairs(concat(d, e)) do assert.equal(1, seen_direct[a], a) end
    for _, a in ipairs(x) do assert.equal(1, seen_relay[a], a) end
    local by = states(dir .. "/direct.mailcast.db", "direct")
    assert.same({ "failed", 556 }, { by["n@null.test"].state, by["n@null.test"].code })
    assert.same({ "failed", 550 }, { by["z@nope.test"].state, by["z@nope.test"].code })
    -- the log names the MX host and address each message went to
    local mx_of = {}
    for _, r in ipairs(log_records(dir .. "/direct.log.jsonl")) do
      if r.type == "transaction" and r.status == "sent" then mx_of[r.recipient] = { r.route, r.mx, r.ip } end
    end
    for _, a in ipairs(d) do assert.same({ "direct", "mx.d.test", "127.0.0.1" }, mx_of[a]) end
    for _, a in ipairs(e) do assert.same({ "direct", "mx2.e.test", "127.0.0.1" }, mx_of[a]) end
    for _, a in ipairs(x) do assert.equal("relay", mx_of[a][1]) end
  end)
end)


describe("a campaign's on_reply hook", function()
  local dir, sink
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start('--reject soft@x.example="451 4.2.0 Try later"'
      .. ' --reject hard@x.example="550 5.1.1 No such user"'
      .. ' --reject gone@x.example="550 5.7.1 Go away"'
      .. ' --reject plain@x.example="550 5.1.1 Unknown"')
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  local list = { "soft@x.example", "hard@x.example", "gone@x.example", "plain@x.example", "ok@x.example" }

  local function hooks(port)
    return string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  on_reply = function(address, reply)
    if address == "soft@x.example" and reply.code == 451 then return "fail" end
    if address == "hard@x.example" and reply.code == 550 then return "defer" end
    if address == "gone@x.example" then return "suppress" end
    if address == "ok@x.example" then return "fail" end   -- a delivery stays delivered
  end,
]], port)
  end

  it("turns a 4xx into failed, a 5xx into deferred, and suppresses an address", function()
    write_campaign(dir, "replies", list, hooks(sink.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.matches("replies: 1 delivered, 1 deferred, 2 failed, 0 skipped, 1 suppressed, 0 pending", out, 1, true)
    local by = states(dir .. "/replies.mailcast.db", "replies")
    assert.same({ "failed", 451 }, { by["soft@x.example"].state, by["soft@x.example"].code })
    assert.same({ "deferred", 550 }, { by["hard@x.example"].state, by["hard@x.example"].code })
    assert.same({ "suppressed", 550 }, { by["gone@x.example"].state, by["gone@x.example"].code })
    assert.same({ "failed", 550 }, { by["plain@x.example"].state, by["plain@x.example"].code })
    assert.equal("delivered", by["ok@x.example"].state)
    assert.equal(1, #sink.files())
    local store = assert(mailcast.store(dir .. "/replies.mailcast.db"))
    local reason = store:suppressed("gone@x.example")
    local soft, plain = store:suppressed("soft@x.example"), store:suppressed("plain@x.example")
    store:close()
    assert.is_string(reason)
    assert.matches("Go away", reason, 1, true)
    assert.is_nil(soft)
    -- A 5xx for a mailbox that does not exist is a hard bounce: off the list.
    assert.equal("hard bounce: user_unknown", plain)
  end)

  it("warns with its file and line when it raises or answers nonsense, and the reply decides", function()
    write_campaign(dir, "odd", { "soft@x.example", "plain@x.example", "ok@x.example" }, string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  on_reply = function(address, reply)
    if address == "soft@x.example" then error("hook trouble") end
    if address == "plain@x.example" then return "maybe" end
  end,
]], sink.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    local line = line_of(dir, "on_reply = function")
    assert.matches("hook on_reply (campaign.lua:" .. line .. ") failed: ", out, 1, true)
    assert.matches("hook trouble; the default applies", out, 1, true)
    assert.matches("plain@x.example: on_reply answered 'maybe'", out, 1, true)
    assert.matches("odd: 1 delivered, 1 deferred, 1 failed, 0 skipped, 0 suppressed, 0 pending", out, 1, true)
    local by = states(dir .. "/odd.mailcast.db", "odd")
    assert.equal("deferred", by["soft@x.example"].state)
    assert.equal("failed", by["plain@x.example"].state)
  end)

  it("makes a later campaign in the same store skip a suppressed address", function()
    write_campaign(dir, "replies", list, hooks(sink.port))
    local out, code = run_campaign(dir, "--store shared.db")
    assert.equal(0, code, out)
    -- a second campaign, same store, the suppressed address among others
    local later = dir .. "/later"
    os.execute("mkdir " .. mime.sh_quote(later))
    write_campaign(later, "second", { "gone@x.example", "new@x.example" },
      string.format('route = { host = "127.0.0.1", port = %d, tls = "none" },', sink.port))
    out, code = run_campaign(later, "--store ../shared.db")
    assert.equal(0, code, out)
    assert.matches("second: 1 delivered, 0 deferred, 0 failed, 0 skipped, 1 suppressed, 0 pending", out, 1, true)
    local by = states(dir .. "/shared.db", "second")
    assert.equal("suppressed", by["gone@x.example"].state)
    assert.matches("suppressed", by["gone@x.example"].text, 1, true)
    local got = delivered_to(sink)
    assert.is_nil(got["gone@x.example"])
    assert.equal(1, got["new@x.example"])
    -- the store's status has both campaigns
    local status
    status, code = run(mime.sh_quote(helper.runner) .. " status " .. mime.sh_quote(dir .. "/shared.db") .. " --json")
    assert.equal(0, code, status)
    local names = {}
    for line in status:gmatch("[^\n]+") do
      local r = json.decode(line)
      names[#names + 1] = r.campaign .. ":" .. r.suppressed
    end
    assert.same({ "replies:1", "second:1" }, names)
  end)

  it("logs an outcome for an address a later campaign skips as suppressed", function()
    write_campaign(dir, "replies", list, hooks(sink.port))
    local _, code = run_campaign(dir, "--store shared.db")
    assert.equal(0, code)
    local later = dir .. "/later"
    os.execute("mkdir " .. mime.sh_quote(later))
    write_campaign(later, "second", { "gone@x.example", "new@x.example" },
      string.format('route = { host = "127.0.0.1", port = %d, tls = "none" },', sink.port))
    local out
    out, code = run_campaign(later, "--store ../shared.db --log second.jsonl")
    assert.equal(0, code, out)
    local outcome
    for _, r in ipairs(log_records(later .. "/second.jsonl")) do
      if r.type == "outcome" and r.recipient == "gone@x.example" then outcome = r end
    end
    assert.is_table(outcome, "no outcome record for the suppressed address")
    assert.equal("suppressed", outcome.state)
  end)
end)


describe("a campaign's per-route limits", function()
  local dir
  before_each(function() dir = mime.tmpdir() end)
  after_each(function()
    servers.stop_all()
    mime.rmdir(dir)
  end)

  -- DATA commands on each connection the server accepted.
  local function per_connection(srv)
    local counts = {}
    for i = 1, srv:connections() do
      local n = 0
      for _, l in ipairs(srv:transcript(i)) do if l == "DATA" then n = n + 1 end end
      counts[i] = n
    end
    return counts
  end

  it("defers a large message whose server hangs up in the middle of its data, and the run goes on", function()
    -- Through the runner as a process of its own: the hang-up is an
    -- error for each message, deferred, and the run ends normally.
    -- (runner_spec checks that SIGPIPE is ignored, which a write to the
    -- closed connection could otherwise raise.)
    local srv = servers.fault("drop_in_data", { bytes = 1000 })
    local big = string.rep("A line of a long message, to be cut off by a rude server.\n", 15000)   -- 885 KB: under its SIZE
    campaign_run.write_campaign(dir, "rude", addresses("r.example", 3),
      string.format('route = { host = "127.0.0.1", port = %d, tls = "none" },', srv.port), big)
    local out, code = run_campaign(dir)
    srv:stop()
    assert.equal(0, code, out)
    local recs = log_records(dir .. "/rude.log.jsonl")
    assert.matches("rude: 0 delivered, 3 deferred", out, 1, true, json.encode(recs))
  end)

  it("keeps each route to its own messages per connection", function()
    local small = servers.fault("normal")
    local big = servers.fault("normal")
    local s, b = addresses("small.example", 7), addresses("big.example", 10)
    write_campaign(dir, "limits", concat(s, b), string.format([[
  routes = {
    small = { host = "127.0.0.1", port = %d, tls = "none", limits = { messages_per_connection = 2 } },
    big = { host = "127.0.0.1", port = %d, tls = "none" },
  },
  default_route = "big",
  limits = { messages_per_connection = 5 },
  route = function(m) if m.domain == "small.example" then return "small" end end,
]], small.port, big.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.matches("limits: 17 delivered", out, 1, true)
    small:stop()
    big:stop()
    local sc, bc = per_connection(small), per_connection(big)
    assert.same({ 2, 2, 2, 1 }, sc)
    assert.same({ 5, 5 }, bc)
    -- every recipient went once, to its route's server
    local rcpts = {}
    for _, l in ipairs(small:transcript()) do
      local a = l:match("^RCPT TO:<(.-)>")
      if a then rcpts[#rcpts + 1] = a end
    end
    table.sort(rcpts)
    table.sort(s)
    assert.same(s, rcpts)
    local sessions = {}
    for _, r in ipairs(log_records(dir .. "/limits.log.jsonl")) do
      if r.type == "transaction" then sessions[r.route] = (sessions[r.route] or 0) + 1 end
    end
    assert.same({ small = 7, big = 10 }, sessions)
  end)

  it("keeps a route's connections within its limit", function()
    local srv = servers.fault("slow_reply", { command = "DOT", delay = 0.2 })
    write_campaign(dir, "conns", addresses("c.example", 12), string.format([[
  routes = { only = { host = "127.0.0.1", port = %d, tls = "none",
                      limits = { connections = 3, messages_per_connection = 4 } } },
]], srv.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    assert.matches("conns: 12 delivered", out, 1, true)
    srv:stop()
    local counts = per_connection(srv)
    local total = 0
    for _, n in ipairs(counts) do
      assert.is_true(n <= 4, "a connection carried " .. n)
      total = total + n
    end
    assert.equal(12, total)
    -- never more than three connections open at once
    local open, most = 0, 0
    for _, e in ipairs(srv:events()) do
      if e.kind == "accept" then open = open + 1; most = math.max(most, open)
      elseif e.kind == "close" then open = open - 1 end
    end
    assert.is_true(most <= 3, most .. " connections at once")
  end)
end)

describe("a campaign's replies in the bounce taxonomy", function()
  local dir, sink
  before_each(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start('--reject unknown@x.example="550 5.1.1 No such user here"' ..
      ' --reject full@x.example="452 4.2.2 Mailbox full" --reject spam@x.example="554 5.7.1 Message rejected as spam"')
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  it("classifies each failure, logs its reason and category, and suppresses hard bounces only", function()
    write_campaign(dir, "taxonomy", { "unknown@x.example", "full@x.example", "spam@x.example", "ok@x.example" },
      string.format([[
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  bounce_rules = { { "rejected as spam", "content_rejected" } },
]], sink.port))
    local out, code = run_campaign(dir)
    assert.equal(0, code, out)
    local log = mime.read(dir .. "/taxonomy.log.jsonl")
    local store = assert(mailcast.store(dir .. "/taxonomy.mailcast.db"))
    local unknown, full = store:suppressed("unknown@x.example"), store:suppressed("full@x.example")
    store:close()
    assert.matches('"recipient":"unknown@x.example".-"reason":"user_unknown","category":"bad%-mailbox"', log)
    assert.matches('"recipient":"full@x.example".-"reason":"mailbox_full","category":"quota%-issues"', log)
    -- The campaign's own rule comes before the built-in ones ("spam").
    assert.matches('"recipient":"spam@x.example".-"reason":"content_rejected"', log)
    assert.equal("hard bounce: user_unknown", unknown)
    assert.is_nil(full)
  end)
end)
