# nst: `make` builds build/nst/core.so (CPU always; CUDA too when nvcc and kernels/*.cu
# are present). `make test` installs what it needs, builds and runs the specs.
LUA_VERSION ?= 5.4
LUA_INC     ?= /usr/include/lua$(LUA_VERSION)
PREFIX      ?= /usr/local
DESTDIR     ?=
LUA_LIBDIR  ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_SHAREDIR?= $(PREFIX)/share/lua/$(LUA_VERSION)
BINDIR      ?= $(PREFIX)/bin
# convert.py (nst weights convert / download) and share/nst/weights (weights for all users)
DATADIR     ?= $(PREFIX)/share/nst
LUA         ?= lua$(LUA_VERSION)
ARCH        ?= -march=native
CC          ?= cc
CFLAGS      ?= -O3 $(ARCH)
SANITIZE    ?=
BUILD       ?= build
NVCC        ?= $(shell command -v nvcc 2>/dev/null)
CUDA_HOME   ?= /usr/local/cuda
CUDA_ARCH   ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90

# OpenMP threads that spin long while they wait make a busy machine 60x slower (a conv
# took 3.1 s instead of 52 ms with one core taken by another process); a short spin
# costs nothing when the machine is quiet (284 ms/iteration either way), while fully
# passive waiting costs 32% there. libgomp reads this when it loads, so it must be in
# the environment: the targets below and the installed `nst` command set it.
export GOMP_SPINCOUNT ?= 1000

WARN    = -Wall -Wextra -Werror -Wno-unused-parameter
# Headers are included by layer folder ("core/nst.h", "io/image.h"); kernels/ holds the
# CUDA backend and its C control header nst_cuda.h.
CPPFLAGS= -I$(LUA_INC) -Isrc -Ikernels
ALLC    = -std=c11 -D_POSIX_C_SOURCE=200809L -fPIC -fopenmp $(WARN) $(CFLAGS) $(SANITIZE)
LIBS    = -lopenblas -lpng -ljpeg -lexif -lcjson -lm -fopenmp

# src/ by layer (src/README.md): core, io, model, cpu (the CPU backend), bindings.
SRCS    = $(wildcard src/*/*.c)
OBJS    = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))

# Video (issue 15): optical flow through OpenCV's DIS in C++ (src/io/flow.cpp) when its
# headers are there (libopencv-video-dev; its opencv4.pc ships only in libopencv-dev, the
# metapackage of every module, so pkg-config is used when present but not required).
CXX       ?= g++
OPENCV_INC = $(or $(shell pkg-config --cflags-only-I opencv4 2>/dev/null),-I/usr/include/opencv4)
ifneq ($(wildcard $(patsubst -I%,%,$(OPENCV_INC))/opencv2/video/tracking.hpp),)
CPPFLAGS  += -DNST_WITH_OPENCV
CXX_SRCS   = $(wildcard src/*/*.cpp)
OBJS      += $(patsubst src/%.cpp,$(BUILD)/obj/%.o,$(CXX_SRCS))
LIBS      += -lopencv_video -lopencv_imgproc -lopencv_core -lstdc++
endif
CU_SRCS = $(wildcard kernels/*.cu)
ifneq ($(NVCC),)
ifneq ($(CU_SRCS),)
WITH_CUDA = 1
endif
endif
ifeq ($(WITH_CUDA),1)
CPPFLAGS += -DNST_WITH_CUDA -I$(CUDA_HOME)/include
CU_OBJS   = $(patsubst kernels/%.cu,$(BUILD)/obj/kernels/%.o,$(CU_SRCS))
LIBS     += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcusolver -lcudart -lstdc++
BACKENDS  = cpu cuda
else
BACKENDS  = cpu
endif
LIB = $(BUILD)/nst/core.so

.PHONY: all test check install uninstall clean deps weights bench asan run fuzz

# Run from the source tree without installing.
RUN_ENV = LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(BUILD)/?.so;;"

all: $(LIB)
	@echo "nst: built $(LIB) with backends: $(BACKENDS)"

$(LIB): $(OBJS) $(CU_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-z,nodelete -o $@ $^ $(LIBS) $(SANITIZE)

# Objects depend on the flags they were built with.
FLAGS_STAMP = $(BUILD)/flags-$(shell echo '$(CC) $(CPPFLAGS) $(ALLC)' | cksum | cut -d' ' -f1)
$(FLAGS_STAMP):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/flags-* && touch $@

# Each object also writes the headers it read (.d, -MMD -MP), so a header change
# rebuilds exactly the objects that include it.
$(BUILD)/obj/%.o: src/%.c Makefile $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALLC) -MMD -MP -c $< -o $@

$(BUILD)/obj/kernels/%.o: kernels/%.cu Makefile $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC,-Wall -Isrc -Ikernels -DNST_WITH_CUDA -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: src/%.cpp Makefile $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(patsubst -I%,-isystem %,$(OPENCV_INC)) -std=c++17 -fPIC $(WARN) $(CFLAGS) $(SANITIZE) -MMD -MP -c $< -o $@

-include $(OBJS:.o=.d) $(CU_OBJS:.o=.d)

# Debian packages the build and the tests need (installed when missing and root).
DEB_PKGS = lua5.4 liblua5.4-dev luarocks lua-busted libpng-dev libjpeg-dev libopenblas-dev \
           libcjson-dev lua-dkjson libexif-dev python3-torch python3-protobuf \
           libopencv-video-dev ffmpeg slurmctld slurmd slurm-client munge
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "nst: installing $$missing"; \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing) >/dev/null || exit 1; \
	  else echo "nst: missing Debian packages (run as root or install): $$missing"; exit 1; fi; \
	fi

# CUDA specs need a GPU: excluded where nvidia-smi finds none.
CUDA_TAGS    ?= $(if $(shell nvidia-smi -L 2>/dev/null | grep -q GPU && echo y),,--exclude-tags=cuda)
BUSTED_FLAGS ?=
test: deps all
	busted --lua=lua$(LUA_VERSION) $(CUDA_TAGS) $(BUSTED_FLAGS)

check: test

# The whole suite with the C code built under AddressSanitizer + UBSan.
asan: deps
	$(MAKE) BUILD=build-asan CC=clang CXX=clang++ ARCH= NVCC= \
	  SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1" all
	ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD=$$(clang -print-file-name=libclang_rt.asan-x86_64.so) \
	  NST_BUILD=build-asan OMP_NUM_THREADS=1 busted --lua=lua$(LUA_VERSION) $(CUDA_TAGS) $(BUSTED_FLAGS)

bench: all
	$(RUN_ENV) lua$(LUA_VERSION) examples/benchmark_cpu.lua

# The main job: stylize the default images with the real VGG19 on the CPU (a few
# minutes on 2 cores); writes out/leuven_starry.png, .csv and .svg.
RUN_SIZE  ?= 256
RUN_ITERS ?= 300
RUN_ARGS  = "-content_image", "examples/images/leuven.jpg", "-style_image", "examples/images/starry_night.jpg", \
  "-model", "vgg19", "-gpu", "-1", "-image_size", "$(RUN_SIZE)", "-num_iterations", "$(RUN_ITERS)", \
  "-print_iter", "25", "-save_iter", "100", "-output_image", "out/leuven_starry.png"
run: all
	@mkdir -p out
	$(RUN_ENV) lua$(LUA_VERSION) -e 'os.exit(require("nst.cli").main{$(RUN_ARGS)}, true)'

weights:
	sh weights/fetch.sh

# libFuzzer targets (clang, ASan + UBSan) for the PNG, JPEG and safetensors readers;
# FUZZ_SECONDS per target (CI: about a minute each).
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -f spec/fuzz/fuzz.mk FUZZ_SECONDS=$(FUZZ_SECONDS) run

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/nst $(DESTDIR)$(LUA_SHAREDIR)/nst/cmd $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)
	install -m 755 $(LIB) $(DESTDIR)$(LUA_LIBDIR)/nst/core.so
	install -m 644 lua/nst/*.lua $(DESTDIR)$(LUA_SHAREDIR)/nst/
	$(if $(wildcard lua/nst/cmd/*.lua),install -m 644 $(wildcard lua/nst/cmd/*.lua) $(DESTDIR)$(LUA_SHAREDIR)/nst/cmd/)
	install -m 644 weights/convert.py $(DESTDIR)$(DATADIR)/convert.py
	sed -e 's|@LUA_VERSION@|$(LUA_VERSION)|g' -e 's|@LUA@|$(LUA)|g' bin/nst > $(DESTDIR)$(BINDIR)/nst
	chmod 755 $(DESTDIR)$(BINDIR)/nst

uninstall:
	rm -rf $(DESTDIR)$(LUA_LIBDIR)/nst $(DESTDIR)$(LUA_SHAREDIR)/nst $(DESTDIR)$(BINDIR)/nst $(DESTDIR)$(DATADIR)/convert.py

clean:
	rm -rf build build-asan
