-- Media query lists of a web page's stylesheets (mailcast.page): an
-- @import kept inside a stylesheet that was put in for some media only
-- ("@import url(a.css) print;") must move to the top of the page's
-- <style>, out of the "@media print { }" around a.css, and then carry
-- both lists: "print" and its own. Pure functions.
local M = {}

local function trim(s)
  return s:match("^%s*(.-)%s*$")
end

-- The queries of a list, split at the commas outside parentheses.
local function queries(list)
  local out, depth, from = {}, 0, 1
  for i = 1, #list do
    local c = list:sub(i, i)
    if c == "(" then depth = depth + 1
    elseif c == ")" and depth > 0 then depth = depth - 1
    elseif c == "," and depth == 0 then
      out[#out + 1] = trim(list:sub(from, i - 1))
      from = i + 1
    end
  end
  out[#out + 1] = trim(list:sub(from))
  return out
end

-- One query as {type = media type or nil for all, cond = its condition
-- or nil} | nil when it cannot be joined to another one: "not" (it
-- negates the whole query) or a shape not known here.
local function parse(q)
  local low = q:lower()
  if low:find("^not[%s(]") then return nil end
  if low:find("^only%s") then q = q:match("^%S+%s+(.*)$") end
  if q:sub(1, 1) == "(" then return { cond = q } end
  local type, rest = q:match("^([%a][%w-]*)%s*(.-)$")
  if not type then return nil end
  if type:lower() == "all" then type = nil end
  if rest == "" then return { type = type } end
  local cond = rest:match("^[aA][nN][dD]%s+(.+)$")
  if not cond then return nil end
  return { type = type, cond = cond }
end

-- "(...)" whole: one condition already.
local function one_group(c)
  if c:sub(1, 1) ~= "(" then return false end
  local depth = 0
  for i = 1, #c do
    local ch = c:sub(i, i)
    if ch == "(" then depth = depth + 1
    elseif ch == ")" then
      depth = depth - 1
      if depth == 0 then return i == #c end
    end
  end
  return false
end

-- The query that holds where both a and b (parsed) hold | false when
-- none can (two different media types).
local function both(a, b)
  if a.type and b.type and a.type:lower() ~= b.type:lower() then return false end
  local type = a.type or b.type
  local conds = {}
  for _, q in ipairs { a, b } do
    -- A condition joined to another, or to a type it was not written
    -- with, goes in parentheses: "(a) or (b)" must stay one condition.
    if q.cond then conds[#conds + 1] = { text = q.cond, bare = q.type ~= nil or not type } end
  end
  if #conds == 2 then conds[1].bare, conds[2].bare = false, false end
  local out = { type }
  for _, c in ipairs(conds) do out[#out + 1] = (c.bare or one_group(c.text)) and c.text or "(" .. c.text .. ")" end
  if #out == 0 then return "all" end
  return table.concat(out, " and ")
end

local function all(list)
  list = trim(list)
  return list == "" or list:lower() == "all"
end

--- within(outer, inner) -> the media query list of what inner (a media
-- list, "" for all media) selects inside outer: "" for all media |
-- false when no medium is in both | nil, why when it cannot be written
-- as one list.
function M.within(outer, inner)
  if all(outer) then return trim(inner) end
  if all(inner) then return trim(outer) end
  local out = {}
  for _, o in ipairs(queries(outer)) do
    local po = parse(o)
    if not po then return nil, string.format("media '%s' cannot be joined to another list", o) end
    for _, i in ipairs(queries(inner)) do
      local pi = parse(i)
      if not pi then return nil, string.format("media '%s' cannot be joined to another list", i) end
      local q = both(po, pi)
      if q then out[#out + 1] = q end
    end
  end
  if #out == 0 then return false end
  return table.concat(out, ", ")
end

return M
