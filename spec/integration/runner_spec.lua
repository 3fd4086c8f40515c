-- The runner and the package as a user meets them: `mailcast` on the
-- command line, the example campaign, and a LuaRocks install.
local helper = require "helper"
local mime = require "support.mime"

local sh_quote, tmpdir, write = mime.sh_quote, mime.tmpdir, mime.write

local run = helper.sh

local mailcast = helper.runner

describe("the mailcast runner", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf " .. sh_quote(dir)) end)

  it("prints its version", function()
    local out, code = run(sh_quote(mailcast) .. " --version")
    assert.equal(0, code)
    assert.matches("^mailcast %d+%.%d+%.%d+ %(Lua 5%.4%)\n$", out)
  end)

  it("ignores SIGPIPE, so a server that hangs up while it writes ends a transaction, not the run", function()
    write(dir .. "/sig.lua", [[
      local f = assert(io.open("/proc/self/status"))
      local ignored = tonumber(f:read("a"):match("SigIgn:%s*(%x+)"), 16)
      f:close()
      print(ignored // (1 << 12) % 2 == 1 and "ignored" or "default")   -- SIGPIPE is 13
    ]])
    local out, code = run(sh_quote(mailcast) .. " run " .. sh_quote(dir .. "/sig.lua"))
    assert.equal(0, code, out)
    assert.equal("ignored\n", out)
  end)

  it("prints usage for help", function()
    local out, code = run(sh_quote(mailcast) .. " help")
    assert.equal(0, code)
    assert.matches("run SCRIPT%.lua", out)
  end)

  -- `run --help` once said "cannot open --help", `status --help` "no
  -- store at --help", `sink --help` "unknown option".
  it("prints each command's usage on stdout for -h and --help, and exits 0", function()
    for _, command in ipairs { "run", "status", "sink", "serve", "mx", "bounces", "suppress", "help", "version" } do
      for _, flag in ipairs { "--help", "-h" } do
        local out, code = run("(" .. sh_quote(mailcast) .. " " .. command .. " " .. flag .. " 2>/dev/null)")
        assert.equal(0, code, command .. " " .. flag .. ": " .. out)
        assert.matches("^usage: mailcast " .. command .. "[ \n]", out)
      end
    end
    local out, code = run("(" .. sh_quote(mailcast) .. " serve --store x.db --help 2>/dev/null)")
    assert.equal(0, code, out)
    assert.matches("^usage: mailcast serve ", out)
    out, code = run("(" .. sh_quote(mailcast) .. " help sink 2>/dev/null)")
    assert.equal(0, code, out)
    assert.matches("^usage: mailcast sink ", out)
  end)

  it("prints a command's usage on stderr after what is wrong with its command line, and exits 2", function()
    for command, wrong in pairs { run = "", status = "", sink = "--frob", serve = "--frob", mx = "" } do
      local out, code = run("(" .. sh_quote(mailcast) .. " " .. command .. " " .. wrong .. " 2>&1 >/dev/null)")
      assert.equal(2, code, command .. ": " .. out)
      assert.matches("^mailcast: " .. command .. ": [^\n]+\nusage: mailcast " .. command .. " ", out)
    end
  end)

  it("gives a script the words after run's script, -h and --help among them", function()
    local script = dir .. "/words.lua"
    write(script, "print(table.concat(arg, ' '))\n")
    local out, code = run(sh_quote(mailcast) .. " run " .. sh_quote(script) .. " --help -h")
    assert.equal(0, code, out)
    assert.equal("--help -h\n", out)
  end)

  it("refuses an unknown command with exit code 2", function()
    local out, code = run(sh_quote(mailcast) .. " frobnicate")
    assert.equal(2, code)
    assert.matches("unknown command 'frobnicate'", out)
  end)

  it("runs a script with arg and ... set as the stand-alone lua does", function()
    local script = dir .. "/args.lua"
    write(script, [[
      local a, b = ...
      print(arg[0], arg[1], arg[2], arg[-1], a, b, #arg)
      print(require("mailcast").version)
    ]])
    local out, code = run(sh_quote(mailcast) .. " run " .. sh_quote(script) .. " one 'two words'")
    assert.equal(0, code)
    local first = out:match("^[^\n]*")
    assert.equal(script .. "\tone\ttwo words\trun\tone\ttwo words\t2", first)
  end)

  it("uses the integer a script returns as its exit code", function()
    local script = dir .. "/exit.lua"
    write(script, "return 3\n")
    local _, code = run(sh_quote(mailcast) .. " run " .. sh_quote(script))
    assert.equal(3, code)
  end)

  it("reports an error in a script with its file and line and exits 1", function()
    local script = dir .. "/broken.lua"
    write(script, "local x = 1\nerror('the list is gone')\n")
    local out, code = run(sh_quote(mailcast) .. " run " .. sh_quote(script))
    assert.equal(1, code)
    assert.matches("broken%.lua:2: the list is gone", out)
  end)

  it("reports a script that does not parse without running it", function()
    local script = dir .. "/syntax.lua"
    write(script, "print('ran')\nlocal = 5\n")
    local out, code = run(sh_quote(mailcast) .. " run " .. sh_quote(script))
    assert.equal(1, code)
    assert.matches("syntax%.lua:2:", out)
    assert.not_matches("ran", out)
  end)

  it("reports a missing script", function()
    local out, code = run(sh_quote(mailcast) .. " run " .. sh_quote(dir .. "/nope.lua"))
    assert.equal(1, code)
    assert.matches("nope%.lua", out)
  end)
end)

describe("the example newsletter", function()
  it("writes one parseable message per recipient with the shared parts encoded once", function()
    local dir = tmpdir()
    local out, code = run(sh_quote(mailcast) .. " run examples/newsletter/newsletter.lua " .. sh_quote(dir))
    assert.equal(0, code, out)
    assert.matches("3 messages written, 0 skipped; parts encoded 2 times, reused 4 times", out, 1, true)
    local mailcast_lib = require "mailcast"
    local files = {}
    for name in io.popen("ls " .. sh_quote(dir)):lines() do files[#files + 1] = name end
    assert.equal(3, #files)
    local f = assert(io.open(dir .. "/" .. files[2], "rb"))
    local msg = mailcast_lib.parse(f:read("a"))
    f:close()
    os.execute("rm -rf " .. sh_quote(dir))
    assert.equal("multipart/mixed", msg.content_type)
    assert.equal("Jürgen, our November news — Neuigkeiten für Sie", msg.header.subject)
    local html = msg.parts[1].parts[2].parts[1].body
    assert.matches("Müller, Schmidt &lt;GmbH&gt;", html, 1, true) -- escaped, not markup
    assert.equal("Broschüre November.pdf", msg.parts[2].filename)
  end)
end)

describe("the example newsletter sent to the built-in sink", function()
  it("delivers to every address but the one the sink refuses, and says so", function()
    local dir = tmpdir()
    local out, code = run(sh_quote(mailcast) .. " run examples/newsletter/send.lua " .. sh_quote(dir))
    local stored = 0
    for _ in io.popen("ls " .. sh_quote(dir .. "/Maildir/new")):lines() do stored = stored + 1 end
    os.execute("rm -rf " .. sh_quote(dir))
    assert.equal(0, code, out)
    assert.matches("juergen.mueller@example.net%s+failed%s+550 5.1.1 Mailbox unavailable", out)
    assert.matches("2 sent, 0 deferred, 1 failed", out, 1, true)
    assert.equal(2, stored)
  end)
end)

describe("the example campaign", function()
  it("sends the newsletter through the store and sends nothing twice when run again", function()
    local sink = require("support.builtin_sink").start('--reject juergen.mueller@example.net="550 5.1.1 Mailbox unavailable"')
    local dir = tmpdir()
    local cmd = "SINK_PORT=" .. sink.port .. " " .. sh_quote(mailcast) .. " run examples/newsletter/campaign.lua --store " ..
      sh_quote(dir .. "/n.db")
    local out, code = run(cmd)
    local again = run(cmd)
    local stored = sink.files()
    sink.cleanup()
    os.execute("rm -rf " .. sh_quote(dir))
    assert.equal(0, code, out)
    assert.matches("newsletter%-2026%-11: 299 delivered, 0 deferred, 1 failed", out)
    assert.matches("failed: juergen.mueller@example.net: 550 Mailbox unavailable", out, 1, true)
    assert.matches("newsletter%-2026%-11: 299 delivered, 0 deferred, 1 failed", again)
    assert.equal(299, #stored)
    -- The plan's picks, a list in the templates, are in every message.
    local premium = 0
    for _, raw in ipairs(stored) do
      if raw:find("Private preview of the spring range", 1, true) then premium = premium + 1 end
    end
    assert.is_true(premium > 0 and premium < 299, "premium picks in " .. premium .. " messages")
  end)
end)

describe("make demo's script", function()
  it("runs the campaign against a sink that refuses and defers, twice, and shows the status", function()
    local dir = tmpdir()
    local out, code = run(sh_quote(mailcast) .. " run examples/newsletter/demo.lua " .. sh_quote(dir))
    os.execute("rm -rf " .. sh_quote(dir))
    assert.equal(0, code, out)
    assert.matches("newsletter-2026-11: 296 delivered, 2 deferred, 2 failed, 0 skipped, 0 suppressed, 0 pending", out, 1, true)
    assert.matches("452 Mailbox full", out, 1, true)
    assert.matches("550 The email account that you tried to reach does not exist", out, 1, true)
    assert.matches("296 messages in", out, 1, true)
  end)
end)

describe("the rockspec", function()
  it("installs the module and the runner into a LuaRocks tree", function()
    local tree = tmpdir()
    -- The dependencies come from Debian's packages here (no network).
    local out, code = run("luarocks --lua-version 5.4 --tree " .. sh_quote(tree) .. " make --deps-mode none")
    assert.equal(0, code, out)
    -- Outside the source tree, with only what `luarocks path` sets.
    local check = "cd / && eval \"$(luarocks --lua-version 5.4 --tree " .. sh_quote(tree) ..
      " path)\" && lua5.4 -e 'local m = require \"mailcast\"; io.write(m.version, \" \", " ..
      "m.b64(\"mail\"))' && echo && PATH=" .. sh_quote(tree .. "/bin") .. ":$PATH mailcast --version"
    out, code = run(check)
    os.execute("rm -rf " .. sh_quote(tree))
    assert.equal(0, code, out)
    assert.matches("^%d+%.%d+%.%d+ bWFpbA==\nmailcast %d", out)
  end)
end)
