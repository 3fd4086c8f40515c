-- `mailcast sink` run as a user runs it, for the specs: started on a free
-- port with the arguments given, its Maildir read back.
local helper = require "helper"
local mime = require "support.mime"
local socket = require "socket"

local M = {}

local try_read = mime.try_read

-- A sink a spec forgot to stop ends by itself after LIFETIME seconds: long
-- enough for the slowest spec that uses one under the sanitizers.
local LIFETIME = 300

--- start(args) -> sink: port, maildir, files() (the stored messages),
-- wait() (until it exits by itself, after --count; returns its output),
-- stop(), cleanup().
function M.start(args)
  local dir = mime.tmpdir()
  local cmd = string.format("timeout --foreground %d %s sink --listen 127.0.0.1:0 --maildir %s --port-file %s %s > %s 2>&1 & echo $!",
    LIFETIME, mime.sh_quote(helper.runner), mime.sh_quote(dir .. "/Maildir"), mime.sh_quote(dir .. "/port"),
    args or "", mime.sh_quote(dir .. "/out"))
  local p = io.popen(cmd)
  local pid = p:read("l")
  p:close()
  local port
  for _ = 1, 250 do
    local text = try_read(dir .. "/port")
    port = text and tonumber(text:match("%d+"))
    if port then break end
    socket.sleep(0.02)
  end
  assert(port, "the sink did not start: " .. (try_read(dir .. "/out") or ""))
  local srv = { port = port, dir = dir, maildir = dir .. "/Maildir", pid = pid }
  function srv.files()
    local list = {}
    local ls = io.popen("ls " .. mime.sh_quote(srv.maildir .. "/new"))
    for name in ls:lines() do list[#list + 1] = try_read(srv.maildir .. "/new/" .. name) end
    ls:close()
    return list
  end
  function srv.wait()
    for _ = 1, 250 do
      local out = try_read(dir .. "/out") or ""
      if out:match("messages stored") then return out end
      socket.sleep(0.02)
    end
    return try_read(dir .. "/out")
  end
  function srv.stop() os.execute("kill " .. pid .. " 2>/dev/null") end
  function srv.cleanup()
    srv.stop()
    mime.rmdir(dir)
  end
  return srv
end

return M
