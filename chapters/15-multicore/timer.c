/*
 * timer.c - the deadline queue of timer.h.
 *
 * Sections: the clock, the queue, waiting.
 */
/* clock_gettime(2) is POSIX.1-2008, which -std=c11 alone hides. */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <stddef.h>
#include <time.h>

#include "timer.h"

#define NS_PER_MS 1000000

/*** the clock ***/

int64_t timer_now(void)
{
	struct timespec ts;

	/*
	 * clock_gettime(2): CLOCK_MONOTONIC cannot fail on Linux (EINVAL is
	 * for clocks the system lacks), and it never jumps when the date is
	 * set, so a deadline means "this long from now" whatever ntpd does.
	 */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*** the queue ***/

void timers_init(struct timers *q, int64_t length)
{
	q->head.prev = q->head.next = &q->head;
	q->length = length;
}

bool timer_queued(const struct timer *t)
{
	return t->prev != NULL;
}

/* ANCHOR: arm */
void timer_cancel(struct timer *t)
{
	if (!timer_queued(t))
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

/*
 * timer_arm: now never goes back and every timer has the same length, so
 * the new deadline is the latest in the queue: its place is the tail.
 */
void timer_arm(struct timers *q, struct timer *t, int64_t now)
{
	timer_cancel(t);
	t->deadline = now + q->length;
	t->prev = q->head.prev;
	t->next = &q->head;
	q->head.prev->next = t;
	q->head.prev = t;
}
/* ANCHOR_END: arm */

struct timer *timers_first(struct timers *q)
{
	return q->head.next == &q->head ? NULL : q->head.next;
}

struct timer *timers_expired(struct timers *q, int64_t now)
{
	struct timer *t = timers_first(q);

	if (!t || t->deadline > now)
		return NULL;
	timer_cancel(t);
	return t;
}

/*** waiting ***/

/* ANCHOR: timeout */
int timers_timeout_ms(const struct timers *q, int64_t now)
{
	int64_t left, ms;

	if (q->head.next == &q->head)
		return -1; /* nothing to wake up for: sleep until an event */
	left = q->head.next->deadline - now;
	if (left <= 0)
		return 0;
	/*
	 * Round up. Rounded down, 0.4 ms left would be a timeout of 0: the
	 * wait returns at once, the deadline has still not passed, and the
	 * loop spins until it does. Rounded up, the wait ends at or after
	 * the deadline, never before it.
	 */
	ms = (left + NS_PER_MS - 1) / NS_PER_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}
/* ANCHOR_END: timeout */
