-- The text part of an HTML body, messages per second: mailcast's
-- html_text (C, what a campaign of a web page without text runs for
-- each recipient's rendered HTML) against the same rules written with
-- Python's html.parser, on one 100 KB newsletter (headings, paragraphs,
-- lists, tables, 400 links, a <style> and a <script>). Before any number
-- is believed, both texts must give the same links in the same order.
-- Rounds are interleaved; each contender's best round counts. Run it
-- through bench/page:
--
--   bench/page [N]    N messages for mailcast (default 2000 or
--                     $MAILCAST_BENCH_N); Python does N/20
local core = require "mailcast.core"
local common = dofile("bench/common.lua")
local shell_quote, write_file, read_file = common.shell_quote, common.write_file, common.read_file
local socket = require "socket"

local N = math.tointeger(tonumber(arg[1] or os.getenv("MAILCAST_BENCH_N") or 2000))
assert(N and N > 0, "bench/page: N must be a positive integer")
local MIN_SECONDS = tonumber(os.getenv("MAILCAST_BENCH_SECONDS") or 2)
local SLOW_N = math.max(10, N // 20)
local PYTHON = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
local ROUNDS = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_ROUNDS") or 3))

local function newsletter()
  local h = { "<!DOCTYPE html><html><head><title>News</title><style>p{color:#333}</style>",
              "<script>var x = '<p>not text</p>';</script></head><body>" }
  local i = 0
  while #table.concat(h) < 100 * 1024 do
    i = i + 1
    h[#h + 1] = string.format("<h2>Story %d: caf&eacute; &amp; more</h2>\n<p>Our <b>autumn</b> range, story %d,"
      .. " is here&nbsp;now. Read <a href=\"https://shop.example.com/s/%d?utm_source=nl&amp;utm_medium=email\">"
      .. "the full story</a> or <a href=\"https://shop.example.com/s/%d\">https://shop.example.com/s/%d</a>.</p>\n"
      .. "<ul><li>Wool <i>coats</i></li><li>Linen scarves</li></ul>\n<table><tr><td>Price</td><td>%d.00</td></tr>"
      .. "</table>\n", i, i, i, i, i, 10 + i)
  end
  h[#h + 1] = "</body></html>\n"
  return table.concat(h)
end

local function links(text)
  local out = {}
  for url in text:gmatch("https://shop%.example%.com/s/[%w%?=&_]+") do out[#out + 1] = url end
  return table.concat(out, " ")
end

local function run_mailcast(html)
  local n, start, text = 0, socket.gettime(), nil
  repeat
    for _ = 1, N do text = core.html_text(html) end
    n = n + N
  until socket.gettime() - start >= MIN_SECONDS
  return { n = n, seconds = socket.gettime() - start, text = text }
end

local function run_python(dir)
  local p = assert(io.popen(table.concat({ shell_quote(PYTHON), "bench/page_python.py",
    shell_quote(dir .. "/doc.html"), SLOW_N, MIN_SECONDS, shell_quote(dir .. "/python.txt") }, " ")))
  local out = p:read("a")
  p:close()
  local n, seconds = out:match("messages=(%d+) seconds=([%d.]+)")
  assert(n, "bench/page: the Python contender failed:\n" .. out)
  return { n = tonumber(n), seconds = tonumber(seconds), text = read_file(dir .. "/python.txt") }
end

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. shell_quote(dir))
local html = newsletter()
write_file(dir .. "/doc.html", html)
print(string.format("bench/page: a %d KB newsletter, %d rounds (interleaved), best round each", #html // 1024, ROUNDS))
local best = {}
for round = 1, ROUNDS do
  for _, who in ipairs { "mailcast", "python" } do
    local r = who == "mailcast" and run_mailcast(html) or run_python(dir)
    if round == 1 and who == "python" then
      local mine, theirs = links(best.mailcast.text), links(r.text)
      assert(mine ~= "" and mine == theirs, "bench/page: the two texts give different links")
    end
    r.rate = r.n / r.seconds
    if not best[who] or r.rate > best[who].rate then best[who] = r end
  end
end
os.execute("rm -rf " .. shell_quote(dir))
print(string.format("  %-36s %10.0f messages/s", "mailcast html_text (C)", best.mailcast.rate))
print(string.format("  %-36s %10.0f messages/s", "Python html.parser, same rules", best.python.rate))
print(string.format("  ratio mailcast / Python: %.1fx", best.mailcast.rate / best.python.rate))
