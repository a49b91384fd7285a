/*
 * poll.c - the Poll, Registry and Events of poll.h, on top of ffi.h.
 *
 * Each function is one system call with the translation mio does around it
 * (mio's src/sys/unix/selector/epoll.rs is the model): interests become
 * EPOLL* bits, tokens travel in the event's data field, readiness bits come
 * back as yes/no questions. Nothing here allocates except events_new, and
 * nothing prints.
 *
 * New in chapter 15: INTEREST_EXCLUSIVE becomes EPOLLEXCLUSIVE, without
 * EPOLLRDHUP (epoll_ctl(2) refuses the two together).
 * New since chapter 03: INTEREST_ONESHOT becomes EPOLLONESHOT in to_epoll.
 * INTEREST_LEVEL drops EPOLLET, for the listener (listener.c) and for
 * conn.h's CONN_LEVEL.
 *
 * Sections: interests to epoll bits, the registry, the poll, events, one
 * event.
 */
/* fcntl(2)'s F_DUPFD_CLOEXEC is POSIX.1-2008, which -std=c11 hides. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>

#include "ffi.h"
#include "poll.h"

/* epoll_ctl(2)'s EPOLLEXCLUSIVE (Linux 4.5), which ffi.h, settled in
 * chapter 02, does not declare: <sys/epoll.h>'s value. */
#define EPOLLEXCLUSIVE (1u << 28)

/*** interests to epoll bits ***/

/* ANCHOR: to_epoll */
/*
 * to_epoll: the EPOLL* bits for a set of interests, as mio's
 * interests_to_epoll builds them:
 *
 *	EPOLLET     unless INTEREST_LEVEL: edge-triggered. An event means
 *	            "something changed"; the owner must then read (or
 *	            write) until EAGAIN, or it will not hear about this
 *	            source again (epoll(7)).
 *	EPOLLIN     for INTEREST_READABLE,
 *	EPOLLRDHUP  with it, so that a peer's shutdown of its writing side is
 *	            reported as read-closed (epoll_ctl(2)),
 *	EPOLLOUT    for INTEREST_WRITABLE,
 *	EPOLLONESHOT for INTEREST_ONESHOT: epoll_ctl(2) says that after one
 *	            event the descriptor is disabled in the interest list,
 *	            until EPOLL_CTL_MOD arms it with a new mask. Edge or level
 *	            then makes no difference: the kernel's ep_send_events
 *	            disarms a one-shot item before it would re-queue a
 *	            level-triggered one, and MOD polls the descriptor afresh
 *	            either way. So there is no "read until EAGAIN" duty here:
 *	            bytes left unread are reported again on re-arming.
 *
 * EPOLLERR and EPOLLHUP are never asked for: epoll_wait(2) always reports
 * them (except, under EPOLLONESHOT, while the source is disarmed). Returns
 * 0 for an empty or unknown set, or a one-shot interest in nothing, which
 * callers refuse.
 */
static uint32_t to_epoll(unsigned interests)
{
	const unsigned known =
	    INTEREST_READABLE | INTEREST_WRITABLE | INTEREST_ONESHOT |
	    INTEREST_LEVEL | INTEREST_EXCLUSIVE;
	uint32_t bits = interests & INTEREST_LEVEL ? 0 : EPOLLET;

	if (!(interests & (INTEREST_READABLE | INTEREST_WRITABLE)) ||
	    (interests & ~known))
		return 0;
	if (interests & INTEREST_READABLE)
		bits |= EPOLLIN | EPOLLRDHUP;
	if (interests & INTEREST_WRITABLE)
		bits |= EPOLLOUT;
	if (interests & INTEREST_ONESHOT)
		bits |= EPOLLONESHOT;
	if (interests & INTEREST_EXCLUSIVE)
		bits = (bits & ~(uint32_t)EPOLLRDHUP) | EPOLLEXCLUSIVE;
	return bits;
}
/* ANCHOR_END: to_epoll */

/*** the registry ***/

/* ANCHOR: ctl */
/* ctl: EPOLL_CTL_ADD or EPOLL_CTL_MOD fd with token and interests. */
static int ctl(const struct registry *r, int op, int fd, uint64_t token,
	       unsigned interests)
{
	struct event ev = {.events = to_epoll(interests), .data = token};

	if (ev.events == 0) {
		errno = EINVAL;
		return -1;
	}
	return epoll_ctl(r->epfd, op, fd, &ev);
}

int registry_register(const struct registry *r, int fd, uint64_t token,
		      unsigned interests)
{
	return ctl(r, EPOLL_CTL_ADD, fd, token, interests);
}

int registry_reregister(const struct registry *r, int fd, uint64_t token,
			unsigned interests)
{
	/*
	 * epoll_ctl(2) MOD also re-checks readiness: if fd is already ready
	 * for the new interests, an event is queued at once. Nothing that
	 * happened before the call is lost.
	 */
	return ctl(r, EPOLL_CTL_MOD, fd, token, interests);
}

int registry_deregister(const struct registry *r, int fd)
{
	/* epoll_ctl(2): DEL ignores the event (NULL is fine since 2.6.9). */
	return epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
}
/* ANCHOR_END: ctl */

/* ANCHOR: try_clone */
/*
 * A clone is a second descriptor for the same epoll instance, made the way
 * mio makes it: fcntl(2) F_DUPFD_CLOEXEC, with 3 as the lowest number so a
 * clone is never mistaken for stdin, stdout or stderr. Registrations belong
 * to the instance, not to a descriptor: a source registered through a clone
 * is reported by poll_wait on the original, and stays registered after the
 * clone is closed. And epoll_wait(2) (NOTES) promises what the clone is
 * for: while one thread is blocked in epoll_wait, another may add a
 * descriptor, and if it is ready the wait returns it.
 */
int registry_try_clone(const struct registry *r, struct registry *out)
{
	int fd = fcntl(r->epfd, F_DUPFD_CLOEXEC, 3);

	if (fd == -1)
		return -1;
	out->epfd = fd;
	return 0;
}

int registry_close(struct registry *r)
{
	int fd = r->epfd;

	r->epfd = -1;
	/*
	 * close(2): never retry, even on EINTR; on Linux the descriptor is
	 * released either way and its number may already be someone else's.
	 */
	return close(fd);
}
/* ANCHOR_END: try_clone */

/*** the poll ***/

int poll_new(struct poll *p)
{
	/* EPOLL_CLOEXEC: a child we exec(3) must not inherit the instance. */
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd == -1)
		return -1;
	p->registry.epfd = fd;
	return 0;
}

const struct registry *poll_registry(const struct poll *p)
{
	return &p->registry;
}

/* ANCHOR: wait */
/*
 * poll_wait: one epoll_wait(2) into the caller's buffer.
 *
 * EINTR: epoll_wait(2) is never restarted after a signal handler, whatever
 * SA_RESTART says (signal(7)). We do what mio does since 0.7 and return the
 * error: a handler usually sets a flag ("stop", "reload") that the caller
 * must look at before sleeping again, and only the caller knows how much of
 * its timeout is left. A caller with nothing to check simply waits again.
 */
int poll_wait(struct poll *p, struct events *events, int timeout_ms)
{
	int n;

	events->len = 0;
	n = epoll_wait(p->registry.epfd, events->buf, (int)events->cap,
		       timeout_ms);
	if (n == -1)
		return -1;
	events->len = (size_t)n;
	return 0;
}
/* ANCHOR_END: wait */

int poll_close(struct poll *p)
{
	return registry_close(&p->registry);
}

/*** events ***/

int events_new(struct events *events, size_t capacity)
{
	/* epoll_wait(2): maxevents must be greater than zero (and an int). */
	if (capacity == 0 || capacity > INT_MAX) {
		errno = EINVAL;
		return -1;
	}
	events->buf = calloc(capacity, sizeof(*events->buf));
	if (!events->buf)
		return -1;
	events->cap = capacity;
	events->len = 0;
	return 0;
}

void events_free(struct events *events)
{
	free(events->buf);
	events->buf = NULL;
	events->cap = events->len = 0;
}

size_t events_len(const struct events *events)
{
	return events->len;
}

/* ANCHOR: get */
struct event events_get(const struct events *events, size_t i)
{
	/*
	 * A copy, never a pointer: on x86_64 the array is packed, so a
	 * pointer to a member of an element may be misaligned.
	 */
	return events->buf[i];
}
/* ANCHOR_END: get */

/*** one event ***/

/* ANCHOR: accessors */
/*
 * The questions mio's Event answers, with mio's answers (its
 * sys/unix/selector/epoll.rs). mio's is_readable also says yes to EPOLLPRI;
 * we never ask for EPOLLPRI, and epoll reports only what was asked for
 * (plus ERR and HUP), so it cannot appear here.
 */
uint64_t event_token(struct event e)
{
	return e.data;
}

bool event_is_readable(struct event e)
{
	return e.events & EPOLLIN;
}

bool event_is_writable(struct event e)
{
	return e.events & EPOLLOUT;
}

bool event_is_error(struct event e)
{
	return e.events & EPOLLERR;
}

bool event_is_read_closed(struct event e)
{
	/* HUP: both directions are shut. IN with RDHUP: the peer sent FIN. */
	return (e.events & EPOLLHUP) ||
	       ((e.events & EPOLLIN) && (e.events & EPOLLRDHUP));
}

bool event_is_write_closed(struct event e)
{
	/*
	 * HUP: both directions are shut. OUT with ERR: the write side failed
	 * (e.g. a pipe whose reader is gone). ERR alone: the same, seen on a
	 * pipe's write end registered without INTEREST_WRITABLE.
	 */
	return (e.events & EPOLLHUP) ||
	       ((e.events & EPOLLOUT) && (e.events & EPOLLERR)) ||
	       e.events == EPOLLERR;
}
/* ANCHOR_END: accessors */
