-- Tracking insertion, messages per second: a 100 KB HTML newsletter with
-- 200 links rewritten for each recipient (a signed click token per link,
-- an open pixel before </body>) by mailcast.track.html, against a Python
-- rewrite with html.parser on the same document that makes the same
-- tokens. Python gives back the HTML, as mailcast.track.html does with
-- list = false (what a campaign asks for once it has stored its links);
-- the second row adds the list of links, a Lua table per link. The
-- outputs for the first recipient are compared byte for byte before any
-- number is believed; each contender's best of three rounds counts. Run
-- it through bench/track:
--
--   bench/track [N]    N messages for mailcast (default 2000 or
--                      $MAILCAST_BENCH_N); Python does N/20
local mailcast = require "mailcast"
local common = dofile("bench/common.lua")
local shell_quote, write_file, read_file = common.shell_quote, common.write_file, common.read_file

local ok_socket, socket = pcall(require, "socket")

-- Wall-clock seconds; CPU seconds (the same for this single-threaded
-- loop) when LuaSocket is missing.
local now = ok_socket and socket.gettime or os.clock

local N = math.tointeger(tonumber(arg[1] or os.getenv("MAILCAST_BENCH_N") or 2000))
assert(N and N > 0, "bench/track: N must be a positive integer")
local MIN_SECONDS = tonumber(os.getenv("MAILCAST_BENCH_SECONDS") or 2)
local SLOW_N = math.max(10, N // 20)
local PYTHON = os.getenv("MAILCAST_BENCH_PYTHON") or "/usr/bin/python3"
local ROUNDS = math.tointeger(tonumber(os.getenv("MAILCAST_BENCH_ROUNDS") or 3))

local BASE = "https://t.example.com"
local SECRET = "bench-secret-0123456789abcdefghij"
local CAMPAIGN = 20251101
local UNSUBSCRIBE = "https://example.com/unsubscribe?u=4711&amp;c=20251101"
local LINKS = 200
local TRACKED = 196   -- all but the mailto, the #top anchor, the unsubscribe link and one marked not to track

-- A deterministic stream of words, so every run has the same document.
local WORDS = {
  "autumn", "catalogue", "offer", "delivery", "free", "returns", "new", "colours", "wool",
  "linen", "jacket", "coat", "scarf", "boots", "limited", "edition", "handmade", "in", "the",
  "and", "for", "with", "our", "your", "this", "week", "only", "Grüße", "café", "naïve",
}
local seed = 12345
local function words(n)
  local out = {}
  for i = 1, n do
    seed = (seed * 1103515245 + 12345) % 2147483648
    out[i] = WORDS[seed % #WORDS + 1]
  end
  return table.concat(out, " ")
end

-- The newsletter: a head with styles and Outlook conditionals, a header
-- with 5 links, 45 product cards of 4 links each, 10 articles with one
-- link each, a footer with the 5 links the tracker must leave alone or
-- track (mailto, #top, unsubscribe, social); prose fills it to 100 KB.
local function newsletter()
  local h = {}
  local function add(s) h[#h + 1] = s end
  add('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n')
  add('<html xmlns="http://www.w3.org/1999/xhtml"><head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n')
  add('<title>November news</title>\n<style type="text/css">\nbody{margin:0;padding:0;font-family:Helvetica,Arial,sans-serif}\n')
  add('a{color:#c0392b;text-decoration:none} .btn a{display:inline-block;padding:10px 18px;background:#c0392b;color:#fff}\n')
  add('@media only screen and (max-width:600px){.card{width:100%!important}}\n</style>\n')
  add('<!--[if mso]><style>td{font-family:Arial,sans-serif}</style><![endif]-->\n</head>\n')
  add('<body style="margin:0;padding:0;background:#f4f4f4"><a name="top"></a>\n')
  add('<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr><td align="center">\n')
  add('<a href="https://shop.example.com/?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=nov">'
    .. '<img src="https://cdn.example.com/logo.png" width="160" height="48" alt="Example Shop" style="border:0" /></a>\n<p>')
  for _, nav in ipairs({ "women", "men", "home", "sale" }) do
    add(string.format('<a href="https://shop.example.com/%s?utm_source=newsletter&amp;utm_medium=email">%s</a> | ', nav, nav:upper()))
  end
  add("</p>\n")
  for card = 1, 45 do
    local url = string.format("https://shop.example.com/p/%d-%s", 1000 + card, words(2):gsub(" ", "-"))
    add(string.format('<table class="card" width="280" style="display:inline-block;margin:8px"><tr><td>\n'
      .. '<a href="%s?utm_source=newsletter&amp;utm_medium=email&amp;utm_content=image">'
      .. '<img src="https://cdn.example.com/p/%d.jpg" width="280" alt="%s" /></a>\n'
      .. '<h3 style="font-size:16px"><a href=\'%s?utm_content=title\'>%s</a></h3>\n'
      .. '<p style="font-size:13px;color:#555">%s</p>\n'
      .. '<p class="btn"><a href=%s?utm_content=button target=_blank>Buy now &rarr;</a> '
      .. '<A HREF="%s#details" TITLE="Details">Details &amp; sizes</A></p>\n</td></tr></table>\n',
      url, 1000 + card, words(3), url, words(4), words(215), url, url))
  end
  for article = 1, 10 do
    add(string.format('<h2>%s</h2>\n<p>%s <a href="https://blog.example.com/2025/11/%d?ref=mail&amp;id=%d">Read more</a></p>\n',
      words(5), words(160), article, article))
  end
  add('<!-- footer: <a href="https://old.example.com/">old link</a> -->\n<p style="font-size:12px;color:#777">\n')
  add('Questions? <a href="mailto:help@example.com">help@example.com</a> | <a href="#top">Back to top</a> | ')
  add('<a href="' .. UNSUBSCRIBE .. '">Unsubscribe</a> | ')
  add('<a href="https://www.instagram.com/example">Instagram</a> | ')
  add('<a data-mc-notrack href="https://www.example.com/privacy">Privacy</a></p>\n')
  add("</td></tr></table>\n</body>\n</html>\n")
  return table.concat(h)
end


local function opts(recipient, list)
  return {
    base = BASE, secret = SECRET, campaign = CAMPAIGN, recipient = recipient,
    unsubscribe_url = UNSUBSCRIBE:gsub("&amp;", "&"), list = list,
  }
end


--- Rewrites html for recipients 1, 2, ... for at least count messages
-- and MIN_SECONDS (list: false to ask for the HTML only). Returns
-- messages, seconds, the first output.
local function run_mailcast(html, count, list)
  local first
  local i = 0
  local t0 = now()
  local elapsed
  repeat
    i = i + 1
    local out, links = mailcast.track.html(html, opts(i, list))
    if not out then error("mailcast.track.html: " .. tostring(links)) end
    first = first or out
    elapsed = now() - t0
  until i >= count and elapsed >= MIN_SECONDS
  return i, elapsed, first
end


--- What mailcast wrote for recipient 1, checked: every link found, the
-- trackable ones tracked with tokens that check, the pixel in place.
local function check(html, out)
  local _, links = mailcast.track.html(html, opts(1))
  if #links ~= LINKS then return nil, #links .. " links found, expected " .. LINKS end
  local tracked = 0
  for _, l in ipairs(links) do if l.tracked then tracked = tracked + 1 end end
  if tracked ~= TRACKED then return nil, tracked .. " links tracked, expected " .. TRACKED end
  local clicks = 0
  for tok in out:gmatch("[\"']" .. BASE:gsub("%p", "%%%0") .. "/c/([%w_-]+)") do
    local t = mailcast.track.check(tok, SECRET)
    if not (t and t.recipient == 1 and t.campaign == CAMPAIGN) then return nil, "a click token does not check" end
    clicks = clicks + 1
  end
  if clicks ~= TRACKED then return nil, clicks .. " click URLs in the output" end
  if not out:find("/o/[%w_-]+\" width=\"1\" height=\"1\"[^>]*/></body>") then return nil, "no pixel before </body>" end
  return true
end


--- One round of the Python contender: messages, seconds | nil, why.
local function run_python(dir)
  local cmd = table.concat({ shell_quote(PYTHON), "bench/track_python.py", shell_quote(dir .. "/newsletter.html"),
    shell_quote(dir .. "/mailcast.html"), SECRET, CAMPAIGN, shell_quote((UNSUBSCRIBE:gsub("&amp;", "&"))),
    SLOW_N, MIN_SECONDS }, " ")
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  local m, s = out:match("messages=(%d+) seconds=([%d.]+)")
  if not m then return nil, "no result: " .. out:gsub("%s+$", "") end
  if not out:find("same as mailcast", 1, true) then return nil, (out:gsub("%s+$", "")) end
  return tonumber(m), tonumber(s)
end


-- Keeps the better round in rows[key] (or the failure).
local function keep(rows, key, label, m, s)
  local r = rows[key] or { label = label, n = 0, seconds = 0, rate = 0, ok = true }
  rows[key] = r
  if not m then
    r.ok, r.why = false, s
  elseif r.ok and m / s > r.rate then
    r.n, r.seconds, r.rate = m, s, m / s
  end
end


local function main()
  local html = newsletter()
  assert(#html >= 100 * 1024 and #html <= 110 * 1024,
    "bench/track: the document is " .. #html .. " bytes, not about 100 KB")
  local p = assert(io.popen("mktemp -d /tmp/mailcast-bench.XXXXXX"))
  local dir = p:read("l")
  p:close()
  write_file(dir .. "/newsletter.html", html)

  print(string.format("bench/track: %d bytes of HTML, %d links (%d tracked), a token per link and the pixel, "
    .. "a new recipient per message; best of %d rounds", #html, LINKS, TRACKED, ROUNDS))
  local rows, failed = {}, false
  for round = 1, ROUNDS do
    local lm, ls, first = run_mailcast(html, N)
    if round == 1 then
      local ok, why = check(html, first)
      if not ok then lm, ls = nil, why end
      write_file(dir .. "/mailcast.html", first)
    end
    local m, s, html_only = run_mailcast(html, N, false)
    if html_only ~= first then m, s = nil, "not the HTML it writes with the list" end
    keep(rows, "mailcast", "mailcast.track.html", m, s)
    keep(rows, "list", "  and the list of links", lm, ls)
    keep(rows, "python", "Python html.parser + hmac", run_python(dir))
  end
  os.execute("rm -rf " .. shell_quote(dir))

  print(string.format("%-28s %10s %9s %14s", "", "messages", "seconds", "messages/s"))
  for _, key in ipairs({ "mailcast", "list", "python" }) do
    local r = rows[key]
    print(string.format("%-28s %10d %9.2f %14.1f%s", r.label, r.n, r.seconds, r.rate,
      r.ok and "" or "   FAILED: " .. tostring(r.why)))
    failed = failed or not r.ok
  end
  print()
  common.ratio(rows, "mailcast", "python", "mailcast / Python", 20, 28)
  common.ratio(rows, "list", "python", "with the list / Python", nil, 28)
  if failed then os.exit(1) end
end

main()
