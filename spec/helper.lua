-- Loaded before every spec: paths to the tree's build and a few helpers
-- shared by the specs (spec/support/ has the bigger ones).
local helper = {}

helper.root = os.getenv("PWD")
helper.runner = os.getenv("MAILCAST_BIN") or (helper.root .. "/build/bin/mailcast")

return helper
