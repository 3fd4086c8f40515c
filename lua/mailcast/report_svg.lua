-- The charts of the HTML report, drawn as inline SVG: no script, no
-- library, nothing fetched. Each chart is an <svg> with an id; its bars
-- are <rect class="bar">, its points <circle class="point">, so a test
-- (or a reader of the page's source) can count what was drawn. Every
-- label goes through esc: names and texts come from outside.
local html_escape = require("mailcast.core").html_escape

local M = {}

local W, H = 640, 220          -- the drawing's own units (it scales to the page)
local LEFT, BOTTOM, TOP = 48, 24, 12

--- esc(s) -> s for HTML text or a quoted attribute: & < > " ' escaped,
-- bytes that are not UTF-8 replaced by U+FFFD, control bytes but tab
-- and newline dropped.
function M.esc(s)
  s = tostring(s == nil and "" or s)
  if not utf8.len(s) then
    local out, i = {}, 1
    while i <= #s do
      local n, bad = utf8.len(s, i)
      if n then out[#out + 1] = s:sub(i) break end
      out[#out + 1] = s:sub(i, bad - 1) .. "\u{FFFD}"
      i = bad + 1
    end
    s = table.concat(out)
  end
  return html_escape((s:gsub("[\0-\8\11\12\14-\31\127]", "")))
end

local esc = M.esc

local function num(x) return string.format("%.1f", x) end


local function open(id, label, height)
  return { string.format('<svg id="%s" class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s"'
    .. ' xmlns="http://www.w3.org/2000/svg">', esc(id), W, height or H, esc(label)) }
end


-- The value axis: 0 and max, with a grid line at the top.
local function axis(out, max, fmt)
  local bottom = H - BOTTOM
  out[#out + 1] = string.format('<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>', LEFT, bottom, W, bottom)
  out[#out + 1] = string.format('<line class="grid" x1="%d" y1="%d" x2="%d" y2="%d"/>', LEFT, TOP, W, TOP)
  out[#out + 1] = string.format('<text class="tick" x="%d" y="%d" text-anchor="end">%s</text>', LEFT - 4, TOP + 4,
    esc(fmt(max)))
  out[#out + 1] = string.format('<text class="tick" x="%d" y="%d" text-anchor="end">0</text>', LEFT - 4, bottom)
end


-- Labels under the first, middle and last of n slots.
local function slot_labels(out, n, label, x_of)
  local seen = {}
  for _, i in ipairs { 1, (n + 1) // 2, n } do
    if i >= 1 and not seen[i] then
      seen[i] = true
      out[#out + 1] = string.format('<text class="tick" x="%s" y="%d" text-anchor="middle">%s</text>',
        num(x_of(i)), H - 6, esc(label(i)))
    end
  end
end


--- columns(id, label, values, slot_label, fmt) -> an SVG column chart:
-- one bar per value (a value of 0 draws a bar of no height, so the
-- count of bars is the count of values). slot_label(i) names slot i.
function M.columns(id, label, values, slot_label, fmt)
  local out = open(id, label)
  local max = 0
  for _, v in ipairs(values) do max = math.max(max, v) end
  axis(out, max, fmt)
  local n, span, height = #values, W - LEFT, H - BOTTOM - TOP
  local w = n > 0 and span / n or span
  for i, v in ipairs(values) do
    local h = max > 0 and v / max * height or 0
    out[#out + 1] = string.format('<rect class="bar" x="%s" y="%s" width="%s" height="%s"><title>%s: %s</title></rect>',
      num(LEFT + (i - 1) * w + w * 0.1), num(H - BOTTOM - h), num(math.max(w * 0.8, 0.5)), num(h),
      esc(slot_label(i)), esc(fmt(v)))
  end
  if n > 0 then slot_labels(out, n, slot_label, function(i) return LEFT + (i - 0.5) * w end) end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end


--- lines(id, label, series, slot_label, fmt) -> an SVG line chart: per
-- series ({name=, class=, values=}) a polyline and a point per value.
function M.lines(id, label, series, slot_label, fmt)
  local out = open(id, label)
  local max, n = 0, 0
  for _, s in ipairs(series) do
    n = math.max(n, #s.values)
    for _, v in ipairs(s.values) do max = math.max(max, v) end
  end
  axis(out, max, fmt)
  local span, height = W - LEFT, H - BOTTOM - TOP
  local function x(i) return n > 1 and LEFT + (i - 1) / (n - 1) * span or LEFT + span / 2 end
  local function y(v) return H - BOTTOM - (max > 0 and v / max * height or 0) end
  for _, s in ipairs(series) do
    local pts = {}
    for i, v in ipairs(s.values) do pts[i] = num(x(i)) .. "," .. num(y(v)) end
    out[#out + 1] = string.format('<polyline class="line %s" points="%s"/>', esc(s.class), table.concat(pts, " "))
    for i, v in ipairs(s.values) do
      out[#out + 1] = string.format('<circle class="point %s" cx="%s" cy="%s" r="2.5"><title>%s, %s: %s</title></circle>',
        esc(s.class), num(x(i)), num(y(v)), esc(s.name), esc(slot_label(i)), esc(fmt(v)))
    end
  end
  if n > 0 then slot_labels(out, n, slot_label, x) end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end


--- bars(id, label, rows, fmt) -> horizontal bars, one per row
-- ({name=, value=}), the longest the largest value.
function M.bars(id, label, rows, fmt)
  local rowh = 26
  local height = #rows * rowh + 8
  local out = open(id, label, height)
  local max = 0
  for _, r in ipairs(rows) do max = math.max(max, r.value) end
  local x0, span = 150, W - 150 - 90
  for i, r in ipairs(rows) do
    local y = 4 + (i - 1) * rowh
    local w = max > 0 and r.value / max * span or 0
    out[#out + 1] = string.format('<text class="label" x="%d" y="%d" text-anchor="end">%s</text>', x0 - 6, y + 16,
      esc(r.name))
    out[#out + 1] = string.format('<rect class="bar" x="%d" y="%d" width="%s" height="%d"><title>%s: %s</title></rect>',
      x0, y + 2, num(w), rowh - 6, esc(r.name), esc(fmt(r.value)))
    out[#out + 1] = string.format('<text class="value" x="%s" y="%d">%s</text>', num(x0 + w + 6), y + 16,
      esc(fmt(r.value)))
  end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end


--- stacked(id, label, rows, parts) -> one horizontal bar per row, cut
-- into parts ({key=, class=, name=}) by the row's shares (fractions);
-- a part of no share draws nothing.
function M.stacked(id, label, rows, parts, fmt)
  local rowh = 26
  local out = open(id, label, #rows * rowh + 8)
  local x0, span = 150, W - 150 - 10
  for i, r in ipairs(rows) do
    local y = 4 + (i - 1) * rowh
    out[#out + 1] = string.format('<text class="label" x="%d" y="%d" text-anchor="end">%s</text>', x0 - 6, y + 16,
      esc(r.name))
    local x = x0
    for _, p in ipairs(parts) do
      local share = r[p.key] or 0
      if share > 0 then
        out[#out + 1] = string.format('<rect class="bar %s" x="%s" y="%d" width="%s" height="%d"><title>%s, %s: %s</title></rect>',
          esc(p.class), num(x), y + 2, num(share * span), rowh - 6, esc(r.name), esc(p.name), esc(fmt(share)))
        x = x + share * span
      end
    end
  end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end

return M
