-- Declarative checks for the tables a user writes: each field's type,
-- range and default, in one place, checked once when the table is made.
-- An unknown key is refused with the nearest known one ("did you mean
-- ..."), a wrong type or range with what was expected and what was
-- given; every error names the user's script and line, not ours.
--
--   local LIMITS = schema.record {
--     connections = schema.integer { min = 1, max = 1000 },
--     rate = schema.rate {},
--   }
--   local limits = schema.check(LIMITS, t.limits, "campaign limits")
--
-- A spec is a table {kind=, ...}; every kind takes `default` (the value
-- when the key is absent; a table default is copied and checked, so a
-- record's own defaults fill it) and `required`, `says` to replace the
-- generated description in messages, and `hide` for a secret, whose
-- value a message must not show.
local M = {}

-- Where this module lives: frames from files there are mailcast's own,
-- and an error names the first frame above them (the user's call).
local OWN_DIR = debug.getinfo(1, "S").source:match("^(@.*[/\\])") or "@"

--- user_frames() -> an iterator over the debug information ("Sl") of
-- the frames of the user's code that called into mailcast, innermost
-- first: those whose source is neither C nor in mailcast's directory.
function M.user_frames()
  local level = 2
  return function()
    while level < 200 do
      level = level + 1
      local info = debug.getinfo(level, "Sl")
      if not info then return nil end
      if info.what ~= "C" and info.source:sub(1, #OWN_DIR) ~= OWN_DIR then return info end
    end
  end
end

--- where() -> "file:line" of the user's code that called into mailcast
-- (the innermost of user_frames with a line), or nil when the call came
-- from nowhere else.
function M.where()
  for info in M.user_frames() do
    if info.currentline > 0 then return string.format("%s:%d", info.short_src, info.currentline) end
  end
  return nil
end

--- fail(what, message): raises "FILE:LINE: what: message", FILE:LINE
-- being the user's call (see where).
function M.fail(what, message)
  local at = M.where()
  local text = what and (what .. ": " .. message) or message
  error(at and (at .. ": " .. text) or text, 0)
end


-- ---- building specs

local function spec(kind, opts)
  local s = {}
  for k, v in pairs(opts or {}) do s[k] = v end
  s.kind = kind
  return s
end

--- string{nonempty=, min_len=, pattern=, says=}: pattern is a Lua pattern
-- the whole value must match (say what it means with `says`).
function M.string(opts) return spec("string", opts) end

--- integer{min=, max=} (an integral float such as 25.0 counts)
function M.integer(opts) return spec("integer", opts) end

--- number{min=, max=, above=}: above is an exclusive lower bound.
function M.number(opts) return spec("number", opts) end

function M.boolean(opts) return spec("boolean", opts) end

function M.func(opts) return spec("function", opts) end

--- table{}: any table, its contents not checked here.
function M.table(opts) return spec("table", opts) end

--- userdata(class, opts): a userdata whose metatable's __name is class.
function M.userdata(class, opts)
  local s = spec("userdata", opts)
  s.class = class
  return s
end

--- value(v, opts): exactly v (say, false for "off").
function M.value(v, opts)
  local s = spec("value", opts)
  s.value = v
  return s
end

--- enum({"a", "b", ...}, {nocase=}): one of the strings listed.
function M.enum(list, opts)
  local s = spec("enum", opts)
  s.list, s.set = list, {}
  for _, v in ipairs(list) do s.set[s.nocase and v:lower() or v] = true end
  return s
end

--- one_of({spec, ...}, opts): the first spec that takes the value's type
-- (a list before a record: a table with [1] is a list) decides.
function M.one_of(list, opts)
  local s = spec("one_of", opts)
  s.list = list
  return s
end

--- rate{}: messages per second as a number >= 0 (0: no limit), or a
-- string "N/s", "N/m", "N/h" (also "N/min", "N/hour", ...).
function M.rate(opts) return spec("rate", opts) end

--- list(item, opts): a sequence, each item checked against item.
function M.list(item, opts)
  local s = spec("list", opts)
  s.item = item
  return s
end

--- map(value, {label=, lower_keys=}): string keys (names) to values
-- checked against value. In messages an entry is "LABEL 'key'" (with
-- label) or "FIELD['key']"; lower_keys: keys are folded to lower case.
function M.map(value, opts)
  local s = spec("map", opts)
  s.value = value
  return s
end

--- record(fields, opts): a table with these named keys and no others.
function M.record(fields, opts)
  local s = spec("record", opts)
  s.fields = fields
  return s
end

--- tuple({spec, ...}, opts): a table with these positional items.
function M.tuple(items, opts)
  local s = spec("tuple", opts)
  s.items = items
  return s
end

--- with(s, changes) -> a copy of spec s with changes; for a record,
-- changes.defaults = {field = default, ...} sets its fields' defaults
-- and changes.fields = {field = spec, ...} adds or replaces fields.
function M.with(s, changes)
  local out = spec(s.kind, s)
  for k, v in pairs(changes) do
    if k ~= "defaults" and k ~= "fields" then out[k] = v end
  end
  if changes.defaults or changes.fields then
    out.fields = {}
    for name, f in pairs(s.fields) do out.fields[name] = f end
    for name, f in pairs(changes.fields or {}) do out.fields[name] = f end
    for name, d in pairs(changes.defaults or {}) do
      assert(out.fields[name], "schema.with: no field " .. name)
      out.fields[name] = M.with(out.fields[name], { default = d })
    end
  end
  return out
end


-- ---- rates

local PER = { s = 1, m = 60, h = 3600 }

--- per_second(rate) -> messages per second, or nil when rate is no rate
-- (a number stays as it is; nil stays nil).
function M.per_second(rate)
  if rate == nil or type(rate) == "number" then return rate end
  if type(rate) ~= "string" then return nil end
  local n, unit = rate:match("^%s*([%d.]+)%s*/%s*([smh])%a*%s*$")
  n = tonumber(n)
  if not n then return nil end
  return n / PER[unit]
end


-- ---- descriptions

local function show(v)
  local t = type(v)
  if t == "string" then
    if #v > 40 then v = v:sub(1, 37) .. "..." end
    return "'" .. v .. "'"
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  elseif t == "userdata" then
    local mt = getmetatable(v)
    return "a " .. (type(mt) == "table" and type(mt.__name) == "string" and mt.__name or "userdata")
  end
  return "a " .. t
end

-- "a", "a or b", "a, b or c"
local function either(words)
  if #words == 1 then return words[1] end
  return table.concat(words, ", ", 1, #words - 1) .. " or " .. words[#words]
end

local function range(s)
  if s.min and s.max then return string.format(" from %s to %s", s.min, s.max) end
  if s.min then return " >= " .. s.min end
  if s.above then return " > " .. s.above end
  if s.max then return " <= " .. s.max end
  return ""
end

local describe

local DESCRIBE = {
  string = function(s)
    if s.min_len then return string.format("a string of at least %d bytes", s.min_len) end
    return s.nonempty and "a non-empty string" or "a string"
  end,
  integer = function(s) return "an integer" .. range(s) end,
  number = function(s) return "a number" .. range(s) end,
  boolean = function() return "true or false" end,
  ["function"] = function() return "a function" end,
  table = function() return "a table" end,
  userdata = function(s) return "a " .. s.class end,
  value = function(s) return show(s.value) end,
  enum = function(s)
    local words = {}
    for i, v in ipairs(s.list) do words[i] = "'" .. v .. "'" end
    return either(words)
  end,
  one_of = function(s)
    local words = {}
    for i, alt in ipairs(s.list) do words[i] = describe(alt) end
    return either(words)
  end,
  rate = function() return "a number >= 0 or a rate like '100/m'" end,
  list = function(s) return "a list of " .. (s.item.plural or describe(s.item)) end,
  map = function(s) return "a table of NAME = " .. describe(s.value) end,
  record = function() return "a table" end,
  tuple = function(s)
    local words = {}
    for i, item in ipairs(s.items) do words[i] = describe(item) end
    return "{" .. table.concat(words, ", ") .. "}"
  end,
}

function describe(s)
  return s.says or DESCRIBE[s.kind](s)
end

M.describe = describe


-- ---- did you mean

-- The optimal string alignment distance of a and b (Damerau-Levenshtein
-- with adjacent swaps), or limit + 1 once it is sure to exceed limit.
local function distance(a, b, limit)
  local la, lb = #a, #b
  if math.abs(la - lb) > limit then return limit + 1 end
  local prev2, prev, cur = {}, {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur = { [0] = i }
    local best = i
    local ca = a:byte(i)
    for j = 1, lb do
      local cb = b:byte(j)
      local d = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca == cb and 0 or 1))
      if i > 1 and j > 1 and ca == b:byte(j - 1) and a:byte(i - 1) == cb then
        d = math.min(d, prev2[j - 2] + 1)
      end
      cur[j] = d
      if d < best then best = d end
    end
    if best > limit then return limit + 1 end
    prev2, prev = prev, cur
  end
  return prev[lb]
end

M.distance = distance

--- suggest(key, known) -> the known names nearest key (at most 2 edits
-- away, case aside; else those key begins or that begin with key), sorted.
function M.suggest(key, known)
  key = key:lower()
  local best, out = 3, {}
  for _, name in ipairs(known) do
    local d = distance(key, name:lower(), 2)
    if d < best then best, out = d, { name }
    elseif d == best and d <= 2 then out[#out + 1] = name end
  end
  if #out == 0 and #key >= 3 then
    for _, name in ipairs(known) do
      local lower = name:lower()
      if lower:sub(1, #key) == key or key:sub(1, #lower) == lower then out[#out + 1] = name end
    end
  end
  table.sort(out)
  return out
end


-- ---- checking

local function label(what, key)
  if key == nil then return what end
  return what and (what .. " " .. key) or key
end

-- Raises the message for a value of the wrong type or range (a secret's
-- value is not shown: the message may go to a log).
local function wrong(s, v, what, key)
  local given = show(v)
  if s.hide and type(v) == "string" then given = string.format("a string of %d bytes", #v) end
  if key == nil then M.fail(nil, string.format("%s must be %s, not %s", what, describe(s), given)) end
  M.fail(what, string.format("%s must be %s, not %s", key, describe(s), given))
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

local check

-- Whether spec s takes a value of v's type (one_of picks by this).
local function takes(s, v)
  local k, t = s.kind, type(v)
  if k == "integer" or k == "number" then return t == "number" end
  if k == "function" then return t == "function" end
  if k == "value" then return rawequal(v, s.value) end
  if k == "enum" then return t == "string" end
  if k == "rate" then return t == "number" or t == "string" end
  if k == "userdata" then
    local mt = t == "userdata" and getmetatable(v)
    return type(mt) == "table" and mt.__name == s.class
  end
  if k == "list" then return t == "table" and (v[1] ~= nil or next(v) == nil) end
  if k == "record" or k == "map" then return t == "table" and v[1] == nil end
  if k == "tuple" or k == "table" then return t == "table" end
  if k == "one_of" then
    for _, alt in ipairs(s.list) do if takes(alt, v) then return true end end
    return false
  end
  return t == k
end

local function check_number(s, v, what, key)
  if type(v) ~= "number" then wrong(s, v, what, key) end
  if s.kind == "integer" then
    local n = math.tointeger(v)
    if not n then wrong(s, v, what, key) end
    v = n
  end
  if v ~= v or (s.min and v < s.min) or (s.max and v > s.max) or (s.above and v <= s.above) then
    wrong(s, v, what, key)
  end
  return v
end

-- Raises for the first key of record v that spec s does not have,
-- with the nearest known ones. here: v's name in the message.
local function unknown_keys(s, v, here)
  local fields = s.fields
  for k in pairs(v) do
    if fields[k] == nil then
      local known = {}
      for name in pairs(fields) do known[#known + 1] = name end
      table.sort(known)
      if type(k) ~= "string" then
        M.fail(here, string.format("unexpected item [%s]: this table takes named keys (%s)", tostring(k),
          table.concat(known, ", ")))
      end
      local near = M.suggest(k, known)
      local hint
      if #near > 0 then
        for i, n in ipairs(near) do near[i] = "'" .. n .. "'" end
        hint = "did you mean " .. either(near) .. "?"
      elseif #known <= 12 then
        hint = "known keys: " .. table.concat(known, ", ")
      end
      M.fail(here, string.format("unknown key '%s'%s", k, hint and (" (" .. hint .. ")") or ""))
    end
  end
end

local function check_record(s, v, what, key)
  if type(v) ~= "table" then wrong(s, v, what, key) end
  local here = label(what, key)
  local fields = s.fields
  unknown_keys(s, v, here)
  local out = {}
  for name, f in pairs(fields) do
    local fv = v[name]
    if fv == nil and f.default ~= nil then
      fv = type(f.default) == "table" and copy(f.default) or f.default
    end
    if fv == nil then
      if f.required then M.fail(here, string.format("%s is required (%s)", name, describe(f))) end
    else
      out[name] = check(f, fv, here, name)
    end
  end
  return out
end

local function check_list(s, v, what, key)
  if type(v) ~= "table" then wrong(s, v, what, key) end
  local here, out, n = label(what, key), nil, 0
  for k in pairs(v) do
    n = n + 1
    if math.type(k) ~= "integer" or k < 1 then
      M.fail(here, string.format("must be a list, but has the key %s", show(k)))
    end
  end
  if n ~= #v then M.fail(here, "must be a list without holes") end
  for i = 1, n do
    local item = check(s.item, v[i], here .. "[" .. i .. "]")
    if item ~= v[i] then
      out = out or copy(v)
      out[i] = item
    end
  end
  return out or v
end

local function check_map(s, v, what, key)
  if type(v) ~= "table" then wrong(s, v, what, key) end
  local out = {}
  for k, item in pairs(v) do
    if type(k) ~= "string" then
      M.fail(label(what, key), string.format("keys must be names (strings), not %s", show(k)))
    end
    local here
    if s.label then here = label(what, string.format("%s '%s'", s.label, k))
    else here = string.format("%s['%s']", label(what, key), k) end
    out[s.lower_keys and k:lower() or k] = check(s.value, item, here)
  end
  return out
end

local CHECK = {
  string = function(s, v, what, key)
    if type(v) ~= "string" or (s.nonempty and v == "") or (s.min_len and #v < s.min_len)
      or (s.pattern and not v:match(s.pattern)) then
      wrong(s, v, what, key)
    end
    return v
  end,
  integer = check_number,
  number = check_number,
  enum = function(s, v, what, key)
    if type(v) ~= "string" or not s.set[s.nocase and v:lower() or v] then wrong(s, v, what, key) end
    return v
  end,
  rate = function(s, v, what, key)
    local n = M.per_second(v)
    if not n or n ~= n or n < 0 then wrong(s, v, what, key) end
    return v
  end,
  one_of = function(s, v, what, key)
    for _, alt in ipairs(s.list) do
      if takes(alt, v) then return check(alt, v, what, key) end
    end
    wrong(s, v, what, key)
  end,
  record = check_record,
  list = check_list,
  map = check_map,
  tuple = function(s, v, what, key)
    if type(v) ~= "table" then wrong(s, v, what, key) end
    for i, item in ipairs(s.items) do
      if not takes(item, v[i]) then wrong(s, v, what, key) end
    end
    return v
  end,
}

-- The value v checked against spec s, with its defaults filled in (a
-- copy when any were). what: the table it is in (for messages); key:
-- its field there (nil: v is what itself).
function check(s, v, what, key)
  local f = CHECK[s.kind]
  if f then return f(s, v, what, key) end
  if not takes(s, v) then wrong(s, v, what, key) end
  return v
end

--- check(spec, t, what) -> t checked, with the defaults of spec filled in
-- (a copy: t itself is left as it was). what names t in the messages
-- ("campaign limits"). Raises "FILE:LINE: what: ..." on a bad value.
function M.check(s, t, what)
  if t == nil and s.default ~= nil then t = type(s.default) == "table" and copy(s.default) or s.default end
  return check(s, t, what)
end

--- check_keys(spec, t, what): only that every key of table t is a
-- field of record spec (for tables of data, whose values the C side
-- checks and reports itself).
function M.check_keys(s, t, what)
  if type(t) ~= "table" then wrong(s, t, what) end
  local fields = s.fields
  for k in next, t do   -- (this runs for every message built: no more than a look-up a key)
    if fields[k] == nil then unknown_keys(s, t, what) end
  end
end

--- defaults(spec) -> the defaults of a record spec's fields, as a table.
function M.defaults(s)
  local out = {}
  for name, f in pairs(s.fields) do
    if f.default ~= nil then out[name] = type(f.default) == "table" and copy(f.default) or f.default end
  end
  return out
end

return M
