/*
 * demo.c - chapter 02: readiness, levels and edges.
 *
 * Each MODE builds a tiny world: a fresh epoll instance and one pipe or
 * socket pair. It writes some bytes, then makes a fixed series of
 * epoll_wait(2) calls with a timeout of 0 (never sleep: report what is ready
 * right now), reading in between, and prints what every wait reports, bits by
 * name. The transcripts are short and always the same, so the tests can
 * assert them line by line.
 *
 *	make && ./demo level     reported at every wait until drained
 *	./demo edge              reported once per arrival; drain until EAGAIN
 *	./demo oneshot           reported once, then silent until EPOLL_CTL_MOD
 *	./demo hup               a pipe's writer closes: EPOLLHUP
 *	./demo rdhup             a socket's peer shuts down writing: EPOLLRDHUP
 *	./demo out               EPOLLOUT is always ready; EPOLLERR, no reader
 *	./demo all               every mode, one after another
 *
 * New since chapter 01: EPOLL_CTL_MOD and EPOLL_CTL_DEL, the modes EPOLLET
 * and EPOLLONESHOT, the EPOLLRDHUP event (all in ffi.h), and waits that
 * happen more than once, which is where the modes differ.
 *
 * Sections: error checking, naming bits, waiting and printing, pipes and
 * sockets, the modes, the command line, main.
 */
#define _GNU_SOURCE /* pipe2(2) is Linux's: glibc declares it only then */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ffi.h"

/*
 * Tokens are any 64-bit values we like; epoll hands them back with every
 * event for a registration. One for whatever end we read, one for whatever
 * end we write: neither is a descriptor's number.
 */
#define READER_TOKEN 42
#define WRITER_TOKEN 43

/*** error checking ***/

/* ANCHOR: check */
/*
 * CHECK(call): make a system call; if it returns -1, print the call as
 * written and strerror(errno), then exit 1. The C cousin of the source post's
 * syscall! macro. It suits a demo in which any failure ends the run; a
 * function that others reuse reports errors to its caller instead.
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
		{EPOLLRDHUP, "EPOLLRDHUP"},
		{EPOLLONESHOT, "EPOLLONESHOT"},
		{EPOLLET, "EPOLLET"},
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

/*** waiting and printing ***/

/* ANCHOR: demo */
/* One mode's world: its own epoll instance, and its waits, numbered. */
struct demo {
	int epfd;  /* the epoll instance, made afresh for each mode */
	int waits; /* epoll_wait calls made so far */
};

/* demo_start: print the mode's title and create its epoll instance. */
static struct demo demo_start(const char *title)
{
	struct demo d = {.epfd = -1, .waits = 0};

	printf("== %s\n", title);
	d.epfd = (int)CHECK(epoll_create1(EPOLL_CLOEXEC));
	return d;
}

/*
 * ctl: epoll_ctl(2) with op ADD, MOD or DEL, printed. For DEL the kernel
 * ignores the event (since Linux 2.6.9 it may even be NULL).
 */
static void ctl(struct demo *d, int op, int fd, const char *what,
		uint32_t interest, uint64_t token)
{
	struct event ev = {.events = interest, .data = token};
	char names[96];

	CHECK(epoll_ctl(d->epfd, op, fd, &ev));
	if (op == EPOLL_CTL_DEL)
		printf("DEL %s\n", what);
	else
		printf("%s %s for %s, token %llu\n",
		       op == EPOLL_CTL_ADD ? "ADD" : "MOD", what,
		       events_str(interest, names, sizeof(names)),
		       (unsigned long long)token);
}
/* ANCHOR_END: demo */

/* ANCHOR: wait */
/*
 * wait_once: one epoll_wait(2) with a timeout of 0, so it never sleeps: it
 * reports what is ready at this instant. Prints "wait N: " and each event's
 * token and bits, or "nothing", then the note, if any, in a column. (A wait
 * that never sleeps is never interrupted either; the EINTR loop is the habit
 * every wait needs, kept here so it is never forgotten.)
 */
static void wait_once(struct demo *d, const char *note)
{
	struct event ready[4];
	char line[160], names[96];
	size_t used;
	int n;

	do {
		n = epoll_wait(d->epfd, ready, 4, 0);
		/* epoll_wait(2): EINTR means a signal arrived; wait again. */
	} while (n == -1 && errno == EINTR);
	CHECK(n);

	used = (size_t)snprintf(line, sizeof(line), "wait %d:", ++d->waits);
	if (n == 0)
		snprintf(line + used, sizeof(line) - used, " nothing");
	for (int i = 0; i < n && used < sizeof(line); i++) {
		/* Copy out of the packed array: never point into it. */
		struct event e = ready[i];

		used += (size_t)snprintf(line + used, sizeof(line) - used,
					 "%s token %llu %s", i ? "," : "",
					 (unsigned long long)e.data,
					 events_str(e.events, names,
						    sizeof(names)));
	}
	if (note)
		printf("%-44s (%s)\n", line, note);
	else
		printf("%s\n", line);
}
/* ANCHOR_END: wait */

/*** pipes and sockets ***/

/* ANCHOR: pipes */
/*
 * Every descriptor here is non-blocking, so a read with nothing to read
 * returns EAGAIN at once instead of hanging the demo, and close-on-exec, as
 * every descriptor should be. A non-blocking call never sleeps, so a signal
 * cannot interrupt it: EINTR is not possible (signal(7)).
 */
static void make_pipe(int fds[2])
{
	CHECK(pipe2(fds, O_NONBLOCK | O_CLOEXEC));
}

static void make_socketpair(int fds[2])
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 0, fds));
}

/*
 * put: write the first n (<= 8) bytes of "abcdefgh" into fd; say how many.
 * who names the writer in the transcript: NULL for us ("write 5 bytes"),
 * "peer" for the other end of a socket pair ("peer: write 5 bytes").
 */
static void put(int fd, size_t n, const char *who)
{
	ssize_t wrote = CHECK(write(fd, "abcdefgh", n));

	printf("%s%swrite %zd bytes\n", who ? who : "", who ? ": " : "", wrote);
}
/* ANCHOR_END: pipes */

/* ANCHOR: take */
/*
 * take: one read(2) of at most max bytes; prints what happened. Returns the
 * count, 0 at end of file, or -1 for EAGAIN: nothing to read right now.
 * (EWOULDBLOCK is the same number as EAGAIN on Linux.)
 */
static ssize_t take(int fd, size_t max)
{
	char buf[16];
	ssize_t got = read(fd, buf, max < sizeof(buf) ? max : sizeof(buf));

	if (got == -1 && errno == EAGAIN) {
		printf("read: EAGAIN, drained\n");
		return -1;
	}
	CHECK(got);
	if (got == 0)
		printf("read 0 bytes: end of file\n");
	else
		printf("read %zd bytes\n", got);
	return got;
}
/* ANCHOR_END: take */

/* ANCHOR: fill */
/* fill: write into fd until EAGAIN says it is full; returns the total. */
static size_t fill(int fd)
{
	static const char page[4096];
	size_t total = 0;

	for (;;) {
		ssize_t wrote = write(fd, page, sizeof(page));

		if (wrote == -1 && errno == EAGAIN)
			return total; /* full, for now */
		total += (size_t)CHECK(wrote);
	}
}

/* drain: read from fd until EAGAIN says it is empty; returns the total. */
static size_t drain(int fd)
{
	char buf[4096];
	size_t total = 0;

	for (;;) {
		ssize_t got = read(fd, buf, sizeof(buf));

		if (got == -1 && errno == EAGAIN)
			return total; /* empty, for now */
		if (CHECK(got) == 0)
			return total; /* end of file */
		total += (size_t)got;
	}
}
/* ANCHOR_END: fill */

/*** the modes ***/

/* ANCHOR: level */
/* level: the default. Ready is reported at every wait until it stops being. */
static void mode_level(void)
{
	struct demo d = demo_start("level-triggered (the default)");
	int p[2];

	make_pipe(p);
	ctl(&d, EPOLL_CTL_ADD, p[0], "read end", EPOLLIN, READER_TOKEN);
	put(p[1], 5, NULL);
	wait_once(&d, NULL);
	wait_once(&d, "still unread: reported again");
	take(p[0], 2);
	wait_once(&d, "3 bytes left: reported again");
	take(p[0], 3);
	wait_once(&d, "drained: not ready any more");

	CHECK(close(p[0]));
	CHECK(close(p[1]));
	CHECK(close(d.epfd));
}
/* ANCHOR_END: level */

/* ANCHOR: edge */
/* edge: reported when data arrives, not while it sits there. */
static void mode_edge(void)
{
	struct demo d = demo_start("edge-triggered (EPOLLET)");
	int p[2];

	make_pipe(p);
	ctl(&d, EPOLL_CTL_ADD, p[0], "read end", EPOLLIN | EPOLLET,
	    READER_TOKEN);
	put(p[1], 5, NULL);
	wait_once(&d, NULL);
	wait_once(&d, "5 bytes unread, but no news");
	put(p[1], 3, NULL);
	wait_once(&d, "new bytes arrived: an edge");
	take(p[0], 4);
	wait_once(&d, "4 bytes left, and no word of it");

	/* The rule of edge-triggered mode: read until EAGAIN. */
	while (take(p[0], 4) > 0)
		;
	wait_once(&d, NULL);

	CHECK(close(p[0]));
	CHECK(close(p[1]));
	CHECK(close(d.epfd));
}
/* ANCHOR_END: edge */

/* ANCHOR: oneshot */
/* oneshot: one report, then disarmed until EPOLL_CTL_MOD arms it again. */
static void mode_oneshot(void)
{
	struct demo d = demo_start("one-shot (EPOLLONESHOT)");
	int p[2];

	make_pipe(p);
	ctl(&d, EPOLL_CTL_ADD, p[0], "read end", EPOLLIN | EPOLLONESHOT,
	    READER_TOKEN);
	put(p[1], 5, NULL);
	wait_once(&d, NULL);
	wait_once(&d, "disarmed after one report");
	put(p[1], 3, NULL);
	wait_once(&d, "still disarmed");
	ctl(&d, EPOLL_CTL_MOD, p[0], "read end", EPOLLIN | EPOLLONESHOT,
	    READER_TOKEN);
	wait_once(&d, "re-armed, and data is waiting");
	wait_once(&d, "disarmed again");
	take(p[0], 8);

	CHECK(close(p[0]));
	CHECK(close(p[1]));
	CHECK(close(d.epfd));
}
/* ANCHOR_END: oneshot */

/* ANCHOR: hup */
/* hup: the last writer of a pipe closes. Nobody asks for EPOLLHUP. */
static void mode_hup(void)
{
	struct demo d = demo_start("hang-up on a pipe (EPOLLHUP)");
	int p[2];

	make_pipe(p);
	ctl(&d, EPOLL_CTL_ADD, p[0], "read end", EPOLLIN, READER_TOKEN);
	put(p[1], 5, NULL);
	CHECK(close(p[1]));
	printf("close the write end\n");
	wait_once(&d, "data left, and no writer");
	take(p[0], 5);
	take(p[0], 5);
	wait_once(&d, "HUP alone: nothing to read");
	wait_once(&d, "at every wait, until DEL or close");
	ctl(&d, EPOLL_CTL_DEL, p[0], "read end", 0, 0);
	wait_once(&d, NULL);

	CHECK(close(p[0]));
	CHECK(close(d.epfd));
}
/* ANCHOR_END: hup */

/* ANCHOR: rdhup */
/* rdhup: a socket's peer shuts down its writing half, then closes. */
static void mode_rdhup(void)
{
	struct demo d = demo_start("peer half-close on a socket (EPOLLRDHUP)");
	int s[2]; /* s[0] is ours, s[1] the peer's */

	make_socketpair(s);
	ctl(&d, EPOLL_CTL_ADD, s[0], "our end", EPOLLIN | EPOLLRDHUP,
	    READER_TOKEN);
	put(s[1], 5, "peer");
	CHECK(shutdown(s[1], SHUT_WR));
	printf("peer: shutdown(SHUT_WR)\n");
	wait_once(&d, "data, then the end of it");
	take(s[0], 5);
	take(s[0], 5);
	wait_once(&d, "half-closed: still readable");
	/*
	 * Our half is still open: we can answer. The peer reads the answer
	 * before it closes, because closing a socket with unread data resets
	 * the connection, and we would see EPOLLERR and ECONNRESET instead.
	 */
	put(s[0], 5, NULL);
	printf("peer: read %zu bytes\n", drain(s[1]));
	CHECK(close(s[1]));
	printf("peer: close\n");
	wait_once(&d, "both halves closed");

	CHECK(close(s[0]));
	CHECK(close(d.epfd));
}
/* ANCHOR_END: rdhup */

/* ANCHOR: out */
/* out: the writing side. Room to write is the usual state, hence "ready". */
static void mode_out(void)
{
	struct demo d = demo_start("writable (EPOLLOUT)");
	int p[2];

	make_pipe(p);
	ctl(&d, EPOLL_CTL_ADD, p[1], "write end", EPOLLOUT, WRITER_TOKEN);
	wait_once(&d, "an empty pipe has room");
	wait_once(&d, "and still has: at every wait");
	printf("write until EAGAIN: %zu bytes, the pipe is full\n", fill(p[1]));
	wait_once(&d, "no room");
	printf("read until EAGAIN: %zu bytes, the pipe is empty\n",
	       drain(p[0]));
	wait_once(&d, "room again");
	CHECK(close(p[0]));
	printf("close the read end\n");
	wait_once(&d, "no reader: writing would fail");

	CHECK(close(p[1]));
	CHECK(close(d.epfd));
}
/* ANCHOR_END: out */

/*** the command line ***/

static const struct {
	const char *name;  /* the MODE word on the command line */
	void (*run)(void); /* what it shows */
} modes[] = {
	{"level", mode_level},
	{"edge", mode_edge},
	{"oneshot", mode_oneshot},
	{"hup", mode_hup},
	{"rdhup", mode_rdhup},
	{"out", mode_out},
};

#define NMODES (sizeof(modes) / sizeof(modes[0]))

static void usage(void)
{
	fprintf(stderr, "usage: demo level|edge|oneshot|hup|rdhup|out|all\n");
	exit(2);
}

/*** main ***/

int main(int argc, char **argv)
{
	if (argc != 2)
		usage();
	/* Line by line, so output and errors interleave as they happen. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (strcmp(argv[1], "all") == 0) {
		for (size_t i = 0; i < NMODES; i++) {
			if (i)
				printf("\n");
			modes[i].run();
		}
		return 0;
	}
	for (size_t i = 0; i < NMODES; i++) {
		if (strcmp(argv[1], modes[i].name) == 0) {
			modes[i].run();
			return 0;
		}
	}
	usage();
}
