-- The newsletter of this example, personalised for one row of
-- recipients.csv: shared by newsletter.lua (writes .eml files) and
-- send.lua (sends them).
local mailcast = require "mailcast"
local template = mailcast.template

local M = {}

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end

--- new(dir) -> a builder: builder(row) -> message table | nil, error.
-- Templates are compiled and the logo and brochure encoded once.
function M.new(dir)
  local text = template.compile(read(dir .. "/newsletter.txt"), "newsletter.txt")
  local html = template.compile(read(dir .. "/newsletter.html"), "newsletter.html", { html = true })
  local subject = template.compile("{{first_name}}, our November news — Neuigkeiten für Sie", "subject")
  local parts = mailcast.parts()
  local logo = { path = dir .. "/logo.png", cid = "logo@example.com" }
  local brochure = { path = dir .. "/brochure.pdf", filename = "Broschüre November.pdf" }
  local builder = { parts = parts }
  return setmetatable(builder, { __call = function(_, row)
    row.unsubscribe_url = "https://news.example.com/u/" .. mailcast.b64(row.email):gsub("=", "")
    local body_text, body_html, subj, err
    body_text, err = text(row)
    if body_text then body_html, err = html(row) end
    if body_html then subj, err = subject(row) end
    if not subj then return nil, err end
    return {
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
  end })
end

return M
