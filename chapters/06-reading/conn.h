/*
 * conn.h - one client connection: its context, and what it does when its
 * socket is ready.
 *
 * The server keeps a struct conn per accepted socket in its slab (slab.h).
 * A connection goes through three states, and is then closed:
 *
 *	CONN_HEAD     reading the request head; http.c says when it is whole
 *	CONN_BODY     reading Content-Length bytes of body
 *	CONN_WRITING  sending the response, then closing
 *
 * It stays registered one-shot, for reading in the first two states, then
 * for writing: conn_write_cb sends the response in one send.
 *
 * Like poll.h, nothing here prints or exits: the callbacks say what
 * happened, and the server logs it and closes the connection when told to.
 */
#ifndef CONN_H
#define CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "net.h"
#include "poll.h"

/* The most bytes one response may have (ours have about 140). */
#define CONN_RESP_MAX 256

/* ANCHOR: conn */
/* Where a connection is in its one request. */
enum conn_state {
	CONN_HEAD,    /* reading the head */
	CONN_BODY,    /* reading the body */
	CONN_WRITING, /* the request is dealt with; sending the response */
};

/* The context of one connection. */
struct conn {
	uint64_t token;		 /* its slab token, and its epoll token */
	uint64_t id;		 /* 1, 2, 3...: its number in the log */
	int fd;			 /* the accepted socket, non-blocking */
	char peer[NET_ADDR_LEN]; /* the client's address, for the log */
	enum conn_state state;	 /* see above */
	const char *what;	 /* after CONN_FAILED: the call that failed */
	char *buf;		 /* the request so far */
	size_t len;		 /* bytes in buf */
	size_t cap;		 /* bytes allocated for buf */
	size_t last_len;	 /* len when the parser last looked */
	size_t head_len;	 /* once parsed: where the body starts */
	uint64_t body_len;	 /* once parsed: Content-Length (or 0) */
	struct http_span method; /* once parsed: the method, in buf */
	struct http_span target; /* once parsed: the request-target */
	bool eof;		 /* the client has sent all it will (FIN) */
	bool complete;		 /* the whole request was read */
	int status;		 /* the response's status code */
	char resp[CONN_RESP_MAX]; /* the response, whole */
	size_t resp_len;	 /* its length in bytes */
};

/* What a callback did, and what the server must do next. */
enum conn_result {
	CONN_WAITING,  /* re-armed: to read more, or to send a refusal */
	CONN_COMPLETE, /* the whole request is in; write armed: keep it */
	CONN_ANSWERED, /* the response is sent: close it */
	CONN_SHORT,    /* the response did not fit in one send: close it */
	CONN_CLOSED,   /* the client closed its end first: close it */
	CONN_RESET,    /* the client reset the connection: close it */
	CONN_FAILED,   /* c->what failed, errno says why: close it */
};
/* ANCHOR_END: conn */

/*
 * conn_new: the context for socket fd, accepted from peer, number id.
 * Returns NULL with errno set (ENOMEM); fd is then still the caller's.
 */
struct conn *conn_new(int fd, uint64_t id, const struct sockaddr_in *peer);

/*
 * conn_read_cb: the socket is readable. Read until EAGAIN and parse what
 * has come. Through r, arm the one-shot interest again: for writing if the
 * request is complete (or refused), for reading if not.
 */
enum conn_result conn_read_cb(struct conn *c, const struct registry *r);

/*
 * conn_write_cb: the socket is writable. Send the answer in one send, and
 * shut the connection down; the server closes it.
 */
enum conn_result conn_write_cb(struct conn *c);

/* conn_error: the socket's pending error (SO_ERROR), for the log. */
int conn_error(const struct conn *c);

/* conn_free: close the socket and free the context (deregister first). */
void conn_free(struct conn *c);

#endif /* CONN_H */
