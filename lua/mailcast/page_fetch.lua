-- Fetching a page's remote images and stylesheets (embed_remote): one
-- GET, at most `max` bytes, within `timeout` seconds, redirects followed
-- one at a time. A page is hostile input: its references must not make
-- the sending machine read its own network (a cloud's metadata service
-- at 169.254.169.254, an intranet server, a local admin page) and put
-- what it answers into mail to a whole list. Each connection is checked
-- once made, at the address it reached (so a name that resolves to a
-- public address for one look-up and a private one for the next gains
-- nothing), and closed before anything is sent to a private address,
-- unless the user says the page lives on their own network
-- (embed_remote = "private").
local socket = require "socket"
local http = require "socket.http"
local url = require "socket.url"

local M = {}

M.MAX_REDIRECTS = 5

local LOCAL = "a private or local address"

local function v4_private(a, b)
  return a == 0 or a == 10 or a == 127 or (a == 169 and b == 254) or (a == 172 and b >= 16 and b <= 31)
    or (a == 192 and b == 168) or (a == 100 and b >= 64 and b <= 127) or (a == 198 and (b == 18 or b == 19))
    or a >= 224
end

--- private(address) -> why an IPv4 or IPv6 address is not one on the
-- internet | nil. (An IPv4 address mapped into IPv6 is judged as the
-- IPv4 one.)
function M.private(address)
  local a, b = address:match("^(%d+)%.(%d+)%.%d+%.%d+$")
  if a then return v4_private(tonumber(a), tonumber(b)) and LOCAL or nil end
  local v6 = address:lower()
  local mapped = v6:match("^::ffff:(%d+%.%d+%.%d+%.%d+)$")
  if mapped then return M.private(mapped) end
  if v6 == "::1" or v6 == "::" then return LOCAL end
  local first = tonumber(v6:match("^(%x%x?%x?%x?):") or "", 16)
  -- fc00::/7 unique local, fe80::/10 link-local, ff00::/8 multicast
  if first and (first & 0xfe00 == 0xfc00 or first & 0xffc0 == 0xfe80 or first & 0xff00 == 0xff00) then
    return LOCAL
  end
  return nil
end

-- A table standing for the socket: its methods, called on it.
local function forward(t, sock)
  return setmetatable(t, { __index = function(_, name)
    local v = sock[name]
    if type(v) ~= "function" then return v end
    return function(_, ...) return v(sock, ...) end
  end })
end

-- Connects tcp to host:port, then refuses a private peer (when not
-- allowed): 1 | nil, why.
local function connect_checked(tcp, host, port, allow_private)
  local ok, err = tcp:connect(host, port)
  if not ok then return nil, err end
  local peer = tcp:getpeername()
  local why = not allow_private and peer and M.private(peer)
  if why then
    tcp:close()
    return nil, string.format("%s is %s: not fetched (embed_remote = \"private\" allows it)", peer, why)
  end
  return 1
end

-- LuaSocket's create function for scheme: a socket whose connect checks
-- its peer; for https, the TLS session LuaSec's own https makes (its
-- settings: any protocol from TLS 1.1 up, no certificate check).
local TLS = { mode = "client", protocol = "any", options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1" },
              verify = "none" }
local function create_for(scheme, allow_private, timeout)
  return function()
    local tcp, err = socket.tcp()
    if not tcp then return nil, err end
    local conn = forward({}, tcp)
    function conn:connect(host, port)
      local ok, cerr = connect_checked(tcp, host, port, allow_private)
      if not ok or scheme ~= "https" then return ok, cerr end
      local s, werr = require("ssl").wrap(tcp, TLS)
      if not s then return nil, werr end
      s:sni(host)
      s:settimeout(timeout)
      local hok, herr = s:dohandshake()
      if not hok then return nil, herr end
      forward(self, s)
      self.connect = nil
      return 1
    end
    return conn
  end
end

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

--- get(address, opts) -> data, content_type | nil, message: opts.max
-- (bytes), opts.timeout (seconds), opts.allow_private. content_type is
-- the header's whole value, parameters (a charset) included.
function M.get(address, opts)
  local chunks, size = {}, 0
  local function sink(chunk, err)
    if chunk == nil then return err == nil and 1 or nil, err end
    size = size + #chunk
    if size > opts.max then return nil, string.format("larger than %d bytes", opts.max) end
    chunks[#chunks + 1] = chunk
    return 1
  end
  local saved = http.TIMEOUT   -- the module's: put back for its other users
  http.TIMEOUT = opts.timeout
  local at, ok, code, headers = address, nil, nil, nil
  for _ = 0, M.MAX_REDIRECTS do
    local scheme = (url.parse(at).scheme or ""):lower()
    if scheme ~= "http" and scheme ~= "https" then ok, code = nil, "not an http(s) URL: " .. at break end
    chunks, size = {}, 0
    ok, code, headers = http.request { url = at, sink = sink, redirect = false,
                                      create = create_for(scheme, opts.allow_private, opts.timeout) }
    local location = ok and REDIRECT[code] and headers and headers.location
    if not location then break end
    local next_at = url.absolute(at, location)
    if scheme == "https" and not next_at:lower():find("^https:") then
      ok, code = nil, "redirected from https to " .. next_at
      break
    end
    at, ok = next_at, nil
    code = "more than " .. M.MAX_REDIRECTS .. " redirects"
  end
  http.TIMEOUT = saved
  if not ok then return nil, tostring(code) end
  if code ~= 200 then return nil, "HTTP " .. tostring(code) end
  return table.concat(chunks), headers and headers["content-type"]
end

return M
