/*
 * conn.h - one client connection: its context, and what it does with
 * what its completions bring.
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
 *	CONN_WRITING    sending the response (out.h); what comes meanwhile
 *	                waits in the stash, and a full stash stops the
 *	                receive (backpressure). Once it is sent: back to CONN_HEAD if
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
 * connection is only its struct conn: the kernel holds no buffer of ours
 * for it, since its receive takes one from the shared buffer ring only
 * when bytes arrive (ring.h).
 *
 * Nothing here calls recv or send: the server hands a connection the
 * bytes a completion brought (conn_input) and the count a send took
 * (conn_sent), asks it for the next send (conn_send_prepare), and asks
 * whether it still wants to receive (conn_wants_recv). Bytes that come
 * while a response is being sent wait in a small stash, so that the
 * request's buffer, which a response may point into (POST /echo), never
 * moves under a send in flight; a full stash stops the receive
 * (backpressure).
 *
 * Each connection also has a deadline (struct timer, timer.h), which the
 * server sets as the state changes; conn.c never looks at the clock.
 *
 * Nothing here prints or exits: conn_run says what happened, and the
 * server logs it and closes the connection when told to.
 */
#ifndef CONN_H
#define CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "chunked.h"
#include "http.h"
#include "net.h"
#include "out.h"
#include "timer.h"

/* ANCHOR: conn */
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
	struct out out;		     /* what remains to be sent */
	struct msghdr msg; /* the sendmsg in flight, read by the kernel */
	struct iovec iov[3]; /* its pieces (out_gather) */
};

/*
 * The context of one connection, kept for as long as it is open. Small on
 * purpose: an idle connection costs this and its slab slot.
 */
struct conn {
	uint64_t token;	    /* its slab token, in its requests' user_data */
	uint64_t id;	    /* 1, 2, 3...: its number in the log */
	uint64_t max_body;  /* the largest body accepted (-b); 413 */
	uint64_t requests;  /* whole requests read */
	uint64_t answered;  /* responses sent whole */
	uint64_t sent;	    /* bytes sent, all responses together */
	struct req *req;    /* the request in progress; NULL: idle */
	char *stash;	    /* bytes that came while a response was sent;
			       NULL: none */
	uint32_t stash_off; /* of which given to the request so far */
	uint32_t stash_len; /* bytes in stash */
	uint32_t stash_cap; /* bytes allocated for stash */
	const char *what;   /* after CONN_FAILED: the call that failed */
	size_t last_size;   /* the last whole request's size, for the log */
	struct timer timer; /* its deadline, in the server's queue */
	struct sockaddr_in peer; /* the client's address, for the log */
	int fd;			 /* the accepted socket; -1 once closed */
	int status;		 /* the last response's status code */
	enum conn_state state;	 /* see above */
	bool eof;		 /* the client has sent all it will (FIN) */
	bool more_queued;	 /* the last receive said more bytes wait in
				    the socket (IORING_CQE_F_SOCK_NONEMPTY) */
	bool recv_armed;	 /* a multishot receive is in the kernel */
	bool recv_cancelled;	 /* and a cancel is on its way to it */
	bool starved;		 /* its receive ended in -ENOBUFS: it waits
				    in the server's queue to be armed again */
	bool sending;		 /* a sendmsg is in the kernel */
	bool closing;		 /* closed: waiting for the last completion */
};
/* ANCHOR_END: split */

/* What conn_run did, and what the server must do next. */
enum conn_result {
	CONN_WAITING, /* nothing to do until a completion: keep it */
	CONN_DONE,    /* answered, and nothing the client sent is left
			 unread, nor likely to come: close it */
	CONN_CLOSED,  /* the client left, between requests (req NULL) or in
			 the middle of one: close it */
	CONN_RESET,   /* the client reset the connection: close it */
	CONN_FAILED,  /* c->what failed, errno says why: close it */
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
 * conn_input: n bytes the client sent (n 0: its end of stream). They go
 * to the request, or to the stash while a response is being sent, or
 * nowhere while lingering. CONN_WAITING, or CONN_FAILED (out of memory).
 */
enum conn_result conn_input(struct conn *c, const char *p, size_t n,
			    bool more_queued);

/*
 * conn_sent: the sendmsg in flight completed with res (bytes, or
 * -errno). CONN_WAITING, CONN_RESET (EPIPE, ECONNRESET) or CONN_FAILED.
 */
enum conn_result conn_sent(struct conn *c, int res);

/*
 * conn_run: parse what came, answer, and move on to the next request, as
 * far as the bytes in hand allow, without any I/O but shutdown(2).
 */
enum conn_result conn_run(struct conn *c);

/*
 * conn_send_prepare: the sendmsg to submit now, with its flags in *flags,
 * or NULL if nothing is to be sent or a send is in flight already. The
 * msghdr is the request's and stays put until conn_sent.
 */
const struct msghdr *conn_send_prepare(struct conn *c, int *flags);

/* conn_wants_recv: should a receive be armed now? */
bool conn_wants_recv(const struct conn *c);

/* conn_close: close the socket (in-flight requests keep the file open
 * until they complete or are cancelled). */
void conn_close(struct conn *c);

/* conn_free: close the socket if still open, and free the context. */
void conn_free(struct conn *c);

#endif /* CONN_H */
