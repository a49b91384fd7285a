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
 * out_send writes until everything is gone, the socket's buffer is full
 * (EAGAIN), or this turn's budget is spent. The caller arms EPOLLOUT in
 * the last two cases, and only then.
 *
 * Pipelined answers travel together: out_hold copies a finished small
 * answer aside (the held answers, at most OUT_HOLD_COUNT of them and
 * OUT_HOLD_MAX bytes), and the next out_send sends them in front of the
 * response after them, in one sendmsg. Build with -DBATCH=0 to send each
 * answer on its own, as before.
 *
 * Sections: the output, building it, sending it.
 */
#ifndef OUT_H
#define OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	uint64_t sent;		 /* bytes the kernel has taken, all told */
};

/* How a call to out_send ended. */
enum out_result {
	OUT_DONE,   /* everything is sent */
	OUT_AGAIN,  /* the socket's buffer is full (EAGAIN): wait for room */
	OUT_BUDGET, /* this turn's share is spent: come back after others */
	OUT_ERROR,  /* sendmsg failed; errno says why */
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
 * false if it stays (too large, no room, no memory, or -DBATCH=0).
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
 * out_send: send what is left to socket fd, until done, EAGAIN, or about
 * budget bytes have gone. Every send is MSG_NOSIGNAL; EINTR is retried.
 * last: the connection will be closed as soon as this is sent, so every
 * send also says MSG_MORE, and close(2)'s FIN leaves in the same segment
 * as the last bytes (see out_send).
 */
enum out_result out_send(struct out *o, int fd, size_t budget, bool last);

#endif /* OUT_H */
