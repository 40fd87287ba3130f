# libFuzzer targets for nst's file readers (PNG, JPEG, safetensors), built with clang,
# AddressSanitizer and UBSan. Run from the repository root:
#   make -f spec/fuzz/fuzz.mk            build build-fuzz/fuzz_{png,jpeg,safetensors}
#   make -f spec/fuzz/fuzz.mk run        fuzz each target FUZZ_SECONDS seconds, one after
#                                        the other, on a copy of its seed corpus
#   make -f spec/fuzz/fuzz.mk run-png    one target (also run-jpeg, run-safetensors)
# (`make fuzz` at the top level calls `run`.) Runs never write into spec/fuzz/corpus:
# each starts from a fresh copy in build-fuzz/corpus-<name>; crash inputs land in
# build-fuzz/artifacts-<name>/.
CLANG        ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_RSS_MB  ?= 2048
# Seconds one input may take before libFuzzer reports it as a timeout (its default is
# 1200, which would let a decompression bomb eat a whole run unnoticed).
FUZZ_TIMEOUT ?= 30
FUZZ_FLAGS   ?=
LUA_INC      ?= /usr/include/lua5.4

FUZZ_DIR = spec/fuzz
SAN      = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1
# The core objects get the sanitizers and coverage hooks but no libFuzzer main.
SAN_LIB  = -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1
FCFLAGS  = -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -Wall -Wextra -Werror \
           -Wno-unused-parameter -Isrc -I$(LUA_INC) -Ikernels
FLIBS    = -lpng -lz -ljpeg -lexif -lcjson -lopenblas -lm -fopenmp

# The C core without Lua: every src/<layer>/*.c except the Lua bindings (src/bindings/),
# built without -DNST_WITH_CUDA, into a static archive, so that a target links only the
# objects it needs (the tensor core, the CPU backend, the readers, ...) and new core
# files are picked up without editing this file. src/cpu/cpu_arena.c (a caching
# allocator) is replaced by spec/fuzz/fuzz_arena.c, exact-size malloc/free, so that ASan
# sees every tensor's true bounds and lifetime.
CORE_SRCS = $(filter-out src/bindings/%.c src/cpu/cpu_arena.c,$(wildcard src/*/*.c))
CORE_OBJS = $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(CORE_SRCS))
CORE_LIB  = $(FUZZ_BUILD)/libnstcore.a
ARENA_OBJ = $(FUZZ_BUILD)/obj/fuzz_arena.o
TARGETS   = png jpeg safetensors
BINS      = $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(TARGETS))

# Inputs bigger than these are cut by libFuzzer: images up to 64 KB, safetensors 16 KB.
MAX_LEN_png         = 65536
MAX_LEN_jpeg        = 65536
MAX_LEN_safetensors = 16384

# Keep the objects (make would delete them as intermediates of a pattern chain).
.SECONDARY:
RUNS = $(patsubst %,run-%,$(TARGETS))
.PHONY: all run clean-fuzz $(RUNS)

all: $(BINS)

# -MMD -MP: each object lists the headers it read, so a header change rebuilds it.
$(FUZZ_BUILD)/obj/%.o: src/%.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(dir $@)
	$(CLANG) $(FCFLAGS) $(SAN_LIB) -MMD -MP -c $< -o $@

$(ARENA_OBJ): $(FUZZ_DIR)/fuzz_arena.c $(FUZZ_DIR)/fuzz.mk
	@mkdir -p $(dir $@)
	$(CLANG) $(FCFLAGS) $(SAN_LIB) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_DIR)/fuzz_%.c $(ARENA_OBJ) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) $(FCFLAGS) $(SAN) -MMD -MP $< $(ARENA_OBJ) $(CORE_LIB) -o $@ $(FLIBS)

-include $(CORE_OBJS:.o=.d) $(ARENA_OBJ:.o=.d) $(BINS:=.d)

run: $(RUNS)

# One process, one worker (the default without -jobs; -jobs=1 would fork a child
# logging to ./fuzz-0.log), the cores are shared. The corpus copy is refreshed each run, so
# what libFuzzer adds stays in build-fuzz; -print_final_stats gives the totals.
# (A static pattern rule: make does not search implicit rules for phony targets.)
$(RUNS): run-%: $(FUZZ_BUILD)/fuzz_%
	rm -rf $(FUZZ_BUILD)/corpus-$* && mkdir -p $(FUZZ_BUILD)/corpus-$* $(FUZZ_BUILD)/artifacts-$*
	cp $(FUZZ_DIR)/corpus/$*/* $(FUZZ_BUILD)/corpus-$*/
	ASAN_OPTIONS=detect_leaks=1 OMP_NUM_THREADS=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(FUZZ_BUILD)/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=$(FUZZ_RSS_MB) \
	  -timeout=$(FUZZ_TIMEOUT) \
	  -max_len=$(MAX_LEN_$*) -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts-$*/ $(FUZZ_FLAGS) $(FUZZ_BUILD)/corpus-$*
	@echo "fuzz_$*: corpus now $$(ls $(FUZZ_BUILD)/corpus-$* | wc -l) files"

clean-fuzz:
	rm -rf $(FUZZ_BUILD)
