-- A/B tests: `variants = {{subject = ...}, {subject = ..., html = ...}}`
-- with `test = {fraction = 0.2, wait = "4h", pick = "opens"}`. The test
-- fraction of the list goes out split evenly between the variants; the
-- rest is held in the store (never claimed) until the test group has all
-- been sent and the wait is over; then the variant with the most unique
-- opens (or clicks) against its delivered wins (ties: the first) and
-- goes to the rest. The winner is recorded once in the store: a run
-- resumed later never picks again.
--
-- Which rows are in the test is decided by their place in the list (the
-- k-th row is in the test when floor(k * fraction) steps up; the test
-- rows take the variants in turn), so a list read again after a pause
-- gives each row the place it had. Each recipient's variant is kept in
-- its store row: opens and clicks are counted by variant from there.
local core = require "mailcast.core"
local schema = require "mailcast.schema"

local M = {}

local UNIT = { s = 1, m = 60, h = 3600, d = 86400 }

--- seconds(duration) -> seconds: a number, or "90s", "15m", "4h", "2d".
function M.seconds(d)
  if type(d) == "number" then return d end
  local n, unit = d:match("^(%d+%.?%d*)([smhd])$")
  return tonumber(n) * UNIT[unit]
end

--- labels(variants) -> the variants' labels by number (nil for one
-- without), or nil for a campaign without variants.
function M.labels(variants)
  if not variants then return nil end
  local out = {}
  for i, v in ipairs(variants) do out[i] = v.label end
  return out
end

-- "variants[2] ('short')": a variant in a message about the campaign table.
local function where(v, i)
  return string.format("variants[%d]%s", i, v.label and string.format(" ('%s')", v.label) or "")
end

--- prepare(t, compile, with_page [, names]) -> the campaign's test
-- ({fraction=, wait=, pick=, count=}) and its variants (each a table of
-- the message keys it changes, templates compiled by compile(src, name,
-- opts), a page of its own made by with_page(v, name, what) as the
-- campaign's is, named names[i] when given: its html_file as the script
-- wrote it), or nil when t has none.
function M.prepare(t, compile, with_page, names)
  if t.variants == nil then
    if t.test ~= nil then schema.fail("campaign", "test = {...} goes with variants = {{subject = ...}, ...}") end
    return nil
  end
  if #t.variants < 2 then
    schema.fail("campaign", "variants: an A/B test needs two variants or more, not " .. #t.variants)
  end
  local test = t.test or schema.check(require("mailcast.config").TEST, {}, "campaign test")
  local variants, labelled = {}, {}
  for i, v in ipairs(t.variants) do
    local name = string.format("variants[%d].", i)
    if v.label then
      if labelled[v.label] then
        schema.fail("campaign", string.format("%s: label '%s' is variants[%d]'s too", where(v, i), v.label,
          labelled[v.label]))
      end
      labelled[v.label] = i
    end
    local page_name = names and names[i] or v.html_file
    v = with_page(v, page_name, "campaign " .. where(v, i))
    -- Its text is its own, or made of its page (a page of its own
    -- without text), or as the campaign's is.
    local from_html = v.text_from_html
    if v.text ~= nil then from_html = false end
    variants[i] = {
      label = v.label,
      subject = v.subject and compile(v.subject, name .. "subject"),
      text = v.text and compile(v.text, name .. "text"),
      html = v.html and compile(v.html, page_name or (name .. "html"), { html = true }),
      text_from_html = from_html, page_notes = v.page_notes,
      from = v.from, headers = v.headers, inline = v.inline, attachments = v.attachments,
    }
    if v.from then
      local ok, why = core.addresses(type(v.from) == "table" and v.from.address or v.from)
      if not ok then schema.fail("campaign", name .. "from: " .. tostring(why)) end
    end
  end
  return { fraction = test.fraction, wait = M.seconds(test.wait), pick = test.pick, count = #variants },
    variants
end

--- variant_at(test, k) -> the variant of the list's k-th row: 1 .. count
-- in the test group, 0 held for the winner.
function M.variant_at(test, k)
  local before, now = math.floor((k - 1) * test.fraction), math.floor(k * test.fraction)
  if now == before then return 0 end
  return (now - 1) % test.count + 1
end

--- winner(rows, pick) -> the winning variant of the test group's rows
-- (store:report("variants")): the best unique opens (pick "opens") or
-- clicks against delivered (0 for a variant nothing was delivered of);
-- ties go to the first.
function M.winner(rows, pick)
  local best, best_rate = 1, 0
  for _, r in ipairs(rows) do
    if r.test == 1 and r.variant > 0 then
      local hits = pick == "clicks" and r.clicks_unique or r.opens_unique
      local rate = r.delivered > 0 and hits / r.delivered or 0
      if rate > best_rate or (rate == best_rate and r.variant < best) then best, best_rate = r.variant, rate end
    end
  end
  return best
end

-- "14:05:03 (in 4 h 0 min)" for a time that far away.
local function until_when(at)
  local left = math.max(0, at - core.time())
  return string.format("%s (in %s)", os.date("%H:%M:%S", math.floor(at + 0.5)),
    require("mailcast.report_text").duration(left))
end

-- The store's word on the test, once a second at most: its query counts
-- the campaign's test rows.
local CHECK_EVERY = 1

--- step(campaign, run [, closing]): where a run's test stands, moved on
-- when it can be: the test group noted as sent once none of it is left
-- to send (and the whole list is read), the winner picked once the wait
-- is over and the held recipients made due. run.test says what is known:
-- {done=, winner=, pick_at=}. closing: the run ends; the test group is
-- noted as sent if it is (the wait starts then, not at the next run),
-- and nothing is picked.
function M.step(c, run, closing)
  local state = run.test
  if not state then
    state = { checked = -math.huge }
    run.test = state
  end
  if state.done or (not closing and core.now() < state.checked + CHECK_EVERY) then return end
  state.checked = core.now()
  local store = run.store
  local t = assert(store:report("test", run.id))[1]
  if t.winner then
    -- Picked by another worker of the run (or an earlier run): this one
    -- goes on with its share of the held recipients.
    state.done, state.winner = true, t.winner
    if not closing then run.done, run.hungry = false, false end
    return
  end
  if not t.sent then
    if t.unsent == 1 or not require("mailcast.campaign").list_read(store, run.id) then return end
    assert(store:test_sent(run.id))
    t.sent = core.time()
  end
  if t.holding == 0 then   -- the whole list was in the test: no one waits for a winner
    state.done = true
    return
  end
  state.pick_at = t.sent + c.test.wait
  if closing then return end
  if core.time() < state.pick_at then
    if not state.said and run.says_once then
      state.said = true
      local held = assert(store:report("test", run.id, "count"))[1].held
      c:say(string.format("A/B test: the test group is sent; the winner is picked at %s, then sent to the"
        .. " other %d recipients%s", until_when(state.pick_at), held,
        run.waits and " (Ctrl-C stops; `mailcast run` again goes on)" or ""))
    end
    return
  end
  local rows = assert(store:report("variants", run.id))
  local held = 0
  for _, r in ipairs(rows) do if r.variant == 0 then held = r.recipients end end
  local winner, made = store:test_pick(run.id, M.winner(rows, c.test.pick))
  if not winner then error(made, 0) end
  state.done, state.winner = true, winner
  -- Said once: another worker of the run may have picked it first.
  if made then
    local v = c.variants and c.variants[winner]
    c:say(string.format("A/B test: variant %s wins (by %s); sending it to the other %d recipients",
      require("mailcast.report_text").variant(winner, v and v.label), c.test.pick, held))
  end
  -- The held recipients are due now: the run goes on with them.
  run.done, run.hungry = false, false
end

--- due_in(run) -> seconds until the test's next step may be due (nil:
-- the winner is picked, nothing waits for it).
function M.due_in(run)
  local state = run.test
  if not state or state.done then return state == nil and 1 or nil end
  if state.pick_at then return math.max(0, state.pick_at - core.time()) end
  return CHECK_EVERY
end

--- summary(store, id, test) -> {held=, pick_at=, winner=} for a run's
-- counts, or nil when the campaign has no test.
function M.summary(store, id, test)
  if not test then return nil end
  local t = assert(store:report("test", id, "count"))[1]
  return { held = t.held, winner = t.winner, pick_at = t.sent and not t.winner and (t.sent + test.wait) or nil }
end

return M
