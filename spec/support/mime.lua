-- Helpers shared by the MIME specs: temporary files, splitting a message
-- into lines and header fields, walking a parsed tree.
local M = {}

--- Every byte value once, 0 to 255, in order.
function M.all_bytes()
  local t = {}
  for i = 0, 255 do t[#t + 1] = string.char(i) end
  return table.concat(t)
end

--- Quotes s for a POSIX shell.
function M.sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- A new empty directory (remove it with M.rmdir).
function M.tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local dir = p:read("l")
  p:close()
  return dir
end

function M.rmdir(dir)
  os.execute("rm -rf " .. M.sh_quote(dir))
end

function M.write(path, data)
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  return data
end

--- try_read(path) -> the file's contents, or nil while it does not exist
function M.try_read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

--- The lines of s split at CRLF (without it); a last piece without
-- CRLF is a line too.
function M.lines(s)
  local out, pos = {}, 1
  while pos <= #s do
    local e = s:find("\r\n", pos, true)
    if not e then out[#out + 1] = s:sub(pos); break end
    out[#out + 1] = s:sub(pos, e - 1)
    pos = e + 2
  end
  return out
end

--- Length of the longest CRLF-separated line of s.
function M.longest_line(s)
  local longest = 0
  for _, line in ipairs(M.lines(s)) do
    if #line > longest then longest = #line end
  end
  return longest
end

--- True when every CR and LF in s is part of a CRLF pair.
function M.crlf_only(s)
  local stripped = s:gsub("\r\n", "")
  return not stripped:find("[\r\n]")
end

--- The header section of a message (up to the first empty line), as a
-- list of raw fields, each with its folded lines kept: {name=, raw=}.
function M.fields(raw)
  local head = raw:match("^(.-\r\n)\r\n") or raw
  local out = {}
  for _, line in ipairs(M.lines(head)) do
    if line:find("^[ \t]") and #out > 0 then
      out[#out].raw = out[#out].raw .. "\r\n" .. line
    else
      out[#out + 1] = { name = line:match("^([^:]*):"), raw = line }
    end
  end
  return out
end

--- The first top-level field called name (any case), unfolded, without
-- "Name:" and its first space; nil when absent.
function M.field(raw, name)
  for _, f in ipairs(M.fields(raw)) do
    if f.name and f.name:lower() == name:lower() then
      return (f.raw:gsub("\r\n", ""):gsub("^[^:]*: ?", ""))
    end
  end
  return nil
end

--- Names of the top-level header fields in order.
function M.field_names(raw)
  local names = {}
  for _, f in ipairs(M.fields(raw)) do names[#names + 1] = f.name end
  return names
end

--- The leaves of a tree from mailcast.parse, depth first.
function M.leaves(tree, out)
  out = out or {}
  if tree.parts then
    for _, p in ipairs(tree.parts) do M.leaves(p, out) end
  else
    out[#out + 1] = tree
  end
  return out
end

--- The shape of a parsed tree as a string: "multipart/mixed(text/plain,
-- application/pdf)".
function M.shape(tree)
  if not tree.parts then return tree.content_type end
  local kids = {}
  for i, p in ipairs(tree.parts) do kids[i] = M.shape(p) end
  return tree.content_type .. "(" .. table.concat(kids, ",") .. ")"
end

--- Text in RFC 2045 canonical form: every line break CRLF.
function M.crlf(s)
  return (s:gsub("\r\n", "\n"):gsub("\r", "\n"):gsub("\n", "\r\n"))
end

--- A deterministic pseudo-random byte string of length n.
function M.random_bytes(n, seed)
  local t, x = {}, seed or 1
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    t[i] = string.char(x >> 16 & 255)
  end
  return table.concat(t)
end

--- files_in(dir) -> the names of the files in dir (none when it is missing).
function M.files_in(dir)
  local names, p = {}, assert(io.popen("ls " .. M.sh_quote(dir) .. " 2>/dev/null"))
  for name in p:lines() do names[#names + 1] = name end
  p:close()
  return names
end

--- maildir_field(msg, name) -> the value of a message's first field name
-- (a Lua pattern), as a mail server's Maildir keeps it: lines ended by
-- LF alone.
function M.maildir_field(msg, name)
  return msg:match("^" .. name .. ": ([^\n]*)") or msg:match("\n" .. name .. ": ([^\n]*)")
end

return M
