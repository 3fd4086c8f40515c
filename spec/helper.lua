-- Loaded before every spec: paths to the tree's build and a few helpers
-- shared by the specs (spec/support/ has the bigger ones).
local helper = {}

helper.root = os.getenv("PWD")
helper.runner = os.getenv("MAILCAST_BIN") or (helper.root .. "/build/bin/mailcast")

--- Runs a shell command; returns its output (stdout and stderr) and exit code.
function helper.sh(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit:$?\"")
  local out = p:read("a")
  p:close()
  local body, code = out:match("^(.*)exit:(%d+)\n$")
  return body, tonumber(code)
end

return helper
