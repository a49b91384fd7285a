/*
 * conn.c - a connection's context and its callback, for conn.h.
 *
 * conn_ready_cb reads until EAGAIN (or this turn's budget) and gives what
 * came to the parser (http.c), whose errors become responses (400, 501,
 * 505...), not silence. End of stream after a whole request is a
 * half-close, and the request is answered; a reset is the client leaving.
 * A client that asks first (Expect: 100-continue) is told to go ahead.
 * The response is sent at once, in as many pieces as the kernel takes,
 * and EPOLLOUT is armed only while some of it is still to go.
 *
 * Sections: budgets, the context, re-arming, reading, the request,
 * answering, the callback.
 */
/* MSG_NOSIGNAL is POSIX.1-2008, which -std=c11 alone hides. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "route.h"

/*** budgets ***/

/* ANCHOR: budgets */
/*
 * How much one event may move, in each direction. One-shot re-arming
 * re-checks readiness (epoll_ctl(2) MOD), so stopping early loses nothing:
 * a socket with more to read or room to write is reported again at the
 * next epoll_wait, after every other ready connection has had its turn.
 * Without a cap, one client uploading (or downloading) at full speed
 * could keep the loop on its socket for as long as it liked.
 */
#define READ_BUDGET  (4 * 1024 * 1024)
#define WRITE_BUDGET (4 * 1024 * 1024)
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
 * arm: this event spent the one-shot interest; arm it again for what the
 * connection waits for now: more of the request while reading it, and
 * room in the socket's buffer only while output is pending. Both at once
 * while a 100 Continue waits for room and the body for bytes.
 */
static enum conn_result arm(struct conn *c, const struct registry *r)
{
	unsigned interest = INTEREST_ONESHOT;

	if (c->state != CONN_WRITING)
		interest |= INTEREST_READABLE;
	if (out_pending(&c->out))
		interest |= INTEREST_WRITABLE;
	if (registry_reregister(r, c->fd, c->token, interest) == -1) {
		c->what = "registry_reregister";
		return CONN_FAILED;
	}
	return CONN_WAITING;
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

/* ANCHOR: respond */
/*
 * respond: the response with this status is in c->out (or status is -1:
 * it did not fit). Stop reading and start writing.
 */
static enum conn_result respond(struct conn *c, int status)
{
	c->state = CONN_WRITING;
	if (status == -1) {
		c->what = "out_printf";
		return CONN_FAILED;
	}
	/*
	 * RFC 9110 section 9.3.2: a response to HEAD, whatever its status,
	 * has no content; its Content-Length still says what GET would get.
	 * (Before the head is parsed, c->method is empty: not HEAD.)
	 */
	if (http_span_eq(c->buf, c->method, "HEAD"))
		out_no_body(&c->out);
	c->status = status;
	return CONN_WAITING;
}

/*
 * refuse: answer status (400, 501...) to a request we will not serve.
 * Nothing after its head is read: a request we could not understand has
 * no trustworthy end.
 */
static enum conn_result refuse(struct conn *c, int status)
{
	return respond(c, route_error(&c->out, status));
}
/* ANCHOR_END: respond */

/* ANCHOR: parse */
/*
 * parse_head: give the parser what has arrived. It resumes near where it
 * stopped (last_len), so a head arriving a byte at a time costs O(n). On
 * success, decide how long the body is, and whether it is owed a 100.
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
		return refuse(c, http_error_status(r)); /* 400, 431, 505 */
	c->head_len = (size_t)r;
	c->method = req.method;
	c->target = req.target;
	r = http_body_length(&req, c->buf, &c->body_len);
	if (r < 0)
		return refuse(c, http_error_status(r)); /* 400, 501 */
	r = http_expect(&req, c->buf);
	if (r < 0)
		return refuse(c, http_error_status(r)); /* 417 */
	c->expect = r == 1;
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
		return respond(c, route_request(&c->out, c->buf, c->method,
						c->target,
						c->buf + c->head_len,
						(size_t)c->body_len));
	}
	/*
	 * RFC 9110 section 10.1.1: a client that sent Expect: 100-continue
	 * may wait before sending the body; tell it to go ahead, once.
	 */
	if (c->expect) {
		c->expect = false;
		if (out_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n") == -1) {
			c->what = "out_printf";
			return CONN_FAILED;
		}
	}
	return CONN_WAITING;
}
/* ANCHOR_END: parse */

/*** answering ***/

/* ANCHOR: finish */
/*
 * finish: the response is all sent. shutdown(2) SHUT_WR sends our FIN
 * after it. Then read and discard whatever the client has already sent
 * that we never read (the rest of a refused request, a second request):
 * close(2) on a socket with unread input sends a reset instead of a FIN
 * (RFC 9293 section 3.6.1), and a reset can make the client's kernel drop
 * the response it has not read yet. Only what is there now is drained:
 * bytes still on their way when the socket closes can still cause a reset.
 */
static enum conn_result finish(struct conn *c)
{
	char scratch[4096];
	size_t drained = 0;
	ssize_t n;

	if (shutdown(c->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
		c->what = "shutdown";
		return CONN_FAILED;
	}
	do {
		do
			n = recv(c->fd, scratch, sizeof(scratch), 0);
		while (n == -1 && errno == EINTR);
		drained += n > 0 ? (size_t)n : 0;
	} while (n > 0 && drained < READ_BUDGET);
	return CONN_DONE;
}
/* ANCHOR_END: finish */

/*** the callback ***/

/* ANCHOR: callbacks */
/* ANCHOR: ready_cb */
enum conn_result conn_ready_cb(struct conn *c, const struct registry *r)
{
	enum conn_result res;

	if (c->state != CONN_WRITING) {
		res = read_some(c);
		if (res == CONN_WAITING)
			res = advance(c);
		if (res != CONN_WAITING)
			return res;
		/* End of stream, and no whole request to answer: done. */
		if (c->eof && c->state != CONN_WRITING)
			return CONN_CLOSED;
	}
	/* Write first: only if the kernel cannot take it all, wait. */
	if (out_pending(&c->out)) {
		switch (out_send(&c->out, c->fd, WRITE_BUDGET)) {
		case OUT_DONE:
		case OUT_AGAIN:
		case OUT_BUDGET:
			break;
		case OUT_ERROR:
			if (errno == EPIPE || errno == ECONNRESET)
				return CONN_RESET;
			c->what = "sendmsg";
			return CONN_FAILED;
		}
	}
	if (c->state == CONN_WRITING && !out_pending(&c->out))
		return finish(c);
	return arm(c, r);
}
/* ANCHOR_END: ready_cb */
/* ANCHOR_END: callbacks */
