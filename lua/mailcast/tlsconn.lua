-- A line-oriented client connection for the mailbox protocols (POP3,
-- IMAP): TCP through LuaSocket, TLS through LuaSec, either from the
-- first byte (POP3S, IMAPS) or after the protocol's STARTTLS. The
-- server's certificate is verified by default, chain and name: LuaSec
-- checks the chain, the name is checked here against the certificate's
-- subjectAltName, as RFC 6125 says.
local socket = require "socket"

local M = {}

M.DEFAULT_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
M.DEFAULT_TIMEOUT = 30

local Conn = {}
Conn.__index = Conn


local function is_ip(host)
  return host:match("^%d+%.%d+%.%d+%.%d+$") ~= nil or host:find(":", 1, true) ~= nil
end


-- An IPv4 address as LuaSec shows an iPAddress entry ("127.0.0.1");
-- IPv6 entries are compared as given, lower-cased.
local function same_ip(a, b)
  return a:lower() == b:lower()
end


-- A DNS name of the certificate against host: one leading "*." matches
-- exactly one label (RFC 6125 6.4.3), never a bare top-level domain.
local function name_matches(pattern, host)
  pattern, host = pattern:lower(), host:lower()
  if pattern == host then return true end
  local rest = pattern:match("^%*%.(.+%..+)$")
  if not rest then return false end
  local label, tail = host:match("^([^.]+)%.(.+)$")
  return label ~= nil and tail == rest
end


--- verify_name(cert, host) -> true | false, why: whether the LuaSec
-- certificate cert names host (a DNS name or an IP address) in its
-- subjectAltName. A certificate without one names nothing.
function M.verify_name(cert, host)
  local ext = cert:extensions() or {}
  local san = ext["2.5.29.17"]
  if not san then return false, "the certificate has no subjectAltName" end
  if is_ip(host) then
    for _, ip in ipairs(san.iPAddress or {}) do
      if same_ip(ip, host) then return true end
    end
  else
    for _, name in ipairs(san.dNSName or {}) do
      if name_matches(name, host) then return true end
    end
  end
  local names = {}
  for _, n in ipairs(san.dNSName or {}) do names[#names + 1] = n end
  for _, n in ipairs(san.iPAddress or {}) do names[#names + 1] = n end
  return false, string.format("the certificate is for %s, not %s", table.concat(names, ", "), host)
end


local function tls_params(opts)
  local params = {
    mode = "client", protocol = "any",
    options = { "all", "no_sslv2", "no_sslv3", "no_tlsv1", "no_tlsv1_1" },
  }
  if opts.insecure then
    params.verify = "none"
  else
    params.verify = { "peer", "fail_if_no_peer_cert" }
    params.cafile = opts.ca_file or M.DEFAULT_CA_FILE
  end
  return params
end


--- connect(host, port, opts) -> Conn | nil, message
-- opts: timeout (seconds, default 30), tls = true to start TLS at once,
-- ca_file (the CAs to trust; default the system's), insecure = true to
-- check no certificate (tests only).
function M.connect(host, port, opts)
  opts = opts or {}
  local sock, err = socket.tcp()
  if not sock then return nil, "connect: " .. tostring(err) end
  local timeout = opts.timeout or M.DEFAULT_TIMEOUT
  sock:settimeout(timeout)
  local ok, cerr = sock:connect(host, port)
  if not ok then
    sock:close()
    return nil, string.format("connect %s:%s: %s", host, tostring(port), tostring(cerr))
  end
  local self = setmetatable({ sock = sock, host = host, port = port, opts = opts, timeout = timeout, tls = false }, Conn)
  if opts.tls then
    local tok, terr = self:starttls()
    if not tok then return nil, terr end
  end
  return self
end


--- open(protocol, opts, port, tls_port) -> conn | nil, "PROTOCOL: message"
-- A mail client's connection as its opts say: tls = "implicit" is TLS
-- from the start on opts.port or tls_port; otherwise plain on opts.port or
-- port (the client may then ask for STARTTLS). ca_file, insecure and
-- timeout as for connect.
function M.open(protocol, opts, port, tls_port)
  local implicit = opts.tls == "implicit"
  local conn, err = M.connect(opts.host, opts.port or (implicit and tls_port or port), {
    tls = implicit, ca_file = opts.ca_file, insecure = opts.insecure, timeout = opts.timeout,
  })
  if not conn then return nil, protocol .. ": " .. err end
  return conn
end


--- conn:starttls() -> true | nil, message ("tls: ..."): the handshake
-- and the checks of the server's certificate; the connection is closed
-- when they fail.
function Conn:starttls()
  local ssl = require "ssl"
  local wrapped, err = ssl.wrap(self.sock, tls_params(self.opts))
  if not wrapped then
    self:close()
    return nil, "tls: " .. tostring(err)
  end
  if not is_ip(self.host) then wrapped:sni(self.host) end
  wrapped:settimeout(self.timeout)
  self.sock = wrapped
  local ok, herr = wrapped:dohandshake()
  if not ok then
    self:close()
    if tostring(herr):find("certificate verify failed", 1, true) then
      return nil, "tls: certificate verify failed (the server's certificate is not signed by a trusted CA;"
        .. " give the CA with --ca-file)"
    end
    return nil, "tls: handshake failed: " .. tostring(herr)
  end
  if not self.opts.insecure then
    local cert = wrapped:getpeercertificate()
    local named, why = false, "no certificate"
    if cert then named, why = M.verify_name(cert, self.host) end
    if not named then
      self:close()
      return nil, "tls: certificate verify failed: " .. why
    end
  end
  self.tls = true
  return true
end


--- conn:send(s) -> true | nil, message
function Conn:send(s)
  if not self.sock then return nil, "closed" end
  local i = 1
  while i <= #s do
    local n, err, last = self.sock:send(s, i)
    if not n then
      if err == "timeout" and last and last >= i then i = last + 1
      else return nil, err end
    else
      i = n + 1
    end
  end
  return true
end


--- conn:line() -> the next line without its line break | nil, message
-- ("timeout", "closed").
function Conn:line()
  if not self.sock then return nil, "closed" end
  local line, err = self.sock:receive("*l")
  if not line then return nil, err end
  return line
end


--- conn:bytes(n) -> exactly n bytes | nil, message
function Conn:bytes(n)
  if not self.sock then return nil, "closed" end
  if n == 0 then return "" end
  local data, err = self.sock:receive(n)
  if not data then return nil, err end
  return data
end


function Conn:close()
  if self.sock then
    self.sock:close()
    self.sock = nil
  end
end

Conn.__close = Conn.close

return M
