/*
 * conn.c - a connection's context and its callback, for conn.h.
 *
 * conn_ready_cb reads until EAGAIN (or this turn's budget) and gives what
 * came to the parser (http.c), whose errors become responses (400, 501,
 * 505...), not silence. End of stream after a whole request is a
 * half-close, and the request is answered; a reset is the client leaving.
 * A connection answers request after request (keep-alive): HTTP/1.1
 * unless a request says "Connection: close", HTTP/1.0 only if it says
 * "keep-alive". What follows a request in the buffer is the next one's
 * start, parsed as soon as the response before it is sent (pipelining),
 * and nothing is read while a response is being sent (backpressure).
 * A client that asks first (Expect: 100-continue) is told to go ahead.
 * The response is sent at once, in as many pieces as the kernel takes,
 * and EPOLLOUT is armed only while some of it is still to go.
 *
 * What a request may be is bounded: a head longer than MAX_HEAD is 431 (a
 * request line alone that long, 414), and a body longer than max_body is
 * 413, said before the body is read when Content-Length gives its size
 * away. Chunked bodies are decoded (chunked.c) within the same limit.
 * Reading is bounded: at most MAX_HEAD bytes while looking for a head,
 * then exactly the body, so that memory is bounded by the limits and not
 * by what the client sends.
 *
 * After the last response, a lingering close: our side is shut down, and
 * what the client still sends is read and thrown away until it shuts down
 * its side, so that closing never resets a connection whose client has
 * not read our answer yet.
 *
 * Sections: budgets and limits, the context, re-arming, reading, the
 * request, the next request, answering, the callback.
 */
/* MSG_NOSIGNAL is POSIX.1-2008, which -std=c11 alone hides. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "route.h"

/*** budgets and limits ***/

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

/* ANCHOR: limits */
/*
 * The longest request head; a longer one is 431. 8 KiB is a common limit,
 * with room for the usual browser's head and its cookies.
 */
#define MAX_HEAD (8 * 1024)
/* ANCHOR_END: limits */

/*** the context ***/

/* ANCHOR: nodelay */
/* -DNODELAY=0: leave Nagle's algorithm on, as the kernel does. */
#ifndef NODELAY
#define NODELAY 1
#endif

/*
 * nodelay: turn off Nagle's algorithm (tcp(7) TCP_NODELAY). With it on,
 * a small send waits while an earlier one is unacknowledged, and a
 * client delays its ACK (up to 40 ms on Linux) hoping to piggyback it on
 * a request: pipelined answers, each its own small send, wait for each
 * other. Ours already leave in as few sends as we can make them.
 */
static int nodelay(int fd)
{
	int on = 1;

	if (!NODELAY)
		return 0;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}
/* ANCHOR_END: nodelay */

struct conn *conn_new(int fd, uint64_t id, const struct sockaddr_in *peer,
		      uint64_t max_body)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (nodelay(fd) == -1) {
		free(c);
		return NULL;
	}
	c->id = id;
	c->fd = fd;
	c->state = CONN_HEAD;
	c->max_body = max_body;
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
	out_free(&c->out);
	free(c->buf);
	free(c);
}

/*** re-arming ***/

/* ANCHOR: arm */
/*
 * arm: this event spent the one-shot interest; arm it again for what the
 * connection waits for now: more of the request while reading it (or
 * the client's end of stream while lingering), and room in the socket's
 * buffer only while output is pending. Both at once while a 100 Continue
 * waits for room and the body for bytes; but not reading while held
 * answers wait for room, which is backpressure too.
 */
static enum conn_result arm(struct conn *c, const struct registry *r)
{
	unsigned interest = INTEREST_ONESHOT;

	if (c->state != CONN_WRITING && !out_held(&c->out))
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
 * wanted: how far the buffer may fill in the request's state: MAX_HEAD
 * bytes while looking for a head (the next requests' bytes included);
 * then the body, to its end; or, chunked, READ_CHUNK raw bytes at a time,
 * which the decoder shrinks to their data before the next read. So the
 * buffer holds at most about MAX_HEAD bytes more than one request, however
 * much a pipelining client sends.
 */
static size_t wanted(const struct conn *c)
{
	if (c->state == CONN_HEAD)
		return MAX_HEAD;
	if (c->chunked)
		return c->len + READ_CHUNK;
	return c->head_len + (size_t)c->body_len;
}

/*
 * read_some: read until EAGAIN, end of stream, c->len reaching limit, or
 * *budget bytes, adding exactly what each recv returned. *more says it
 * stopped at the limit (or the budget), with perhaps more to read. End of
 * stream sets c->eof and is not an error: the client may have shut down
 * only its sending side after a whole request (a half-close), and still
 * be waiting for the answer.
 */
static enum conn_result read_some(struct conn *c, size_t limit, size_t *budget,
				  bool *more)
{
	*more = false;
	while (c->len < limit) {
		size_t room;
		ssize_t n;

		if (*budget == 0) {
			*more = true;
			break;
		}
		if (reserve(c) == -1) {
			/* Out of memory: this connection ends, not the server. */
			c->what = "realloc";
			return CONN_FAILED;
		}
		room = c->cap - c->len;
		if (room > limit - c->len)
			room = limit - c->len;
		do
			n = recv(c->fd, c->buf + c->len, room, 0);
		while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return CONN_WAITING; /* all there is, for now */
			if (errno == ECONNRESET)
				return CONN_RESET;
			c->what = "recv";
			return CONN_FAILED;
		}
		if (n == 0) {
			c->eof = true;
			return CONN_WAITING;
		}
		c->len += (size_t)n;
		*budget -= (size_t)n < *budget ? (size_t)n : *budget;
	}
	if (c->len >= limit)
		*more = true;
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
 * refuse: answer status (400, 413, 501...) to a request we will not
 * serve, and close. Nothing more is read as a request: one we could not
 * understand has no trustworthy end, so nothing after it can be trusted
 * to be the next request, and one too large is not wanted. What the
 * client still sends is discarded by the lingering close (finish).
 */
static enum conn_result refuse(struct conn *c, int status)
{
	c->keep = false;
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
	struct http_body body;
	int r;

	r = http_parse_request(c->buf, c->len, c->last_len, MAX_HEAD, &req);
	c->last_len = c->len;
	if (r == HTTP_PARTIAL)
		return CONN_WAITING;
	/*
	 * RFC 9112 section 3: a request-target longer than we will parse is
	 * 414, not 431: the whole limit went by without the request line's
	 * CRLF.
	 */
	if (r == HTTP_HEAD_TOO_LARGE && !memchr(c->buf, '\n', c->len))
		return refuse(c, 414);
	if (r < 0)
		return refuse(c, http_error_status(r)); /* 400, 431, 505 */
	c->head_len = (size_t)r;
	c->method = req.method;
	c->target = req.target;
	/* A Content-Length over max_body is 413 before a byte is read. */
	r = http_body_framing(&req, c->buf, c->max_body, &body);
	if (r < 0)
		return refuse(c, http_error_status(r)); /* 400, 413, 501 */
	r = http_expect(&req, c->buf);
	if (r < 0)
		return refuse(c, http_error_status(r)); /* 417 */
	c->expect = r == 1;
	/* RFC 9112 section 9.3: HTTP/1.1 stays, HTTP/1.0 if it asks. */
	c->keep = http_keep_alive(&req, c->buf) == 1;
	c->chunked = body.kind == HTTP_BODY_CHUNKED;
	if (c->chunked)
		http_chunked_init(&c->dechunk, c->max_body);
	c->body_len = c->chunked ? 0 : body.length;
	c->state = CONN_BODY;
	return CONN_WAITING;
}

/* ANCHOR: dechunk */
/*
 * dechunk: decode the raw bytes that follow the body decoded so far; they
 * shrink in place to their data (chunked.h), and what follows the body
 * (the next request's start) moves down behind it. Returns 1 once the
 * body is complete, 0 while it goes on, or a negative http_result: 400,
 * 413 (the chunk sizes add up past max_body), 431 (a trailer too long).
 */
static int dechunk(struct conn *c)
{
	size_t start = c->head_len + (size_t)c->body_len;
	size_t n = c->len - start;
	ptrdiff_t r = http_chunked_decode(&c->dechunk, c->buf + start, &n);

	c->body_len += n;
	if (r == HTTP_PARTIAL) {
		c->len = start + n;
		return 0;
	}
	if (r < 0)
		return (int)r;
	c->end = start + n; /* the next request's r bytes follow */
	c->len = c->end + (size_t)r;
	return 1;
}
/* ANCHOR_END: dechunk */

/*
 * advance: after a read, move the request on as far as the bytes allow:
 * parse the head, count the body, answer once it is all in.
 */
static enum conn_result advance(struct conn *c)
{
	enum conn_result res;
	int whole;

	if (c->state == CONN_HEAD) {
		res = parse_head(c);
		if (res != CONN_WAITING || c->state != CONN_BODY)
			return res;
	}
	if (c->chunked) {
		whole = dechunk(c);
		if (whole < 0)
			return refuse(c, http_error_status(whole));
	} else {
		whole = c->len - c->head_len >= c->body_len;
		if (whole)
			c->end = c->head_len + (size_t)c->body_len;
	}
	if (whole) {
		c->requests++;
		c->last_size = c->end;
		return respond(c, route_request(&c->out, c->buf, c->method,
						c->target,
						c->buf + c->head_len,
						(size_t)c->body_len, c->keep));
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

/* ANCHOR: read_request */
/*
 * read_request: read and parse, in turns, until the request is whole (or
 * refused), the socket has nothing more, or this event's *budget is spent.
 * Each turn reads only as far as the request's state allows (wanted), and
 * the parser and decoder look at the bytes before the next turn, so limits
 * are enforced as bytes arrive, not after a 4 MiB read. A request already
 * in the buffer (pipelined) is parsed first, without a recv: only if it
 * is not whole is the socket read.
 */
static enum conn_result read_request(struct conn *c, size_t *budget)
{
	enum conn_result res;
	bool more;

	if (c->len != c->last_len) {
		res = advance(c);
		if (res != CONN_WAITING || c->state == CONN_WRITING)
			return res;
	}
	do {
		res = read_some(c, wanted(c), budget, &more);
		if (res == CONN_WAITING)
			res = advance(c);
		if (res != CONN_WAITING)
			return res;
	} while (more && *budget > 0 &&
		 (c->state == CONN_HEAD || c->state == CONN_BODY));
	return CONN_WAITING;
}
/* ANCHOR_END: read_request */
/* ANCHOR_END: parse */

/*** the next request ***/

/* ANCHOR: next_request */
/*
 * next_request: the response is sent and the connection stays: forget
 * the request. What follows it in the buffer (a pipelined request, or its
 * start) moves to the front, where the parser looks next. If nothing
 * does, the buffer goes: a connection that uploaded 10 MB does not keep
 * 10 MB while idle.
 */
static void next_request(struct conn *c)
{
	size_t rest = c->len - c->end;

	if (rest == 0) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	} else {
		memmove(c->buf, c->buf + c->end, rest);
	}
	c->state = CONN_HEAD;
	c->len = rest;
	c->last_len = c->head_len = c->end = 0;
	c->body_len = 0;
	c->chunked = c->expect = false;
	c->method = c->target = (struct http_span){.len = 0};
	out_next(&c->out);
}
/* ANCHOR_END: next_request */

/*** answering ***/

/* ANCHOR: finish */
/*
 * linger: read and throw away what the client sends, until EAGAIN (wait
 * for more), end of stream (done: close), or this event's budget.
 */
static enum conn_result linger(struct conn *c)
{
	char scratch[16 * 1024];
	size_t drained = 0;
	ssize_t n;

	while (drained < READ_BUDGET) {
		do
			n = recv(c->fd, scratch, sizeof(scratch), 0);
		while (n == -1 && errno == EINTR);
		if (n == 0)
			return CONN_DONE;
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ECONNRESET)
				return CONN_RESET;
			c->what = "recv";
			return CONN_FAILED;
		}
		drained += (size_t)n;
	}
	return CONN_WAITING;
}

/*
 * finish: the last response is sent, and the connection is not kept.
 * shutdown(2) SHUT_WR sends our FIN after it. If the client has already
 * sent its own FIN, everything it sent has been read: close. Otherwise it
 * may still be sending (the rest of a 10 MB upload we answered 413 after
 * its head, more requests), and close(2) on a socket with unread input,
 * or input still arriving, sends a reset instead of a FIN (RFC 9293
 * section 3.6.1): Linux drops what of our response is unsent, the
 * client's next send fails, and a client busy uploading gives up without
 * reading our answer (some stacks even discard what they received; RFC
 * 9112 section 9.6). So linger: read and discard until the client closes
 * its side, which it does once it has read our response and seen our
 * FIN. The server bounds this with a deadline.
 */
static enum conn_result finish(struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
		c->what = "shutdown";
		return CONN_FAILED;
	}
	if (c->eof)
		return CONN_DONE;
	c->state = CONN_LINGERING;
	return linger(c);
}
/* ANCHOR_END: finish */

/*** the callback ***/

/*
 * send_some: send what is owed (a response, or a 100 Continue), within
 * what is left of this event's *budget.
 */
static enum conn_result send_some(struct conn *c, size_t *budget)
{
	uint64_t before = c->out.sent;
	enum out_result r = out_send(&c->out, c->fd, *budget);
	uint64_t sent = c->out.sent - before;

	c->sent += sent;
	*budget -= sent < *budget ? (size_t)sent : *budget;
	if (r != OUT_ERROR)
		return CONN_WAITING; /* sent, or wait: out_pending says */
	if (errno == EPIPE || errno == ECONNRESET)
		return CONN_RESET;
	c->what = "sendmsg";
	return CONN_FAILED;
}

/* ANCHOR: hold */
/*
 * hold: the response is finished, the connection stays, and the bytes of
 * another request follow it in the buffer: set the response aside if it
 * is small (out_hold), to go out with the next ones in one sendmsg.
 * Answered one by one, pipelined answers cost a send each.
 */
static bool hold(struct conn *c)
{
	return c->state == CONN_WRITING && c->keep && c->len > c->end &&
	       out_hold(&c->out);
}
/* ANCHOR_END: hold */

/* ANCHOR: callbacks */
/* ANCHOR: ready_cb */
enum conn_result conn_ready_cb(struct conn *c, const struct registry *r)
{
	size_t read_budget = READ_BUDGET, write_budget = WRITE_BUDGET;
	enum conn_result res;

	if (c->state == CONN_LINGERING) {
		res = linger(c);
		return res == CONN_WAITING ? arm(c, r) : res;
	}
	for (;;) {
		if (c->state != CONN_WRITING) {
			res = read_request(c, &read_budget);
			if (res != CONN_WAITING)
				return res;
			/* End of stream, no whole request, nothing held. */
			if (c->eof && c->state != CONN_WRITING &&
			    !out_pending(&c->out))
				return CONN_CLOSED;
		}
		/*
		 * A small answer with more requests behind it in the buffer
		 * waits for theirs, to leave with them in one send (hold).
		 */
		if (hold(c)) {
			c->answered++;
			next_request(c);
			continue;
		}
		/* Write first: only if the kernel cannot take it all, wait. */
		if (out_pending(&c->out)) {
			res = send_some(c, &write_budget);
			if (res != CONN_WAITING)
				return res;
		}
		/* Wait for the rest of the request, or for room to send. */
		if (c->state != CONN_WRITING) {
			if (c->eof && !out_pending(&c->out))
				return CONN_CLOSED;
			break;
		}
		if (out_pending(&c->out))
			break;
		c->answered++;
		if (!c->keep) {
			res = finish(c);
			if (res != CONN_WAITING)
				return res;
			break;
		}
		/* Kept: the next request, perhaps already in the buffer. */
		next_request(c);
	}
	return arm(c, r);
}
/* ANCHOR_END: ready_cb */
/* ANCHOR_END: callbacks */
