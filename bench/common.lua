-- What bench/mime.lua and bench/send.lua share: the recipients every
-- contender writes to, and small file and shell helpers.
local M = {}

M.NAMES = {
  "Zoë Müller", "Bob Smith", "Åsa Lindqvist", "Chen Wei",
  "María José García", "Olaf Jansen", "Siobhán O'Neill", "Dmitri Ivanov",
}

--- Recipient i (0-based): name, address and subject, the same in every contender.
function M.recipient(i)
  local name = M.NAMES[i % #M.NAMES + 1]
  return name, string.format("reader%d@example.org", i), "Your November news, " .. name
end

function M.shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

function M.write_file(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

--- The file's bytes, or nil when it cannot be read.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

--- The first leaf of a mailcast.parse tree with content type ct.
function M.find_leaf(entity, ct)
  if (entity.content_type or ""):lower() == ct and not entity.parts then return entity end
  for _, part in ipairs(entity.parts or {}) do
    local leaf = M.find_leaf(part, ct)
    if leaf then return leaf end
  end
end

--- Prints rows[a].rate / rows[b].rate, with its target when given, or
-- says why there is no ratio (a contender failed its output check).
function M.ratio(rows, a, b, label, target, width)
  local ra, rb = rows[a], rows[b]
  if not (ra.ok and rb.ok) then
    print(string.format("%-" .. width .. "s n/a (a contender failed its check)", label))
    return
  end
  local r = ra.rate / rb.rate
  local verdict = ""
  if target then
    verdict = string.format("   (target >= %gx: %s)", target, r >= target and "met" or "NOT MET")
  end
  print(string.format("%-" .. width .. "s %8.2fx%s", label, r, verdict))
end

return M
