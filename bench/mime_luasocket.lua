-- The LuaSocket contender of bench/mime: the same personalised message as
-- a socket.smtp.message source (a multipart table whose leaves are ltn12
-- sources through mime filters, as the LuaSocket manual shows), pumped
-- into a string. No cache: every message encodes the image and the PDF
-- again; the files are read once, up front.
--
--   lua5.4 mime_luasocket.lua FIXTURE_DIR COUNT MIN_SECONDS
--
-- Runs at least COUNT messages and MIN_SECONDS, prints
-- "messages=M seconds=S" and writes the first message to
-- FIXTURE_DIR/luasocket.eml.
local smtp = require "socket.smtp"
local socket = require "socket"
local mime = require "mime"
local ltn12 = require "ltn12"

local dir, count, min_seconds = arg[1], math.tointeger(tonumber(arg[2])), tonumber(arg[3])
assert(dir and count and min_seconds, "usage: mime_luasocket.lua FIXTURE_DIR COUNT MIN_SECONDS")

local CID = "<logo@example.com>"


local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end


local names = {}
for line in read(dir .. "/names.txt"):gmatch("[^\n]+") do names[#names + 1] = line end
local text_tpl, html_tpl = read(dir .. "/text.txt"), read(dir .. "/body.html")
local png, pdf = read(dir .. "/logo.png"), read(dir .. "/brochure.pdf")


-- LuaSocket has no RFC 2047 helper: one B encoded-word when needed (our
-- header texts are short enough for a single word).
local function header_text(s)
  if not s:find("[\128-\255]") then return s end
  return "=?UTF-8?B?" .. mime.b64(s) .. "?="
end


local function text_source(s)
  return ltn12.source.chain(ltn12.source.string(s), ltn12.filter.chain(
    mime.normalize(), mime.encode("quoted-printable"), mime.wrap("quoted-printable")))
end


local function base64_source(data)
  return ltn12.source.chain(ltn12.source.string(data),
    ltn12.filter.chain(mime.encode("base64"), mime.wrap()))
end


local function build(i)
  local name = names[i % #names + 1]
  local addr = string.format("reader%d@example.org", i)
  local subject = "Your November news, " .. name
  local source = smtp.message{
    headers = {
      from = "Example News <news@example.com>",
      to = header_text(name) .. " <" .. addr .. ">",
      subject = header_text(subject),
      ["message-id"] = string.format("<%d.%d@example.com>", os.time(), i),
    },
    body = {
      {
        headers = { ["content-type"] = "multipart/alternative" },
        body = {
          {
            headers = {
              ["content-type"] = 'text/plain; charset="utf-8"',
              ["content-transfer-encoding"] = "quoted-printable",
            },
            body = text_source((text_tpl:gsub("{{name}}", name))),
          },
          {
            headers = { ["content-type"] = "multipart/related" },
            body = {
              {
                headers = {
                  ["content-type"] = 'text/html; charset="utf-8"',
                  ["content-transfer-encoding"] = "quoted-printable",
                },
                body = text_source((html_tpl:gsub("{{name}}", name))),
              },
              {
                headers = {
                  ["content-type"] = 'image/png; name="logo.png"',
                  ["content-disposition"] = 'inline; filename="logo.png"',
                  ["content-id"] = CID,
                  ["content-transfer-encoding"] = "base64",
                },
                body = base64_source(png),
              },
            },
          },
        },
      },
      {
        headers = {
          ["content-type"] = 'application/pdf; name="brochure.pdf"',
          ["content-disposition"] = 'attachment; filename="brochure.pdf"',
          ["content-transfer-encoding"] = "base64",
        },
        body = base64_source(pdf),
      },
    },
  }
  local chunks = {}
  assert(ltn12.pump.all(source, (ltn12.sink.table(chunks))))
  return table.concat(chunks)
end


local first
local i = 0
local t0 = socket.gettime()
local elapsed
repeat
  local raw = build(i)
  first = first or raw
  i = i + 1
  elapsed = socket.gettime() - t0
until i >= count and elapsed >= min_seconds

local f = assert(io.open(dir .. "/luasocket.eml", "wb"))
f:write(first)
f:close()
print(string.format("messages=%d seconds=%.6f", i, elapsed))
