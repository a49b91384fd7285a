/*
 * conn.c - a connection's context and its two callbacks, for conn.h.
 *
 * conn_read_cb reads until EAGAIN (or this turn's budget) and gives what
 * came to the parser (http.c), whose errors become responses (400, 501,
 * 505...), not silence. End of stream after a whole request is a
 * half-close, and the request is answered; a reset is the client leaving.
 *
 * Sections: budgets, the context, re-arming, reading, the request, the
 * callbacks.
 */
/* MSG_NOSIGNAL is POSIX.1-2008, which -std=c11 alone hides. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

/*** budgets ***/

/* ANCHOR: budgets */
/*
 * How much one event may read. One-shot re-arming re-checks readiness
 * (epoll_ctl(2) MOD), so stopping early loses nothing: a socket with more
 * to read is reported again at the next epoll_wait, after every other
 * ready connection has had its turn. Without a cap, one client uploading
 * at full speed could keep the loop on its socket for as long as it liked.
 */
#define READ_BUDGET (4 * 1024 * 1024)
/* ANCHOR_END: budgets */

/* The least room a read is offered; the buffer doubles to make it. */
#define READ_CHUNK 4096

/*** the context ***/

struct conn *conn_new(int fd, uint64_t id, const struct sockaddr_in *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->id = id;
	c->fd = fd;
	c->state = CONN_HEAD;
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

/* ANCHOR: read */
/*
 * read_some: read until EAGAIN, end of stream, or READ_BUDGET bytes,
 * adding exactly what each recv returned. End of stream sets c->eof and is
 * not an error: the client may have shut down only its sending side after
 * a whole request (a half-close), and still be waiting for the answer.
 */
static enum conn_result read_some(struct conn *c)
{
	size_t got = 0;

	while (got < READ_BUDGET) {
		ssize_t n;

		if (reserve(c) == -1) {
			/* Out of memory: this connection ends, not the server. */
			c->what = "realloc";
			return CONN_FAILED;
		}
		do
			n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break; /* all there is, for now */
			if (errno == ECONNRESET)
				return CONN_RESET;
			c->what = "recv";
			return CONN_FAILED;
		}
		if (n == 0) {
			c->eof = true;
			break;
		}
		c->len += (size_t)n;
		got += (size_t)n;
	}
	return CONN_WAITING;
}
/* ANCHOR_END: read */

/*** the request ***/

/* reason: the reason phrase for the status codes this server sends. */
static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* ANCHOR: respond */
/*
 * respond: put the whole response with this status in c->resp, and start
 * writing: "Hello" for 200, else the reason phrase; Connection: close (the
 * server closes after one response, and says so: RFC 9112 section 9.6);
 * no body for HEAD (RFC 9110 section 9.3.2; before the head is parsed,
 * c->method is empty: not HEAD). A refused request (400, 501...) is
 * answered at once, unread past its head: it has no trustworthy end.
 */
static enum conn_result respond(struct conn *c, int status)
{
	const char *body = status == 200 ? "Hello" : reason(status);
	bool head = http_span_eq(c->buf, c->method, "HEAD");
	int n = snprintf(c->resp, sizeof(c->resp),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: text/plain\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n"
			 "\r\n"
			 "%s",
			 status, reason(status), strlen(body), head ? "" : body);

	/* It always fits; if it ever did not, send nothing, not junk. */
	c->resp_len = n > 0 && (size_t)n < sizeof(c->resp) ? (size_t)n : 0;
	c->state = CONN_WRITING;
	c->status = status;
	return CONN_WAITING;
}

/* route: GET / (or HEAD /) is 200, anything else 404. */
static int route(const struct conn *c)
{
	if (!http_span_eq(c->buf, c->target, "/"))
		return 404;
	if (http_span_eq(c->buf, c->method, "GET") ||
	    http_span_eq(c->buf, c->method, "HEAD"))
		return 200;
	return 404;
}
/* ANCHOR_END: respond */

/* ANCHOR: parse */
/*
 * parse_head: give the parser what has arrived. It resumes near where it
 * stopped (last_len), so a head arriving a byte at a time costs O(n). On
 * success, decide how long the body is.
 */
static enum conn_result parse_head(struct conn *c)
{
	struct http_request req;
	int r;

	r = http_parse_request(c->buf, c->len, c->last_len, &req);
	c->last_len = c->len;
	if (r == HTTP_PARTIAL)
		return CONN_WAITING;
	if (r < 0)
		return respond(c, http_error_status(r)); /* 400, 431, 505 */
	c->head_len = (size_t)r;
	c->method = req.method;
	c->target = req.target;
	r = http_body_length(&req, c->buf, &c->body_len);
	if (r < 0)
		return respond(c, http_error_status(r)); /* 400, 501 */
	c->state = CONN_BODY;
	return CONN_WAITING;
}

/*
 * advance: after a read, move the request on as far as the bytes allow:
 * parse the head, count the body, answer once it is all in.
 */
static enum conn_result advance(struct conn *c)
{
	enum conn_result res;

	if (c->state == CONN_HEAD) {
		res = parse_head(c);
		if (res != CONN_WAITING || c->state != CONN_BODY)
			return res;
	}
	if (c->len - c->head_len >= c->body_len) {
		c->complete = true;
		return respond(c, route(c));
	}
	return CONN_WAITING;
}
/* ANCHOR_END: parse */

/*** the callbacks ***/

/* ANCHOR: callbacks */
/* ANCHOR: read_cb */
enum conn_result conn_read_cb(struct conn *c, const struct registry *r)
{
	enum conn_result res = read_some(c);

	if (res == CONN_WAITING)
		res = advance(c);
	if (res != CONN_WAITING)
		return res;
	/* End of stream, and no whole request to answer: done. */
	if (c->eof && c->state != CONN_WRITING)
		return CONN_CLOSED;
	if (c->state != CONN_WRITING)
		return arm(c, r, INTEREST_READABLE, CONN_WAITING);
	/* A refused request is answered, but was never complete. */
	return arm(c, r, INTEREST_WRITABLE,
		   c->complete ? CONN_COMPLETE : CONN_WAITING);
}
/* ANCHOR_END: read_cb */

/* ANCHOR: write_cb */
enum conn_result conn_write_cb(struct conn *c)
{
	ssize_t n;

	/*
	 * One send, as in the post. MSG_NOSIGNAL: on a dead connection (the
	 * client reset it) a send fails with EPIPE (the first may say
	 * ECONNRESET), and the flag keeps the SIGPIPE that EPIPE raises from
	 * killing the server. A short send is reported, not retried: the
	 * answer is at most CONN_RESP_MAX bytes and the socket's buffer is
	 * empty, so it does not happen in practice.
	 */
	do
		n = send(c->fd, c->resp, c->resp_len, MSG_NOSIGNAL);
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
	return (size_t)n < c->resp_len ? CONN_SHORT : CONN_ANSWERED;
}
/* ANCHOR_END: write_cb */
/* ANCHOR_END: callbacks */
