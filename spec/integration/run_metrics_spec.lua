-- `mailcast run --metrics HOST:PORT`: the run's figures for Prometheus
-- while it runs, scraped during a run that waits for a deferred
-- recipient's retries (--wait) against the built-in sink, which refuses
-- one address and defers another.
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local serve = require "support.serve"
local socket = require "socket"

local q = mime.sh_quote

-- A port no one listens on now (the kernel's choice, let go at once).
local function free_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end


local function script(port)
  return string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = "metered", from = "News <news@example.com>", subject = "Hello",
  text = "Hello\n",
  recipients = { { email = "a@example.org" }, { email = "b@example.org" }, { email = "c@example.net" },
                 { email = "gone@example.org" }, { email = "later@example.org" } },
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  retry = { first = 1, max = 1, max_age = 6 },
}
]], port)
end


describe("mailcast run --metrics", function()
  local dir, sink

  setup(function()
    dir = mime.tmpdir()
    sink = builtin_sink.start("--quiet --reject " .. q("gone@example.org=550 5.1.1 no such user")
      .. " --reject " .. q("later@example.org=451 4.7.1 try again later"))
    mime.write(dir .. "/campaign.lua", script(sink.port))
  end)

  teardown(function()
    if sink then sink.cleanup() end
    if dir then mime.rmdir(dir) end
  end)

  it("serves the run's figures in Prometheus' text format while it runs", function()
    local port = free_port()
    local p = io.popen(string.format("cd %s && timeout 120 %s run campaign.lua --wait --quiet --no-log --metrics 127.0.0.1:%d"
      .. " > run.out 2>&1; echo $? > run.code", q(dir), q(helper.runner), port), "r")
    -- The deferred recipient holds the run for its retries: the page is
    -- scraped then.
    local page = serve.wait_until(function()
      local code, body = serve.request(port, "GET", "/metrics")
      if code == 200 and serve.metric(body, 'mailcast_recipients{campaign="metered",state="delivered"}') == 3
          and serve.metric(body, 'mailcast_recipients{campaign="metered",state="deferred"}') == 1 then
        return body
      end
    end, 60)
    local _, health = serve.request(port, "GET", "/healthz")
    local not_found = serve.request(port, "GET", "/other")
    local post = serve.request(port, "POST", "/metrics", "x=1")
    p:read("a")
    p:close()
    assert.is_string(page, mime.try_read(dir .. "/run.out"))
    assert.equal("0", (mime.try_read(dir .. "/run.code") or ""):match("%d+"), mime.try_read(dir .. "/run.out"))
    assert.equal("ok\n", health)
    assert.equal(404, not_found)
    assert.is_true(post >= 400 and post < 500, tostring(post))   -- refused: nothing is posted here
    assert.matches("# TYPE mailcast_outcomes_total counter\n", page, 1, true)
    assert.equal(3, serve.metric(page, 'mailcast_outcomes_total{campaign="metered",state="delivered",reason=""}'))
    assert.equal(1, serve.metric(page, 'mailcast_outcomes_total{campaign="metered",state="failed",reason="user_unknown"}'))
    assert.matches('\nmailcast_outcomes_total{campaign="metered",state="deferred",reason="[%w_]+"} [1-9]', page)
    assert.equal(1, serve.metric(page, 'mailcast_queue_depth{campaign="metered"}'))
    assert.equal(1, serve.metric(page, 'mailcast_recipients{campaign="metered",state="failed"}'))
    assert.equal(1, serve.metric(page, "mailcast_destinations"))
    for _, name in ipairs { "mailcast_connections", "mailcast_destinations_backing_off", "mailcast_destinations_down",
                            "mailcast_jobs_queued", "mailcast_jobs_unacked" } do
      assert.is_number(serve.metric(page, name), name)
    end
    -- Gone with the run.
    assert.equal("connection refused", (serve.request(port, "GET", "/metrics")))
  end)

  it("refuses an address it cannot use, and --workers, with status 2 and why", function()
    for _, case in ipairs {
      { "--metrics nowhere", "%-%-metrics wants HOST:PORT" },
      { "--metrics 127.0.0.1:99999", "%-%-metrics wants HOST:PORT" },
      { "--metrics 127.0.0.1:0 --workers 2", "%-%-metrics serves the figures of one process" },
    } do
      local out, code = helper.sh("cd " .. q(dir) .. " && " .. q(helper.runner) .. " run campaign.lua --quiet " .. case[1])
      assert.equal(2, code, case[1] .. ": " .. out)
      assert.matches(case[2], out)
    end
  end)
end)
