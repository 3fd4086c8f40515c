-- A campaign's CSV list through the runner: rows the list refuses are
-- named and counted and make the run's exit status say so; a list file
-- that cannot be opened stops the script where it makes the campaign.
local helper = require "helper"
local mime = require "support.mime"
local builtin_sink = require "support.builtin_sink"
local campaign_run = require "support.campaign_run"

local run = helper.sh
local runner, run_campaign, exists = campaign_run.runner, campaign_run.run_campaign, campaign_run.exists
local decode = campaign_run.decode

-- campaign.lua for the list file given, the call on line 2.
local function write_campaign(dir, list, port)
  mime.write(dir .. "/campaign.lua", string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = "csvlist", from = "news@example.com", subject = "Hi {{name}}", text = "Hello {{name}}\n",
  recipients = %q,
  route = { host = "127.0.0.1", port = %d, tls = "none", limits = { connections = 2 } },
}
]], list, port))
end

-- The addresses the sink received, sorted.
local function received(sink)
  local to = {}
  for _, text in ipairs(sink.files()) do to[#to + 1] = text:match("\nTo: ([^\r\n]+)") end
  table.sort(to)
  return to
end


describe("mailcast run on a list with bad rows", function()
  local dir, sink
  before_each(function()
    dir, sink = mime.tmpdir(), builtin_sink.start("")
    -- Line 3 opens a quote that never closes (the bug this guards against
    -- took lines 3 to 8 into one field); line 9 has a field too many.
    mime.write(dir .. "/list.csv", table.concat({
      "email,name",
      "a@example.org,Ann",
      'b@example.org,"Bob',
      "c@example.org,Cy",
      "d@example.org,Di",
      "e@example.org,Ed",
      "f@example.org,Flo",
      "g@example.org,Gus",
      "h@example.org,Hal,extra",
      "i@example.org,Ivy",
    }, "\n") .. "\n")
    write_campaign(dir, "list.csv", sink.port)
  end)
  after_each(function()
    sink.cleanup()
    mime.rmdir(dir)
  end)

  it("sends every good row, names each bad one by its line, and exits 3 with their count", function()
    local out, code = run_campaign(dir, "--quiet --no-log")
    assert.equal(3, code, out)
    assert.matches("csvlist: 7 delivered", out, 1, true)
    assert.matches("mailcast: csvlist: 2 rows of the list were refused\n", out, 1, true)
    assert.same({ "a@example.org", "c@example.org", "d@example.org", "e@example.org", "f@example.org",
                  "g@example.org", "i@example.org" }, received(sink))
  end)

  it("counts them with --workers too", function()
    local out, code = run_campaign(dir, "--quiet --no-log --workers 2")
    assert.equal(3, code, out)
    assert.matches("csvlist: 7 delivered", out, 1, true)
    assert.matches("mailcast: csvlist: 2 rows of the list were refused\n", out, 1, true)
  end)

  it("names the line where the stray quote opened, and the row with a field too many", function()
    local out, code = run_campaign(dir, "--progress quiet --no-log")
    assert.equal(3, code, out)
    assert.matches("list.csv:3: unterminated quoted field", out, 1, true)
    assert.matches("list.csv:9: 3 fields where the header has 2", out, 1, true)
  end)

  it("counts them in the --json summary", function()
    local out, code = run_campaign(dir, "--json --no-log")
    assert.equal(3, code, out)
    local summary
    for line in out:gmatch("[^\n]+") do
      if line:match("^{") then summary = decode(line) end
    end
    assert.is_table(summary, out)
    assert.equal(2, summary.bad_rows)
    assert.equal(7, summary.delivered)
  end)
end)


describe("mailcast run on a list whose every row is good", function()
  it("exits 0", function()
    local dir, sink = mime.tmpdir(), builtin_sink.start("")
    finally(function() sink.cleanup() mime.rmdir(dir) end)
    mime.write(dir .. "/list.csv", 'email,name,note\r\na@example.org,Ann,"two\r\nlines"\r\nb@example.org,Bob,x\r\n')
    write_campaign(dir, "list.csv", sink.port)
    local out, code = run_campaign(dir, "--quiet --no-log")
    assert.equal(0, code, out)
    assert.matches("csvlist: 2 delivered", out, 1, true)
    assert.not_matches("refused", out, 1, true)
  end)

  it("still has its status read when the list is gone since the run", function()
    local dir, sink = mime.tmpdir(), builtin_sink.start("")
    finally(function() sink.cleanup() mime.rmdir(dir) end)
    mime.write(dir .. "/list.csv", "email,name\na@example.org,Ann\nb@example.org,Bob\n")
    write_campaign(dir, "list.csv", sink.port)
    local out, code = run_campaign(dir, "--quiet --no-log")
    assert.equal(0, code, out)
    os.remove(dir .. "/list.csv")
    local status, scode = run(runner(dir, "status campaign.lua --json"))
    assert.equal(0, scode, status)
    assert.equal(2, decode(status:match("[^\n]+")).delivered)
  end)
end)


describe("a campaign whose list file cannot be opened", function()
  local dir
  before_each(function() dir = mime.tmpdir() end)
  after_each(function() mime.rmdir(dir) end)

  it("stops the script at the line that makes the campaign, naming the file, and makes no store", function()
    write_campaign(dir, "missing.csv", 9)
    local out, code = run_campaign(dir, "--quiet")
    assert.equal(1, code, out)
    assert.equal("mailcast: campaign.lua:2: csv: missing.csv: No such file or directory\n", out)
    assert.is_false(exists(dir .. "/csvlist.mailcast.db"))
    out, code = run(runner(dir, "status campaign.lua"))
    assert.equal(1, code, out)
    assert.not_matches("read in part", out, 1, true)
  end)

  it("names the line when the campaign is kept in a variable first", function()
    mime.write(dir .. "/campaign.lua", [[
local mailcast = require "mailcast"
local c = mailcast.campaign{ name = "v", from = "news@example.com", subject = "Hi", text = "Hello\n",
  recipients = "nowhere.csv" }
return c
]])
    local out, code = run_campaign(dir, "")
    assert.equal(1, code, out)
    assert.equal("mailcast: campaign.lua:2: csv: nowhere.csv: No such file or directory\n", out)
  end)

  it("names the line of a list with no header row", function()
    mime.write(dir .. "/empty.csv", "")
    write_campaign(dir, "empty.csv", 9)
    local out, code = run_campaign(dir, "")
    assert.equal(1, code, out)
    assert.equal("mailcast: campaign.lua:2: csv: empty.csv is empty (no header row)\n", out)
    assert.is_false(exists(dir .. "/csvlist.mailcast.db"))
  end)
end)


describe("a campaign's relative file names", function()
  -- `cd /tmp && mailcast run ~/c/november.lua` looked for the list and
  -- attachments in /tmp, while the store went beside the script.
  it("are taken from the script's directory, wherever the command runs", function()
    local dir, elsewhere, sink = mime.tmpdir(), mime.tmpdir(), builtin_sink.start("")
    finally(function() sink.cleanup() mime.rmdir(dir) mime.rmdir(elsewhere) end)
    mime.write(dir .. "/list.csv", "email,name\na@example.org,Ann\nb@example.org,Bob\n")
    mime.write(dir .. "/note.txt", "the attached note\n")
    mime.write(dir .. "/campaign.lua", string.format([[
local mailcast = require "mailcast"
return mailcast.campaign{
  name = "paths", from = "news@example.com", subject = "Hi {{name}}", text = "Hello {{name}}\n",
  recipients = "list.csv", attachments = { { path = "note.txt" } },
  route = { host = "127.0.0.1", port = %d, tls = "none" },
}
]], sink.port))
    local out, code = run("cd " .. mime.sh_quote(elsewhere) .. " && " .. mime.sh_quote(helper.runner) .. " run "
      .. mime.sh_quote(dir .. "/campaign.lua") .. " --quiet")
    assert.equal(0, code, out)
    assert.matches("paths: 2 delivered", out, 1, true)
    assert.same({ "a@example.org", "b@example.org" }, received(sink))
    for _, text in ipairs(sink.files()) do assert.matches('filename="?note.txt', text) end
    assert.is_true(exists(dir .. "/paths.mailcast.db"))
  end)
end)
