-- The example newsletter: a text and an HTML version with an inline logo
-- and a PDF brochure, personalised for every row of recipients.csv and
-- written out as .eml files (until sending arrives, that is the result).
--
--   mailcast run examples/newsletter/newsletter.lua [OUTPUT_DIR]
local mailcast = require "mailcast"
local csv = require "mailcast.csv"
local template = require "mailcast.template"

local here = arg[0]:match("^(.*)/") or "."
local out_dir = arg[1] or (here .. "/out")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end

local text = template.compile(read(here .. "/newsletter.txt"), "newsletter.txt")
local html = template.compile(read(here .. "/newsletter.html"), "newsletter.html", { html = true })
local subject = template.compile("{{first_name}}, our November news — Neuigkeiten für Sie", "subject")

-- Encoded once, shared by every message.
local parts = mailcast.parts()
local logo = { path = here .. "/logo.png", cid = "logo@example.com" }
local brochure = { path = here .. "/brochure.pdf", filename = "Broschüre November.pdf" }

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
    row.unsubscribe_url = "https://news.example.com/u/" .. mailcast.b64(row.email):gsub("=", "")
    local body_text, body_html, subj
    body_text, err = text(row)
    if body_text then body_html, err = html(row) end
    if body_html then subj, err = subject(row) end
    if subj then
      raw, err = mailcast.message{
        from = { name = "Mailcast Demo", address = "news@example.com" },
        to = { name = row.first_name .. " " .. row.last_name, address = row.email },
        subject = subj,
        text = body_text,
        html = body_html,
        inline = { logo },
        attachments = { brochure },
        headers = { ["X-Campaign"] = "newsletter-2026-11" },
        cache = parts,
      }
    end
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
