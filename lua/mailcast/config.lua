-- The tables a user writes, field by field: what each key takes and its
-- default, written here once (mailcast.schema checks them). The keys of
-- a route and of a destination's limits are exactly those the C binding
-- reads (csrc/lua/l_smtp.c l_route, csrc/lua/l_job.c mc_l_poolopts);
-- the defaults the C side keeps for itself are not repeated here.
local S = require "mailcast.schema"

local M = {}

local str, integer, number, boolean, func = S.string, S.integer, S.number, S.boolean, S.func

local seconds = number { min = 0 }
local port = integer { min = 1, max = 65535 }
local strings = S.list(str(), { says = "a list of strings" })
local url = str { pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^/]", says = "an http(s) URL" }
-- true: a page's remote images and stylesheets fetched from public
-- addresses; "private": from the machine's own network too.
local embed_remote = S.one_of({ boolean(), S.value("private") }, { says = "true, false or \"private\"" })
local secret = str { min_len = 16, hide = true }

--- What one destination may do: a route's limits, a domain's, the
-- campaign's defaults for every route, mailcast.send's options.
M.LIMITS = S.record {
  connections = integer { min = 1, max = 1000 },
  messages_per_connection = integer { min = 1 },
  rate = S.rate(),                           -- messages
  connect_rate = S.rate(),                   -- new connections
  connect_attempts = integer { min = 1 },
  idle_timeout = seconds,                    -- an idle session waits this long for more
  down_time = seconds,                       -- an unreachable destination is left alone
}

--- mailcast.send's options: the limits, and trace = function(record)
-- told every line of every session (mailcast.smtp.tracer).
M.SEND_OPTIONS = S.with(M.LIMITS, { fields = { trace = func() } })

--- A campaign's limits: an idle session waits a few seconds for the
-- next batch rather than reconnecting, and a destination that cannot be
-- reached is left alone for a minute (its recipients are deferred)
-- instead of being tried for every recipient.
M.CAMPAIGN_LIMITS = S.with(M.LIMITS, { defaults = {
  connections = 1, messages_per_connection = 10, idle_timeout = 5, down_time = 60,
} })

--- A route as the SMTP client reads it (mailcast.route).
M.SMTP_ROUTE = S.record {
  host = str { nonempty = true },
  port = port,
  tls = S.enum { "none", "opportunistic", "required", "verify" },
  implicit_tls = boolean(),
  server_name = str(),
  ca_file = str(),
  helo = str { nonempty = true },
  user = str(),
  password = str { hide = true },
  oauth_token = str { hide = true },
  auth_mechanism = S.enum({ "PLAIN", "LOGIN", "XOAUTH2" }, { nocase = true }),
  allow_plaintext_auth = boolean(),
  pipelining = boolean(),
  chunking = boolean(),
  max_message = integer { min = 0 },         -- bytes; 0: the server's SIZE only
  timeouts = S.record {
    connect = seconds, greeting = seconds, ehlo = seconds, tls = seconds, mail = seconds,
    rcpt = seconds, data_init = seconds, data_block = seconds, data_end = seconds, command = seconds,
  },
  targets = S.list(S.record {
    address = str { nonempty = true, required = true },
    name = str(),
    port = port,
  }, { says = "a list of {address=, name=, port=}" }),
  mx = boolean(),                            -- direct delivery to each domain's MX hosts
}

--- The fields of a route that are the dispatcher's, not the SMTP client's.
M.ROUTE_OWN = {
  limits = M.LIMITS,
  domains = S.map(M.LIMITS, { label = "domain", lower_keys = true }),
  dns_server = str { nonempty = true },      -- "host:port" (c-ares: a list, by commas)
  dns_timeout = number { above = 0 },
  dns_tries = integer { min = 1 },
  mx_ttl = number { min = 0, default = 300 },   -- seconds an MX look-up is kept
}

--- mailcast.mx's options: the resolver to ask, how long, how often.
M.MX_OPTIONS = S.record {
  server = M.ROUTE_OWN.dns_server,
  timeout = M.ROUTE_OWN.dns_timeout,
  tries = M.ROUTE_OWN.dns_tries,
}

--- A route of a campaign (or dispatch.new).
M.ROUTE = S.with(M.SMTP_ROUTE, { fields = M.ROUTE_OWN })

--- mailcast.send's route: the dispatcher's own fields but limits and
-- domains (send's options are the limits).
M.SEND_ROUTE = S.with(M.SMTP_ROUTE, { fields = {
  dns_server = M.ROUTE_OWN.dns_server, dns_timeout = M.ROUTE_OWN.dns_timeout,
  dns_tries = M.ROUTE_OWN.dns_tries, mx_ttl = M.ROUTE_OWN.mx_ttl,
} })

--- When a deferred recipient is tried again, in seconds: first, then
-- times factor each time up to max; failed once max_age has passed.
M.RETRY = S.record {
  first = number { min = 0, default = 300 },
  factor = number { min = 1, default = 2 },
  max = number { min = 0, default = 6 * 3600 },
  max_age = number { min = 0, default = 3 * 86400 },
}

M.TRACK = S.record {
  base = url,
  secret = secret,                           -- default: $MAILCAST_TRACK_SECRET
  mode = S.enum { "recipient", "aggregate", "off" },
  text = boolean(),                          -- the text part's URLs too
  pixel = boolean(),
  track = func(),
}

M.UNSUBSCRIBE = S.record {
  base = url,                                -- default: track's
  mailto = str { nonempty = true },
  secret = secret,                           -- default: track's
}

M.DKIM = S.record {
  key = S.one_of({
    S.userdata "mailcast.DkimKey",
    str { nonempty = true },
    S.record { pem = str(), path = str() },
  }, { required = true, says = "a key from mailcast.dkim.key, PEM text or a file name" }),
  domain = str { nonempty = true, required = true },
  selector = str { nonempty = true, required = true },
  identity = str(),
  headers = strings,
  oversign = strings,
  canonicalization = S.enum { "relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed",
                              "relaxed", "simple" },
  body_length = boolean(),
  timestamp = S.one_of { boolean(), integer { min = 0 } },
  expire = integer { min = 1 },
}

--- mailcast.part's table: an attachment or inline image.
M.PART_TABLE = S.record {
  path = str(), data = str(), filename = str(), content_type = str(),
  charset = str(), disposition = str(), content_id = str(), cid = str(),
  encoding = S.enum { "auto", "7bit", "8bit", "quoted-printable", "base64" },
  stream = boolean(),
}

--- A part of a campaign's attachments or inline: its table, or a Part.
M.PART = S.one_of({ S.userdata "mailcast.Part", M.PART_TABLE }, { plural = "parts ({path= or data=, ...})" })

local parts = S.list(M.PART)

--- A span of time: seconds, or a string "90s", "15m", "4h", "2d".
local time_says = "seconds or a time like \"30s\", \"15m\", \"4h\", \"2d\""
M.DURATION = S.one_of({ number { min = 0 }, str { pattern = "^%d+%.?%d*[smhd]$", says = time_says } },
  { says = time_says })

local campaign_from = S.one_of({ str { nonempty = true }, S.record { name = str(), address = str { required = true } } })

--- One variant of an A/B test: the message keys it changes from the
-- campaign's (mailcast.abtest), each taken as the campaign takes it (a
-- page of its own with html_file), and a label to report it by.
M.VARIANT = S.record {
  label = str { nonempty = true },
  subject = str(),
  text = str(),
  html = str(),
  html_file = str { nonempty = true },
  base_url = url,
  embed_remote = embed_remote,
  from = campaign_from,
  headers = S.table(),
  inline = parts,
  attachments = parts,
}

--- An A/B test: the fraction of the list that goes out split between
-- the variants, how long after the test group is sent the winner is
-- picked, and by what (unique opens or clicks against delivered).
M.TEST = S.record {
  fraction = number { above = 0, max = 1, default = 0.2 },
  wait = S.with(M.DURATION, { default = "4h" }),
  pick = S.enum({ "opens", "clicks" }, { default = "opens" }),
}

-- A reason of the bounce taxonomy (csrc/core/bounce_class.c), by name.
local reason_names = {}
for i, r in ipairs(require("mailcast.core").bounce_reasons()) do reason_names[i] = r.name end
local reason = S.enum(reason_names)

--- mailcast.segment: the recipients of an earlier campaign chosen by
-- what happened to them (absent: either way).
M.SEGMENT = S.record {
  campaign = str { nonempty = true, required = true },
  store = str { nonempty = true },          -- default: the new campaign's own store
  delivered = boolean(),
  opened = boolean(),
  clicked = boolean(),
  failed = boolean(),
  -- the reason of the last outcome (a failure, deferral or bounce; not a delivery after it)
  reason = S.one_of({ reason, S.list(reason, { says = "a list of bounce reasons" }) },
    { says = "a bounce reason or a list of them (" .. table.concat(reason_names, ", ") .. ")" }),
  machine_opens = boolean { default = false },   -- a proxy's or scanner's fetch counts as an open
}

M.CAMPAIGN = S.record {
  name = str { nonempty = true, required = true },
  from = S.with(campaign_from, { required = true }),
  subject = str { required = true },
  text = str(),
  html = str(),
  html_file = str { nonempty = true },    -- a web page sent as it is (mailcast.page)
  base_url = url,                         -- where the page is on the web: its relative links' base
  embed_remote = embed_remote,            -- its http(s) images fetched once and sent inline
  inline = parts,
  attachments = parts,
  headers = S.table(),
  return_path = str(),                    -- the envelope sender
  bounce_domain = str { nonempty = true },
  recipients = S.one_of({ str(), func(), S.table() },
    { required = true, says = "a CSV file name, a list of tables, an iterator or a mailcast.segment" }),
  variants = S.list(M.VARIANT, { says = "a list of variants ({subject=, html=, ...})" }),
  test = M.TEST,
  address = str { nonempty = true, default = "email" },   -- the field holding the address
  routes = S.map(M.ROUTE, { label = "route" }),
  route = S.one_of({ M.ROUTE, str { nonempty = true }, func() },
    { says = "a route table, a route name or a function" }),
  default_route = str { nonempty = true },
  limits = S.with(M.CAMPAIGN_LIMITS, { default = {} }),
  retry = S.with(M.RETRY, { default = {} }),
  max_in_flight = integer { min = 1, default = 1000 },
  priority = number { above = 0, default = 1 },   -- its share of destinations other campaigns use too
  log = S.one_of { str(), S.value(false) },
  hook_limit = integer { min = 1 },          -- instructions (mailcast.hooks)
  suppress_hard_bounces = boolean { default = true },
  bounce_rules = S.list(S.tuple { str(), str() }, { says = "a list of {pattern, reason}" }),
  classify = func(),
  webhooks = S.one_of { url, S.list(url, { says = "a list of http(s) URLs" }) },
  track = M.TRACK,
  unsubscribe = M.UNSUBSCRIBE,
  dkim = S.one_of({ M.DKIM, S.list(M.DKIM) }, { says = "{key=, domain=, selector=} or a list of them" }),
  feedback_id = str { nonempty = true },
  precedence = str { nonempty = true },
  personalize = func(),
  on_reply = func(),
  on_delivered = func(),
  on_deferred = func(),
  on_failed = func(),
}

-- An address field of a message: "Name <a@b>", {name=, address=}, or a
-- list of these.
local mailbox = S.one_of { str(), S.record { name = str(), address = str { required = true } } }
local addresses = S.one_of({ mailbox, S.list(mailbox) },
  { says = "an address, {name=, address=} or a list of them" })

--- mailcast.build / mailcast.message. A message is data, made for each
-- recipient: only its keys are checked here (a misspelled one raises);
-- its values are the C side's, which returns nil and a message naming
-- the field for bad data.
M.MESSAGE = S.record {
  from = addresses, to = addresses, cc = addresses, bcc = addresses, reply_to = addresses,
  subject = str(),
  headers = S.table(),
  text = str(),
  html = str(),
  html_file = str { nonempty = true },
  base_url = url,
  embed_remote = embed_remote,
  inline = parts,
  attachments = parts,
  message_id = str(),
  date = S.one_of { integer(), str() },
  allow_8bit = boolean(),
  cache = S.one_of({ S.table(), S.value(false) }, { says = "a parts cache (mailcast.parts()) or false" }),
}

--- One entry of mailcast.send's list: data as a message is (only its
-- keys are checked here; an entry that cannot be sent fails alone).
M.SEND_ENTRY = S.record {
  message = S.one_of({ str(), S.userdata "mailcast.Message", S.table() },   -- a table: see MESSAGE
    { required = true, says = "a string, a mailcast.Message or a message table" }),
  from = str(),
  to = S.one_of({ str(), strings }, { says = "an address or a list of addresses" }),
  eight_bit = boolean(),
  dsn_ret = S.enum({ "FULL", "HDRS" }, { nocase = true }),
  dsn_envid = str(),
  dsn_notify = str(),
  dsn_orcpt = boolean(),
}

return M
