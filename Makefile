# The tutorial's top-level Makefile. Every target works from a fresh clone.
#
#	make              build every chapter and the tools in common/
#	make run [CH=05]  start the newest HTTP server chapter on 127.0.0.1:8000
#	make test [CH=03] run every chapter's tests (or one chapter's)
#	make check        -Werror builds with gcc and clang, then the whole suite
#	                  under AddressSanitizer+UBSan (ThreadSanitizer where a
#	                  chapter starts threads)
#	make diff CH=02   what chapter 02 adds to chapter 01 (diff -ruN: a new
#	                  file shows whole), without the build outputs and
#	                  page leftovers named in common/diff-exclude; a
#	                  chapter whose Makefile says BUILDS_ON = NN-name is
#	                  compared with that chapter instead
#	make bench [CH="05 13"]  wrk, CPU, strace and RSS: chapters 00, 05, 10,
#	                  13 (and 14, 16 where they exist), the floor (a
#	                  measuring stick in common/) and nginx side by side,
#	                  keep-alive, close and pipelined, a 64 KiB file for the
#	                  chapters that serve files, a multicore row for 15,
#	                  Markdown tables (common/bench; BENCH_MODES and the
#	                  other BENCH_ settings are in its header)
#	make fuzz [CH=08] libFuzzer over the newest chapter's HTTP parser (or
#	                  CH's), for FUZZ_SECONDS (default 60) (common/fuzz)
#	make book         fill the book's listings from the anchored source
#	make format       clang-format every C file
#	make clean

SHELL := /bin/bash
CHAPTERS := $(sort $(wildcard chapters/[0-9][0-9]-*))
# Chapters whose program is a server, newest last (for `make run`).
SERVERS := $(foreach c,$(CHAPTERS),$(if $(shell grep -ls '^PROG *= *server' $(c)/Makefile),$(c)))
THREADED := $(foreach c,$(CHAPTERS),$(if $(shell grep -ls '^THREADS *= *yes' $(c)/Makefile),$(c)))

# CH=03 (or CH=03-poll) names one chapter.
ch = $(firstword $(wildcard chapters/$(CH) chapters/$(CH)-*))

.PHONY: all build run test check diff book format bench fuzz clean
all build:
	@$(MAKE) --no-print-directory -C common
	@set -e; for c in $(CHAPTERS); do $(MAKE) --no-print-directory -C $$c; done

run: all
	@c="$(if $(CH),$(ch),$(lastword $(SERVERS)))"; \
	if [ -z "$$c" ] || [ ! -x "$$c/server" ]; then \
		echo "make run: no server chapter$(if $(CH), matches CH=$(CH))" >&2; exit 2; fi; \
	echo "starting $$c/server on 127.0.0.1:8000; try: curl -sS http://127.0.0.1:8000/"; \
	echo "(Ctrl-C stops it)"; \
	exec "$$c/server" 8000

test: all
	@tests/run $(if $(CH),$(or $(wildcard tests/$(notdir $(ch)).bats),$(error no tests for CH=$(CH))))

check:
	@set -e; for cc in gcc clang; do \
		echo "== -Werror build with $$cc"; \
		$(MAKE) --no-print-directory clean >/dev/null; \
		$(MAKE) --no-print-directory all CC=$$cc WERROR=1; \
	done
	@echo "== tests under AddressSanitizer+UndefinedBehaviorSanitizer (clang)"
	@$(MAKE) --no-print-directory clean >/dev/null
	@$(MAKE) --no-print-directory all CC=clang WERROR=1 SANITIZE=address,undefined
	@SANITIZED=address tests/run
	@if [ -n "$(THREADED)" ]; then \
		echo "== tests of threaded chapters under ThreadSanitizer (clang)"; \
		$(MAKE) --no-print-directory clean >/dev/null; \
		$(MAKE) --no-print-directory all CC=clang WERROR=1 SANITIZE=thread && \
		SANITIZED=thread tests/run $(foreach c,$(THREADED),tests/$(notdir $(c)).bats); \
	fi
	@$(MAKE) --no-print-directory clean >/dev/null
	@$(MAKE) --no-print-directory all >/dev/null
	@echo "make check: all passed"

diff:
	@c="$(ch)"; [ -n "$(CH)" ] && [ -n "$$c" ] || { echo "usage: make diff CH=NN" >&2; exit 2; }; \
	base=$$(sed -n 's/^BUILDS_ON *= *//p' "$$c/Makefile"); \
	prev=$${base:+chapters/$$base}; \
	prev=$${prev:-$$(ls -d chapters/[0-9][0-9]-* | grep -B1 -x "$$c" | head -n 1)}; \
	[ "$$prev" != "$$c" ] || { echo "make diff: $$c is the first chapter" >&2; exit 2; }; \
	diff -ruN -X common/diff-exclude "$$prev" "$$c"; s=$$?; \
	[ $$s -le 1 ] || [ $$s -eq 141 ] # 1: they differ; 141: a pager or head quit early

book:
	@common/mdlisting book/*.md

bench:
	@$(MAKE) --no-print-directory -s all
	@common/bench $(CH)

fuzz:
	@$(if $(CH),FUZZ_CH=$(ch)) common/fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	@$(MAKE) --no-print-directory -C common clean
	@set -e; for c in $(CHAPTERS); do $(MAKE) --no-print-directory -C $$c clean; done
