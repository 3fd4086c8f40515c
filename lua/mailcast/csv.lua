-- CSV recipient lists (RFC 4180 and what spreadsheets write): the first
-- row names the columns; quoted fields may hold commas, quotes ("") and
-- line breaks; CRLF, LF and CR line ends; a UTF-8 byte order mark is
-- skipped. The reading is the core's (csrc/core/csv.c), streamed, so a
-- list of a million rows is never held whole. A quoted field may run
-- over at most 10 lines and 64 KB: past that (or to the end of the file)
-- its row is refused at the line where the quote opened, and the reading
-- goes on with the line after it, so a stray quote costs one row.
local core = require "mailcast.core"

local M = {}

--- open(path) -> reader, columns: the file opened and its header row
-- read | nil, "csv: ..." when the file cannot be opened or read, or its
-- header row is missing or malformed.
function M.open(path)
  local reader, err = core.csv_open(path)
  if not reader then return nil, "csv: " .. err end
  local columns, why, bad_line = reader:next()
  if columns == nil then
    reader:close()
    if why then return nil, string.format("csv: %s: %s", path, why) end
    return nil, string.format("csv: %s is empty (no header row)", path)
  end
  if not columns then
    reader:close()
    return nil, string.format("csv: %s:%d: %s", path, bad_line, why)
  end
  local line = why
  for i, name in ipairs(columns) do
    columns[i] = name:match("^%s*(.-)%s*$")
    if columns[i] == "" then
      reader:close()
      return nil, string.format("csv: %s:%d: column %d has no name", path, line, i)
    end
  end
  return reader, columns
end

--- check(path) -> true | nil, message: whether rows(path) would start
-- (the file opens, its header row is there and sound); reads no further.
-- For a campaign to fail where it is made, before any store exists.
function M.check(path)
  local reader, err = M.open(path)
  if not reader then return nil, err end
  reader:close()
  return true
end

--- rows(path) -> iterator over rows as tables keyed by column name, each
-- with its line number at row._line. Raises on a file that cannot be read
-- or a malformed header row. A malformed row yields false and a message
-- naming the file and line, and the iteration goes on:
--   for row, err in csv.rows(path) do if not row then warn(err) ... end end
function M.rows(path)
  local reader, columns = M.open(path)
  if not reader then error(columns, 2) end
  local done = false
  return function()
    if done then return nil end
    local row, why, line = reader:next(columns)
    if row then return row end
    if row == false then return false, string.format("csv: %s:%d: %s", path, line, why) end
    done = true
    reader:close()
    if why then error(string.format("csv: %s: %s", path, why), 2) end
    return nil
  end
end

return M
