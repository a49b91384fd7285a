/*
 * conn.c - a connection's context and its read callback, for conn.h.
 *
 * Sections: the response, the context, reading and answering.
 */
/* MSG_NOSIGNAL is POSIX.1-2008, which -std=c11 alone hides. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

/* How much one read takes: the post's 4096-byte scratch buffer. */
#define READ_CHUNK 4096

/*** the response ***/

/* The whole answer, the same for everyone. HTTP wants CRLF line ends. */
static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
			       "Content-Type: text/plain\r\n"
			       "Content-Length: 5\r\n"
			       "Connection: close\r\n"
			       "\r\n"
			       "Hello";

/*** the context ***/

struct conn *conn_new(int fd, uint64_t token, const struct sockaddr_in *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->token = token;
	c->fd = fd;
	net_addr_str(peer, c->peer);
	return c;
}

int conn_error(const struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	/* socket(7) SO_ERROR: the pending error, which reading it clears. */
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

void conn_free(struct conn *c)
{
	/* close(2): never retried; the descriptor is gone either way. */
	close(c->fd);
	free(c);
}

/*** reading and answering ***/

/* ANCHOR: read_cb */
enum conn_result conn_read_cb(struct conn *c, const struct registry *r)
{
	char buf[READ_CHUNK];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			c->what = "recv";
			return CONN_FAILED;
		}
		/*
		 * A spurious wakeup (readiness is a hint), or a signal. Arm
		 * the one-shot interest again, or this socket is deaf for
		 * good; if data did arrive meanwhile, re-arming reports it.
		 */
		if (registry_reregister(r, c->fd, c->token,
					INTEREST_READABLE | INTEREST_ONESHOT) ==
		    -1) {
			c->what = "registry_reregister";
			return CONN_FAILED;
		}
		return CONN_WAITING;
	}
	if (n == 0)
		return CONN_CLOSED; /* recv(2): end of stream, nothing sent */
	/*
	 * Whatever arrived counts as the request: this chapter does not look
	 * at it (chapter 05 does). A new socket's send buffer is empty, so
	 * the few bytes of the answer go out in one send without waiting
	 * for writability. MSG_NOSIGNAL: on a dead connection (the client
	 * reset it) a send fails with EPIPE (the first may say ECONNRESET),
	 * and the flag keeps the SIGPIPE that EPIPE raises from killing the
	 * server.
	 */
	do
		n = send(c->fd, RESPONSE, sizeof(RESPONSE) - 1, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		c->what = "send";
		return CONN_FAILED;
	}
	return (size_t)n < sizeof(RESPONSE) - 1 ? CONN_SHORT : CONN_ANSWERED;
}
/* ANCHOR_END: read_cb */
