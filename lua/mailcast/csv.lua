-- CSV recipient lists (RFC 4180 and what spreadsheets write): the first
-- row names the columns; quoted fields may hold commas, quotes ("") and
-- line breaks; a UTF-8 byte order mark is skipped. Rows are streamed, so
-- a list of a million rows is never held whole.
local core = require "mailcast.core"

local M = {}

-- Reads one record starting with line; returns the fields, or nil and an
-- error. next_line supplies continuation lines for quoted line breaks.
local function parse_record(line, next_line, where)
  local fields, field, i = {}, {}, 1
  local quoted, started = false, false
  while true do
    local c = line:sub(i, i)
    if quoted then
      if c == "" then
        local more = next_line()
        if not more then return nil, where() .. ": unterminated quoted field" end
        field[#field + 1] = "\n"
        line, i = more, 1
      elseif c == '"' then
        if line:sub(i + 1, i + 1) == '"' then
          field[#field + 1] = '"'
          i = i + 2
        else
          quoted = false
          i = i + 1
        end
      else
        local j = line:find('"', i, true) or #line + 1
        field[#field + 1] = line:sub(i, j - 1)
        i = j
      end
    elseif c == "," or c == "" then
      fields[#fields + 1] = table.concat(field)
      if c == "" then return fields end
      field, started, i = {}, false, i + 1
    elseif c == '"' and not started then
      quoted, started, i = true, true, i + 1
    else
      local j = line:find('[,"]', i) or #line + 1
      if line:sub(j, j) == '"' then
        return nil, where() .. ": quote inside an unquoted field"
      end
      field[#field + 1] = line:sub(i, j - 1)
      started, i = true, j
    end
  end
end

--- rows(path) -> iterator over rows as tables keyed by column name, each
-- with its line number at row._line. Raises on a file that cannot be read
-- or a malformed header row. A malformed row yields false and a message
-- naming the file and line, and the iteration goes on:
--   for row, err in csv.rows(path) do if not row then warn(err) ... end end
function M.rows(path)
  local f, err = io.open(path, "rb")
  if not f then error("csv: " .. err, 2) end
  local lineno = 0
  local function next_line()
    local line = f:read("l")
    if not line then return nil end
    lineno = lineno + 1
    if line:byte(-1) == 13 then line = line:sub(1, -2) end   -- CRLF
    if lineno == 1 then line = line:gsub("^\239\187\191", "") end
    return line
  end
  local function where() return string.format("%s:%d", path, lineno) end
  local header_line = next_line()
  if not header_line then
    f:close()
    error(string.format("csv: %s is empty (no header row)", path), 2)
  end
  local columns, herr = parse_record(header_line, next_line, where)
  if not columns then f:close() error("csv: " .. herr, 2) end
  for i, name in ipairs(columns) do
    columns[i] = name:match("^%s*(.-)%s*$")
    if columns[i] == "" then f:close() error(string.format("csv: %s: column %d has no name", where(), i), 2) end
  end
  return function()
    while true do
      local line = next_line()
      if not line then
        f:close()
        return nil
      end
      if line ~= "" then
        local first = lineno
        -- A line without quotes is split in C (nearly every line of a
        -- list); one with quotes may go on over the next lines.
        local fields, bad = core.csv_split(line)
        if fields == false then
          local perr
          fields, perr = parse_record(line, next_line, where)
          if not fields then return false, "csv: " .. perr end
          local ok
          ok, bad = core.utf8_valid(table.concat(fields, "\0"))
          if ok then bad = nil end
        end
        if bad then
          return false, string.format("csv: %s:%d: not valid UTF-8 (near byte %d)", path, first, bad)
        end
        if #fields ~= #columns then
          return false, string.format("csv: %s:%d: %d fields where the header has %d",
            path, first, #fields, #columns)
        end
        local row = { _line = first }
        for i, name in ipairs(columns) do row[name] = fields[i] end
        return row
      end
    end
  end
end

return M
