-- The command lines of `mailcast lint` and `mailcast test`: a campaign
-- script, switches, and options that take a value, read the same way so
-- both commands answer a mistake with the same words.
local M = {}

--- parse(argv, spec) -> options | nil, why. argv[1] is the command.
-- spec.switches maps a flag to {key, value} (`--no-dns` -> {"dns", false});
-- spec.values lists the flags that take a value, kept under their name
-- without "--" and with "_" for "-" (`--dns-server` -> dns_server);
-- spec.defaults are copied in first. The one other word is o.script.
function M.parse(argv, spec)
  local o = {}
  for k, v in pairs(spec.defaults or {}) do o[k] = v end
  local takes_value = {}
  for _, flag in ipairs(spec.values or {}) do takes_value[flag] = true end
  local switches = spec.switches or {}
  local i = 2
  while i <= #argv do
    local flag, value = argv[i], argv[i + 1]
    if switches[flag] then o[switches[flag][1]], i = switches[flag][2], i + 1
    elseif takes_value[flag] then
      if value == nil then return nil, flag .. " needs a value" end
      o[flag:sub(3):gsub("-", "_")] = value
      i = i + 2
    elseif flag:sub(1, 1) == "-" then return nil, "unknown option '" .. flag .. "'"
    elseif not o.script then o.script, i = flag, i + 1
    else return nil, "unexpected '" .. flag .. "'" end
  end
  if not o.script then return nil, "no campaign script given" end
  return o
end

--- recipient(o) -> true | nil, why: o.recipient (a string from --recipient,
-- when given) turned into the row number it names, from 1.
function M.recipient(o)
  if o.recipient then
    o.recipient = math.tointeger(tonumber(o.recipient))
    if not o.recipient or o.recipient < 1 then return nil, "--recipient wants a row number from 1" end
  end
  return true
end

return M
