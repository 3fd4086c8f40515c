-- An SMTP transcript as people read it (mailcast.transcript): what
-- mailcast test prints, send's trace gives as text and the store keeps.
local transcript = require "mailcast.transcript"

local RECORDS = {
  { kind = "info", line = "connecting to mx.example.org [192.0.2.1] port 25", time = 100.0 },
  { kind = "server", line = "220 mx.example.org ESMTP", time = 100.010 },
  { kind = "client", line = "RCPT TO:<ann@example.org>", time = 100.020 },
  { kind = "server", line = "451 4.7.1 Try again later", time = 100.125 },
}

describe("mailcast.transcript", function()
  it("shows each record with its time since the first, its side, and each reply explained", function()
    local text = transcript.show(RECORDS)
    local lines = {}
    for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    assert.equal("   0.000  .. connecting to mx.example.org [192.0.2.1] port 25", lines[1])
    assert.equal("   0.010  S: 220 mx.example.org ESMTP", lines[2])
    assert.matches("^%s+%-> ", lines[3])
    assert.equal("   0.020  C: RCPT TO:<ann@example.org>", lines[4])
    assert.equal("   0.125  S: 451 4.7.1 Try again later", lines[5])
    assert.matches("^%s+%-> .*try again later", lines[6])
  end)

  it("formats a session's records one at a time as show() does", function()
    local format, out = transcript.formatter(), {}
    for i, r in ipairs(RECORDS) do out[i] = format(r) end
    assert.equal(transcript.show(RECORDS), table.concat(out, "\n") .. "\n")
  end)

  it("keeps the last lines of a long transcript, and says the rest was left out", function()
    local long = {}
    for i = 1, 400 do long[i] = { kind = "client", line = string.format("RCPT TO:<user%03d@example.org>", i), time = 1 } end
    local kept = transcript.kept(long)
    assert.is_true(#kept <= transcript.MAX_KEPT + 64, #kept .. " bytes")
    assert.matches("^%(earlier lines left out%)\n", kept)
    assert.matches("C: RCPT TO:<user400@example.org>\n$", kept)
    assert.is_nil(kept:find("user001", 1, true))
    assert.equal(transcript.show(RECORDS), transcript.kept(RECORDS))
  end)

  it("writes control bytes of a line so they cannot move a terminal", function()
    local text = transcript.show { { kind = "server", line = "250 ok\27[2J", time = 5 } }
    assert.is_nil(text:find("\27", 1, true))
  end)

  it("finds when a transcript started", function()
    assert.equal(100.0, transcript.started(RECORDS))
    assert.is_nil(transcript.started { { kind = "info", line = "(the transcript ran out of memory here)" } })
  end)
end)
