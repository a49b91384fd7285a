/*
 * conn.c - a connection's context and its two callbacks, for conn.h.
 *
 * The callbacks keep the source post's shape (one read per readable event,
 * one send per writable event) and fix what would be unsafe in C: read's
 * byte count is honoured, the end of the head is found in the accumulated
 * bytes, the BODY is compared with Content-Length, end of stream and errors
 * end the connection, and send never raises SIGPIPE.
 *
 * Sections: the response, the context, re-arming, reading, answering.
 */
/* MSG_NOSIGNAL is POSIX.1-2008, which -std=c11 alone hides. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "http.h"

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
	free(c->buf);
	free(c);
}

/*** re-arming ***/

/* ANCHOR: arm */
/*
 * arm: the connection's one-shot interest is spent (this event used it):
 * arm it again for interest, and report done. If that fails the socket
 * would be deaf forever, so the failure ends the connection.
 */
static enum conn_result arm(struct conn *c, const struct registry *r,
			    unsigned interest, enum conn_result done)
{
	if (registry_reregister(r, c->fd, c->token,
				interest | INTEREST_ONESHOT) == -1) {
		c->what = "registry_reregister";
		return CONN_FAILED;
	}
	return done;
}
/* ANCHOR_END: arm */

/*** reading ***/

/*
 * reserve: room for READ_CHUNK more bytes in c->buf, doubling it as
 * needed. 0, or -1 with errno ENOMEM (the buffer is then unchanged).
 */
static int reserve(struct conn *c)
{
	size_t cap = c->cap ? c->cap : READ_CHUNK;
	char *buf;

	if (c->cap - c->len >= READ_CHUNK)
		return 0;
	while (cap - c->len < READ_CHUNK) {
		if (cap > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	buf = realloc(c->buf, cap);
	if (!buf)
		return -1;
	c->buf = buf;
	c->cap = cap;
	return 0;
}

/* ANCHOR: read_cb */
enum conn_result conn_read_cb(struct conn *c, const struct registry *r)
{
	size_t old = c->len;
	ssize_t n;

	if (reserve(c) == -1) {
		c->what = "realloc";
		return CONN_FAILED;
	}
	/* One read per event, as in the post: re-arming reports the rest. */
	n = recv(c->fd, c->buf + c->len, READ_CHUNK, 0);
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			c->what = "recv";
			return CONN_FAILED;
		}
		/* A spurious wakeup, or a signal: wait for the next event. */
		return arm(c, r, INTEREST_READABLE, CONN_WAITING);
	}
	if (n == 0)
		return CONN_CLOSED; /* end of stream before a whole request */
	c->len += (size_t)n; /* what arrived, not the buffer's size */
	if (c->head_len == 0) {
		/* Search only the new bytes, and the 3 before them. */
		c->head_len =
		    http_head_end(c->buf, c->len, old >= 3 ? old - 3 : 0);
		if (c->head_len &&
		    http_content_length(c->buf, c->head_len,
					&c->content_length) == -1)
			return CONN_BAD;
	}
	/* The BODY against Content-Length (the post compared everything). */
	if (c->head_len && c->len - c->head_len >= c->content_length)
		return arm(c, r, INTEREST_WRITABLE, CONN_COMPLETE);
	return arm(c, r, INTEREST_READABLE, CONN_WAITING);
}
/* ANCHOR_END: read_cb */

/*** answering ***/

/* ANCHOR: write_cb */
enum conn_result conn_write_cb(struct conn *c)
{
	ssize_t n;

	/*
	 * One send, as in the post. MSG_NOSIGNAL: on a dead connection (the
	 * client reset it) a send fails with EPIPE (the first may say
	 * ECONNRESET), and the flag keeps the SIGPIPE that EPIPE raises from
	 * killing the server. A short send is reported, not retried: the
	 * answer is 88 bytes and the socket's buffer is empty, so it does not
	 * happen in practice (chapter 07 writes until done).
	 */
	do
		n = send(c->fd, RESPONSE, sizeof(RESPONSE) - 1, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		c->what = "send";
		return CONN_FAILED;
	}
	/*
	 * shutdown(2), as the post does: send our FIN now. With close right
	 * after, it adds nothing here; it matters when some other process
	 * holds a copy of the socket, which close alone would leave open.
	 * ENOTCONN: the client has already reset the connection.
	 */
	if (shutdown(c->fd, SHUT_RDWR) == -1 && errno != ENOTCONN) {
		c->what = "shutdown";
		return CONN_FAILED;
	}
	return (size_t)n < sizeof(RESPONSE) - 1 ? CONN_SHORT : CONN_ANSWERED;
}
/* ANCHOR_END: write_cb */
