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

--- compile(src, name [, opts]) -> render function | raises on bad syntax.
-- opts.html: escape {{ }} values for HTML. render(vars) -> string | nil, message.
function M.compile(src, name, opts)
  local tpl = core.template(src, name or "?", opts and opts.html)
  local render = tpl.render
  return function(vars) return render(tpl, vars) end
end

return M
