-- Mail-merge templates: {{name}} is replaced by a variable, escaped for
-- HTML in HTML templates; {{{name}}} inserts it as it is (trusted HTML);
-- {{#name}}...{{/name}} keeps its content when the variable is set and
-- not empty or false, {{^name}}...{{/name}} when it is not; when the
-- variable is a list, the content is repeated for each item, whose
-- fields (or the item itself, as {{.}}) come before the outer variables.
-- A missing variable is an error naming the template, the line and the
-- variable. Compiled and rendered in C (mailcast.core.template): every
-- message of a campaign renders its subject and bodies.
local core = require "mailcast.core"

local M = {}

--- html_escape(s) -> s safe as HTML text or a quoted attribute value.
M.html_escape = core.html_escape

-- The compiled template of each render function compile made.
local compiled = setmetatable({}, { __mode = "k" })

--- compile(src, name [, opts]) -> render function | raises on bad syntax.
-- opts.html: escape {{ }} values for HTML. render(vars) -> string | nil, message.
function M.compile(src, name, opts)
  local tpl = core.template(src, name or "?", opts and opts.html)
  local render_tpl = tpl.render
  local render = function(vars) return render_tpl(tpl, vars) end
  compiled[render] = tpl
  return render
end

--- body(render) -> a function(vars) that gives what render would, as a
-- message body for mailcast.build: a mailcast.Part (text/html for an
-- HTML template, text/plain otherwise) whose static text was encoded
-- once for every message, or else the string | nil, message. nil when
-- render is no function of compile's.
function M.body(render)
  local tpl = compiled[render]
  if not tpl then return nil end
  local part = tpl.part
  return function(vars) return part(tpl, vars) end
end

return M
