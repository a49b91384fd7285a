/*
 * poll.h - a Poll, its Registry and Events: mio's API, in C.
 *
 * The program talks to epoll only through this header. Its shape is mio's
 * (the Rust library under tokio), because that split is worth learning:
 *
 *	struct poll      waits for events, in one thread at a time: mio's
 *	                 Poll::poll takes &mut self; here it is a rule.
 *	struct registry  registers, re-registers and deregisters sources.
 *	                 A poll owns one; registry_try_clone makes another
 *	                 handle on the same epoll instance, for a second
 *	                 thread to use while the first sleeps in poll_wait.
 *	struct events    the caller's buffer of ready events, read one by
 *	                 one with events_get and the event_ accessors.
 *
 * Every function returns 0 (or a value) on success and -1 with errno set on
 * failure; none of them prints or exits.
 *
 * New since chapter 03: INTEREST_ONESHOT, for servers that want one event
 * per arming (chapter 04's listener and connections). ffi.h is unchanged.
 *
 * Sections: interests, the registry, the poll, events, one event.
 */
#ifndef POLL_H
#define POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * For struct event only: the record epoll_wait(2) fills. Like mio's Event,
 * which wraps the kernel's epoll_event and adds nothing, we hand it out by
 * value and read it through the accessors below; the program never touches
 * its fields or the EPOLL* names.
 */
#include "ffi.h"

/*** interests ***/

/* ANCHOR: interests */
/* What a source is registered for; combine them with |. */
#define INTEREST_READABLE 0x1u /* tell me when reading will not block */
#define INTEREST_WRITABLE 0x2u /* tell me when writing will not block */
/*
 * A modifier for the two above: report one event, then stay silent (not
 * even an error or a hang-up is reported) until registry_reregister arms
 * the source again. Re-arming checks readiness afresh, so nothing that
 * happened while it was disarmed is lost: if the source is ready by then,
 * the event comes at once.
 */
#define INTEREST_ONESHOT 0x4u
/*
 * Another modifier: level-triggered. An event is reported at every
 * poll_wait for as long as the source is ready, until the interest
 * changes (mio has no such thing).
 */
#define INTEREST_LEVEL 0x8u
/*
 * New in chapter 15, for a listener that several loops' epoll sets share:
 * wake one of the waiting sets, not all of them (EPOLLEXCLUSIVE). Only
 * with INTEREST_READABLE, and only at registration: epoll_ctl refuses it
 * with a MOD, with ONESHOT, and with EPOLLRDHUP, which it therefore drops.
 */
#define INTEREST_EXCLUSIVE 0x10u
/* ANCHOR_END: interests */

/*** the registry ***/

/* ANCHOR: registry */
struct registry {
	int epfd; /* a descriptor for the epoll instance (a clone's is a dup) */
};

/*
 * registry_register: watch fd for interests, edge-triggered (or one-shot,
 * with INTEREST_ONESHOT), and report its events under token. The token is
 * any 64-bit value; epoll hands it back untouched. Fails with EEXIST if fd
 * is already registered.
 */
int registry_register(const struct registry *r, int fd, uint64_t token,
		      unsigned interests);

/*
 * registry_reregister: replace fd's token and interests (ENOENT if absent).
 * For a one-shot source this is also how it is armed again.
 */
int registry_reregister(const struct registry *r, int fd, uint64_t token,
			unsigned interests);

/*
 * registry_deregister: stop watching fd. Call it before close(fd), unless
 * fd is the open file's only descriptor: then close does it (epoll(7) Q6;
 * see conn_drop in server.c).
 */
int registry_deregister(const struct registry *r, int fd);

/*
 * registry_try_clone: a second, independent handle on the same epoll
 * instance, for another thread. Close it with registry_close.
 */
int registry_try_clone(const struct registry *r, struct registry *out);

/* registry_close: release a cloned registry (not the poll's own). */
int registry_close(struct registry *r);
/* ANCHOR_END: registry */

/*** the poll ***/

struct events;

/* ANCHOR: poll */
struct poll {
	struct registry registry; /* owns the epoll instance */
};

/* poll_new: create the epoll instance. */
int poll_new(struct poll *p);

/* poll_registry: the poll's own registry, to register sources with. */
const struct registry *poll_registry(const struct poll *p);

/*
 * poll_wait: sleep until at least one registered source is ready, or
 * timeout_ms passes (-1: no timeout; 0: just look), and fill events. On
 * timeout events is empty. Only one thread may wait on a poll at a time.
 * A signal handler that runs during the wait makes it fail with EINTR, as in
 * mio: the caller decides whether to wait again (see poll.c).
 */
int poll_wait(struct poll *p, struct events *events, int timeout_ms);

/* poll_close: close the epoll instance (once every clone is closed too). */
int poll_close(struct poll *p);
/* ANCHOR_END: poll */

/*** events ***/

/* ANCHOR: events */
struct events {
	struct event *buf; /* cap slots, filled by epoll_wait(2) */
	size_t cap;	   /* how many events one poll_wait can return */
	size_t len;	   /* how many the last poll_wait returned */
};

/* events_new: room for capacity events (1 to INT_MAX); ENOMEM, EINVAL. */
int events_new(struct events *events, size_t capacity);

/* events_free: release the buffer. */
void events_free(struct events *events);

/* events_len: how many events the last poll_wait returned. */
size_t events_len(const struct events *events);

/* events_get: the i-th of them (i < events_len), copied out. */
struct event events_get(const struct events *events, size_t i);
/* ANCHOR_END: events */

/*** one event ***/

/* ANCHOR: event */
/* The token the source was registered with. */
uint64_t event_token(struct event e);
/* Reading will not block: data, end of stream, or an error to collect. */
bool event_is_readable(struct event e);
/* Writing will not block: buffer space, or an error to collect. */
bool event_is_writable(struct event e);
/* An error is pending on the source (for a socket: SO_ERROR). */
bool event_is_error(struct event e);
/* The peer will send no more: reads will end at end of stream. */
bool event_is_read_closed(struct event e);
/* Writing can no longer succeed. */
bool event_is_write_closed(struct event e);
/* ANCHOR_END: event */

#endif /* POLL_H */
