# libFuzzer targets for the C core, one per csrc/fuzz/fuzz_*.c. Run from
# the repository root (make fuzz does): every target is built into
# build-fuzz/ and run for FUZZ_SECONDS seconds on a copy of its seed
# corpus, and the run fails when any target reports a crash, a leak or a
# sanitizer error. Reproduce one with: build-fuzz/fuzz_<name> <file>.

FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_OUT     ?= build-fuzz

# -O1 keeps the code close to what ships while staying fast enough to
# fuzz; every UBSan finding aborts so libFuzzer counts it as a crash.
FUZZ_CFLAGS  = -std=c11 -D_GNU_SOURCE -Icsrc -O1 -g -fno-omit-frame-pointer \
               -Wall -Wextra -Werror \
               -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIBS    = -lm -lcrypto

FUZZ_CORE_SRC = $(wildcard csrc/core/*.c)
FUZZ_CORE_OBJ = $(FUZZ_CORE_SRC:csrc/%.c=$(FUZZ_OUT)/obj/%.o)
# An archive, so a target links only the objects it calls into: the
# MIME code, not the SMTP client and the libevent and OpenSSL under it.
FUZZ_CORE_LIB = $(FUZZ_OUT)/libmccore.a
FUZZ_HEADERS  = $(wildcard csrc/core/*.h)
FUZZ_TARGETS  = $(basename $(notdir $(wildcard csrc/fuzz/fuzz_*.c)))
FUZZ_BINS     = $(FUZZ_TARGETS:%=$(FUZZ_OUT)/%)

# Inputs as large as each target meaningfully reads: whole messages for
# the parser, one field value for the header and address targets.
MAXLEN_fuzz_parse   = 1048576
MAXLEN_fuzz_message = 262144
MAXLEN_fuzz_codec   = 65536
MAXLEN_fuzz_header  = 8192
MAXLEN_fuzz_address = 4096
MAXLEN_fuzz_reply   = 262144
MAXLEN_fuzz_bounce  = 262144
MAXLEN_fuzz_track   = 262144
MAXLEN_fuzz_token   = 128
MAXLEN_fuzz_dkim    = 65536
MAXLEN_fuzz_template = 65536
MAXLEN_fuzz_csv      = 65536

FUZZ_FLAGS = -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=30 \
             -print_final_stats=1

.PHONY: fuzz-all fuzz-build
.DEFAULT_GOAL := fuzz-all

fuzz-build: $(FUZZ_BINS)

# The core is compiled with coverage hooks (fuzzer-no-link) but without
# libFuzzer's main, which only the final link brings in.
$(FUZZ_OUT)/obj/%.o: csrc/%.c $(FUZZ_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BINS): $(FUZZ_OUT)/%: csrc/fuzz/%.c $(FUZZ_CORE_LIB) $(FUZZ_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_CORE_LIB) -o $@ $(FUZZ_LIBS)

# One target at a time (they share the machine); every target runs even
# after one has failed, so a single run reports all of them. The working
# corpus keeps what earlier runs found; the committed seeds are only read.
fuzz-all: $(FUZZ_BINS)
	@failed=""; \
	for tm in $(foreach t,$(FUZZ_TARGETS),$(t):$(or $(MAXLEN_$(t)),65536)); do \
	  t=$${tm%%:*}; maxlen=$${tm##*:}; \
	  corpus=$(FUZZ_OUT)/corpus-$$t; \
	  mkdir -p $$corpus $(FUZZ_OUT)/artifacts; \
	  if [ -d csrc/fuzz/corpus/$$t ]; then cp -R csrc/fuzz/corpus/$$t/. $$corpus/; fi; \
	  echo "== $$t: $(FUZZ_SECONDS)s, max_len $$maxlen (log: $(FUZZ_OUT)/$$t.log)"; \
	  if UBSAN_OPTIONS=print_stacktrace=1 $(FUZZ_OUT)/$$t $(FUZZ_FLAGS) -max_len=$$maxlen \
	       -artifact_prefix=$(FUZZ_OUT)/artifacts/$$t- $$corpus \
	       >$(FUZZ_OUT)/$$t.log 2>&1; then \
	    grep -aE '^#[0-9]+[[:space:]]+DONE' $(FUZZ_OUT)/$$t.log | tail -n 1; \
	  else \
	    echo "$$t FAILED:"; tail -n 60 $(FUZZ_OUT)/$$t.log; \
	    failed="$$failed $$t"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then \
	  echo "fuzzing found problems in:$$failed (inputs in $(FUZZ_OUT)/artifacts/)"; \
	  exit 1; \
	fi
