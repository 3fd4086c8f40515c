-- A store and mailboxes for the bounce-processing specs: a campaign
-- ("november", the name the labelled samples' returned messages carry)
-- whose recipients are the samples' (readerN@example.org), and the
-- samples of spec/support/bounce_samples.lua rendered for them, with a
-- VERP tag of the store's own or with the samples' foreign token.
local core = require "mailcast.core"
local bounces = require "mailcast.bounces"
local samples = require "support.bounce_samples"
local mime = require "support.mime"

local M = {}

M.CAMPAIGN = "november"


-- The file helpers every spec uses (support.mime), under the names the
-- bounce specs call them by.
M.tmpdir, M.rmrf, M.write, M.read = mime.tmpdir, mime.rmdir, mime.write, mime.try_read


--- store(path [, n = #samples]) -> Store, campaign id: recipients
-- reader1..readerN@example.org in campaign "november".
function M.store(path, n)
  local store = assert(core.store(path))
  local cid = assert(store:campaign(M.CAMPAIGN))
  assert(store:begin())
  for i = 1, n or #samples.samples do
    assert(store:add(cid, string.format("reader%d@example.org", i)))
  end
  assert(store:commit())
  return store, cid
end


--- recipient(store, i) -> the store's row for readerI@example.org.
function M.recipient(store, i)
  return store:recipients(string.format("reader%d@example.org", i))[1]
end


--- render(store, name, i [, opts]) -> raw, expect, recipient row
-- The sample called name for recipient i. Its token (in the bounce
-- address, Return-Path and X-Mailcast-Recipient) becomes the recipient's
-- VERP tag, unless opts.foreign (the samples' own "r00000i", which is no
-- tag of ours). opts.message_id: the returned Message-ID becomes ours.
function M.render(store, name, i, opts)
  opts = opts or {}
  local vars = samples.vars(i)
  local rec = M.recipient(store, i)
  if not opts.foreign then
    local old, tag = vars.TOKEN, bounces.tag(rec.campaign, rec.id, store)
    for k, v in pairs(vars) do vars[k] = v:gsub(old, tag) end
  end
  if opts.message_id then
    local mid = bounces.message_id(rec.campaign, rec.id, "news.example.com", store)
    local old = vars.MSGID
    for k, v in pairs(vars) do vars[k] = v:gsub(old:gsub("%p", "%%%0"), (mid:gsub("%%", "%%%%"))) end
  end
  local raw, expect = samples.render(samples.get(name), vars)
  return raw, expect, rec
end


--- index(name) -> the position of the sample called name (its recipient).
function M.index(name)
  for i, s in ipairs(samples.samples) do
    if s.name == name then return i end
  end
  error("no sample " .. name)
end


--- maildir(dir) -> dir, made with new/, cur/ and tmp/.
function M.maildir(dir)
  for _, d in ipairs { dir, dir .. "/new", dir .. "/cur", dir .. "/tmp" } do
    os.execute("mkdir -p " .. mime.sh_quote(d))
  end
  return dir
end


local serial = 0

--- deliver(dir, raw [, sub = "new"]) -> the file's path in the Maildir.
function M.deliver(dir, raw, sub)
  serial = serial + 1
  local path = string.format("%s/%s/%d.M%dP%d.test", dir, sub or "new", os.time(), serial, serial)
  M.write(path, raw)
  return path
end


--- files(dir) -> the names of the regular files in dir, sorted.
function M.files(dir)
  local p = assert(io.popen("ls -1 " .. mime.sh_quote(dir) .. " 2>/dev/null"))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end


--- mbox(path, messages): writes an mbox (mboxrd quoting).
function M.mbox(path, messages)
  local parts = {}
  for _, raw in ipairs(messages) do
    raw = raw:gsub("\r\n", "\n"):gsub("\n(>*From )", "\n>%1")
    if raw:sub(-1) ~= "\n" then raw = raw .. "\n" end
    parts[#parts + 1] = "From MAILER-DAEMON Mon Nov  4 10:00:05 2024\n" .. raw .. "\n"
  end
  M.write(path, table.concat(parts))
end

return M
