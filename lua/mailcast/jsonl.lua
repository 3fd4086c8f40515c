-- JSON lines for logs and machine-readable progress: one flat record
-- (strings, numbers, booleans) per line, its fields in a fixed order.
local core = require "mailcast.core"

local M = {}

--- string(s) -> s as a JSON string. Bytes that are not UTF-8 (a server's
-- reply can hold anything) are read as Latin-1, so the line stays valid
-- and the valid text around them stays as it is.
M.string = core.json_string

--- encode(record, fields) -> one line of JSON (no newline): the fields
-- named in order, those that are nil left out. Integers as they are,
-- other numbers to the microsecond. In C, with the same encodings as the
-- accounting log's records (csrc/core/json.c).
M.encode = core.json_record

--- values(fields, v1, v2, ...) -> the line encode(record, fields) gives
-- for the record {[fields[i]] = vi}, without making the record.
M.values = core.json_values

--- iso_time(t) -> "2026-11-29T04:05:06.789Z" for seconds since the epoch.
local last_second, last_text, last_ms, last_iso

function M.iso_time(t)
  local ms = math.floor(t * 1000)
  if ms == last_ms then return last_iso end   -- a busy run logs several a millisecond
  local whole = ms // 1000
  if whole ~= last_second then   -- os.date once a second, not once a record
    last_second, last_text = whole, os.date("!%Y-%m-%dT%H:%M:%S", whole)
  end
  last_ms, last_iso = ms, string.format("%s.%03dZ", last_text, ms - whole * 1000)
  return last_iso
end

return M
