/*
 * demo.c - chapter 01: epoll by hand.
 *
 * Creates an epoll instance, registers standard input under a token, and
 * waits up to TIMEOUT_MS milliseconds (default 5000; -1 waits forever). When
 * input is ready it prints the token and the readiness bits by name, then
 * reads what is there; when time runs out it says so.
 *
 *	make && echo hello | ./demo
 *	./demo 1500            (type something within 1.5 s, or don't)
 *	./demo < demo.c        (a regular file: epoll refuses it)
 *
 * New in this chapter: everything. ffi.h declares the kernel interface; this
 * file uses it.
 *
 * Sections: error checking, naming bits, waiting, the command line, main.
 */
/* For clock_gettime(2), which strict -std=c11 would otherwise hide. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ffi.h"

/*
 * The token is any 64-bit value we like; epoll hands it back with every event
 * for this registration. It is deliberately not the descriptor's number, to
 * show that the two are unrelated.
 */
#define STDIN_TOKEN 42

/* Room for this many events per epoll_wait(2); we watch one descriptor. */
#define MAX_EVENTS 8

/*** error checking ***/

/* ANCHOR: check */
/*
 * CHECK(call): make a system call; if it returns -1, print the call as
 * written and strerror(errno), then exit 1. The C cousin of the source post's
 * syscall! macro. It is for setup in main only: a function that others call
 * reports errors to its caller instead of ending the program.
 */
#define CHECK(call) check_result((call), #call)

static long check_result(long ret, const char *what)
{
	if (ret == -1) {
		fprintf(stderr, "%s: %s\n", what, strerror(errno));
		exit(1);
	}
	return ret;
}
/* ANCHOR_END: check */

/*** naming bits ***/

/* ANCHOR: names */
/*
 * events_str: write the EPOLL* bits in `bits` as "EPOLLIN|EPOLLHUP" into buf.
 * Bits this chapter has no name for are shown in hex.
 */
static const char *events_str(uint32_t bits, char *buf, size_t len)
{
	static const struct {
		uint32_t bit;     /* one EPOLL* flag */
		const char *name; /* its name in the man page */
	} names[] = {
		{EPOLLIN, "EPOLLIN"},
		{EPOLLOUT, "EPOLLOUT"},
		{EPOLLERR, "EPOLLERR"},
		{EPOLLHUP, "EPOLLHUP"},
	};
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(bits & names[i].bit))
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 used ? "|" : "", names[i].name);
		bits &= ~names[i].bit;
		if (used >= len)
			return buf;
	}
	if (bits || !used)
		snprintf(buf + used, len - used, "%s0x%x", used ? "|" : "",
			 (unsigned)bits);
	return buf;
}
/* ANCHOR_END: names */

/*** waiting ***/

/* ANCHOR: wait_ready */
/* now_ms: a clock that only moves forward, in milliseconds. */
static long long now_ms(void)
{
	struct timespec ts;

	/* clock_gettime(2) cannot fail for CLOCK_MONOTONIC on Linux. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * wait_ready: epoll_wait(2) that survives signals. The call is never
 * restarted after a signal, and fails with EINTR even when no handler runs:
 * Ctrl-Z then `fg` (SIGTSTP, SIGCONT) is enough (signal(7)). So wait again,
 * for what is left of timeout_ms: time spent before the signal counts.
 * Returns the number of events, 0 on timeout, or -1 with errno set.
 */
static int wait_ready(int epfd, struct event *events, int max, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int n;

	while ((n = epoll_wait(epfd, events, max, timeout_ms)) == -1 &&
	       errno == EINTR) {
		if (timeout_ms > 0) {
			long long left = deadline - now_ms();

			timeout_ms = left > 0 ? (int)left : 0;
		}
	}
	return n;
}
/* ANCHOR_END: wait_ready */

/*** the command line ***/

static void usage(void)
{
	fprintf(stderr, "usage: demo [TIMEOUT_MS]   (-1 waits forever; "
			"default 5000)\n");
	exit(2);
}

/* parse_timeout: TIMEOUT_MS as an int >= -1, or usage(). */
static int parse_timeout(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < -1 || v > INT_MAX)
		usage();
	return (int)v;
}

/*** main ***/

int main(int argc, char **argv)
{
	int timeout_ms = 5000;
	char names[64];

	if (argc > 2)
		usage();
	if (argc == 2)
		timeout_ms = parse_timeout(argv[1]);
	/* Line by line, so output and errors interleave as they happen. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* ANCHOR: create */
	int epfd = (int)CHECK(epoll_create1(EPOLL_CLOEXEC));
	printf("epoll instance: fd %d\n", epfd);
	/* ANCHOR_END: create */

	/* ANCHOR: register */
	struct event ev = {.events = EPOLLIN, .data = STDIN_TOKEN};

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == -1) {
		int err = errno;

		fprintf(stderr, "epoll_ctl(EPOLL_CTL_ADD, stdin): %s\n",
			strerror(err));
		/* epoll_ctl(2): EPERM means fd does not support epoll. */
		if (err == EPERM)
			fputs("  stdin is a regular file, a directory, or a "
			      "device such as /dev/null:\n"
			      "  reading it never has to wait, so there is no "
			      "readiness to report, and\n"
			      "  epoll refuses to watch it. Pipe it instead: "
			      "cat FILE | ./demo\n",
			      stderr);
		return 1;
	}
	printf("watching stdin (fd %d) for %s under token %d\n", STDIN_FILENO,
	       events_str(ev.events, names, sizeof(names)), STDIN_TOKEN);
	/* ANCHOR_END: register */

	/* ANCHOR: wait */
	struct event ready[MAX_EVENTS];

	printf("waiting up to %d ms...\n", timeout_ms);
	int n = (int)CHECK(wait_ready(epfd, ready, MAX_EVENTS, timeout_ms));

	if (n == 0)
		printf("timed out after %d ms: nothing to read\n", timeout_ms);
	for (int i = 0; i < n; i++) {
		/* Copy out of the packed array: never point into it. */
		struct event e = ready[i];

		printf("ready: token %llu, events %s\n",
		       (unsigned long long)e.data,
		       events_str(e.events, names, sizeof(names)));
	}
	/* ANCHOR_END: wait */

	/* ANCHOR: read */
	if (n > 0) {
		/*
		 * Readiness says this read will not block. One read is enough
		 * for a demo; later chapters read until EAGAIN.
		 */
		char buf[4096];
		ssize_t got = CHECK(read(STDIN_FILENO, buf, sizeof(buf)));

		if (got == 0)
			printf("read: end of input\n");
		else
			printf("read %zd bytes\n", got);
	}
	/* ANCHOR_END: read */

	CHECK(close(epfd));
	return 0;
}
