-- `mailcast serve` and its peers run as a user runs them, for the serve
-- and webhook specs: processes started in the background on free ports
-- (each writes a port file when it is ready), HTTP requests, /metrics.
local helper = require "helper"
local mime = require "support.mime"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"

local q = mime.sh_quote
local M = {}

M.SECRET = "a tracking secret of some length"

M.try_read = mime.try_read

--- campaign_script(name, port, recipients) -> a campaign to the sink at
-- port, tracked (with M.SECRET), with one-click unsubscribe; recipients
-- is Lua source for the list.
function M.campaign_script(name, port, recipients, extra)
  return string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = %q, from = "News <news@example.com>", subject = "Hello {{name}}",
  text = "Hello {{name}}\n",
  html = [=[<html><body><p>Hello {{name}}</p>
<a href="https://example.com/news?a=1&amp;b=2">News</a>
<a href="https://shop.example.org/sale">Sale</a>
<a href="{{unsubscribe_url}}">Unsubscribe</a>
</body></html>]=],
  recipients = %s,
  route = { host = "127.0.0.1", port = %d, tls = "none" },
  track = { base = "https://t.example.com", secret = %q },
  unsubscribe = { mailto = "leave@example.com" },
  %s
}
]], name, recipients, port, M.SECRET, extra or "")
end

--- run_campaign(dir, name, sink_port, recipients, store_path): writes
-- campaign_script's campaign to dir/NAME.lua and runs it with the runner
-- into the store; raises unless it ends well.
function M.run_campaign(dir, name, sink_port, recipients, store_path, extra)
  local script = dir .. "/" .. name .. ".lua"
  mime.write(script, M.campaign_script(name, sink_port, recipients, extra))
  local out, code = helper.sh(q(helper.runner) .. " run " .. q(script) .. " --quiet --store " .. q(store_path))
  assert(code == 0, out)
end

--- tokens(messages) -> by recipient address, {open=, clicks={...},
-- unsubscribe=}: the tracking tokens in the HTML of raw messages the
-- campaign of campaign_script sent.
function M.tokens(messages)
  local mailcast = require "mailcast"
  local tokens = {}
  for _, raw_msg in ipairs(messages) do
    local msg = mailcast.parse(raw_msg)
    local to, html
    for _, h in ipairs(msg.headers) do if h.name:lower() == "to" then to = h.value end end
    local function walk(e)
      if e.content_type == "text/html" then html = e.body end
      for _, p in ipairs(e.parts or {}) do walk(p) end
    end
    walk(msg)
    local t = { clicks = {} }
    t.open = html:match('<img src="https://t%.example%.com/o/([^"]+)"')
    for tok in html:gmatch('href="https://t%.example%.com/c/([^"]+)"') do t.clicks[#t.clicks + 1] = tok end
    t.unsubscribe = html:match('href="https://t%.example%.com/u/([^"]+)"')
    tokens[to:match("<?([^<>%s]+@[^<>%s]+)>?")] = t
  end
  return tokens
end

--- background(cmd, port_file, out) -> port, pid: runs the shell command
-- cmd in the background (output to the file out) and waits up to 10 s for
-- it to write its port to port_file.
function M.background(cmd, port_file, out)
  os.remove(port_file)
  local p = io.popen(cmd .. " > " .. q(out) .. " 2>&1 & echo $!")
  local pid = p:read("l")
  p:close()
  for _ = 1, 500 do
    local text = M.try_read(port_file)
    local port = text and tonumber(text:match("%d+"))
    if port then return port, pid end
    socket.sleep(0.02)
  end
  error("did not start: " .. cmd .. "\n" .. (M.try_read(out) or ""))
end

--- start(dir, store, args, env) -> port, pid: `mailcast serve` on a free
-- port of 127.0.0.1 with the store file, more arguments and environment
-- (shell text); its output goes to dir/serve.out.
function M.start(dir, store, args, env)
  return M.background(string.format("MAILCAST_TRACK_SECRET=%s %s timeout --foreground 300 %s serve --store %s"
    .. " --listen 127.0.0.1:0 --port-file %s %s", q(M.SECRET), env or "", q(helper.runner), q(store),
    q(dir .. "/port"), args or ""), dir .. "/port", dir .. "/serve.out")
end

--- stop(pid) -> whether the process is gone within 10 s of SIGTERM. The
-- signal goes to serve itself, once. (timeout(1) runs with --foreground:
-- without it, it passes a signal on to its whole group followed by a
-- SIGCONT, which can cancel the SIGSTOP that the leak checker of a
-- sanitizer build stops the process with at exit, and leave it hung.)
function M.stop(pid)
  os.execute("pkill -TERM -P " .. pid .. " 2>/dev/null || kill " .. pid .. " 2>/dev/null")
  for _ = 1, 200 do
    if not os.execute("kill -0 " .. pid .. " 2>/dev/null") then return true end
    socket.sleep(0.05)
  end
  return false
end

--- request(port, method, path [, body [, headers]]) -> code, body, headers
function M.request(port, method, path, body, headers)
  local chunks = {}
  headers = headers or {}
  if body then headers["content-length"] = tostring(#body) headers["content-type"] = "application/x-www-form-urlencoded" end
  local _, code, hdrs = http.request {
    url = "http://127.0.0.1:" .. port .. path, method = method, headers = headers,
    source = body and ltn12.source.string(body), sink = ltn12.sink.table(chunks), redirect = false,
  }
  return code, table.concat(chunks), hdrs or {}
end

--- metric(text, name) -> the value of the metric name (with its labels) in
-- a /metrics page, or nil
function M.metric(text, name)
  local v = text:match("\n" .. name:gsub("[%[%]%(%)%.%-%+%*%?%^%$%%]", "%%%0") .. " (%d+)")
  return tonumber(v)
end

--- wait_until(fn, seconds) -> fn's first true result, or nil after seconds
function M.wait_until(fn, seconds)
  local deadline = socket.gettime() + seconds
  repeat
    local v = fn()
    if v then return v end
    socket.sleep(0.05)
  until socket.gettime() > deadline
  return nil
end

return M
