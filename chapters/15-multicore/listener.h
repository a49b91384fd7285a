/*
 * listener.h - the listening socket: accepting from it, and what to do
 * when the process runs out of descriptors.
 *
 * The listener is registered level-triggered, once: it is reported at
 * every wait for as long as a connection is queued, and each event is
 * followed by one accept4, with no epoll_ctl to re-arm it. Two things can
 * stop that, and neither may leave the server deaf for good:
 *
 *	accept4 fails with EMFILE or ENFILE  the connection stays queued, so
 *	    the listener would be reported again at once, and again, and the
 *	    loop would spin until a descriptor frees up. A spare descriptor,
 *	    kept open for this moment, is given up to accept the connection
 *	    and close it (listener.c's shed).
 *	there is no spare to give up  the listener is paused: taken out of
 *	    epoll until the server closes a connection (listener_resume), or
 *	    LISTENER_PAUSE_NS from now, whichever comes first. If epoll cannot
 *	    take it back (ENOMEM, ENOSPC), another pause starts.
 *
 * New in chapter 15: several loops, each with a struct listener of its
 * own. With SO_REUSEPORT each opens a socket of its own on the same port
 * (listener_open's reuseport), and the kernel spreads the connections
 * over their queues; otherwise the first opens the socket and the others
 * hold a duplicate of its descriptor (listener_share): one queue, which
 * every loop's epoll set watches, with EPOLLEXCLUSIVE or without it
 * (listener_watch's interest).
 *
 * Like poll.h, nothing here prints or exits: listener_accept says what
 * happened, and the server logs it.
 *
 * Sections: the listener, accepting, pausing.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "net.h"
#include "poll.h"

/*** the listener ***/

/* How long a paused listener waits before it tries again: 500 ms. */
#define LISTENER_PAUSE_NS 500000000LL

/* ANCHOR: listener */
struct listener {
	int fd;		   /* the listening socket */
	uint64_t token;	   /* its token in the epoll set */
	int spare;	   /* a descriptor kept for EMFILE, or -1 */
	bool paused;	   /* out of epoll: see listener_resume */
	int64_t resume_at; /* while paused: when to try again (timer.h's
			      clock) */
	unsigned interest; /* how it is registered (listener_watch) */
};
/* ANCHOR_END: listener */

/*
 * listener_open: listen on 127.0.0.1:port, with SO_REUSEPORT if reuseport
 * (then other sockets may listen on the same port, each with a queue of
 * its own), and open the spare descriptor while descriptors are
 * plentiful. Returns 0, or -1 with errno set and *what naming the call
 * that failed.
 */
int listener_open(struct listener *l, unsigned short port, bool reuseport,
		  const char **what);

/*
 * listener_share: l listens on from's socket, through a descriptor of its
 * own (a duplicate), with a spare of its own. 0, or -1 as listener_open.
 */
int listener_share(struct listener *l, const struct listener *from,
		   const char **what);

/*
 * listener_watch: register the listener level-triggered under token, with
 * interest added (0, or INTEREST_EXCLUSIVE); listener_resume registers it
 * the same way. 0 or -1.
 */
int listener_watch(struct listener *l, const struct registry *r,
		   uint64_t token, unsigned interest);

/*
 * listener_close: take the listener out of epoll (-1 with errno set if
 * that fails; it is closed all the same) and close it and the spare. New
 * clients get "connection refused" from the kernel from then on.
 */
int listener_close(struct listener *l, const struct registry *r);

/*** accepting ***/

/* What listener_accept did. */
enum listener_result {
	LISTENER_ACCEPTED, /* *fd is a new connection, from *peer */
	LISTENER_EMPTY,	   /* no connection was queued after all */
	LISTENER_SHED,	   /* out of descriptors: the one from *peer was
			      accepted on the spare and closed at once */
	LISTENER_FAILED,   /* accept4 failed, errno says why; out of
			      descriptors with no spare, l->paused is set */
};

/*
 * listener_accept: the listener is readable: accept one connection. Call
 * listener_arm afterwards, whatever the result: it takes a listener that
 * this accept paused out of epoll. EINTR is retried in place.
 */
enum listener_result listener_accept(struct listener *l, int64_t now,
				     int *fd, struct sockaddr_in *peer);

/*
 * listener_arm: after an accept. Level-triggered, the listener stays in
 * epoll: nothing to do, unless it is paused: then it leaves epoll. Returns
 * 0, or -1 with errno set.
 */
int listener_arm(struct listener *l, const struct registry *r, int64_t now);

/*** pausing ***/

/*
 * listener_resume: end a pause: put the listener back in epoll. The
 * server calls it when a descriptor is freed (a connection closed) and
 * when resume_at has come. If epoll_ctl fails, another pause starts.
 * Returns 0, or -1 with errno set.
 */
int listener_resume(struct listener *l, const struct registry *r,
		    int64_t now);

/*
 * listener_timeout_ms: timeout (ms, -1 for none), the wait's timeout, cut
 * short so that the loop wakes up when a paused listener is due to try
 * again. Rounded up, so that it never wakes early.
 */
int listener_timeout_ms(const struct listener *l, int64_t now, int timeout);

#endif
