-- Segments: a campaign's list made of an earlier campaign's recipients,
-- chosen by what happened to them (a resend to those who did not open):
--
--   recipients = mailcast.segment{campaign = "november", delivered = true, opened = false}
--
-- Each recipient comes with the fields (merge variables) their row had,
-- and goes into the new campaign's own rows. The segment is read from the
-- store a page at a time (csrc/core/store_segment.c), as a CSV list is
-- read a row at a time, and it is fixed when the new campaign first reads
-- it: the events counted are those there were then, so a resumed run
-- reads the same recipients, whoever opened since.
local core = require "mailcast.core"
local schema = require "mailcast.schema"
local config = require "mailcast.config"

local M = {}

local Segment = { __name = "mailcast.Segment" }
Segment.__index = Segment

-- Recipients read from the store at a time.
local PAGE = 500

--- new{campaign=, delivered=, opened=, clicked=, failed=, reason=,
-- machine_opens=, store=} -> a segment, for a campaign's recipients. A
-- condition left out takes either way; reason: the bounce reason (or
-- one of a list) of each recipient's last outcome; opens by machines (image proxies, scanners, as
-- the report counts apart) count only with machine_opens = true. store:
-- the store holding the earlier campaign (default: the new campaign's
-- own; a relative name is the script's).
function M.new(t)
  t = schema.check(config.SEGMENT, t, "segment")
  if type(t.reason) == "table" and #t.reason == 0 then schema.fail("segment", "reason: give one reason or more") end
  local dir = require("mailcast.script_paths").dir()
  local store = t.store
  if store and dir and store:sub(1, 1) ~= "/" then store = dir .. store end
  return setmetatable({ campaign = t.campaign, store = store, conditions = {
    delivered = t.delivered, opened = t.opened, clicked = t.clicked, failed = t.failed, reason = t.reason,
    machine_opens = t.machine_opens,
  } }, Segment)
end

--- is(v) -> whether v is a segment.
function M.is(v) return getmetatable(v) == Segment end

-- The store the segment is read from: own (the new campaign's, open), or
-- its own store file, which must exist (nothing is made for a segment).
function Segment:source(own)
  if not self.store then return own end
  local f = io.open(self.store, "rb")
  if not f then return nil, string.format("segment: no store at %s", self.store) end
  f:close()
  return core.store(self.store)
end

--- segment:check(own, id) -> true | nil, why: the earlier campaign is in
-- its store and is not campaign id of own itself.
function Segment:check(own, id)
  local src, err = self:source(own)
  if not src then return nil, err end
  local source_id = src:find_campaign(self.campaign)
  if src ~= own then src:close() end
  if not source_id then
    return nil, string.format("segment: no campaign '%s' in %s", self.campaign, self.store or "the campaign's store")
  end
  if src == own and source_id == id then
    return nil, string.format("segment: campaign '%s' is the campaign itself", self.campaign)
  end
  return true
end

--- segment:rows(own, id, address_field) -> an iterator of recipient rows
-- (their fields, the address under address_field) for campaign id of
-- store own; id nil (a dry run): the segment as it is now, not fixed.
function Segment:rows(own, id, address_field)
  local src = assert(self:source(own))
  local query = {}
  for k, v in pairs(self.conditions) do query[k] = v end
  query.campaign = assert(src:find_campaign(self.campaign), "segment: the campaign is gone")
  local newest = assert(src:last_event())
  query.upto = id and assert(own:segment_fix(id, newest)) or newest
  local page, i, after = {}, 0, 0
  local function close()
    if src ~= own and src then src:close() end
    src = nil
  end
  return function()
    i = i + 1
    if not page[i] then
      if not src then return nil end
      page, i = assert(src:segment(query, after, PAGE)), 1
      if not page[1] then close() return nil end
      after = page[#page].id
    end
    local r = page[i]
    page[i] = false   -- the row is the caller's now; the page keeps no copy
    local row = core.pairs(r.data or "")
    -- The address the earlier campaign sent to, whatever its field was called.
    row[address_field] = r.address
    return row
  end
end

return M
