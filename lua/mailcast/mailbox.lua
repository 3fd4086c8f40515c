-- Local mailboxes as sources of bounce messages: a Maildir (processed
-- messages are moved to its .processed subfolder, so a second run does
-- not see them) and an mbox file (read only: the store remembers what
-- was read). A source has open, list, fetch, settle, close and abort
-- (see mailcast.bounces).
local lfs = require "lfs"

local M = {}

M.PROCESSED = ".processed"   -- the Maildir++ subfolder processed messages go to


local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data, rerr = f:read("a")
  f:close()
  if not data then return nil, path .. ": " .. tostring(rerr) end
  return data
end


local function is_dir(path)
  return lfs.attributes(path, "mode") == "directory"
end


local function mkdir(path)
  if is_dir(path) then return true end
  local ok, err = lfs.mkdir(path)
  if not ok and not is_dir(path) then return nil, string.format("maildir: cannot make %s: %s", path, err) end
  return true
end


-- Maildir ----------------------------------------------------------------

local Maildir = {}
Maildir.__index = Maildir


--- maildir(dir) -> a source reading dir/new and dir/cur.
function M.maildir(dir)
  dir = dir:gsub("/+$", "")
  return setmetatable({ dir = dir, name = "maildir " .. dir }, Maildir)
end


function Maildir:open()
  if not is_dir(self.dir .. "/new") or not is_dir(self.dir .. "/cur") then
    return nil, string.format("maildir: %s is not a Maildir (it needs new/ and cur/)", self.dir)
  end
  return true
end


function Maildir:list()
  local out = {}
  for _, sub in ipairs { "new", "cur" } do
    local names = {}
    for name in lfs.dir(self.dir .. "/" .. sub) do
      -- dot files are not messages (and "." and ".." are not either)
      if name:sub(1, 1) ~= "." and lfs.attributes(self.dir .. "/" .. sub .. "/" .. name, "mode") == "file" then
        names[#names + 1] = name
      end
    end
    table.sort(names)
    for _, name in ipairs(names) do
      out[#out + 1] = { id = sub .. "/" .. name, path = self.dir .. "/" .. sub .. "/" .. name, name = name }
    end
  end
  return out
end


function Maildir:fetch(h)
  local data, err = read_file(h.path)
  if not data then return nil, "maildir: " .. tostring(err) end
  return data
end


-- The name in cur/ with the S (seen) flag added to its info (":2,FLAGS",
-- flags in ASCII order as the Maildir format wants them).
local function seen_name(name)
  local base, flags = name:match("^(.-):2,(%a*)$")
  base, flags = base or name, flags or ""
  if not flags:find("S", 1, true) then
    local list = {}
    for c in (flags .. "S"):gmatch(".") do list[#list + 1] = c end
    table.sort(list)
    flags = table.concat(list)
  end
  return base .. ":2," .. flags
end


function Maildir:settle(h, processed)
  if not processed then return true end
  local target = self.dir .. "/" .. M.PROCESSED
  for _, d in ipairs { target, target .. "/tmp", target .. "/new", target .. "/cur" } do
    local ok, err = mkdir(d)
    if not ok then return nil, err end
  end
  local ok, err = os.rename(h.path, target .. "/cur/" .. seen_name(h.name))
  if not ok then return nil, "maildir: " .. tostring(err) end
  return true
end


function Maildir:close() return true end
function Maildir:abort() end


-- mbox -------------------------------------------------------------------

local Mbox = {}
Mbox.__index = Mbox


--- mbox(path) -> a source reading an mbox file, never changing it.
function M.mbox(path)
  return setmetatable({ path = path, name = "mbox " .. path, read_only = true }, Mbox)
end


function Mbox:open()
  local f, err = io.open(self.path, "rb")
  if not f then return nil, "mbox: " .. tostring(err) end
  self.file = f
  return true
end


-- Where each message is: a "From " line at the start of the file or
-- after an empty line begins one; the empty line before the next is the
-- separator, not part of the message.
function Mbox:list()
  local f = self.file
  f:seek("set", 0)
  local out, current = {}, nil
  local pos, prev_empty = 0, true
  while true do
    local line = f:read("L")
    if not line then break end
    local start = pos
    pos = pos + #line
    if prev_empty and line:sub(1, 5) == "From " then
      if current then current.stop = start - current.sep end
      current = { id = "#" .. (#out + 1), start = pos, sep = 0 }
      out[#out + 1] = current
    end
    prev_empty = line == "\n" or line == "\r\n"
    if current then current.sep = prev_empty and #line or 0 end
  end
  if current then current.stop = pos - current.sep end
  return out
end


function Mbox:fetch(h)
  self.file:seek("set", h.start)
  local raw = self.file:read(math.max(0, h.stop - h.start)) or ""
  -- mboxrd and mboxo quote "From " at a line's start with ">": undo one.
  raw = raw:gsub("\n>(>*From )", "\n%1")
  if raw:sub(1, 1) == ">" then raw = raw:gsub("^>(>*From )", "%1") end
  return raw
end


function Mbox:settle() return true end


function Mbox:close()
  if self.file then self.file:close() self.file = nil end
  return true
end

Mbox.abort = Mbox.close

return M
