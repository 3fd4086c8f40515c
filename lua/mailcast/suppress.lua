-- `mailcast suppress`: the store's suppression list, listed, added to,
-- removed from, exported to and imported from CSV
-- (address,reason,since,expires; times in ISO 8601 UTC, expires empty
-- for never).
local core = require "mailcast.core"
local csv = require "mailcast.csv"
local jsonl = require "mailcast.jsonl"

local M = {}

M.USAGE = [[
usage: mailcast suppress COMMAND --store FILE
  list [--reason R] [--all] [--json]     entries in force (--all: expired too);
                                         --reason matches the start of the reason
  add ADDRESS --reason R [--expires DAYS]
  remove ADDRESS
  export FILE.csv [--reason R] [--all]   address,reason,since,expires
  import FILE.csv                        the same columns (since and expires may be
                                         empty); bad rows are reported by line
]]

local FIELDS = { "address", "reason", "since", "expires" }

local function stderr(...)
  io.stderr:write("mailcast: ", string.format(...), "\n")
end


--- iso(t) -> "2024-11-04T10:00:00Z" (whole seconds, UTC), "" for nil.
function M.iso(t)
  if not t then return "" end
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end


-- Days since 1970-01-01 of a proleptic Gregorian date (no time zone
-- involved, unlike os.time).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end


--- parse_time(s) -> seconds since the epoch | nil (empty) | false (bad).
-- Takes "2024-11-04", "2024-11-04T10:00:00Z" (a fraction and a "Z" or
-- "+00:00" optional; a space for the T), or a number of seconds.
function M.parse_time(s)
  s = s and s:match("^%s*(.-)%s*$") or ""
  if s == "" then return nil end
  if s:match("^%d+%.?%d*$") then return tonumber(s) end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return false end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 then return false end
  local h, mi, sec, zone = 0, 0, 0, ""
  if rest ~= "" then
    local hh, mm, ss, z = rest:match("^[T ](%d%d):(%d%d):?(%d*)%.?%d*(.*)$")
    if not hh then return false end
    h, mi, sec, zone = tonumber(hh), tonumber(mm), tonumber(ss) or 0, z
    if h > 23 or mi > 59 or sec > 60 then return false end
  end
  local offset = 0
  if zone ~= "" and zone ~= "Z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return false end
    offset = (tonumber(zh) * 60 + tonumber(zm)) * 60 * (sign == "-" and -1 or 1)
  end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
end


--- valid_address(s) -> the address when s is one bare address, else nil, why.
function M.valid_address(s)
  s = s and s:match("^%s*(.-)%s*$") or ""
  if s == "" then return nil, "no address" end
  local list = core.addresses(s)
  if not list or #list ~= 1 or list[1].address ~= s or not s:find("@", 1, true) then
    return nil, string.format("'%s' is not an email address", s)
  end
  return s
end


local function csv_field(s)
  s = tostring(s or "")
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end


-- Options after the command: positional arguments and --flags.
local VALUED = { ["--store"] = true, ["--reason"] = true, ["--expires"] = true }
local FLAGS = { ["--json"] = true, ["--all"] = true }

local function parse(argv)
  local o, args = {}, {}
  local i = 3
  while i <= #argv do
    local a = argv[i]
    if VALUED[a] then
      if argv[i + 1] == nil then return nil, a .. " needs a value" end
      o[a:sub(3)] = argv[i + 1]
      i = i + 2
    elseif FLAGS[a] then
      o[a:sub(3)] = true
      i = i + 1
    elseif a:sub(1, 2) == "--" then
      return nil, string.format("unknown option '%s'", a)
    else
      args[#args + 1] = a
      i = i + 1
    end
  end
  return o, args
end


local function list(store, o)
  local rows = assert(store:suppression_list { reason = o.reason, all = o.all })
  for _, r in ipairs(rows) do
    if o.json then
      io.write(jsonl.encode({ address = r.address, reason = r.reason, since = M.iso(r.since),
        expires = r.expires and M.iso(r.expires) or nil }, FIELDS), "\n")
    else
      io.write(string.format("%-40s  %-20s  %s  %s\n", r.address, M.iso(r.since),
        r.expires and ("until " .. M.iso(r.expires)) or "for ever             ", r.reason))
    end
  end
  if not o.json then io.write(string.format("%d suppressed\n", #rows)) end
  return 0
end


local function add(store, o, args)
  local address, err = M.valid_address(args[1])
  if not address then stderr("suppress add: %s", err) return 2 end
  if not o.reason or o.reason == "" then stderr("suppress add: --reason R is required") return 2 end
  local expires = 0
  if o.expires then
    local days = tonumber(o.expires)
    if not days or days <= 0 then stderr("suppress add: --expires wants a number of days") return 2 end
    expires = os.time() + days * 86400
  end
  assert(store:suppress(address, o.reason, expires))
  io.write(string.format("suppressed %s (%s)%s\n", address, o.reason,
    expires > 0 and (" until " .. M.iso(expires)) or ""))
  return 0
end


local function remove(store, _, args)
  if not args[1] then stderr("suppress remove: no address given") return 2 end
  local _, removed = assert(store:unsuppress(args[1]))
  if not removed then stderr("suppress remove: %s is not on the list", args[1]) return 1 end
  io.write(string.format("removed %s\n", args[1]))
  return 0
end


local function export(store, o, args)
  local path = args[1]
  if not path then stderr("suppress export: no file given") return 2 end
  local rows = assert(store:suppression_list { reason = o.reason, all = o.all })
  local f, err = io.open(path, "wb")
  if not f then stderr("suppress export: %s", err) return 1 end
  f:write(table.concat(FIELDS, ","), "\r\n")
  for _, r in ipairs(rows) do
    f:write(csv_field(r.address), ",", csv_field(r.reason), ",", M.iso(r.since), ",", M.iso(r.expires), "\r\n")
  end
  local ok, cerr = f:close()
  if not ok then stderr("suppress export: %s", cerr) return 1 end
  io.write(string.format("exported %d entries to %s\n", #rows, path))
  return 0
end


-- One CSV row as (address, reason, since, expires) or nil, why.
local function import_row(row)
  local address, err = M.valid_address(row.address)
  if not address then return nil, err end
  local reason = (row.reason or ""):match("^%s*(.-)%s*$")
  if reason == "" then return nil, "no reason" end
  local since = M.parse_time(row.since)
  if since == false then return nil, string.format("since '%s' is not a time", row.since) end
  local expires = M.parse_time(row.expires)
  if expires == false then return nil, string.format("expires '%s' is not a time", row.expires) end
  return address, reason, since, expires
end


local function import(store, _, args)
  local path = args[1]
  if not path then stderr("suppress import: no file given") return 2 end
  local ok, rows = pcall(csv.rows, path)
  if not ok then stderr("suppress import: %s", tostring(rows):gsub("^.-csv: ", "")) return 1 end
  local imported, bad, now = 0, 0, os.time()
  assert(store:begin())
  for row, err in rows do
    local address, reason, since, expires
    if row then
      address, reason, since, expires = import_row(row)
      if not address then err = string.format("%s:%d: %s", path, row._line, reason) end
    end
    if address then
      assert(store:suppress(address, reason, expires or 0, since or now))
      imported = imported + 1
    else
      bad = bad + 1
      stderr("suppress import: %s", tostring(err):gsub("^csv: ", ""))
    end
  end
  assert(store:commit())
  io.write(string.format("imported %d entries from %s, %d bad rows\n", imported, path, bad))
  return bad == 0 and 0 or 1
end


local COMMANDS = { list = list, add = add, remove = remove, export = export, import = import }


--- main(argv) -> exit code: 0, 1 (a failure, or bad rows in an
-- import), 2 (usage).
function M.main(argv)
  local command = COMMANDS[argv[2] or ""]
  if not command then
    if argv[2] then stderr("suppress: unknown command '%s'", argv[2]) end
    io.stderr:write(M.USAGE)
    return 2
  end
  local o, args = parse(argv)
  if not o then stderr("suppress: %s", args) io.stderr:write(M.USAGE) return 2 end
  if not o.store then stderr("suppress: --store FILE is required") io.stderr:write(M.USAGE) return 2 end
  local f = io.open(o.store, "rb")
  if f then f:close()
  elseif command ~= add and command ~= import then   -- nothing to read: not made here
    stderr("suppress: no store at %s", o.store)
    return 1
  end
  local store, err = core.store(o.store)
  if not store then stderr("%s", err) return 1 end
  local ok, rc = pcall(command, store, o, args)
  store:close()
  if not ok then stderr("suppress: %s", tostring(rc)) return 1 end
  return rc
end

return M
