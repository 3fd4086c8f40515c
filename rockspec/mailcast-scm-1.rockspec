rockspec_format = "3.0"
package = "mailcast"
version = "scm-1"
source = {
  url = "git+https://example.invalid/mailcast.git",
}
description = {
  summary = "Scriptable bulk-mail engine: a C core for MIME and SMTP, campaigns in Lua",
  detailed = [[
mailcast assembles MIME messages in C (attachments encoded once for a
whole list), and gives campaigns a Lua API: require "mailcast". The
bundled runner, `mailcast run campaign.lua`, embeds Lua 5.4 with the core.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
  "luasocket",       -- POP3 and IMAP clients for bounce mailboxes, sleeps
  "luasec",          -- their TLS
  "luafilesystem",   -- reading Maildirs
}
build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
  },
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    INST_BINDIR = "$(BINDIR)",
  },
}
