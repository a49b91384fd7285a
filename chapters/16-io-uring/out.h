/*
 * out.h - what a connection still has to send, and sending it.
 *
 * A response is a head (the status line and header lines, built here with
 * out_printf) and a body that is either bytes somewhere else (out_bytes:
 * "Hello", or the request body that POST /echo sends back) or a pattern
 * generated as it goes (out_pattern: GET /bytes/N, up to 64 MiB, without
 * a byte of it in memory). The struct remembers how far each has got, so
 * that a send the kernel cut short resumes where it stopped.
 *
 * Sending is the ring's: out_gather points an iovec at what is left, for
 * one sendmsg submitted to io_uring, and out_sent counts what the kernel
 * took when it completes. The iovec's memory must stay put until then.
 *
 * Pipelined answers travel together: out_hold copies a finished small
 * answer aside (the held answers, at most OUT_HOLD_COUNT of them and
 * OUT_HOLD_MAX bytes), and the next sendmsg carries them in front of the
 * response after them. Build with -DBATCH=0 to send each answer on its
 * own, as before.
 *
 * Sections: the output, building it, sending it.
 */
#ifndef OUT_H
#define OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*** the output ***/

/* The most head bytes one response may have (ours use about 120). */
#define OUT_HEAD_MAX 512

/* ANCHOR: hold_max */
/* The most answers, and bytes of them, held to go out in one send. */
#define OUT_HOLD_COUNT 16
#define OUT_HOLD_MAX   (16 * 1024)
/* ANCHOR_END: hold_max */

/* ANCHOR: out */
/* Where a body's bytes come from. */
enum out_body {
	OUT_NONE,    /* no body (yet) */
	OUT_BYTES,   /* body_len bytes at body, which stay put until sent */
	OUT_PATTERN, /* body_len bytes of the repeating pattern of out.c */
};

struct out {
	char head[OUT_HEAD_MAX]; /* head bytes: a 100 Continue, a head */
	size_t head_len;	 /* bytes in head */
	size_t head_sent;	 /* of which the kernel has taken */
	enum out_body kind;	 /* where the body comes from */
	const char *body;	 /* OUT_BYTES: the body (not owned) */
	uint64_t body_len;	 /* the body's length in bytes */
	uint64_t body_sent;	 /* of which the kernel has taken */
	char *held;		 /* answers finished before this one, which
				    go out in front of it (NULL: none) */
	size_t held_len;	 /* bytes in held */
	size_t held_sent;	 /* of which the kernel has taken */
	unsigned held_count;	 /* answers in held */
};

/* ANCHOR_END: out */

/*** building it ***/

/*
 * out_printf: append to the head (after what is still unsent of it).
 * Returns 0, or -1 with errno ENOBUFS if it does not fit.
 */
int out_printf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* out_bytes: the body is the n bytes at p (kept, not copied). */
void out_bytes(struct out *o, const char *p, size_t n);

/* out_pattern: the body is n bytes of the pattern. */
void out_pattern(struct out *o, uint64_t n);

/* out_no_body: drop the body, keep the head (a response to HEAD). */
void out_no_body(struct out *o);

/*
 * out_hold: set the finished response aside, copied, to go out in front
 * of the next one, if it is small enough and there is room (see
 * OUT_HOLD_MAX); the struct is then ready for the next response. Returns
 * false if it stays (too large, no room, no memory, or -DBATCH=0). Not
 * while a send is in flight: its iovec points into the struct.
 */
bool out_hold(struct out *o);

/* out_next: ready for the next response; held answers stay. */
void out_next(struct out *o);

/* out_free: free what out_hold allocated. */
void out_free(struct out *o);

/*** sending it ***/

/* out_pending: is anything left to send? */
bool out_pending(const struct out *o);

/* out_held: are held answers waiting to be sent? */
bool out_held(const struct out *o);

/*
 * out_gather: point iov at what is left, the held answers, the head's
 * rest and a piece of the body, for one sendmsg. Returns how many entries
 * it used (0: none).
 */
int out_gather(const struct out *o, struct iovec iov[3]);

/*
 * out_sent: the kernel took n bytes: the held answers' first, then the
 * head's, then the body's. Held answers all sent, their buffer goes.
 */
void out_sent(struct out *o, size_t n);

#endif /* OUT_H */
