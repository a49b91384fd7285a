/*
 * conn.h - one client connection: its context, and what it does when its
 * socket is ready.
 *
 * The server keeps a struct conn per accepted socket in its slab (slab.h).
 * A connection goes round these states, as many times as the client asks,
 * and is then closed:
 *
 *	CONN_HEAD       reading a request head (at most MAX_HEAD bytes);
 *	                http.c says when it is whole
 *	CONN_BODY       reading the body: Content-Length bytes, or chunks
 *	                decoded by chunked.c (after sending "100 Continue" if
 *	                the client asked for it); at most max_body bytes
 *	CONN_WRITING    waiting for a worker's result (req->working), then
 *	                sending the response (out.h); nothing is read, so a
 *	                client that does not read its answers stops being read
 *	                (backpressure). Once it is sent: back to CONN_HEAD if
 *	                the connection is kept alive; else closed at once if
 *	                nothing the client sent can be left unread, or
 *	CONN_LINGERING  our side shut down; reading and discarding what the
 *	                client still sends, until it closes its side (or the
 *	                deadline passes)
 *
 * What a request needs (its buffer, the parser's places, the response
 * being sent) is a struct req of its own, allocated when the request's
 * first bytes arrive and freed when it is answered with nothing of the
 * next one buffered. In between requests, and before the first, a
 * connection is only its struct conn.
 *
 * Bytes that follow a request in the buffer (pipelining) are the start of
 * the next one: they are parsed as soon as the response before them is
 * sent, or set aside to go with the next ones (a small one: out_hold),
 * without waiting for an event.
 *
 * How the socket is watched is CONN_MODE, fixed when building: edge-
 * triggered for reading and writing, registered once (the default);
 * level-triggered, with the interest changed only when the connection
 * starts or stops writing; or one-shot, re-armed after every event. In
 * every mode the connection remembers what the last event said it may do
 * (can_read, can_write) until a call says EAGAIN, so the state machine is
 * the same.
 *
 * Each connection also has a deadline (struct timer, timer.h), which the
 * server sets as the state changes; conn.c never looks at the clock.
 *
 * Like poll.h, nothing here prints or exits: conn_ready_cb says what
 * happened, and the server logs it and closes the connection when told to.
 */
#ifndef CONN_H
#define CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "chunked.h"
#include "http.h"
#include "net.h"
#include "out.h"
#include "poll.h"
#include "route.h"
#include "timer.h"

/* ANCHOR: conn */
/* How the socket is registered: see above. */
#define CONN_EDGE    1 /* EPOLLET, IN | OUT | RDHUP, once: no epoll_ctl */
#define CONN_LEVEL   2 /* level-triggered; MOD when writing starts/stops */
#define CONN_ONESHOT 3 /* EPOLLONESHOT; MOD after every event */
#ifndef CONN_MODE
#define CONN_MODE CONN_EDGE
#endif

/* Where a connection is in its current request. */
enum conn_state {
	CONN_HEAD,	/* reading a head */
	CONN_BODY,	/* reading a body */
	CONN_WRITING,	/* the request is dealt with; sending the response */
	CONN_LINGERING, /* answered, closing; discarding what still comes */
};

/* ANCHOR: split */
/*
 * A request in progress: what a connection needs from the first byte of a
 * request to the end of its response, and only then. It is allocated when
 * bytes arrive, and freed when the response is sent and nothing of a next
 * request is buffered (and before a lingering close), so that a connection
 * waiting for its first request, or idle between two, holds only its
 * struct conn.
 */
struct req {
	char *buf;	   /* the request so far, and what follows it */
	size_t len;	   /* bytes in buf */
	size_t cap;	   /* bytes allocated for buf */
	size_t last_len;   /* len when the parser last looked */
	size_t head_len;   /* once parsed: where the body starts */
	size_t end;	   /* once whole: where the request ends (the
			      next one, if any, starts there) */
	uint64_t body_len; /* once parsed: Content-Length (or 0); if
			      chunked: the bytes decoded so far */
	struct http_chunked dechunk; /* if chunked: the decoder's place */
	struct http_span method;     /* once parsed: the method, in buf */
	struct http_span target;     /* once parsed: the request-target */
	bool chunked;		     /* the body is chunked: see dechunk */
	bool expect;		     /* a 100 Continue is owed */
	bool keep;		     /* the connection outlives this request */
	bool whole;		     /* it was read to its end (not refused
					before: then the rest may follow) */
	bool working;		     /* its answer waits for blocking work
					(CONN_WORK): see conn_answer */
	struct route_work work;	     /* then: what work, from route.h */
	char *answer;		     /* the work's result, which out sends
					(owned: freed with the request) */
	struct out out;		     /* what remains to be sent */
};

/*
 * The context of one connection, kept for as long as it is open. Small on
 * purpose: an idle connection costs this and its slab slot.
 */
struct conn {
	uint64_t token;	    /* its slab token, and its epoll token */
	uint64_t id;	    /* 1, 2, 3...: its number in the log */
	uint64_t max_body;  /* the largest body accepted (-b); 413 */
	uint64_t requests;  /* whole requests read */
	uint64_t answered;  /* responses sent whole */
	uint64_t sent;	    /* bytes sent, all responses together */
	struct req *req;    /* the request in progress; NULL: idle */
	const char *what;   /* after CONN_FAILED: the call that failed */
	size_t last_size;   /* the last whole request's size, for the log */
	struct timer timer; /* its deadline, in the server's queue */
	struct sockaddr_in peer; /* the client's address: formatted only
				    when a log line needs it */
	int fd;			 /* the accepted socket, non-blocking */
	int status;		 /* the last response's status code */
	unsigned interest;	 /* what epoll watches now; 0: not yet in
				    epoll (conn_run's first wait adds it) */
	enum conn_state state;	 /* see above */
	bool can_read;		 /* an event said readable, and no recv has said
				    EAGAIN (or read a short count) since */
	bool can_write;		 /* an event said writable, and no send has said
				    EAGAIN since */
	bool read_closed;	 /* an event said the client shut down its side:
				    read on until end of stream */
	bool eof;		 /* the client has sent all it will (FIN) */
	bool again;		 /* on the server's list of connections to run
				    again before waiting (see CONN_AGAIN) */
};
/* ANCHOR_END: split */

/* What conn_ready_cb did, and what the server must do next. */
enum conn_result {
	CONN_WAITING, /* nothing to do until the next event: keep it */
	CONN_AGAIN,   /* this turn's budget is spent with work left: run it
			 again (conn_run) after the others, without waiting
			 for an event, which may never come (edge) */
	CONN_DONE,    /* answered, and nothing the client sent is left
			 unread, nor likely to come: close it */
	CONN_CLOSED,  /* the client left, between requests (req NULL) or in
			 the middle of one: close it */
	CONN_RESET,   /* the client reset the connection: close it */
	CONN_FAILED,  /* c->what failed, errno says why: close it */
	CONN_WORK,    /* the answer needs blocking work, which req->work
			 describes: give it to a worker, and conn_answer
			 its result */
};
/* ANCHOR_END: conn */

/*
 * conn_new: the context for socket fd, accepted from peer, number id,
 * whose request body may be at most max_body bytes. Returns NULL with
 * errno set (ENOMEM); fd is then still the caller's.
 */
struct conn *conn_new(int fd, uint64_t id, const struct sockaddr_in *peer,
		      uint64_t max_body);

/*
 * conn_ready_cb: the socket is ready as event e says: note what it may
 * do now, then conn_run.
 */
enum conn_result conn_ready_cb(struct conn *c, struct event e,
			       const struct registry *r);

/*
 * conn_run: read, parse, answer, send, request after request, until the
 * connection must wait for the socket, this turn's budget is spent
 * (CONN_AGAIN), or it is to be closed; then tell epoll what it waits for
 * now: the first time, add it to epoll through r (in every mode); later,
 * in the level and one-shot modes, change its interest.
 */
enum conn_result conn_run(struct conn *c, const struct registry *r);

/*
 * conn_answer: the work that c's request needed (CONN_WORK) has result
 * status, with body (len bytes) if 200, which c now owns: make it the
 * response. Then conn_run sends it. CONN_WAITING, or CONN_FAILED.
 */
enum conn_result conn_answer(struct conn *c, int status, char *body,
			     size_t len);

/* conn_error: the socket's pending error (SO_ERROR), for the log. */
int conn_error(const struct conn *c);

/*
 * conn_free: close the socket and free the context. close(2) also takes the
 * socket out of epoll: see conn_drop in server.c for why that is enough.
 */
void conn_free(struct conn *c);

#endif /* CONN_H */
