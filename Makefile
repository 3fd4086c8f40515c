# mailcast: the Lua module mailcast.core (a shared object) and the runner
# `mailcast` (Lua 5.4 with the core built in).
#
# LuaRocks (build.type = "make") passes CFLAGS, LIBFLAG, LUA_INCDIR,
# LUA_LIBDIR and the INST_* directories; the defaults below are Debian's.
# Project flags live in MC_CFLAGS so a command-line CFLAGS never drops them.

VERSION     = 0.1.0
LUA        ?= lua5.4
LUA_INCDIR ?= /usr/include/lua5.4
LUA_LIBDIR ?= /usr/lib/$(shell gcc -print-multiarch 2>/dev/null)
LUA_LIBNAME ?= lua5.4
CC         ?= cc
CFLAGS     ?= -O2 -g
LIBFLAG    ?= -shared
PREFIX     ?= /usr/local
INST_LIBDIR ?= $(PREFIX)/lib/lua/5.4
INST_LUADIR ?= $(PREFIX)/share/lua/5.4
INST_BINDIR ?= $(PREFIX)/bin
BUILD      ?= build
BUSTED     ?= $(shell command -v busted 2>/dev/null || echo /usr/bin/busted)

MC_CFLAGS  = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC \
             -fvisibility=hidden -Icsrc -I$(LUA_INCDIR) -DMC_VERSION='"$(VERSION)"'
LIBS       = -levent_openssl -levent_extra -levent_core -lssl -lcrypto -lcares -lsqlite3 -lm

CORE_SRC   = $(wildcard csrc/core/*.c)
RUNNER_SRC = csrc/lua/main.c csrc/lua/lua_alloc.c
BIND_SRC   = $(filter-out $(RUNNER_SRC),$(wildcard csrc/lua/*.c))
CORE_OBJ   = $(CORE_SRC:csrc/%.c=$(BUILD)/obj/%.o)
BIND_OBJ   = $(BIND_SRC:csrc/%.c=$(BUILD)/obj/%.o)
MODULE     = $(BUILD)/lib/mailcast/core.so
RUNNER     = $(BUILD)/bin/mailcast
HEADERS    = $(wildcard csrc/core/*.h csrc/lua/*.h)

ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined

.PHONY: all deps demo test test-asan fuzz bench install clean

all: $(MODULE) $(RUNNER)

$(BUILD)/obj/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MC_CFLAGS) -c $< -o $@

# Relinked when the Makefile changes: the libraries live here.
$(MODULE): $(CORE_OBJ) $(BIND_OBJ) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIBFLAG) -o $@ $(filter %.o,$^) $(LIBS)

$(RUNNER): $(CORE_OBJ) $(BIND_OBJ) $(RUNNER_SRC:csrc/%.c=$(BUILD)/obj/%.o) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) -L$(LUA_LIBDIR) -l$(LUA_LIBNAME) $(LIBS) -ldl -Wl,-E

# Installs the Debian packages the build, demo and tests need, only those
# that are missing.
deps:
	@sh .ci/deps

demo: deps all
	$(RUNNER) run examples/newsletter/newsletter.lua
	@echo
	$(RUNNER) run examples/newsletter/demo.lua

# The specs run inside the runner so they test the core as built; the
# same specs run again in test-asan against a sanitized build.
test: deps all
	MAILCAST_BIN=$(CURDIR)/$(RUNNER) $(RUNNER) run $(BUSTED) $(BUSTED_ARGS)

test-asan: deps
	$(MAKE) BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" LIBS="$(LIBS) -fsanitize=address,undefined" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	MAILCAST_BIN=$(CURDIR)/build-asan/bin/mailcast \
	  build-asan/bin/mailcast run $(BUSTED) $(BUSTED_ARGS)

# Bounded coverage-guided fuzzing of every parser and encoder (libFuzzer).
FUZZ_SECONDS ?= 60
fuzz: deps
	@$(MAKE) -f csrc/fuzz/fuzz.mk FUZZ_SECONDS=$(FUZZ_SECONDS)

bench: deps all
	bench/mime
	bench/encode
	bench/send
	bench/dkim
	bench/track
	bench/page
	bench/campaign
	bench/direct
	bench/bounce
	bench/csv
	bench/serve

install: all
	install -d $(DESTDIR)$(INST_LIBDIR)/mailcast $(DESTDIR)$(INST_LUADIR)/mailcast $(DESTDIR)$(INST_BINDIR)
	install -m 755 $(MODULE) $(DESTDIR)$(INST_LIBDIR)/mailcast/core.so
	install -m 644 lua/mailcast/*.lua $(DESTDIR)$(INST_LUADIR)/mailcast/
	install -m 755 $(RUNNER) $(DESTDIR)$(INST_BINDIR)/mailcast

clean:
	rm -rf build build-asan build-fuzz
