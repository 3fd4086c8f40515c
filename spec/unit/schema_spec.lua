-- The tables a user writes, checked once when they are made: unknown
-- keys refused with the nearest known one, wrong types and ranges
-- refused, every message naming the line of the script (here, this
-- spec) that made the table.
local mailcast = require "mailcast"
local schema = require "mailcast.schema"

local FILE = debug.getinfo(1, "S").short_src

-- The message fn raises (it must raise).
local function refused(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "it did not raise")
  return err
end

-- The line after the caller's: where the call under test is.
local function next_line()
  return debug.getinfo(2, "l").currentline + 1
end

-- A campaign table that is fine, with extra keys added.
local function campaign(extra)
  local t = { name = "unit", from = "News <news@example.com>", subject = "Hi", text = "Hello",
              recipients = { { email = "a@example.org" } } }
  for k, v in pairs(extra) do t[k] = v end
  if t.route == nil and t.routes == nil then t.route = { host = "127.0.0.1", port = 2525 } end
  return t
end

-- Asserts that making campaign(extra) raises exactly FILE:LINE: message.
local function campaign_refused(extra, message)
  local line = next_line()
  local err = refused(function() mailcast.campaign(campaign(extra)) end)
  assert.equal(string.format("%s:%d: %s", FILE, line, message), err)
end

describe("a campaign table", function()
  it("refuses a misspelled key, naming the line that made it and the key meant", function()
    campaign_refused({ subjet = "x" }, "campaign: unknown key 'subjet' (did you mean 'subject'?)")
  end)

  it("refuses a key close to no other without guessing", function()
    campaign_refused({ quiet = true }, "campaign: unknown key 'quiet'")
  end)

  it("refuses a value of the wrong type or out of range", function()
    campaign_refused({ max_in_flight = 0 }, "campaign: max_in_flight must be an integer >= 1, not 0")
    campaign_refused({ suppress_hard_bounces = "no" },
      "campaign: suppress_hard_bounces must be true or false, not 'no'")
    campaign_refused({ on_failed = "print" }, "campaign: on_failed must be a function, not 'print'")
  end)

  it("says what is missing", function()
    local t = campaign {}
    t.subject = nil
    local line = next_line()
    local err = refused(function() mailcast.campaign(t) end)
    assert.equal(string.format("%s:%d: campaign: subject is required (a string)", FILE, line), err)
  end)

  it("names the line of a call spread over several lines: the line it starts on", function()
    local line = next_line()
    local err = refused(function() mailcast.campaign{
      name = "unit", from = "news@example.com", subject = "Hi", recipients = {},
      limits = { rate = "fast" },
    } end)
    assert.equal(string.format("%s:%d: campaign limits: rate must be a number >= 0 or a rate like '100/m', not 'fast'",
      FILE, line), err)
  end)

  it("names the line of a call in tail position, as a campaign script makes its campaign", function()
    local line = next_line()
    local err = refused(function() return mailcast.campaign(campaign { subjet = "x" }) end)
    assert.equal(string.format("%s:%d: campaign: unknown key 'subjet' (did you mean 'subject'?)", FILE, line), err)
  end)

  it("fills in the defaults, written once in mailcast.config, and leaves the table given as it was", function()
    local limits = { connections = 3 }
    local c = mailcast.campaign(campaign { limits = limits, retry = { first = 60 } })
    assert.same({ connections = 3, messages_per_connection = 10, idle_timeout = 5, down_time = 60 }, c.limits)
    assert.same({ first = 60, factor = 2, max = 21600, max_age = 259200 }, c.retry)
    assert.equal(1000, c.max_in_flight)
    assert.equal("email", c.address_field)
    assert.same({ connections = 3 }, limits)
  end)

  it("takes every key the README documents", function()
    local c = mailcast.campaign(campaign {
      html = "<p>Hi</p>", headers = { ["X-A"] = "b" }, return_path = "b@example.com",
      bounce_domain = "bounces.example.com", address = "email",
      attachments = { { data = "x", filename = "x.txt" } }, inline = { { data = "x", cid = "logo" } },
      routes = {
        relay = { host = "127.0.0.1", port = 2525, tls = "none", helo = "me.example", user = "u",
                  password = "p", auth_mechanism = "plain", allow_plaintext_auth = true, pipelining = false,
                  chunking = false, max_message = 1000, timeouts = { connect = 1, data_end = 60 },
                  limits = { connections = 2, messages_per_connection = 100, rate = "10/s", connect_rate = 1,
                             connect_attempts = 2, idle_timeout = 1, down_time = 30 } },
        direct = { mx = true, dns_server = "127.0.0.1:53", dns_timeout = 1, dns_tries = 2, mx_ttl = 60,
                   domains = { ["Gmail.com"] = { connections = 1, rate = "60/m" } } },
        listed = { targets = { { address = "127.0.0.1", name = "mx.example", port = 2525 } } },
      },
      default_route = "relay", route = function() end,
      retry = { first = 1, factor = 3, max = 10, max_age = 100 }, max_in_flight = 10, log = false, priority = 2,
      hook_limit = 1000, suppress_hard_bounces = false, bounce_rules = { { "spam", "spam" } },
      classify = function() end, webhooks = { "https://hooks.example.com/x" },
      track = { base = "https://t.example.com", secret = string.rep("s", 16), mode = "aggregate", text = true,
                pixel = false, track = function() end },
      unsubscribe = { mailto = "leave@example.com" }, feedback_id = "a:b", precedence = "bulk",
      personalize = function() end, on_reply = function() end, on_delivered = function() end,
      on_deferred = function() end, on_failed = function() end,
    })
    assert.equal("relay", c.default_route)
    assert.same({ connections = 1, rate = "60/m" }, c.routes.direct.domains["gmail.com"])
  end)
end)

describe("a route table", function()
  it("refuses a misspelled key", function()
    campaign_refused({ routes = { relay = { host = "127.0.0.1", prot = 25 } } },
      "campaign route 'relay': unknown key 'prot' (did you mean 'port'?)")
    campaign_refused({ route = { hots = "127.0.0.1" } }, "campaign route: unknown key 'hots' (did you mean 'host'?)")
  end)

  it("refuses a port out of range and a TLS policy it does not know", function()
    campaign_refused({ route = { host = "127.0.0.1", port = 70000 } },
      "campaign route: port must be an integer from 1 to 65535, not 70000")
    campaign_refused({ route = { host = "127.0.0.1", tls = "yes" } },
      "campaign route: tls must be 'none', 'opportunistic', 'required' or 'verify', not 'yes'")
  end)

  it("refuses what only the SMTP client can tell, when the campaign is made", function()
    campaign_refused({ route = { port = 25 } }, "campaign route 'default': route needs a host (or targets)")
  end)

  it("is checked by mailcast.route and mailcast.send too", function()
    local line = next_line()
    local err = refused(function() mailcast.route { host = "127.0.0.1", pipelinig = false } end)
    assert.equal(string.format("%s:%d: mailcast.route: unknown key 'pipelinig' (did you mean 'pipelining'?)",
      FILE, line), err)
    line = next_line()
    err = refused(function() mailcast.send({ mx = true, dns_timout = 1 }, {}) end)
    assert.equal(string.format("%s:%d: mailcast.send route: unknown key 'dns_timout' (did you mean 'dns_timeout'?)",
      FILE, line), err)
  end)
end)

describe("a limits table", function()
  it("refuses a misspelled key", function()
    campaign_refused({ limits = { messages_per_conection = 5 } },
      "campaign limits: unknown key 'messages_per_conection' (did you mean 'messages_per_connection'?)")
    campaign_refused({ routes = { relay = { host = "127.0.0.1", limits = { rat = 1 } } } },
      "campaign route 'relay' limits: unknown key 'rat' (did you mean 'rate'?)")
  end)

  it("refuses a value out of range", function()
    campaign_refused({ limits = { messages_per_connection = 0 } },
      "campaign limits: messages_per_connection must be an integer >= 1, not 0")
    campaign_refused({ limits = { connections = 1.5 } },
      "campaign limits: connections must be an integer from 1 to 1000, not 1.5")
    campaign_refused({ limits = { rate = -1 } },
      "campaign limits: rate must be a number >= 0 or a rate like '100/m', not -1")
  end)
end)

describe("a domains table", function()
  it("refuses a misspelled key, naming the domain", function()
    campaign_refused({ route = { mx = true, domains = { ["gmail.com"] = { conections = 1 } } } },
      "campaign route domain 'gmail.com': unknown key 'conections' (did you mean 'connections'?)")
  end)

  it("refuses a rate it cannot read, and limits that are no table", function()
    campaign_refused({ route = { mx = true, domains = { ["gmail.com"] = { rate = "20 a second" } } } },
      "campaign route domain 'gmail.com': rate must be a number >= 0 or a rate like '100/m', not '20 a second'")
    campaign_refused({ route = { mx = true, domains = { ["gmail.com"] = 2 } } },
      "campaign route domain 'gmail.com' must be a table, not 2")
  end)
end)

describe("a retry table", function()
  it("refuses a misspelled key (two letters swapped)", function()
    campaign_refused({ retry = { frist = 60 } }, "campaign retry: unknown key 'frist' (did you mean 'first'?)")
  end)

  it("refuses a value out of range", function()
    campaign_refused({ retry = { factor = 0.5 } }, "campaign retry: factor must be a number >= 1, not 0.5")
    campaign_refused({ retry = { max_age = "3d" } }, "campaign retry: max_age must be a number >= 0, not '3d'")
  end)
end)

describe("a track table", function()
  it("refuses a misspelled key", function()
    campaign_refused({ track = { bsae = "https://t.example.com" } },
      "campaign track: unknown key 'bsae' (did you mean 'base'?)")
  end)

  it("refuses a mode it does not know, and a short secret without showing it", function()
    campaign_refused({ track = { base = "https://t.example.com", mode = "everyone" } },
      "campaign track: mode must be 'recipient', 'aggregate' or 'off', not 'everyone'")
    campaign_refused({ track = { base = "https://t.example.com", secret = "short" } },
      "campaign track: secret must be a string of at least 16 bytes, not a string of 5 bytes")
  end)

  it("wants its base unless it is off", function()
    campaign_refused({ track = { secret = string.rep("s", 16) } },
      "campaign track: base is required (the tracking server's URL)")
  end)
end)

describe("an unsubscribe table", function()
  it("refuses a misspelled key", function()
    campaign_refused({ unsubscribe = { mail_to = "leave@example.com" } },
      "campaign unsubscribe: unknown key 'mail_to' (did you mean 'mailto'?)")
  end)

  it("refuses a base that is no http(s) URL", function()
    campaign_refused({ unsubscribe = { base = "ftp://u.example.com" } },
      "campaign unsubscribe: base must be an http(s) URL, not 'ftp://u.example.com'")
  end)
end)

describe("a dkim table", function()
  it("refuses a misspelled key, in one signature or in a list of them", function()
    campaign_refused({ dkim = { key = "k.pem", domain = "example.com", selecter = "s" } },
      "campaign dkim: unknown key 'selecter' (did you mean 'selector'?)")
    campaign_refused({ dkim = { { key = "k.pem", domain = "example.com", selector = "s" },
                                { key = "k.pem", domian = "example.com", selector = "t" } } },
      "campaign dkim[2]: unknown key 'domian' (did you mean 'domain'?)")
  end)

  it("refuses a value of the wrong type or range", function()
    campaign_refused({ dkim = { key = "k.pem", domain = "example.com", selector = "s", expire = 0 } },
      "campaign dkim: expire must be an integer >= 1, not 0")
    campaign_refused({ dkim = { key = "k.pem", domain = "example.com", selector = "s", canonicalization = "loose" } },
      "campaign dkim: canonicalization must be 'relaxed/relaxed', 'simple/simple', 'relaxed/simple', "
      .. "'simple/relaxed', 'relaxed' or 'simple', not 'loose'")
    campaign_refused({ dkim = { key = 42, domain = "example.com", selector = "s" } },
      "campaign dkim: key must be a key from mailcast.dkim.key, PEM text or a file name, not 42")
  end)
end)

describe("a dkim table that is right", function()
  local mime = require "support.mime"
  local dir, path
  setup(function()
    dir = mime.tmpdir()
    path = dir .. "/ed.pem"
    assert(os.execute("openssl genpkey -algorithm ed25519 -out " .. mime.sh_quote(path) .. " 2>/dev/null"))
  end)
  teardown(function() mime.rmdir(dir) end)

  it("takes every key dkim.sign takes, in a list of signatures", function()
    local key = assert(mailcast.dkim.key(path))
    local c = mailcast.campaign(campaign { dkim = {
      { key = key, domain = "example.com", selector = "a", identity = "@example.com", headers = { "From", "To" },
        oversign = { "From" }, canonicalization = "relaxed/simple", body_length = true, timestamp = false,
        expire = 3600 },
      { key = path, domain = "example.com", selector = "b", timestamp = 1700000000 },
      { key = { path = path }, domain = "example.com", selector = "c" },
    } })
    assert.equal(3, #c.bulk.dkim)
    local msg = assert(c:message("a@example.org", {}))
    local signed = assert(require("mailcast.bulk").sign(c.bulk, assert(mailcast.message(msg))))
    local _, n = signed:gsub("DKIM%-Signature:", "")
    assert.equal(3, n)
  end)

  it("refuses a key that does not load, naming the line", function()
    local bad = campaign { dkim = { key = dir .. "/none.pem", domain = "example.com", selector = "s" } }
    local line = next_line()
    local err = refused(function() mailcast.campaign(bad) end)
    assert.matches("^" .. FILE:gsub("%p", "%%%0") .. ":" .. line .. ": campaign dkim: ", err)
  end)
end)

describe("mailcast.mx's options", function()
  it("refuses a misspelled key before it asks", function()
    local line = next_line()
    local err = refused(function() mailcast.mx("example.com", { sever = "127.0.0.1:53" }) end)
    assert.equal(string.format("%s:%d: mailcast.mx options: unknown key 'sever' (did you mean 'server'?)", FILE, line),
      err)
  end)
end)

describe("mailcast.send's options and entries, mailcast.message and mailcast.part", function()
  local route = { host = "127.0.0.1", port = 9, tls = "none" }

  it("refuses a misspelled key before it connects", function()
    local line = next_line()
    local err = refused(function() mailcast.send(route, {}, { conections = 2 }) end)
    assert.equal(string.format("%s:%d: mailcast.send options: unknown key 'conections' (did you mean 'connections'?)",
      FILE, line), err)
  end)

  it("refuses a value out of range", function()
    local line = next_line()
    local err = refused(function() mailcast.send(route, {}, { connections = 0 }) end)
    assert.equal(string.format("%s:%d: mailcast.send options: connections must be an integer from 1 to 1000, not 0",
      FILE, line), err)
  end)

  it("refuses a misspelled key in an entry of its list, in a message table and in a part", function()
    local line = next_line()
    local err = refused(function() mailcast.send(route, { { mesage = "x", from = "a@b.c", to = "d@e.f" } }) end)
    assert.equal(string.format("%s:%d: mailcast.send messages[1]: unknown key 'mesage' (did you mean 'message'?)",
      FILE, line), err)
    line = next_line()
    err = refused(function() mailcast.message { from = "a@b.c", to = "d@e.f", attachment = {} } end)
    assert.equal(string.format("%s:%d: message: unknown key 'attachment' (did you mean 'attachments'?)",
      FILE, line), err)
    line = next_line()
    err = refused(function() mailcast.message { from = "a@b.c", attachments = { { data = "x", filname = "x" } } } end)
    assert.equal(string.format("%s:%d: message attachments[1]: unknown key 'filname' (did you mean 'filename'?)",
      FILE, line), err)
    line = next_line()
    err = refused(function() mailcast.part { path = "x", content_typ = "text/plain" } end)
    assert.equal(string.format("%s:%d: mailcast.part: unknown key 'content_typ' (did you mean 'content_type'?)",
      FILE, line), err)
  end)
end)

describe("mailcast.schema", function()
  it("measures Damerau-Levenshtein distance with swaps, and stops past its limit", function()
    assert.equal(0, schema.distance("rate", "rate", 2))
    assert.equal(1, schema.distance("frist", "first", 2))
    assert.equal(1, schema.distance("conections", "connections", 2))
    assert.equal(2, schema.distance("mx_tl", "mx_ttl_", 2))
    assert.equal(3, schema.distance("quiet", "subject", 2))
  end)

  it("suggests the nearest names, or those that begin alike", function()
    assert.same({ "port" }, schema.suggest("prot", { "host", "port", "tls" }))
    assert.same({ "connect_attempts", "connect_rate", "connections" },
      schema.suggest("conn", { "connections", "connect_rate", "connect_attempts", "rate" }))
    assert.same({ "rate" }, schema.suggest("rate_limit", { "connections", "rate" }))
    assert.same({}, schema.suggest("zzz", { "host", "port" }))
  end)

  it("lists the known keys of a small table when none is near", function()
    local s = schema.record { a = schema.integer(), b = schema.string() }
    local line = next_line()
    local err = refused(function() schema.check(s, { zzz = 1 }, "thing") end)
    assert.equal(string.format("%s:%d: thing: unknown key 'zzz' (known keys: a, b)", FILE, line), err)
  end)

  it("refuses a list with holes or named keys, and a record given as a list", function()
    local s = schema.record { l = schema.list(schema.integer()) }
    assert.matches("thing l: must be a list without holes", refused(function()
      schema.check(s, { l = { 1, nil, 3 } }, "thing") end), 1, true)
    assert.matches("thing l: must be a list, but has the key 'x'", refused(function()
      schema.check(s, { l = { 1, x = 2 } }, "thing") end), 1, true)
    assert.matches("thing: unexpected item [1]", refused(function() schema.check(s, { 5 }, "thing") end), 1, true)
  end)

  it("gives back a checked copy with nested defaults, and checks it again the same", function()
    local s = schema.record {
      inner = schema.with(schema.record { n = schema.integer { default = 7 } }, { default = {} }),
      f = schema.number { default = 1.5 },
    }
    local once = schema.check(s, {}, "thing")
    assert.same({ inner = { n = 7 }, f = 1.5 }, once)
    assert.same(once, schema.check(s, once, "thing"))
  end)
end)
