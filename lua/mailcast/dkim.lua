-- DKIM (RFC 6376, RFC 8463): keys, signing and verifying, on the C core
-- (mailcast.core.dkim_*). Sign as the last step before a message is
-- queued: after personalisation and tracking, nothing may change it.
local core = require "mailcast.core"

local M = {}

-- Keys loaded from a path or PEM text given to sign, by that string, so
-- a campaign that passes the same path for every message parses it once.
-- Weak values: a key no one holds any more is freed.
local loaded = setmetatable({}, { __mode = "v" })

local function is_key(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return mt and mt.__name == "mailcast.DkimKey" or false
end

--- key(opts) -> DkimKey | nil, message
-- opts: PEM text, a file name, {pem = text} or {path = file}; an RSA key
-- (1024 to 4096 bits) or an Ed25519 key, unencrypted. The key has
-- :algorithm(), :bits(), :record() (the TXT record to publish at
-- selector._domainkey.domain) and :close().
function M.key(opts)
  if is_key(opts) then return opts end
  return core.dkim_key(opts)
end

-- The key of one signature's options: a DkimKey as it is, a string
-- loaded once.
local function resolve(key)
  if is_key(key) then return key end
  if type(key) ~= "string" and type(key) ~= "table" then
    error("mailcast.dkim: option 'key' must be a DkimKey, PEM text or a file name", 4)
  end
  if type(key) == "table" then return core.dkim_key(key) end
  local k = loaded[key]
  if k then return k end
  local err
  k, err = core.dkim_key(key)
  if not k then return nil, err end
  loaded[key] = k
  return k
end

-- One signature's header field.
local function signature(raw, opts)
  if type(opts) ~= "table" then
    error("mailcast.dkim.sign: options must be a table, or a list of tables", 3)
  end
  local key, err = resolve(opts.key)
  if not key then return nil, err end
  if key == opts.key then return core.dkim_sign(raw, opts) end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.key = key
  return core.dkim_sign(raw, o)
end

--- signature(raw, opts) -> "DKIM-Signature: ...\r\n" | nil, message
-- The header field alone (see sign for opts).
function M.signature(raw, opts)
  return signature(raw, opts)
end

--- sign(raw, opts) -> raw with its DKIM-Signature field(s) on top | nil, message
-- opts: key (a DkimKey, or PEM text or a file name), domain, selector,
-- and optionally identity (i=), headers (the field names to sign;
-- default From, To, Cc, Subject, Date, Message-ID, MIME-Version,
-- Content-Type, Content-Transfer-Encoding, Reply-To, List-Unsubscribe,
-- List-Unsubscribe-Post, Feedback-ID, In-Reply-To, References),
-- oversign (names signed once more than present; default {"From"}),
-- canonicalization ("relaxed/relaxed", the default, "simple/simple",
-- ...), body_length (true: l=), timestamp (default now; false: no t=),
-- expire (seconds: x=). opts may also be a list of such tables: one
-- signature each (say RSA and Ed25519, or two domains), each made over
-- the message as given, in list order on top.
function M.sign(raw, opts)
  assert(type(raw) == "string", "mailcast.dkim.sign: the message must be a string")
  if type(opts) == "table" and opts[1] ~= nil then
    local fields = {}
    for i, o in ipairs(opts) do
      local field, err = signature(raw, o)
      if not field then return nil, err end
      fields[i] = field
    end
    return table.concat(fields) .. raw
  end
  local field, err = signature(raw, opts)
  if not field then return nil, err end
  return field .. raw
end

--- verify(raw [, opts]) -> {{status=, reason=, domain=, selector=,
-- algorithm=, identity=, key_name=, timestamp=, expire=, body_length=,
-- testing=}...} | nil, message
-- One result per DKIM-Signature, top to bottom; status is "pass",
-- "fail", "permerror" or "temperror". opts: key (for every signature: a
-- DkimKey, PEM text, or the TXT record "v=DKIM1; k=rsa; p=..."), keys
-- ({["selector._domainkey.domain"] = key}), key_lookup (function(name)
-- -> record text | nil, message), dns (look keys up in DNS: the default
-- when none of the others is given), dns_server ("127.0.0.1:53"),
-- timeout, tries, max (check the first max signatures), now (seconds,
-- for x=).
function M.verify(raw, opts)
  return core.dkim_verify(raw, opts)
end

return M
