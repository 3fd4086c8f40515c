-- A campaign whose list is a segment of an earlier one (a resend to
-- those who did not open): the earlier campaign is sent through the
-- built-in sink (which refuses one address and defers another), its
-- opens made by fetching pixels through `mailcast serve`; the segment
-- holds exactly the recipients asked for, with their fields, and stays
-- as it was when first read.
local mailcast = require "mailcast"
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local serve = require "support.serve"

local q = mime.sh_quote

local PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"

-- The earlier campaign's list (the spec makes each of these happen).
local LIST = [[{
  { email = "anna@example.net", name = "Anna", city = "Oslo" },     -- delivered, opened
  { email = "bob@example.net", name = "Bob", city = "Rome" },       -- delivered, a proxy's open only
  { email = "carol@example.net", name = "Carol", city = "Lima" },   -- delivered, no open
  { email = "dave@example.net", name = "Dave", city = "Kyiv" },     -- refused
  { email = "erin@example.net", name = "Erin", city = "Pune" },     -- deferred
  { email = "frank@example.net", name = "Frank", city = "Nice" },   -- delivered, no open
}]]

-- A campaign to the sink at port, its list the segment (Lua source).
local function resend(name, port, segment)
  return string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = %q, from = "News <news@example.com>", subject = "Again, {{name}} of {{city}}",
  text = "Hello {{name}}\n",
  recipients = mailcast.segment%s,
  route = { host = "127.0.0.1", port = %d, tls = "none" },
}
]], name, segment, port)
end

-- The addresses of campaign name in the store at path, sorted.
local function addresses(path, name)
  local store = assert(mailcast.store(path))
  local id = assert(store:find_campaign(name))
  local list = {}
  for _, state in ipairs { "delivered", "pending", "deferred", "failed", "suppressed" } do
    for _, r in ipairs(store:report("recipients", id, state, -1)) do list[#list + 1] = r.address end
  end
  store:close()
  table.sort(list)
  return list
end

-- The subjects the sink received for a campaign's subject prefix, sorted.
local function subjects(sink, prefix)
  local list = {}
  for _, raw in ipairs(sink.files()) do
    local subject = raw:match("\nSubject: ([^\r\n]*)")
    if subject and subject:sub(1, #prefix) == prefix then list[#list + 1] = subject end
  end
  table.sort(list)
  return list
end


describe("a campaign whose recipients are a segment of an earlier one", function()
  local dir, sink, store_path, port, pid, tokens

  local function run(name, source, extra)
    mime.write(dir .. "/" .. name .. ".lua", resend(name, sink.port, source))
    return helper.sh("cd " .. q(dir) .. " && " .. q(helper.runner) .. " run " .. name .. ".lua --quiet " .. (extra or ""))
  end

  local function open(address, agent)
    local c = serve.request(port, "GET", "/o/" .. tokens[address].open, nil, agent and { ["user-agent"] = agent } or nil)
    assert.equal(200, c)
  end

  setup(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("--quiet --reject " .. q("dave@example.net=550 5.1.1 no such user")
      .. " --reject " .. q("erin@example.net=451 4.7.1 try later"))
    store_path = dir .. "/november.mailcast.db"
    serve.run_campaign(dir, "november", sink.port, LIST, store_path)
    tokens = serve.tokens(sink.files())
    port, pid = serve.start(dir, store_path)
    open("anna@example.net")
    open("bob@example.net", PROXY)
    local store = assert(mailcast.store(store_path))
    local cid = assert(store:find_campaign("november"))
    assert(serve.wait_until(function() return store:hits(cid, "opened") == 2 end, 20), "serve did not record the opens")
    store:close()
  end)

  teardown(function()
    if pid then serve.stop(pid) end
    if sink then sink.cleanup() end
    if dir then mime.rmdir(dir) end
  end)

  it("holds exactly the delivered recipients without an open by a person, with their fields", function()
    local out, code = run("resend", [[{ campaign = "november", store = "november.mailcast.db",
      delivered = true, opened = false }]])
    assert.equal(0, code, out)
    assert.same({ "bob@example.net", "carol@example.net", "frank@example.net" },
      addresses(dir .. "/resend.mailcast.db", "resend"))
    assert.same({ "Again, Bob of Rome", "Again, Carol of Lima", "Again, Frank of Nice" }, subjects(sink, "Again"))
  end)

  it("counts a proxy's open as an open with machine_opens", function()
    local out, code = run("resend2", [[{ campaign = "november", store = "november.mailcast.db",
      delivered = true, opened = false, machine_opens = true }]])
    assert.equal(0, code, out)
    assert.same({ "carol@example.net", "frank@example.net" }, addresses(dir .. "/resend2.mailcast.db", "resend2"))
  end)

  it("reads the segment from its own store by default, and the failed ones when asked", function()
    local out, code = run("failed", [[{ campaign = "november", failed = true }]], "--store november.mailcast.db")
    assert.equal(0, code, out)
    -- (suppressed now: his hard bounce put him on the store's suppression list)
    assert.same({ "dave@example.net" }, addresses(store_path, "failed"))
  end)

  it("holds the recipients whose last outcome had the bounce reasons asked for", function()
    local out, code = run("unknown", [[{ campaign = "november", store = "november.mailcast.db",
      reason = "user_unknown" }]])
    assert.equal(0, code, out)
    assert.same({ "dave@example.net" }, addresses(dir .. "/unknown.mailcast.db", "unknown"))
    -- Erin's "451 4.7.1 try later" is a policy deferral.
    out, code = run("either", [[{ campaign = "november", store = "november.mailcast.db",
      reason = { "user_unknown", "policy" } }]])
    assert.equal(0, code, out)
    assert.same({ "dave@example.net", "erin@example.net" }, addresses(dir .. "/either.mailcast.db", "either"))
  end)

  it("refuses a reason the bounce taxonomy has not, with the names it has", function()
    local out, code = run("badreason", [[{ campaign = "november", reason = "mailbox_unknown" }]])
    assert.equal(1, code, out)
    assert.matches("badreason.lua:5: segment: reason must be ", out, 1, true)
    assert.matches("'user_unknown', 'mailbox_full', ", out, 1, true)
    assert.matches("not 'mailbox_unknown'", out, 1, true)
    assert.is_nil(io.open(dir .. "/badreason.mailcast.db"), "a store was made")
  end)

  it("stays as it was first read: an open made since adds no one on the next run", function()
    local out, code = run("openers", [[{ campaign = "november", store = "november.mailcast.db", opened = true }]])
    assert.equal(0, code, out)
    assert.same({ "anna@example.net" }, addresses(dir .. "/openers.mailcast.db", "openers"))
    -- Carol opens now; the resend run again reads the segment again.
    open("carol@example.net")
    local store = assert(mailcast.store(store_path))
    local cid = assert(store:find_campaign("november"))
    assert(serve.wait_until(function() return store:hits(cid, "opened") == 3 end, 20), "serve did not record the open")
    store:close()
    out, code = run("openers", [[{ campaign = "november", store = "november.mailcast.db", opened = true }]])
    assert.equal(0, code, out)
    assert.same({ "anna@example.net" }, addresses(dir .. "/openers.mailcast.db", "openers"))
    -- A new campaign reading it now sees her.
    out, code = run("openers2", [[{ campaign = "november", store = "november.mailcast.db", opened = true }]])
    assert.equal(0, code, out)
    assert.same({ "anna@example.net", "carol@example.net" }, addresses(dir .. "/openers2.mailcast.db", "openers2"))
  end)

  it("refuses a campaign the store does not have, before anything is sent", function()
    local out, code = run("nothing", [[{ campaign = "octobre", store = "november.mailcast.db" }]])
    assert.is_not.equal(0, code, out)
    assert.matches("segment: no campaign 'octobre' in november.mailcast.db", out, 1, true)
  end)

  it("refuses a misspelled key, naming the script's line", function()
    local out, code = run("typo", [[{ campaign = "november", opend = false }]])
    assert.equal(1, code, out)
    assert.matches("typo.lua:5: segment: unknown key 'opend' (did you mean 'opened'?)", out, 1, true)
    assert.is_nil(io.open(dir .. "/typo.mailcast.db"), "a store was made")
  end)
end)
