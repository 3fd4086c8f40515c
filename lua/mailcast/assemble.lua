-- A message built from a table whose keys are known good: mailcast.build
-- without the checks of a table a user wrote, for the callers that made
-- the table themselves (a campaign's message for each recipient, built
-- from fields checked once when the campaign was made). The parts of
-- inline and attachments come from the table's cache (default: one
-- shared by every caller), so a list's image is encoded once.
local core = require "mailcast.core"
local parts = require "mailcast.parts"
local schema = require "mailcast.schema"

local default_cache = parts.new()

local function cached(list, cache, field)
  if list == nil then return nil end
  if type(list) ~= "table" then
    schema.fail("mailcast.build", string.format("'%s' must be a list of parts, not %s", field, type(list)))
  end
  local out = {}
  for i, spec in ipairs(list) do
    local part, err = cache:part(spec)
    if not part then return nil, string.format("%s[%d]: %s", field, i, err) end
    out[i] = part
  end
  return out
end

--- assemble(t) -> mailcast.Message | nil, message (t as mailcast.build takes it)
return function(t)
  local cache = t.cache
  if cache == nil then cache = default_cache end
  if cache and (t.inline or t.attachments) then
    local spec = {}
    for k, v in pairs(t) do spec[k] = v end
    local err
    spec.inline, err = cached(t.inline, cache, "inline")
    if err then return nil, err end
    spec.attachments, err = cached(t.attachments, cache, "attachments")
    if err then return nil, err end
    t = spec
  end
  return core.build(t)
end
