-- Campaign scripts written to a directory, and `mailcast` run on them as
-- a user runs it: the setup the specs of mailcast lint and mailcast test
-- share.
local helper = require "helper"
local mime = require "support.mime"

local M = {}

--- write(dir, name, fields) -> the path of dir/NAME.lua, a script that
-- returns mailcast.campaign{ name = "NAME", <fields> }; fields is Lua
-- source, each field ending with a comma.
function M.write(dir, name, fields)
  local path = dir .. "/" .. name .. ".lua"
  mime.write(path, 'local mailcast = require "mailcast"\nreturn mailcast.campaign{\n  name = "' .. name .. '",\n' ..
    fields .. "}\n")
  return path
end

--- run(args) -> output (stdout and stderr together), exit status of
-- `mailcast ARGS` (args: shell words, quoted by the caller).
function M.run(args)
  local p = assert(io.popen(string.format("%s %s 2>&1", mime.sh_quote(helper.runner), args)))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

return M
