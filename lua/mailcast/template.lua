-- Mail-merge templates: {{name}} is replaced by a variable, escaped for
-- HTML in HTML templates; {{{name}}} inserts it as it is (trusted HTML);
-- {{#name}}...{{/name}} keeps its content when the variable is set and
-- not empty or false, {{^name}}...{{/name}} when it is not; when the
-- variable is a list, the content is repeated for each item, whose
-- fields (or the item itself, as {{.}}) come before the outer variables.
-- A missing variable is an error naming the template, the line and the
-- variable.
local M = {}

local HTML_ESCAPES = {
  ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;",
}

--- html_escape(s) -> s safe as HTML text or a quoted attribute value.
function M.html_escape(s)
  if not s:find("[&<>\"']") then return s end
  return (s:gsub("[&<>\"']", HTML_ESCAPES))
end

local function line_at(src, pos)
  local _, breaks = src:sub(1, pos):gsub("\n", "")
  return breaks + 1
end

-- Parses src into a list of nodes: strings, {var=, raw=, line=} and
-- {section=, inverted=, body=, line=}.
local function parse(src, name)
  local pos, root, stack = 1, {}, {}
  local current = root
  while true do
    local s = src:find("{{", pos, true)
    if not s then break end
    if s > pos then current[#current + 1] = src:sub(pos, s - 1) end
    local line = line_at(src, s)
    local triple = src:sub(s + 2, s + 2) == "{"
    local close = triple and "}}}" or "}}"
    local inner = s + #close
    local c = src:find(close, inner, true)
    local sigil, key
    if c then sigil, key = src:sub(inner, c - 1):match("^%s*([#^/]?)%s*([%w_%.%-]+)%s*$") end
    if key and key ~= "." and key:find("^%.") then key = nil end
    if triple and not (key and sigil == "") then
      error(string.format("template %s:%d: '{{{%s' needs '}}}'", name, line,
        src:match("^%s*([%w_%.%-]*)", inner)), 0)
    end
    if not key then
      -- Not a tag ("{{ }}", "{{" alone): text like any other.
      current[#current + 1] = "{{"
      pos = s + 2
    elseif sigil == "#" or sigil == "^" then
      local node = { section = key, inverted = sigil == "^", body = {}, line = line }
      current[#current + 1] = node
      stack[#stack + 1] = current
      current = node.body
      current.key, current.line = key, line
    elseif sigil == "/" then
      if current.key ~= key then
        error(string.format("template %s:%d: {{/%s}} closes %s", name, line, key,
          current.key and ("{{#" .. current.key .. "}}") or "nothing"), 0)
      end
      current = table.remove(stack)
    else
      current[#current + 1] = { var = key, raw = triple, line = line }
    end
    if key then pos = c + #close end
  end
  if current ~= root then
    error(string.format("template %s:%d: {{#%s}} is never closed", name, current.line, current.key), 0)
  end
  if pos <= #src then root[#root + 1] = src:sub(pos) end
  return root
end

-- scope: {vars, outer = scope} from the innermost list item outwards.
local function lookup(scope, key)
  if key == "." then return scope.vars end
  if not key:find(".", 1, true) then   -- a plain name: the common case
    repeat
      local vars = scope.vars
      if type(vars) == "table" then
        local value = vars[key]
        if value ~= nil then return value end
      end
      scope = scope.outer
    until not scope
    return nil
  end
  local first = key:match("^[^%.]+")
  while scope do
    local vars = scope.vars
    if type(vars) == "table" and vars[first] ~= nil then
      local value = vars
      for part in key:gmatch("[^%.]+") do
        if type(value) ~= "table" then return nil end
        value = value[part]
      end
      return value
    end
    scope = scope.outer
  end
  return nil
end

local function render(nodes, scope, html, name, out)
  for _, node in ipairs(nodes) do
    if type(node) == "string" then
      out[#out + 1] = node
    elseif node.var then
      local value = lookup(scope, node.var)
      if value == nil or type(value) == "table" then
        error(string.format("template %s:%d: %s variable '%s'", name, node.line,
          value == nil and "missing" or "a list, not a value, in", node.var), 0)
      end
      value = tostring(value)
      out[#out + 1] = (html and not node.raw) and M.html_escape(value) or value
    else
      local value = lookup(scope, node.section)
      local list = type(value) == "table" and #value > 0
      local set = value ~= nil and value ~= false and value ~= "" and
        not (type(value) == "table" and next(value) == nil)
      if node.inverted then
        if not set then render(node.body, scope, html, name, out) end
      elseif list then
        for _, item in ipairs(value) do render(node.body, { vars = item, outer = scope }, html, name, out) end
      elseif set then
        render(node.body, type(value) == "table" and { vars = value, outer = scope } or scope, html, name, out)
      end
    end
  end
end

--- compile(src, name [, opts]) -> render function | raises on bad syntax.
-- opts.html: escape {{ }} values for HTML. render(vars) -> string | nil, message.
function M.compile(src, name, opts)
  local html = opts and opts.html
  local nodes = parse(src, name or "?")
  return function(vars)
    local out = {}
    local ok, err = pcall(render, nodes, { vars = vars }, html, name or "?", out)
    if not ok then return nil, err end
    return table.concat(out)
  end
end

return M
