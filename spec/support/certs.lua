-- Throw-away X.509 certificates for the TLS specs, made with the openssl
-- command-line tool into a directory the caller owns (and removes).
--
--   local set = certs.localhost(dir)
--   set.ca                        -- CA certificate: the file a client verifies against
--   set.cert, set.key             -- signed by set.ca for DNS:localhost and IP:127.0.0.1
--   set.wrong_cert, set.wrong_key -- signed by set.ca for wrong.example only
--   set.self_cert, set.self_key   -- self-signed for wrong.example
--
-- Keys are EC P-256 by default (fast to make); pass opts.key_type = "rsa"
-- for RSA 2048. Certificates are valid from now for 7 days.
local certs = {}

certs.OPENSSL = "openssl"
certs.DAYS = 7

local serial = 0


local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end


-- Runs openssl with the given (already quoted) argument string; raises
-- with openssl's own output when it fails.
local function openssl(args)
  local p = assert(io.popen(certs.OPENSSL .. " " .. args .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  if not ok then error("openssl " .. args .. " failed:\n" .. out, 3) end
  return out
end


local function write(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end


-- The subjectAltName for a common name: an IPv4 literal becomes an IP
-- entry, "localhost" also covers 127.0.0.1, anything else is a DNS name.
local function default_san(cn)
  if cn:match("^%d+%.%d+%.%d+%.%d+$") then return "IP:" .. cn end
  if cn == "localhost" then return "DNS:localhost,IP:127.0.0.1" end
  return "DNS:" .. cn
end


local function newkey_args(opts)
  if opts.key_type == "rsa" then return "-newkey rsa:2048" end
  return "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
end


-- Writes an openssl config for one certificate; returns its path.
-- Sections: [leaf] for server certificates, [ca] for a CA, [self] for a
-- self-signed server certificate (no keyUsage, so OpenSSL accepts it as
-- its own trust anchor).
local function config(dir, name, cn, san)
  local path = dir .. "/" .. name .. ".cnf"
  write(path, table.concat({
    "[req]",
    "distinguished_name = dn",
    "prompt = no",
    "[dn]",
    "CN = " .. cn,
    "[leaf]",
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage = serverAuth",
    "subjectAltName = " .. san,
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid",
    "[self]",
    "basicConstraints = critical,CA:FALSE",
    "extendedKeyUsage = serverAuth",
    "subjectAltName = " .. san,
    "subjectKeyIdentifier = hash",
    "[ca]",
    "basicConstraints = critical,CA:TRUE",
    "keyUsage = critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier = hash",
    "",
  }, "\n"))
  return path
end


local function paths(dir, name)
  return dir .. "/" .. name .. ".crt", dir .. "/" .. name .. ".key"
end


--- A self-signed server certificate for cn in dir.
-- opts: name (file base name, default cn), san (e.g. "DNS:a,IP:127.0.0.1",
-- default from cn), key_type ("ec" or "rsa").
-- Returns {cert = path, key = path}.
function certs.self_signed(dir, cn, opts)
  opts = opts or {}
  local name = opts.name or cn
  local cert, key = paths(dir, name)
  local cnf = config(dir, name, cn, opts.san or default_san(cn))
  openssl(string.format("req -x509 -config %s -extensions self %s -nodes -days %d -keyout %s -out %s",
    sh_quote(cnf), newkey_args(opts), certs.DAYS, sh_quote(key), sh_quote(cert)))
  return { cert = cert, key = key }
end


--- A certificate authority in dir (common name cn, default "mailcast test CA").
-- opts: name (default "ca"), key_type. Returns {cert = path, key = path}.
function certs.ca(dir, cn, opts)
  opts = opts or {}
  cn = cn or "mailcast test CA"
  local name = opts.name or "ca"
  local cert, key = paths(dir, name)
  local cnf = config(dir, name, cn, "DNS:unused")
  openssl(string.format("req -x509 -config %s -extensions ca %s -nodes -days %d -keyout %s -out %s",
    sh_quote(cnf), newkey_args(opts), certs.DAYS, sh_quote(key), sh_quote(cert)))
  return { cert = cert, key = key }
end


--- A server certificate for cn signed by ca (as returned by certs.ca).
-- opts: name (default cn), san (default from cn: "localhost" gives
-- DNS:localhost and IP:127.0.0.1), key_type. Returns {cert = path, key = path}.
function certs.signed(dir, ca, cn, opts)
  opts = opts or {}
  local name = opts.name or cn
  local cert, key = paths(dir, name)
  local csr = dir .. "/" .. name .. ".csr"
  local cnf = config(dir, name, cn, opts.san or default_san(cn))
  openssl(string.format("req -new -config %s %s -nodes -keyout %s -out %s",
    sh_quote(cnf), newkey_args(opts), sh_quote(key), sh_quote(csr)))
  serial = serial + 1
  openssl(string.format(
    "x509 -req -in %s -CA %s -CAkey %s -set_serial 0x%x%04x -days %d -extfile %s -extensions leaf -out %s",
    sh_quote(csr), sh_quote(ca.cert), sh_quote(ca.key), os.time(), serial, certs.DAYS,
    sh_quote(cnf), sh_quote(cert)))
  return { cert = cert, key = key }
end


--- The usual set for tests on 127.0.0.1, made in dir: a CA, a certificate
-- it signed for localhost/127.0.0.1, one it signed for the wrong name
-- (wrong.example), and a self-signed one for the wrong name.
-- Returns {ca=, ca_key=, cert=, key=, wrong_cert=, wrong_key=, self_cert=, self_key=}.
function certs.localhost(dir, opts)
  opts = opts or {}
  local ca = certs.ca(dir, nil, opts)
  local good = certs.signed(dir, ca, "localhost", opts)
  local wrong = certs.signed(dir, ca, "wrong.example", opts)
  local self = certs.self_signed(dir, "wrong.example", { name = "self", key_type = opts.key_type })
  return {
    ca = ca.cert, ca_key = ca.key,
    cert = good.cert, key = good.key,
    wrong_cert = wrong.cert, wrong_key = wrong.key,
    self_cert = self.cert, self_key = self.key,
  }
end


--- Checks cert against the CA file and, when given, a host name or IP
-- (with openssl verify). Returns true, or false and openssl's message.
function certs.verify(cert, ca, host)
  local check = ""
  if host then
    check = host:match("^%d+%.%d+%.%d+%.%d+$") and ("-verify_ip " .. sh_quote(host))
      or ("-verify_hostname " .. sh_quote(host))
  end
  local p = assert(io.popen(string.format("%s verify -CAfile %s %s %s 2>&1",
    certs.OPENSSL, sh_quote(ca), check, sh_quote(cert))))
  local out = p:read("a")
  local ok = p:close()
  if ok then return true end
  return false, out
end

return certs
