/*
 * conn.h - one client connection: its context, and what it does when its
 * socket is ready.
 *
 * The server keeps a struct conn per accepted socket in its token table
 * (table.h) and calls conn_read_cb when epoll reports the socket readable.
 * This chapter's connection reads whatever has arrived and answers it with
 * a fixed response at once; chapter 05 waits for the whole request.
 *
 * Like poll.h, nothing here prints or exits: the callbacks say what
 * happened, and the server logs it and closes the connection when told to.
 *
 * New in chapter 04: all of it.
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
};

/* What a callback did, and what the server must do next. */
enum conn_result {
	CONN_WAITING,  /* nothing to do yet; interest re-armed: keep it */
	CONN_ANSWERED, /* the response is sent: close it */
	CONN_SHORT,    /* the response did not fit in one send: close it */
	CONN_CLOSED,   /* the client closed its end first: close it */
	CONN_FAILED,   /* c->what failed, errno says why: close it */
};
/* ANCHOR_END: conn */

/*
 * conn_new: the context for socket fd, accepted from peer, under token.
 * Returns NULL with errno set (ENOMEM); fd is then still the caller's.
 */
struct conn *conn_new(int fd, uint64_t token, const struct sockaddr_in *peer);

/*
 * conn_read_cb: the socket is readable. Read once; answer what arrived.
 * Re-arms the one-shot read interest through r when it must wait.
 */
enum conn_result conn_read_cb(struct conn *c, const struct registry *r);

/* conn_error: the socket's pending error (SO_ERROR), for the log. */
int conn_error(const struct conn *c);

/* conn_free: close the socket and free the context (deregister first). */
void conn_free(struct conn *c);

#endif /* CONN_H */
