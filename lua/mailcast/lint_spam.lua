-- Real spam filters for `mailcast lint`: the message as it would be sent
-- is scored by Rspamd (its HTTP /checkv2) and by SpamAssassin (spamd's
-- SPAMC protocol, or the spamassassin program with local tests only),
-- whichever are there: given on the command line or found on their
-- usual local ports. The score, the threshold and every rule that fired
-- with its description come back.
local socket = require "socket"
local json = require "mailcast.json_decode"
local finding = require("mailcast.lint_content").finding

local M = {}

M.RSPAMD_DEFAULT = "http://127.0.0.1:11333"
M.SPAMD_DEFAULT = "127.0.0.1:783"
M.TIMEOUT = 30   -- seconds; a first scan compiles rules

local INSTALL = "no spam filter answered: install one to score messages " ..
  "(Debian: apt-get install rspamd, or spamassassin spamd), or give --rspamd URL / --spamd HOST:PORT"

local function host_port(s, default_port)
  local host, port = s:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = s:match("^([^:]+):(%d+)$") end
  if not host then host, port = s, default_port end
  return host, tonumber(port)
end

-- Whether something listens at host:port (a quick connect).
local function listening(host, port)
  local c = socket.tcp()
  c:settimeout(0.5)
  local ok = c:connect(host, port)
  c:close()
  return ok ~= nil
end

-- Reads an HTTP/1.x response from c: status, body | nil, why.
local function http_response(c)
  local status_line, err = c:receive("*l")
  if not status_line then return nil, err end
  local status = tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))
  if not status then return nil, "not an HTTP answer: " .. status_line:sub(1, 80) end
  local length, chunked
  while true do
    local line = c:receive("*l")
    if not line then return nil, "the answer ends in its header" end
    if line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name and name:lower() == "content-length" then length = tonumber(value) end
    if name and name:lower() == "transfer-encoding" and value:lower():find("chunked") then chunked = true end
  end
  local body
  if chunked then
    local parts = {}
    while true do
      local size = tonumber((c:receive("*l") or ""):match("^%x+"), 16)
      if not size then return nil, "a bad chunk" end
      if size == 0 then break end
      parts[#parts + 1] = c:receive(size)
      c:receive("*l")
    end
    body = table.concat(parts)
  elseif length then
    body, err = c:receive(length)
  else
    body, err = c:receive("*a")
  end
  if not body then return nil, err end
  return status, body
end

local function sorted_rules(rules)
  table.sort(rules, function(a, b)
    if a.score ~= b.score then return a.score > b.score end
    return a.name < b.name
  end)
  return rules
end

--- rspamd(url, raw [, envelope]) -> {filter = "rspamd", at=, score=,
-- threshold=, action=, rules = {{name=, score=, description=}...}} |
-- nil, why. envelope = {from=, rcpt=, helo=} goes in Rspamd's request
-- headers, as an MTA would pass it.
function M.rspamd(url, raw, envelope)
  local host, port, path = url:match("^http://([^/:]+):?(%d*)(/?.*)$")
  if not host then return nil, "rspamd: only http:// URLs (" .. url .. ")" end
  port = tonumber(port) or 11333
  path = (path == "" or path == "/") and "/checkv2" or path
  local c = socket.tcp()
  c:settimeout(M.TIMEOUT)
  local ok, err = c:connect(host, port)
  if not ok then return nil, string.format("rspamd at %s: %s", url, err) end
  local head = { "POST " .. path .. " HTTP/1.0", "Host: " .. host, "Content-Length: " .. #raw }
  envelope = envelope or {}
  if envelope.from then head[#head + 1] = "From: " .. envelope.from end
  if envelope.rcpt then head[#head + 1] = "Rcpt: " .. envelope.rcpt end
  if envelope.helo then head[#head + 1] = "Helo: " .. envelope.helo end
  c:send(table.concat(head, "\r\n") .. "\r\n\r\n")
  c:send(raw)
  local status, body = http_response(c)
  c:close()
  if not status then return nil, "rspamd: " .. tostring(body) end
  if status ~= 200 then return nil, string.format("rspamd: HTTP %d: %s", status, body:sub(1, 200)) end
  local r, jerr = json.decode(body)
  if type(r) ~= "table" then return nil, "rspamd: " .. tostring(jerr or "not an object") end
  if r.error then return nil, "rspamd: " .. tostring(r.error) end
  local rules = {}
  for name, s in pairs(type(r.symbols) == "table" and r.symbols or {}) do
    if type(s) == "table" then
      rules[#rules + 1] = { name = tostring(name), score = tonumber(s.score) or 0, description = s.description }
    end
  end
  return { filter = "rspamd", at = url, score = tonumber(r.score) or 0, threshold = tonumber(r.required_score),
           action = r.action, rules = sorted_rules(rules) }
end

-- The rules of SpamAssassin's report table: " 2.7 NAME   description",
-- continued on lines that start with spaces.
local function report_rules(text)
  local rules, last = {}, nil
  local table_started = false
  for line in text:gmatch("[^\r\n]+") do
    if line:match("^%-%-%-%- %-") then table_started = true
    elseif table_started then
      local score, name, desc = line:match("^%s*(%-?[%d.]+)%s+([%w_]+)%s*(.*)$")
      if score then
        last = { name = name, score = tonumber(score) or 0, description = desc }
        rules[#rules + 1] = last
      elseif last and line:match("^%s+%S") then
        last.description = last.description .. " " .. line:match("^%s+(.-)%s*$")
      else
        last = nil
      end
    end
  end
  return sorted_rules(rules)
end

--- spamd(address, raw) -> {filter = "spamassassin", at=, score=,
-- threshold=, spam=, rules=...} | nil, why (the SPAMC protocol's REPORT).
function M.spamd(address, raw)
  local host, port = host_port(address, 783)
  local c = socket.tcp()
  c:settimeout(M.TIMEOUT)
  local ok, err = c:connect(host, port)
  if not ok then return nil, string.format("spamd at %s: %s", address, err) end
  c:send("REPORT SPAMC/1.5\r\nContent-length: " .. #raw .. "\r\n\r\n")
  c:send(raw)
  c:shutdown("send")
  local answer = c:receive("*a") or ""
  c:close()
  local code, message = answer:match("^SPAMD/%d%.%d (%d+) ([^\r\n]*)")
  if not code then return nil, "spamd: not a SPAMD answer" end
  if code ~= "0" then return nil, "spamd: " .. message end
  local spam, score, threshold = answer:match("\r?\nSpam: (%a+) ; (%-?[%d.]+) / (%-?[%d.]+)")
  if not spam then return nil, "spamd: no Spam line in the answer" end
  local body = answer:match("\r?\n\r?\n(.*)$") or ""
  return { filter = "spamassassin", at = address, score = tonumber(score), threshold = tonumber(threshold),
           spam = spam:lower() == "true" or spam:lower() == "yes", rules = report_rules(body) }
end

--- spamassassin(raw [, program]) -> as spamd, from the spamassassin
-- program run here with local tests only (-L: no network) and no user
-- preferences file made (-x).
function M.spamassassin(raw, program)
  program = program or "spamassassin"
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(raw)
  f:close()
  local p = io.popen(string.format("%s -L -x -t < '%s' 2>/dev/null", program, path))
  local out = p and p:read("a") or ""
  if p then p:close() end
  os.remove(path)
  local head = out:match("^(.-)\r?\n\r?\n") or ""
  head = head:gsub("\r?\n[ \t]+", " ")
  local spam, score, threshold = head:match("X%-Spam%-Status: (%a+), score=(%-?[%d.]+) required=(%-?[%d.]+)")
  if not spam then return nil, "spamassassin: no X-Spam-Status in its output" end
  local report = out:match("Content analysis details:.-\n(.-)\n\n") or ""
  return { filter = "spamassassin", at = "spamassassin -L (local tests)", score = tonumber(score),
           threshold = tonumber(threshold), spam = spam == "Yes", rules = report_rules(report .. "\n") }
end

local function on_path(program)
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local f = io.open(dir .. "/" .. program, "rb")
    if f then f:close() return true end
  end
  return false
end

local function show(lines, r)
  local verdict
  if r.filter == "rspamd" then
    verdict = string.format("score %.1f, rejected at %s (action: %s)", r.score,
      r.threshold and string.format("%.1f", r.threshold) or "?", tostring(r.action))
  else
    verdict = string.format("score %.1f, spam at %.1f%s", r.score, r.threshold or 0, r.spam and ": SPAM" or "")
  end
  lines[#lines + 1] = string.format("  %s at %s: %s", r.filter == "rspamd" and "Rspamd" or "SpamAssassin", r.at, verdict)
  for _, rule in ipairs(r.rules) do
    if rule.score ~= 0 then
      lines[#lines + 1] = string.format("    %5.1f  %-28s %s", rule.score, rule.name, rule.description or "")
    end
  end
end

--- check(campaign, msg, raw, o) -> the section of the lint report:
-- {name = "spam", lines=, findings=, data = {results...}} | nil when
-- o.spam is false.
function M.check(c, msg, raw, o)
  if o.spam == false then return nil end
  local lines, findings, results = { "spam filters:" }, {}, {}
  local envelope = { from = c.envelope_from, rcpt = msg.to }
  local function try(r, err)
    if r then
      results[#results + 1] = r
      show(lines, r)
    elseif err then
      lines[#lines + 1] = "  " .. err
      finding(findings, "warning", "spam.unreachable", err, "start the filter, or leave its option out")
    end
  end
  -- Rspamd: the URL given, else its usual local port when it answers.
  if o.rspamd then try(M.rspamd(o.rspamd, raw, envelope))
  elseif listening("127.0.0.1", 11333) then try(M.rspamd(M.RSPAMD_DEFAULT, raw, envelope)) end
  -- SpamAssassin: spamd given or found, else the program itself.
  if o.spamd then try(M.spamd(o.spamd, raw))
  elseif listening("127.0.0.1", 783) then try(M.spamd(M.SPAMD_DEFAULT, raw))
  elseif o.spamassassin ~= false and on_path("spamassassin") then try(M.spamassassin(raw)) end
  if #results == 0 and #findings == 0 then
    lines[#lines + 1] = "  " .. INSTALL
    finding(findings, "note", "spam.none", "no spam filter scored the message",
      "apt-get install rspamd (or spamassassin spamd), or give --rspamd URL / --spamd HOST:PORT")
  end
  for _, r in ipairs(results) do
    local name = r.filter == "rspamd" and "Rspamd" or "SpamAssassin"
    if r.filter == "rspamd" and (r.action == "reject" or r.action == "soft reject") then
      finding(findings, "error", "spam.rspamd", string.format("Rspamd would %s the message (score %.1f)", r.action, r.score),
        "mend what the rules above name, highest scores first")
    elseif r.filter == "rspamd" and r.action ~= "no action" and r.action ~= "greylist" then
      finding(findings, "warning", "spam.rspamd", string.format("Rspamd would %s (score %.1f)", tostring(r.action), r.score),
        "mend what the rules above name, highest scores first")
    elseif r.spam then
      finding(findings, "error", "spam.spamassassin", string.format("%s calls the message spam (%.1f of %.1f)",
        name, r.score, r.threshold), "mend what the rules above name, highest scores first")
    end
  end
  return { name = "spam", lines = lines, findings = findings, data = results }
end

return M
