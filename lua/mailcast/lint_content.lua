-- The content checks of `mailcast lint`: what mailbox providers and
-- spam filters hold against one rendered message, each finding with what
-- to do about it. The HTML is read by the core's scanner (the one that
-- finds links to track), so a link is judged as a mail reader sees it.
local core = require "mailcast.core"

local M = {}

local KB = 1024

-- Limits, named so the findings and the documentation agree.
M.GMAIL_CLIP = 102 * KB          -- Gmail shows "[Message clipped]" past this much HTML
M.BIG_MESSAGE = 1024 * KB        -- slow to fetch on phones; some filters score size
M.MAX_MESSAGE = 25 * 1024 * KB   -- Gmail's and most providers' limit, encoding included
M.TEXT_SHARE = 0.3               -- a text part under 30% of the HTML's text reads as a stub
M.TEXT_PER_IMAGE = 100           -- bytes of visible text per image below which it is "all images"
M.SUBJECT_LONG = 90              -- characters; cut in every inbox list before this

-- Hosts that only redirect: filters distrust them (the target is hidden,
-- and spammers share them).
M.SHORTENERS = {
  ["bit.ly"] = true, ["bitly.com"] = true, ["tinyurl.com"] = true, ["goo.gl"] = true,
  ["t.co"] = true, ["ow.ly"] = true, ["is.gd"] = true, ["buff.ly"] = true, ["rebrand.ly"] = true,
  ["cutt.ly"] = true, ["shorturl.at"] = true, ["tiny.cc"] = true, ["rb.gy"] = true,
  ["bit.do"] = true, ["t.ly"] = true, ["s.id"] = true, ["v.gd"] = true, ["lnkd.in"] = true,
}

-- Attachment names that filters and providers refuse outright
-- (executables, scripts, documents with macros).
M.BLOCKED_EXTENSIONS = {
  exe = true, com = true, bat = true, cmd = true, scr = true, pif = true, msi = true, cpl = true,
  js = true, jse = true, vbs = true, vbe = true, wsf = true, wsh = true, hta = true, ps1 = true,
  jar = true, lnk = true, reg = true, iso = true, img = true, vhd = true,
  docm = true, xlsm = true, pptm = true, dotm = true, xltm = true, potm = true, xlam = true,
}

-- Freemail domains whose DMARC policy rejects mail sent in their name
-- from elsewhere: a bulk From there is refused by every provider.
M.FREEMAIL = {
  ["gmail.com"] = true, ["googlemail.com"] = true, ["yahoo.com"] = true, ["aol.com"] = true,
  ["outlook.com"] = true, ["hotmail.com"] = true, ["live.com"] = true, ["msn.com"] = true,
  ["icloud.com"] = true, ["me.com"] = true, ["gmx.com"] = true, ["gmx.de"] = true,
  ["web.de"] = true, ["mail.ru"] = true, ["yandex.ru"] = true, ["proton.me"] = true,
}

-- Second-level labels under which registrations are made one level
-- down (co.uk, com.au, ...): enough to compare a link's domains.
local SECOND_LEVEL = {
  co = true, com = true, net = true, org = true, ac = true, gov = true, edu = true, ne = true,
}

--- organizational(host) -> the registered domain of host, lower case
-- (the last two labels, three under co.uk-like suffixes).
function M.organizational(host)
  host = host:lower():gsub("%.$", "")
  local labels = {}
  for label in host:gmatch("[^.]+") do labels[#labels + 1] = label end
  local n = #labels
  if n <= 2 then return host end
  local keep = (SECOND_LEVEL[labels[n - 1]] and #labels[n] == 2) and 3 or 2
  return table.concat(labels, ".", n - keep + 1)
end

--- url_host(url) -> scheme, host (lower case) | nil when url is not an
-- absolute http(s) URL with a host name.
function M.url_host(url)
  local scheme, rest = url:match("^(%a[%w+.-]*):(.*)$")
  if not scheme then return nil end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then return scheme, nil end
  local authority = rest:match("^//([^/?#]*)")
  if not authority then return scheme, nil end
  local host = authority:gsub("^.*@", ""):gsub(":%d*$", ""):lower()
  return scheme, host
end

-- Why a link's URL is malformed, or nil when it is fine.
local function malformed(url)
  if url == "" then return "it is empty" end
  if url:find("[%s<>\"]") then return "it holds spaces or quotes" end
  if url:sub(1, 1) == "#" then return nil end   -- a place in the message itself
  local scheme, host = M.url_host(url)
  if not scheme then return "it has no scheme (https://...): a mail has no page to be relative to" end
  if scheme == "mailto" or scheme == "tel" or scheme == "sms" or scheme == "cid" then return nil end
  if scheme ~= "http" and scheme ~= "https" then
    if scheme == "javascript" or scheme == "data" or scheme == "file" or scheme == "vbscript" then
      return scheme .. ": links are removed or flagged by every mail reader"
    end
    return nil
  end
  if not host or host == "" then return "it has no host name" end
  if not host:match("^[%w.-]+$") and not host:match("^%[[%x:.]+%]$") then return "its host name has characters no host has" end
  if host:find("%.%.") or host:match("^[.-]") or host:match("[.-]$") then return "its host name is not well formed" end
  if not host:find("%.") and host ~= "localhost" then return "its host name has no dot: no one else can reach it" end
  return nil
end

-- The domain a link's text shows, when the text reads as an address
-- (www.example.com, https://example.com/x, example.com): lower case.
local function shown_domain(text)
  text = text:gsub("^%s+", ""):gsub("%s+$", "")
  if text:find("%s") then return nil end
  local _, host = M.url_host(text)
  if host then return host end
  local domain = text:match("^([%w-]+%.[%w.-]*%a%a)/?[^@]*$")
  if domain and not text:find("@") then return domain:lower() end
  return nil
end

--- finding(list, severity, check, message, fix): adds a finding to list,
-- in the form every lint check reports (lint_dns, lint_spam too).
local function finding(list, severity, check, message, fix)
  list[#list + 1] = { severity = severity, check = check, message = message, fix = fix }
end
M.finding = finding

-- The headers of a raw message: {lower-case name = {values}}, unfolded.
function M.headers(raw)
  local head = raw:match("^(.-)\r?\n\r?\n") or raw
  head = head:gsub("\r?\n[ \t]+", " ")
  local out = {}
  for line in head:gmatch("[^\r\n]+") do
    local name, value = line:match("^([^:%s]+):%s*(.*)$")
    if name then
      name = name:lower()
      out[name] = out[name] or {}
      table.insert(out[name], value)
    end
  end
  return out
end

local function size_text(n)
  if n >= 1024 * KB then return string.format("%.1f MB", n / (1024 * KB)) end
  return string.format("%.1f KB", n / KB)
end

local function check_size(out, raw, html)
  if #raw > M.MAX_MESSAGE then
    finding(out, "error", "size.total", "the message is " .. size_text(#raw) .. ", over the 25 MB most providers accept",
      "link to large files instead of attaching them")
  elseif #raw > M.BIG_MESSAGE then
    finding(out, "warning", "size.total", "the message is " .. size_text(#raw),
      "keep bulk mail under 1 MB: host images and files on the web and link to them")
  end
  if html and #html > M.GMAIL_CLIP then
    finding(out, "warning", "html.clipped", "the HTML is " .. size_text(#html) ..
      ": Gmail clips HTML over 102 KB (the rest, and the unsubscribe link, behind \"View entire message\")",
      "shorten the HTML: inline CSS once, drop comments and unused markup")
  end
end

local function visible_bytes(s)
  return #(s:gsub("%s+", ""))
end

local function check_text(out, msg, inv)
  if not msg.html then return end
  if not msg.text or msg.text:match("^%s*$") then
    finding(out, "warning", "text.missing", "the message has HTML and no text part",
      "add text = ... : filters score HTML-only mail, and some readers show only text")
    return
  end
  local html_text, text = inv.text_bytes, visible_bytes(msg.text)
  if html_text > 100 and text < html_text * M.TEXT_SHARE then
    finding(out, "warning", "text.short", string.format("the text part shows %d bytes where the HTML shows %d",
      text, html_text), "make the text part say what the HTML says: filters compare the two")
  end
end

local function check_images(out, inv, cids)
  local missing_alt, referenced = 0, {}
  for _, img in ipairs(inv.images) do
    if not img.alt then missing_alt = missing_alt + 1 end
    local cid = img.src:match("^[cC][iI][dD]:(.+)$")
    if cid then
      referenced[cid] = true
      if not cids[cid] then
        finding(out, "error", "cid.unresolved", "<img src=\"cid:" .. cid .. "\"> names no inline part",
          "add { path = ..., cid = \"" .. cid .. "\" } to inline, or fix the name")
      end
    end
  end
  if missing_alt > 0 then
    finding(out, "warning", "img.alt", string.format("%d of %d images have no alt text", missing_alt, #inv.images),
      "give each image alt=\"what it shows\" (alt=\"\" for decoration): images are often blocked")
  end
  for cid in pairs(cids) do
    if not referenced[cid] then
      finding(out, "note", "cid.unused", "the inline part \"" .. cid .. "\" is not shown by the HTML",
        "remove it from inline, or show it with <img src=\"cid:" .. cid .. "\">")
    end
  end
  local shown = 0
  for _, img in ipairs(inv.images) do
    -- The open pixel is no image a reader sees.
    if not img.src:find("/o/", 1, true) then shown = shown + 1 end
  end
  if shown > 0 and inv.text_bytes < shown * M.TEXT_PER_IMAGE then
    finding(out, "warning", "img.ratio", string.format("%d images and %d bytes of text: the message is mostly images",
      shown, inv.text_bytes), "say in text what the images say; filters score image-only mail as spam")
  end
end

-- relative: the URLs of relative links html_file's page reports itself.
local function check_links(out, inv, text, relative)
  local seen = {}
  local function once(check, key)
    key = check .. "\0" .. key
    if seen[key] then return false end
    seen[key] = true
    return true
  end
  local urls = {}
  for _, l in ipairs(inv.links) do urls[#urls + 1] = { url = l.url, text = l.text } end
  -- The text part's links too: filters read both.
  for url in (text or ""):gmatch("https?://[^%s<>\"]+") do urls[#urls + 1] = { url = url } end
  for _, l in ipairs(urls) do
    local why = malformed(l.url)
    if why and relative[l.url] then   -- said as the page's, with its fix
      why = nil
    elseif why and once("link.malformed", l.url) then
      finding(out, "error", "link.malformed", string.format("the link %q is malformed: %s", l.url, why),
        "write the full URL, https://host/path")
    end
    if not why and not relative[l.url] then
      local scheme, host = M.url_host(l.url)
      if scheme == "http" and host and once("link.http", host) then
        finding(out, "warning", "link.http", "a link to " .. host .. " uses http:",
          "use https:// (readers warn about plain http, and filters score it)")
      end
      if host and M.SHORTENERS[host] and once("link.shortener", host) then
        finding(out, "warning", "link.shortener", "a link goes through the URL shortener " .. host,
          "link to the page itself: shorteners are shared with spammers and blocked by many filters")
      end
      local shown = l.text and shown_domain(l.text)
      if host and shown and M.organizational(shown) ~= M.organizational(host) and once("link.mismatch", l.url) then
        finding(out, "error", "link.mismatch", string.format("a link shows %s but goes to %s", shown, host),
          "make the text say where the link goes, or use words instead of an address: this is how phishing looks")
      end
    end
  end
end

local function first(h, name)
  return h[name] and h[name][1]
end

local function check_headers(out, h, opts)
  if not first(h, "date") then
    finding(out, "error", "header.date", "the message has no Date field", "let mailcast write it (do not set headers.Date = false)")
  end
  if not first(h, "message-id") then
    finding(out, "error", "header.message_id", "the message has no Message-ID field", "let mailcast write it")
  end
  local unsubscribe = first(h, "list-unsubscribe")
  if opts.bulk ~= false then
    if not unsubscribe then
      finding(out, "error", "unsubscribe.missing", "no List-Unsubscribe field: Gmail and Yahoo require one of bulk senders",
        "add unsubscribe = { base = \"https://...\" } to the campaign (one-click, RFC 8058)")
    elseif not (first(h, "list-unsubscribe-post") or ""):lower():find("list%-unsubscribe=one%-click") or
        not unsubscribe:find("<https://", 1, true) then
      finding(out, "warning", "unsubscribe.one_click", "List-Unsubscribe has no one-click https target",
        "give unsubscribe a base https URL: Gmail and Yahoo require one-click (RFC 8058) of bulk senders")
    end
  end
  local from = first(h, "from")
  local addresses = from and core.addresses(from)
  if not addresses or #addresses ~= 1 then
    finding(out, "error", "from.invalid", "the From field is not one address: " .. tostring(from),
      "set from = \"Name <news@your-domain>\"")
  else
    local a = addresses[1]
    local domain = (a.address:match("@([^@]+)$") or ""):lower()
    if M.FREEMAIL[domain] then
      finding(out, "error", "from.freemail", "the From address is at " .. domain ..
        ", whose DMARC policy makes providers refuse it when sent from your servers",
        "send from a domain of your own, with SPF, DKIM and DMARC")
    end
    local name = a.name and (core.decode_header(a.name) or a.name)
    if name and name:find("@") then
      local shown = name:match("[%w._%%+-]+@[%w.-]+")
      if shown and shown:lower() ~= a.address:lower() then
        finding(out, "warning", "from.name", "the From name shows another address (" .. shown .. ")",
          "use a name, not an address, as the display name")
      end
    end
    if a.address:lower():match("^no%-?reply@") or a.address:lower():match("^do%-?not%-?reply@") then
      finding(out, "note", "from.noreply", "the From address is a no-reply address",
        "let replies arrive (or set a Reply-To): replies are a good sign to providers")
    end
  end
  local reply_to = first(h, "reply-to")
  if reply_to then
    local list = core.addresses(reply_to)
    if not list or #list == 0 then
      finding(out, "error", "reply_to.invalid", "the Reply-To field is no address: " .. reply_to,
        "set headers[\"Reply-To\"] to an address that receives mail")
    end
  end
end

local function check_subject(out, subject)
  if not subject or subject:match("^%s*$") then
    finding(out, "error", "subject.missing", "the subject is empty", "give the message a subject")
    return
  end
  local length = utf8.len(subject) or #subject
  if length > M.SUBJECT_LONG then
    finding(out, "warning", "subject.long", string.format("the subject has %d characters", length),
      "keep it under 60: inboxes cut it (phones at about 40)")
  end
  local letters = subject:gsub("[^%a]", "")
  if #letters >= 8 and letters == letters:upper() then
    finding(out, "warning", "subject.caps", "the subject is all capitals", "write it as a sentence: filters score shouting")
  end
  if subject:find("!!", 1, true) or subject:find("?!", 1, true) or subject:find("!?", 1, true) then
    finding(out, "warning", "subject.punctuation", "the subject has repeated ! or ?",
      "one ! at most: filters score \"!!!\"")
  end
end

-- Template tags left in the rendered text: a {{ without its }}, or the
-- merge tags of other tools, reach recipients as they are.
local TAGS = {
  { "{{", "a {{ tag" }, { "}}", "a }} without its {{" }, { "{%", "a {% tag" }, { "*|", "a *|MERGE|* tag" },
  { "%%", "a %%tag%%" },
}

local function check_tags(out, msg)
  for _, field in ipairs({ "subject", "text", "html" }) do
    local s = msg[field]
    if s then
      for _, t in ipairs(TAGS) do
        local at = s:find(t[1], 1, true)
        if at then
          finding(out, "error", "template.unbalanced", string.format("the %s shows %s: %q", field, t[2],
            s:sub(math.max(1, at - 15), at + 25):gsub("%s+", " ")),
            "close the tag ({{name}}) or write the text without it")
          break
        end
      end
    end
  end
end

local function part_name(spec)
  return spec.filename or (spec.path and spec.path:match("([^/]+)$")) or nil
end

local function check_attachments(out, msg)
  for _, spec in ipairs(msg.attachments or {}) do
    local name = part_name(spec)
    local ext = name and name:match("%.([%w]+)$")
    if ext and M.BLOCKED_EXTENSIONS[ext:lower()] then
      finding(out, "error", "attachment.blocked", "the attachment " .. name .. " is of a kind filters block (." .. ext:lower() .. ")",
        "link to the file on the web instead; for documents, save them without macros (.docx, .xlsx, .pdf)")
    elseif ext and (ext:lower() == "zip" or ext:lower() == "rar" or ext:lower() == "7z") then
      finding(out, "note", "attachment.archive", "the attachment " .. name .. " is an archive",
        "filters open archives and many quarantine them: link to the file instead")
    end
  end
end

--- check(msg, raw [, opts]) -> findings: msg is the rendered message
-- table (Campaign:message's), raw the built message (a string); opts =
-- {bulk = true, relative_links = {[url] = true}: links not to call
-- malformed, as they are reported elsewhere}. Each finding is {severity = "error"|"warning"|"note",
-- check = "link.http", message =, fix =}.
function M.check(msg, raw, opts)
  opts = opts or {}
  local out = {}
  local inv = msg.html and assert(core.html_inventory(msg.html)) or { links = {}, images = {}, text_bytes = 0 }
  local cids = {}
  for _, spec in ipairs(msg.inline or {}) do
    local cid = spec.cid or spec.content_id
    if cid then cids[(cid:gsub("^<", ""):gsub(">$", ""))] = true end
  end
  check_size(out, raw, msg.html)
  check_text(out, msg, inv)
  check_images(out, inv, cids)
  check_links(out, inv, msg.text, opts.relative_links or {})
  check_headers(out, M.headers(raw), opts)
  check_subject(out, msg.subject)
  check_tags(out, msg)
  check_attachments(out, msg)
  return out
end

return M
