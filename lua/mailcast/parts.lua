-- A cache of encoded parts (attachments, inline images), so a file sent
-- to a whole list is read and encoded once. One cache per campaign; the
-- module keeps a default one for mailcast.message.
local core = require "mailcast.core"

local M = {}

local Cache = {}
Cache.__index = Cache

-- The fields that change a part's headers or encoding: two specs that
-- agree on these and on their content make the same part.
local SHAPE = { "filename", "content_type", "charset", "disposition",
                "content_id", "cid", "encoding" }

local function shape_key(spec)
  local key = {}
  for i, field in ipairs(SHAPE) do
    key[i] = tostring(spec[field] or "")
  end
  return table.concat(key, "\0")
end

--- New cache. opts: max_entries (256), max_bytes (256 MiB of encoded parts).
function M.new(opts)
  opts = opts or {}
  return setmetatable({
    max_entries = opts.max_entries or 256,
    max_bytes = opts.max_bytes or 256 * 1024 * 1024,
    by_path = {},   -- path .. shape -> {stamp=, part=}
    by_data = {},   -- data string -> {shape -> part}
    entries = 0, bytes = 0, hits = 0, misses = 0,
  }, Cache)
end

function Cache:clear()
  self.by_path, self.by_data = {}, {}
  self.entries, self.bytes = 0, 0
end

local function remember(self, part)
  local size = part:size()
  if self.entries + 1 > self.max_entries or self.bytes + size > self.max_bytes then
    self:clear()   -- a campaign uses a handful of parts: no need for LRU
  end
  self.entries = self.entries + 1
  self.bytes = self.bytes + size
end

--- The Part for spec (a table as for mailcast.part, or a Part, returned as
-- it is). Streamed specs are not cached: they are never held in memory.
-- Returns part | nil, message.
function Cache:part(spec)
  if type(spec) ~= "table" or spec.stream then return spec end
  local shape = shape_key(spec)
  if spec.path then
    local stamp, err = core.file_stamp(spec.path)
    if not stamp then return nil, err end
    local key = spec.path .. "\0" .. shape
    local hit = self.by_path[key]
    if hit and hit.stamp == stamp then
      self.hits = self.hits + 1
      return hit.part
    end
    local part, perr = core.part(spec)
    if not part then return nil, perr end
    self.misses = self.misses + 1
    remember(self, part)
    self.by_path[key] = { stamp = stamp, part = part }
    return part
  end
  if type(spec.data) == "string" then
    -- Keyed by the string itself: Lua hashes a long string once and
    -- compares the same string by identity, so a hit costs no copy.
    local shapes = self.by_data[spec.data]
    local part = shapes and shapes[shape]
    if part then
      self.hits = self.hits + 1
      return part
    end
    local perr
    part, perr = core.part(spec)
    if not part then return nil, perr end
    self.misses = self.misses + 1
    remember(self, part)
    shapes = self.by_data[spec.data] or {}
    shapes[shape] = part
    self.by_data[spec.data] = shapes
    return part
  end
  return spec   -- let the core report what is wrong with it
end

return M
