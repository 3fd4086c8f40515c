-- The example newsletter: a text and an HTML version with an inline logo
-- and a PDF brochure, personalised for every row of recipients.csv and
-- written out as .eml files to look at (send.lua sends them).
--
--   mailcast run examples/newsletter/newsletter.lua [OUTPUT_DIR]
local mailcast = require "mailcast"
local csv = require "mailcast.csv"

local here = arg[0]:match("^(.*)/") or "."
local out_dir = arg[1] or (here .. "/out")
local newsletter = dofile(here .. "/build.lua").new(here)
local parts = newsletter.parts

assert(os.execute("mkdir -p '" .. out_dir:gsub("'", "'\\''") .. "'"))

-- One line per entity of the message, indented by depth.
local function outline(entity, depth, lines)
  local what = entity.content_type
  if entity.filename then what = what .. string.format(' "%s"', entity.filename) end
  if entity.content_id then what = what .. " <" .. entity.content_id .. ">" end
  if entity.body then
    what = what .. string.format(" (%s, %d bytes)", entity.encoding, #entity.body)
  end
  lines[#lines + 1] = string.rep("  ", depth) .. what
  for _, part in ipairs(entity.parts or {}) do outline(part, depth + 1, lines) end
  return lines
end

local written, failed, first = 0, 0, nil
for row, err in csv.rows(here .. "/recipients.csv") do
  local raw
  if row then
    local message
    message, err = newsletter(row)
    if message then raw, err = mailcast.message(message) end
    if err then err = string.format("%s (line %d): %s", row.email, row._line, err) end
  end
  if raw then
    written = written + 1
    local path = string.format("%s/%02d-%s.eml", out_dir, written, row.email)
    local f = assert(io.open(path, "wb"))
    f:write(raw)
    f:close()
    print(string.format("wrote %-60s %7d bytes", path, #raw))
    first = first or raw
  else
    failed = failed + 1
    io.stderr:write("skipped: ", err, "\n")
  end
end

print(string.format("\n%d messages written, %d skipped; parts encoded %d times, reused %d times",
  written, failed, parts.misses, parts.hits))
if first then
  print("\nstructure of the first message:")
  print(table.concat(outline(mailcast.parse(first), 1, {}), "\n"))
end
return failed == 0 and 0 or 1
