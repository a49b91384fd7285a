/*
 * out.c - the output of out.h: building a response, and sending it in as
 * many pieces as the kernel wants.
 *
 * Sections: the pattern, building, holding, sending.
 */
/* MSG_NOSIGNAL is POSIX.1-2008, which -std=c11 alone hides. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "out.h"

/*** the pattern ***/

/* ANCHOR: pattern */
/*
 * GET /bytes/N sends N bytes of these 64, over and over: lines of 63
 * characters, easy to eyeball, and what `yes PATTERN-LINE | head -c N`
 * prints, so a test can check a body of any length.
 */
static const char PATTERN[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n";
#define PATTERN_LEN (sizeof(PATTERN) - 1)

/* One send takes at most this much of the pattern. */
#define PATTERN_BLOCK (64 * 1024)

/*
 * The pattern laid out over PATTERN_BLOCK bytes, plus one period more, so
 * that a piece starting at any offset of the pattern is one contiguous
 * run: the piece for body offset k starts at pattern_block + k % 64. Every
 * connection sends from this one block; none holds its body in memory.
 */
static char pattern_block[PATTERN_BLOCK + PATTERN_LEN];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

/* pattern_fill: lay the pattern out over pattern_block. */
static void pattern_fill(void)
{
	for (size_t i = 0; i < sizeof(pattern_block); i++)
		pattern_block[i] = PATTERN[i % PATTERN_LEN];
}

/* pattern_at: up to *len bytes of the pattern from body offset off. */
static const char *pattern_at(uint64_t off, size_t *len)
{
	/*
	 * Filled on first use, once: with a loop per core, two loops may
	 * ask at once (chapter 14's test for an empty block was a data
	 * race here, which ThreadSanitizer found). After the first call,
	 * pthread_once is one load.
	 */
	pthread_once(&pattern_once, pattern_fill);
	if (*len > PATTERN_BLOCK)
		*len = PATTERN_BLOCK;
	return pattern_block + off % PATTERN_LEN;
}
/* ANCHOR_END: pattern */

/*** building ***/

int out_printf(struct out *o, const char *fmt, ...)
{
	size_t room;
	va_list ap;
	int n;

	/* Drop what was sent (a 100 Continue, say), keep what was not. */
	memmove(o->head, o->head + o->head_sent, o->head_len - o->head_sent);
	o->head_len -= o->head_sent;
	o->head_sent = 0;
	room = sizeof(o->head) - o->head_len;
	va_start(ap, fmt);
	n = vsnprintf(o->head + o->head_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		errno = ENOBUFS;
		return -1;
	}
	o->head_len += (size_t)n;
	return 0;
}

void out_bytes(struct out *o, const char *p, size_t n)
{
	o->kind = OUT_BYTES;
	o->body = p;
	o->body_len = n;
	o->body_sent = 0;
}

void out_pattern(struct out *o, uint64_t n)
{
	o->kind = OUT_PATTERN;
	o->body = NULL;
	o->body_len = n;
	o->body_sent = 0;
}

void out_no_body(struct out *o)
{
	o->kind = OUT_NONE;
	o->body = NULL;
	o->body_len = 0;
	o->body_sent = 0;
}

/*** holding ***/

/* -DBATCH=0: every answer goes out on its own, in its own sendmsg. */
#ifndef BATCH
#define BATCH 1
#endif

static int gather(const struct out *o, struct iovec iov[3]);

void out_next(struct out *o)
{
	o->head_len = o->head_sent = 0;
	out_no_body(o);
}

void out_free(struct out *o)
{
	free(o->held);
	o->held = NULL;
	o->held_len = o->held_sent = o->held_count = 0;
}

/* ANCHOR: hold */
bool out_hold(struct out *o)
{
	uint64_t n = o->head_len - o->head_sent;
	struct iovec iov[3];
	int k;

	if (o->kind != OUT_NONE)
		n += o->body_len - o->body_sent;
	if (!BATCH || o->held_count == OUT_HOLD_COUNT ||
	    n > OUT_HOLD_MAX - o->held_len)
		return false;
	if (!o->held && !(o->held = malloc(OUT_HOLD_MAX)))
		return false; /* no memory: it goes out on its own */
	/* The head and the body, without what is held already (k from 1). */
	k = gather(o, iov);
	for (int i = o->held_sent < o->held_len; i < k; i++) {
		memcpy(o->held + o->held_len, iov[i].iov_base, iov[i].iov_len);
		o->held_len += iov[i].iov_len;
	}
	o->held_count++;
	out_next(o);
	return true;
}
/* ANCHOR_END: hold */

/*** sending ***/

bool out_held(const struct out *o)
{
	return o->held_sent < o->held_len;
}

bool out_pending(const struct out *o)
{
	return out_held(o) || o->head_sent < o->head_len ||
	       (o->kind != OUT_NONE && o->body_sent < o->body_len);
}

/*
 * unconst: struct iovec's iov_base is not const, because readv(2) writes
 * through it; sendmsg(2) only reads. Going through an integer says so
 * without a cast that -Wcast-qual would rightly flag.
 */
static void *unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

/* ANCHOR: gather */
/*
 * gather: point iov at what is left, the held answers', the head's rest
 * and a piece of the body, for one sendmsg. Returns how many entries it
 * used.
 */
static int gather(const struct out *o, struct iovec iov[3])
{
	int n = 0;

	if (out_held(o)) {
		iov[n].iov_base = o->held + o->held_sent;
		iov[n++].iov_len = o->held_len - o->held_sent;
	}
	if (o->head_sent < o->head_len) {
		iov[n].iov_base = unconst(o->head + o->head_sent);
		iov[n++].iov_len = o->head_len - o->head_sent;
	}
	if (o->kind != OUT_NONE && o->body_sent < o->body_len) {
		uint64_t left = o->body_len - o->body_sent;
		size_t len = left > SIZE_MAX ? SIZE_MAX : (size_t)left;
		const char *p = o->kind == OUT_BYTES
				    ? o->body + o->body_sent
				    : pattern_at(o->body_sent, &len);

		iov[n].iov_base = unconst(p);
		iov[n++].iov_len = len;
	}
	return n;
}

/*
 * skip_sent: the kernel took n bytes: the held answers' first, then the
 * head's, then the body's. Held answers all sent, their buffer goes.
 */
static void skip_sent(struct out *o, size_t n)
{
	size_t h = o->held_len - o->held_sent;

	o->sent += n;
	if (h > n)
		h = n;
	o->held_sent += h;
	n -= h;
	if (o->held && !out_held(o))
		out_free(o);
	h = o->head_len - o->head_sent;
	if (h > n)
		h = n;
	o->head_sent += h;
	o->body_sent += n - h;
}
/* ANCHOR_END: gather */

/* ANCHOR: send */
/* Build with -DCLOSE_MSG_MORE=0 to send the last answer without MSG_MORE. */
#ifndef CLOSE_MSG_MORE
#define CLOSE_MSG_MORE 1
#endif

enum out_result out_send(struct out *o, int fd, size_t budget, bool last)
{
	/*
	 * MSG_MORE (send(2), tcp(7)): more is coming, so the kernel holds
	 * back a last segment smaller than the path allows. When the
	 * connection closes right after, "more" is the FIN: Linux puts it on
	 * the held segment (tcp_send_fin), and the response and the FIN go
	 * as one segment, which the client acknowledges once instead of
	 * twice. Full segments leave at once either way.
	 */
	int flags = MSG_NOSIGNAL | (last && CLOSE_MSG_MORE ? MSG_MORE : 0);
	size_t sent = 0;

	while (out_pending(o)) {
		struct iovec iov[3];
		struct msghdr msg = {.msg_iov = iov};
		ssize_t n;

		if (sent >= budget)
			return OUT_BUDGET;
		msg.msg_iovlen = (size_t)gather(o, iov);
		/*
		 * MSG_NOSIGNAL (send(2)): on a dead connection (the client
		 * reset it) a send fails with EPIPE (the first may say
		 * ECONNRESET); without the flag, EPIPE also raises SIGPIPE,
		 * whose default action ends the whole process. sendmsg, not
		 * writev: write(2) takes no flags. EINTR: a handler ran
		 * before anything was sent; try again.
		 */
		do
			n = sendmsg(fd, &msg, flags);
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return OUT_AGAIN;
			return OUT_ERROR;
		}
		/* The kernel may take less than offered: keep the count. */
		skip_sent(o, (size_t)n);
		sent += (size_t)n;
	}
	return OUT_DONE;
}
/* ANCHOR_END: send */
