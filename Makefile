# The README's commands: `make run` builds everything and runs the tour,
# `make test` builds and runs the whole suite (normal, ASan+UBSan, TSan).
# Everything else is CMake + Ninja underneath; this file only drives it.
BUILD   ?= build
PREFIX  ?= /usr/local
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test bench install clean help

all: build

help:
	@echo "make run      build everything, then run 'mtask tour'"
	@echo "make test     the test suite: normal, ASan+UBSan and TSan builds"
	@echo "make bench    every benchmark beside its peers, charts in docs/plots/"
	@echo "make install  install under PREFIX (now $(PREFIX))"
	@echo "make clean    remove the build directories"

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@$(BUILD)/apps/mtask tour

test: deps
	@JOBS=$(JOBS) scripts/test.sh

# The results go to build-release/bench.json, their charts to docs/plots/.
bench: deps
	@cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-release -j $(JOBS)
	@build-release/apps/mtask bench --json > build-release/bench.json
	@python3 scripts/benchplot.py build-release/bench.json docs/plots

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan build-release
