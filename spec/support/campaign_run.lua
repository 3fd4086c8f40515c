-- What the runner specs share: a campaign script written for a list of
-- addresses, the runner started in its directory, and what a run leaves
-- behind read back (the accounting log, a sink's Maildir).
local helper = require "helper"
local mime = require "support.mime"
local json = require "dkjson"
local assert = require "luassert"

local M = {}
local q = mime.sh_quote

-- Writes campaign.lua for the addresses given; `fields` is Lua source
-- for the rest of the campaign table, `text` the text template (by
-- default "Message {{n}}.\n").
function M.write_campaign(dir, name, list, fields, text)
  local rows = {}
  for i, a in ipairs(list) do rows[i] = string.format("{ email = %q, n = %d }", a, i) end
  mime.write(dir .. "/campaign.lua", string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = %q,
  from = "News <news@example.com>",
  subject = "Hello {{n}}",
  text = %q,
  recipients = { %s },
  %s
}
]], name, text or "Message {{n}}.\n", table.concat(rows, ",\n    "), fields))
end

function M.relay(port, extra)
  return string.format('route = { host = "127.0.0.1", port = %d, tls = "none" },\n  %s', port, extra or "")
end

function M.concat_list(a, b)
  local out = {}
  for _, x in ipairs(a) do out[#out + 1] = x end
  for _, x in ipairs(b) do out[#out + 1] = x end
  return out
end

function M.addresses(n, domain)
  local list = {}
  for i = 1, n do list[i] = string.format("user%d@%s", i, domain or "example.org") end
  return list
end

function M.runner(dir, command, args)
  return "cd " .. q(dir) .. " && " .. q(helper.runner) .. " " .. command .. " " .. (args or "")
end

function M.run_campaign(dir, args)
  return helper.sh(M.runner(dir, "run campaign.lua", args))
end

-- Decodes one line of JSON; fails the test when it is not an object.
function M.decode(line)
  local r, _, err = json.decode(line, 1, nil)
  assert(err == nil and type(r) == "table", "not a JSON object: " .. line)
  return r
end

function M.json_lines(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do list[#list + 1] = M.decode(line) end
  return list
end

function M.log_records(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  assert.equal("\n", text:sub(-1), "the log's last line is not complete")
  return M.json_lines(text)
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.by_recipient(records)
  local by = {}
  for _, r in ipairs(records) do
    local e = by[r.recipient] or { transaction = {}, outcome = {} }
    by[r.recipient] = e
    table.insert(e[r.type], r)
  end
  return by
end

-- Delivered-To counts in a sink's Maildir.
function M.delivered_to(sink)
  local seen, n = {}, 0
  for _, f in ipairs(sink.files()) do
    for to in f:gmatch("Delivered%-To: ([^\r\n]+)") do seen[to] = (seen[to] or 0) + 1 end
    n = n + 1
  end
  return seen, n
end

return M
