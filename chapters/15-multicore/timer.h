/*
 * timer.h - deadlines for connections: a queue that is a priority queue.
 *
 * Every deadline in this server has the same length, the -t SECONDS of the
 * command line: a request must arrive whole within it, a response must make
 * progress within it (the server's deadline_update says which deadlines
 * there are). A deadline is always set to "now + length", and now only
 * moves forward, so a deadline set later is never earlier than one set
 * before it. Appending to a FIFO therefore keeps the FIFO sorted: the head
 * is always the nearest deadline, and nothing ever has to be inserted in
 * the middle.
 *
 *	arm     unlink (if queued), deadline = now + length, append    O(1)
 *	cancel  unlink                                                 O(1)
 *	next    the head's deadline: the wait's timeout                O(1)
 *	expire  pop the head while its deadline has passed             O(1) each
 *
 * The list is doubly linked and intrusive: each connection holds its own
 * struct timer, so arming never allocates, and cancelling (from any
 * callback, at any time) is two pointer updates. With deadlines of
 * different lengths the trick fails, and a real priority queue is needed:
 * a binary min-heap or a balanced search tree, O(log n) to arm. The kernel
 * keeps precise timers (hrtimers, epoll_wait's timeout among them) in a
 * red-black tree per CPU, and coarse ones in a hierarchical wheel.
 *
 * Times are nanoseconds on CLOCK_MONOTONIC (clock_gettime(2)), which no
 * one can set back, unlike the wall clock.
 *
 * Sections: the clock, timers, the queue.
 */
#ifndef TIMER_H
#define TIMER_H

#include <stdbool.h>
#include <stdint.h>

/*** the clock ***/

/* timer_now: CLOCK_MONOTONIC, in nanoseconds. */
int64_t timer_now(void);

/*** timers ***/

/* ANCHOR: timer */
/*
 * One deadline, kept inside what it belongs to (a connection). A zeroed
 * struct timer is not queued.
 */
struct timer {
	struct timer *prev; /* nearer the head; NULL: not queued */
	struct timer *next; /* nearer the tail */
	int64_t deadline;   /* when it expires, CLOCK_MONOTONIC nanoseconds */
	uint64_t token;	    /* whose it is: the owner's slab token */
};

/* All the armed timers, nearest deadline first. */
struct timers {
	struct timer head; /* a sentinel: head.next is the first timer, and
			      head.prev the last; empty: both are &head */
	int64_t length;	   /* every deadline is now + length (ns) */
};
/* ANCHOR_END: timer */

/*** the queue ***/

/* timers_init: an empty queue whose deadlines are length ns away. */
void timers_init(struct timers *q, int64_t length);

/* timer_arm: (re)start t: its deadline is now + the queue's length. */
void timer_arm(struct timers *q, struct timer *t, int64_t now);

/* timer_cancel: take t out of the queue, if it is in it. */
void timer_cancel(struct timer *t);

/* timer_queued: is t in a queue? */
bool timer_queued(const struct timer *t);

/*
 * timers_timeout_ms: how long a wait may sleep before the nearest deadline,
 * in milliseconds for epoll_wait(2): rounded up, at most INT_MAX, 0 if it
 * has passed, and -1 (no timeout) if no timer is armed.
 */
int timers_timeout_ms(const struct timers *q, int64_t now);

/*
 * timers_expired: take the first timer whose deadline is at or before now
 * out of the queue and return it; NULL if there is none.
 */
struct timer *timers_expired(struct timers *q, int64_t now);

/* timers_first: the nearest timer, still queued; NULL if none is armed. */
struct timer *timers_first(struct timers *q);

#endif /* TIMER_H */
