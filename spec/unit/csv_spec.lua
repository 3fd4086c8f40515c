-- mailcast.csv: recipient lists as RFC 4180 CSV (and what spreadsheets
-- write), streamed row by row; a bad row is reported with file and line.
local csv = require "mailcast.csv"
local mailcast = require "mailcast"
local mime = require "support.mime"

describe("mailcast.csv.rows", function()
  local dir
  before_each(function() dir = mime.tmpdir() end)
  after_each(function() mime.rmdir(dir) end)

  -- Writes data to a file and returns every (row, err) pair the iterator gives.
  local function read_all(data)
    local path = dir .. "/list.csv"
    mime.write(path, data)
    local out = {}
    for row, err in csv.rows(path) do out[#out + 1] = { row = row, err = err } end
    return out, path
  end

  it("is the module mailcast.csv", function()
    assert.equal(csv, mailcast.csv)
  end)

  it("yields rows keyed by the header's column names with their line numbers", function()
    local out = read_all("email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n")
    assert.equal(2, #out)
    assert.same({ email = "ann@example.com", first_name = "Ann", _line = 2 }, out[1].row)
    assert.same({ email = "bob@example.com", first_name = "Bob", _line = 3 }, out[2].row)
  end)

  it("skips a UTF-8 byte order mark", function()
    local out = read_all("\239\187\191email,name\na@example.com,Zoë\n")
    assert.equal("a@example.com", out[1].row.email)
    assert.equal("Zoë", out[1].row.name)
  end)

  it("reads CRLF line breaks", function()
    local out = read_all("email,name\r\na@example.com,Ann\r\n")
    assert.same({ email = "a@example.com", name = "Ann", _line = 2 }, out[1].row)
  end)

  it("reads the last row without a final line break", function()
    local out = read_all("email,name\na@example.com,Ann")
    assert.equal("Ann", out[1].row.name)
  end)

  it("reads quoted fields holding commas and doubled quotes", function()
    local out = read_all('email,name\na@example.com,"Doe, ""JD"" John"\n')
    assert.equal('Doe, "JD" John', out[1].row.name)
  end)

  it("reads quoted fields holding line breaks and counts the lines", function()
    local out = read_all('email,address\na@example.com,"1 Main St\nSpringfield"\nb@example.com,"x"\n')
    assert.equal("1 Main St\nSpringfield", out[1].row.address)
    assert.equal(2, out[1].row._line)
    assert.equal(4, out[2].row._line)
  end)

  it("reads empty fields as empty strings", function()
    local out = read_all('a,b,c\n,,""\n')
    assert.same({ a = "", b = "", c = "", _line = 2 }, out[1].row)
  end)

  it("trims white space around column names", function()
    local out = read_all(" email , name \na@example.com,Ann\n")
    assert.equal("Ann", out[1].row.name)
  end)

  it("skips empty lines", function()
    local out = read_all("email\n\na@example.com\n\nb@example.com\n")
    assert.equal(2, #out)
    assert.equal(5, out[2].row._line)
  end)

  it("reports a row with the wrong number of fields with file and line, and goes on", function()
    local out, path = read_all("email,name\na@example.com,Ann\nb@example.com,Bob,extra\nc@example.com,Cy\n")
    assert.equal(3, #out)
    assert.is_false(out[2].row)
    assert.equal("csv: " .. path .. ":3: 3 fields where the header has 2", out[2].err)
    assert.equal("Cy", out[3].row.name)
  end)

  it("reports too few fields the same way", function()
    local out, path = read_all("email,name\na@example.com\n")
    assert.equal("csv: " .. path .. ":2: 1 fields where the header has 2", out[1].err)
  end)

  it("reports a quote inside an unquoted field", function()
    local out, path = read_all('email,name\na@example.com,Ann "A" Smith\nb@example.com,Bob\n')
    assert.is_false(out[1].row)
    assert.equal("csv: " .. path .. ":2: quote inside an unquoted field", out[1].err)
    assert.equal("Bob", out[2].row.name)
  end)

  it("reports a quoted field that never ends", function()
    local out, path = read_all('email,name\na@example.com,"Ann\nmore\n')
    assert.is_false(out[1].row)
    assert.matches("^csv: " .. path:gsub("%p", "%%%0") .. ":%d+: unterminated quoted field$", out[1].err)
  end)

  it("reports a row that is not UTF-8", function()
    local out, path = read_all("email,name\na@example.com,J\246rg\n")
    assert.is_false(out[1].row)
    assert.matches("^csv: " .. path:gsub("%p", "%%%0") .. ":2: not valid UTF%-8", out[1].err)
  end)

  it("names the byte that is not UTF-8, in a plain line and in a quoted one", function()
    local out = read_all('email,name\na@example.com,J\246rg\nb@example.com,"J\246rg, ""Q"""\n')
    assert.matches(":2: not valid UTF%-8 %(near byte 16%)$", out[1].err)
    assert.matches(":3: not valid UTF%-8 %(near byte 16%)$", out[2].err)
  end)

  it("raises on an empty file", function()
    local path = dir .. "/empty.csv"
    mime.write(path, "")
    local ok, err = pcall(csv.rows, path)
    assert.is_false(ok)
    assert.equal("csv: " .. path .. " is empty (no header row)", err)
  end)

  it("raises on a file that cannot be opened", function()
    local ok, err = pcall(csv.rows, dir .. "/missing.csv")
    assert.is_false(ok)
    assert.matches("^csv: .*missing%.csv: No such file", err)
  end)

  it("raises on a header with an unnamed column", function()
    local path = dir .. "/bad.csv"
    mime.write(path, "email,,name\n")
    local ok, err = pcall(csv.rows, path)
    assert.is_false(ok)
    assert.equal("csv: " .. path .. ":1: column 2 has no name", err)
  end)
  it("reads CR-only line breaks, in rows and in quoted fields", function()
    local out = read_all('email,note\ra@example.com,"two\rlines"\rb@example.com,x\r')
    assert.equal(2, #out)
    assert.same({ email = "a@example.com", note = "two\nlines", _line = 2 }, out[1].row)
    assert.same({ email = "b@example.com", note = "x", _line = 4 }, out[2].row)
  end)

  it("reads a CRLF inside a quoted field as one line break", function()
    local out = read_all('email,note\r\na@example.com,"one\r\ntwo"\r\nb@example.com,x\r\n')
    assert.equal("one\ntwo", out[1].row.note)
    assert.equal(4, out[2].row._line)
  end)

  it("skips a byte order mark before a quoted header and CRLF rows", function()
    local out = read_all('\239\187\191"email",name\r\na@example.com,Ann\r\n')
    assert.same({ email = "a@example.com", name = "Ann", _line = 2 }, out[1].row)
  end)

  -- Rows 2..n of a list, one a line: rN@example.com,NameN.
  local function rows_from(first, last)
    local t = {}
    for i = first, last do t[#t + 1] = string.format("r%d@example.com,Name%d\n", i, i) end
    return table.concat(t)
  end

  -- The rows read (by line) and the errors.
  local function split(out)
    local lines, errs = {}, {}
    for _, o in ipairs(out) do
      if o.row then lines[#lines + 1] = o.row._line else errs[#errs + 1] = o.err end
    end
    return lines, errs
  end

  it("refuses a stray quote that runs over 10 lines at the line where it opened, and keeps the rows after it", function()
    local out, path = read_all("email,name\n" .. rows_from(2, 2) .. 'r3@example.com,"Cy\n' .. rows_from(4, 20))
    local lines, errs = split(out)
    assert.same({ "csv: " .. path .. ":3: quoted field (from column 16) runs over more than 10 lines" }, errs)
    assert.same({ 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 }, lines)
    assert.equal("Name4", out[3].row.name)
  end)

  it("refuses a stray quote closed by a later quoted field at the line where it opened, and keeps the rows between", function()
    local out, path = read_all("email,name\n" .. 'r2@example.com,"Bo\n' .. rows_from(3, 7) .. 'r8@example.com,"Hal"\n')
    local lines, errs = split(out)
    assert.equal(1, #errs)
    assert.matches("^csv: " .. path:gsub("%p", "%%%0") .. ":2: text after the closing quote %(line 8, column 17%)", errs[1])
    assert.same({ 3, 4, 5, 6, 7, 8 }, lines)
    assert.equal("Hal", out[#out].row.name)
  end)

  it("refuses a quoted field that runs to the end of the file at the line where it opened, and keeps the rows after it", function()
    local out, path = read_all('email,name\nr2@example.com,"Bo\nr3@example.com,Cy\nr4@example.com,Di\n')
    local lines, errs = split(out)
    assert.same({ "csv: " .. path .. ":2: unterminated quoted field" }, errs)
    assert.same({ 3, 4 }, lines)
  end)

  it("reads a quoted field over 10 lines", function()
    local out = read_all('email,note\na@example.com,"1\n2\n3\n4\n5\n6\n7\n8\n9\n10"\nb@example.com,x\n')
    assert.equal(2, #out)
    assert.equal("1\n2\n3\n4\n5\n6\n7\n8\n9\n10", out[1].row.note)
    assert.equal(12, out[2].row._line)
  end)

  it("refuses a field longer than 64 KB, quoted or not, and keeps the rows after it", function()
    local huge = string.rep("x", 70000)
    local out, path = read_all('email,note\na@example.com,"' .. huge .. '"\nb@example.com,' .. huge .. "\nc@example.com,ok\n")
    local lines, errs = split(out)
    assert.same({
      "csv: " .. path .. ":2: quoted field (from column 15) is longer than 65536 bytes",
      "csv: " .. path .. ":3: field (from column 15) is longer than 65536 bytes",
    }, errs)
    assert.same({ 4 }, lines)
  end)

  it("reads a field of 64 KB", function()
    local big = string.rep("y", 65536)
    local out = read_all('email,note\na@example.com,"' .. big .. '"\n')
    assert.equal(big, out[1].row.note)
  end)

  it("raises on a file that cannot be read", function()
    local ok, err = pcall(csv.rows, dir)
    assert.is_false(ok)
    assert.matches("^csv: .*: read: Is a directory$", err)
  end)
end)
