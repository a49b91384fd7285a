# common.mk: the build rules every chapter shares.
#
# A chapter's Makefile names its program and sources, then includes this:
#
#	PROG = server
#	SRCS = main.c poll.c
#	include ../../common/common.mk
#
# A directory of one-file tools (common/) sets TOOLS = a b c instead: each
# tool is built from its own .c file. A program that starts threads sets
# THREADS = yes, which adds -pthread and marks it for ThreadSanitizer in
# `make check`.
#
# Switches (all optional):
#	CC=clang              build with another compiler
#	WERROR=1              turn every warning into an error
#	SANITIZE=address,undefined   build with those sanitizers
#	CFLAGS='-O0 -g'       replace the default optimisation and debug flags

CFLAGS ?= -O2 -g
# The flags in WARN are part of the lesson: the code must build clean under them.
WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wwrite-strings \
	-Wvla -Wformat=2 -Wundef
STD := -std=c11

ifeq ($(WERROR),1)
WARN += -Werror
endif

ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
endif

ifeq ($(THREADS),yes)
SANFLAGS += -pthread
endif

ALL_CFLAGS = $(STD) $(WARN) $(CFLAGS) $(SANFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)
LDLIBS += $(EXTRA_LDLIBS)

OBJS := $(SRCS:.c=.o)
DEPS := $(SRCS:.c=.d) $(TOOLS:=.d)

# The flags a build used are recorded, so that switching compiler or
# sanitizer rebuilds everything instead of mixing objects.
FLAGS_STAMP := .build-flags
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $(LDLIBS)
ifneq ($(strip $(file < $(FLAGS_STAMP))),$(strip $(FLAGS_NOW)))
$(shell echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))
endif

.PHONY: all clean
all: $(PROG) $(TOOLS)

ifdef PROG
$(PROG): $(OBJS) $(FLAGS_STAMP)
	$(CC) $(ALL_LDFLAGS) -o $@ $(OBJS) $(LDLIBS)
endif

$(TOOLS): %: %.o $(FLAGS_STAMP)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LDLIBS)

%.o: %.c $(FLAGS_STAMP)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

clean:
	rm -f $(PROG) $(TOOLS) $(TOOLS:=.o) $(OBJS) $(DEPS) $(FLAGS_STAMP) $(EXTRA_CLEAN)

-include $(DEPS)
