/*
 * conn.h - one client connection: its context, and what it does when its
 * socket is ready.
 *
 * The server keeps a struct conn per accepted socket in its token table
 * (table.h). A connection lives through the source post's one-shot cycle:
 * registered for reading, conn_read_cb reads and accumulates the request
 * (one read per event, re-arming read) until the head and Content-Length
 * bytes of body are in, then arms writing instead; conn_write_cb sends the
 * answer, and the server closes the connection.
 *
 * Like poll.h, nothing here prints or exits: the callbacks say what
 * happened, and the server logs it and closes the connection when told to.
 *
 * New since chapter 04: the request buffer and what we know of the request
 * (head_len, content_length), conn_write_cb, and more verdicts.
 */
#ifndef CONN_H
#define CONN_H

#include <netinet/in.h>
#include <stdint.h>

#include "net.h"
#include "poll.h"

/* ANCHOR: conn */
/* The context of one connection: the post's RequestContext. */
struct conn {
	uint64_t token;		 /* its key in the table, and its epoll token */
	int fd;			 /* the accepted socket, non-blocking */
	char peer[NET_ADDR_LEN]; /* the client's address, for the log */
	const char *what;	 /* after CONN_FAILED: the call that failed */
	char *buf;		 /* the request so far (the post's buf) */
	size_t len;		 /* bytes in buf */
	size_t cap;		 /* bytes allocated for buf */
	size_t head_len;	 /* where the body starts; 0: head not in yet */
	size_t content_length;	 /* the body's length (0 without a header) */
};

/* What a callback did, and what the server must do next. */
enum conn_result {
	CONN_WAITING,  /* need more of the request; read re-armed: keep it */
	CONN_COMPLETE, /* the whole request is in; write armed: keep it */
	CONN_ANSWERED, /* the response is sent: close it */
	CONN_SHORT,    /* the response did not fit in one send: close it */
	CONN_CLOSED,   /* the client closed its end first: close it */
	CONN_BAD,      /* Content-Length is not a number: close it */
	CONN_FAILED,   /* c->what failed, errno says why: close it */
};
/* ANCHOR_END: conn */

/*
 * conn_new: the context for socket fd, accepted from peer, under token.
 * Returns NULL with errno set (ENOMEM); fd is then still the caller's.
 */
struct conn *conn_new(int fd, uint64_t token, const struct sockaddr_in *peer);

/*
 * conn_read_cb: the socket is readable. Read once and add it to the
 * request. Through r, arm the one-shot interest again: for writing if the
 * request is complete, for reading if not.
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
