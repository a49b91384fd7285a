/*
 * conn.c - a connection's context and its state machine, for conn.h.
 *
 * The bytes come in completions, not from recv: conn_input appends what
 * a receive brought to the request's buffer (or to the stash, while a
 * response is being sent), and conn_run gives it to the parser (http.c),
 * whose errors become responses (400, 501, 505...), not silence. End of
 * stream after a whole request is a half-close, and the request is
 * answered; a reset is the client leaving. A connection answers request
 * after request (keep-alive): HTTP/1.1 unless a request says
 * "Connection: close", HTTP/1.0 only if it says "keep-alive". What
 * follows a request in the buffer is the next one's start, parsed as
 * soon as the response before it is sent (pipelining). A client that
 * asks first (Expect: 100-continue) is told to go ahead.
 *
 * A response leaves in one sendmsg at a time (conn_send_prepare); one the
 * kernel took only part of is sent on from where it stopped (conn_sent).
 *
 * What a request may be is bounded: a head longer than MAX_HEAD is 431 (a
 * request line alone that long, 414), and a body longer than max_body is
 * 413, said before the body is read when Content-Length gives its size
 * away. Chunked bodies are decoded (chunked.c) within the same limit.
 *
 * After the last response, if input may be left unread, a lingering
 * close: our side is shut down, and what the client still sends is
 * thrown away until it shuts down its side, so that closing never resets
 * a connection whose client has not read our answer yet.
 *
 * Sections: limits, the context, input, the request, the next request,
 * answering, sending, running.
 */
/* shutdown(2) and MSG_NOSIGNAL are POSIX.1-2008, hidden by -std=c11. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "route.h"

/*** limits ***/

/*
 * A request's buffer starts this small, and doubles as bytes come: they
 * are copied from the receive buffer, so it need only hold what came.
 */
#define MIN_BUF 64

/* ANCHOR: limits */
/*
 * The longest request head; a longer one is 431. 8 KiB is a common limit,
 * with room for the usual browser's head and its cookies.
 */
#define MAX_HEAD (8 * 1024)
/* ANCHOR_END: limits */

/* ANCHOR: stash_max */
/*
 * The most bytes a connection keeps of what came while its response was
 * being sent. Past it, the server cancels the receive, and the client's
 * bytes wait in the kernel's socket buffer, then in the client: the
 * backpressure that 13-lean got by not reading while writing.
 */
#define STASH_MAX (16 * 1024)

/*
 * The most bytes the stash gives the request at a time, when the parser
 * has no whole request left: so the request's buffer stays small, and
 * next_request moves little each time a response is done.
 */
#define UNSTASH_CHUNK 4096
/* ANCHOR_END: stash_max */

/*** the context ***/

struct conn *conn_new(int fd, uint64_t id, const struct sockaddr_in *peer,
		      uint64_t max_body)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->id = id;
	c->fd = fd;
	c->peer = *peer; /* 16 bytes; the log formats it if it needs it */
	c->state = CONN_HEAD;
	c->max_body = max_body;
	return c;
}

/* stash_drop: free the stash, and what it holds. */
static void stash_drop(struct conn *c)
{
	free(c->stash);
	c->stash = NULL;
	c->stash_off = c->stash_len = c->stash_cap = 0;
}

/* stashed: bytes in the stash not yet given to the request. */
static size_t stashed(const struct conn *c)
{
	return c->stash_len - c->stash_off;
}

/*
 * req_drop: free the request in progress, if there is one, and an empty
 * stash with it: an idle connection holds neither.
 */
static void req_drop(struct conn *c)
{
	if (stashed(c) == 0)
		stash_drop(c);
	if (!c->req)
		return;
	out_free(&c->req->out);
	free(c->req->buf);
	free(c->req);
	c->req = NULL;
}

void conn_close(struct conn *c)
{
	/* close(2): never retried; the descriptor is gone either way. */
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

void conn_free(struct conn *c)
{
	conn_close(c);
	req_drop(c);
	stash_drop(c);
	free(c);
}

/*** input ***/

/* grow: make room for n more bytes at *buf (len used, *cap allocated). */
static int grow(char **buf, size_t len, size_t *cap, size_t n)
{
	size_t want = *cap ? *cap : MIN_BUF;
	char *p;

	while (want - len < n) {
		if (want > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		want *= 2;
	}
	if (want == *cap)
		return 0;
	p = realloc(*buf, want);
	if (!p)
		return -1;
	*buf = p;
	*cap = want;
	return 0;
}

/* append: n bytes at p to the request's buffer, which is made if need be. */
static int append(struct conn *c, const char *p, size_t n)
{
	struct req *q = c->req;

	if (!q) {
		q = c->req = calloc(1, sizeof(*q));
		if (!q)
			return -1;
	}
	if (grow(&q->buf, q->len, &q->cap, n) == -1)
		return -1;
	memcpy(q->buf + q->len, p, n);
	q->len += n;
	return 0;
}

/* ANCHOR: input */
/*
 * stashing: does input wait aside now? While a response is being sent:
 * it may point into the request's buffer (POST /echo sends the body from
 * there), and a realloc would move that buffer under the kernel's feet.
 * And while the stash still holds bytes: new ones go behind them.
 */
static bool stashing(const struct conn *c)
{
	return c->state == CONN_WRITING || c->sending || stashed(c) > 0;
}

enum conn_result conn_input(struct conn *c, const char *p, size_t n,
			    bool more_queued)
{
	c->more_queued = more_queued;
	if (n == 0) {
		c->eof = true;
		return CONN_WAITING;
	}
	if (c->state == CONN_LINGERING)
		return CONN_WAITING; /* thrown away */
	if (stashing(c)) {
		size_t cap = c->stash_cap;

		if (stashed(c) == 0)
			c->stash_off = c->stash_len = 0; /* all given: reuse */
		if (grow(&c->stash, c->stash_len, &cap, n) == -1)
			goto nomem;
		c->stash_cap = (uint32_t)cap;
		memcpy(c->stash + c->stash_len, p, n);
		c->stash_len += (uint32_t)n;
		return CONN_WAITING;
	}
	if (append(c, p, n) == 0)
		return CONN_WAITING;
nomem:
	/* Out of memory: this connection ends, not the server. */
	c->what = "realloc";
	return CONN_FAILED;
}

/*
 * unstash: the parser has no whole request left: give the request the
 * next UNSTASH_CHUNK bytes of what waited aside. The stash stays
 * allocated for the next response; req_drop frees it.
 */
static enum conn_result unstash(struct conn *c)
{
	size_t n = stashed(c);

	if (n > UNSTASH_CHUNK)
		n = UNSTASH_CHUNK;
	if (append(c, c->stash + c->stash_off, n) == -1) {
		c->what = "realloc";
		return CONN_FAILED;
	}
	c->stash_off += (uint32_t)n;
	if (stashed(c) == 0)
		c->stash_off = c->stash_len = 0;
	return CONN_WAITING;
}

/*
 * conn_wants_recv: is there room for more? While a request is being read,
 * always: its bytes are needed (the limits bound them). While a response
 * is sent, only while what waits behind it, the next requests already in
 * the buffer and the stash, is under STASH_MAX; and a receive stopped
 * there is armed again only once that has fallen under half of it, not
 * after every answer (each arming brings in a whole receive buffer).
 */
bool conn_wants_recv(const struct conn *c)
{
	const struct req *q = c->req;
	size_t behind = stashed(c);

	if (c->eof || c->closing)
		return false;
	if (!stashing(c))
		return true;
	if (q)
		behind += q->whole ? q->len - q->end : q->len;
	return behind < (c->recv_armed ? STASH_MAX : STASH_MAX / 2);
}
/* ANCHOR_END: input */

/*** the request ***/

/* ANCHOR: respond */
/*
 * respond: the response with this status is in q->out (or status is -1:
 * it did not fit). Stop reading and start writing.
 */
static enum conn_result respond(struct conn *c, int status)
{
	struct req *q = c->req;

	c->state = CONN_WRITING;
	if (status == -1) {
		c->what = "out_printf";
		return CONN_FAILED;
	}
	/*
	 * RFC 9110 section 9.3.2: a response to HEAD, whatever its status,
	 * has no content; its Content-Length still says what GET would get.
	 * (Before the head is parsed, q->method is empty: not HEAD.)
	 */
	if (http_span_eq(q->buf, q->method, "HEAD"))
		out_no_body(&q->out);
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
	c->req->keep = false;
	return respond(c, route_error(&c->req->out, status));
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
	struct req *q = c->req;
	struct http_request req;
	struct http_body body;
	int r;

	r = http_parse_request(q->buf, q->len, q->last_len, MAX_HEAD, &req);
	q->last_len = q->len;
	if (r == HTTP_PARTIAL)
		return CONN_WAITING;
	/*
	 * RFC 9112 section 3: a request-target longer than we will parse is
	 * 414, not 431: the whole limit went by without the request line's
	 * CRLF.
	 */
	if (r == HTTP_HEAD_TOO_LARGE && !memchr(q->buf, '\n', q->len))
		return refuse(c, 414);
	if (r < 0)
		return refuse(c, http_error_status(r)); /* 400, 431, 505 */
	q->head_len = (size_t)r;
	q->method = req.method;
	q->target = req.target;
	/* A Content-Length over max_body is 413 before a byte is read. */
	r = http_body_framing(&req, q->buf, c->max_body, &body);
	if (r < 0)
		return refuse(c, http_error_status(r)); /* 400, 413, 501 */
	r = http_expect(&req, q->buf);
	if (r < 0)
		return refuse(c, http_error_status(r)); /* 417 */
	q->expect = r == 1;
	/* RFC 9112 section 9.3: HTTP/1.1 stays, HTTP/1.0 if it asks. */
	q->keep = http_keep_alive(&req, q->buf) == 1;
	q->chunked = body.kind == HTTP_BODY_CHUNKED;
	if (q->chunked)
		http_chunked_init(&q->dechunk, c->max_body);
	q->body_len = q->chunked ? 0 : body.length;
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
static int dechunk(struct req *q)
{
	size_t start = q->head_len + (size_t)q->body_len;
	size_t n = q->len - start;
	ptrdiff_t r = http_chunked_decode(&q->dechunk, q->buf + start, &n);

	q->body_len += n;
	if (r == HTTP_PARTIAL) {
		q->len = start + n;
		return 0;
	}
	if (r < 0)
		return (int)r;
	q->end = start + n; /* the next request's r bytes follow */
	q->len = q->end + (size_t)r;
	return 1;
}
/* ANCHOR_END: dechunk */

/*
 * advance: after a read, move the request on as far as the bytes allow:
 * parse the head, count the body, answer once it is all in.
 */
static enum conn_result advance(struct conn *c)
{
	struct req *q = c->req;
	enum conn_result res;
	int whole;

	if (c->state == CONN_HEAD) {
		res = parse_head(c);
		if (res != CONN_WAITING || c->state != CONN_BODY)
			return res;
	}
	if (q->chunked) {
		whole = dechunk(q);
		if (whole < 0)
			return refuse(c, http_error_status(whole));
	} else {
		whole = q->len - q->head_len >= q->body_len;
		if (whole)
			q->end = q->head_len + (size_t)q->body_len;
	}
	if (whole) {
		q->whole = true;
		c->requests++;
		c->last_size = q->end;
		return respond(c, route_request(&q->out, q->buf, q->method,
						q->target,
						q->buf + q->head_len,
						(size_t)q->body_len, q->keep));
	}
	/*
	 * RFC 9110 section 10.1.1: a client that sent Expect: 100-continue
	 * may wait before sending the body; tell it to go ahead, once.
	 */
	if (q->expect) {
		q->expect = false;
		if (out_printf(&q->out, "HTTP/1.1 100 Continue\r\n\r\n") == -1) {
			c->what = "out_printf";
			return CONN_FAILED;
		}
	}
	return CONN_WAITING;
}

/* ANCHOR_END: parse */

/*** the next request ***/

/* ANCHOR: next_request */
/*
 * next_request: the response is sent and the connection stays: forget
 * the request. If nothing follows it in the buffer, free the struct req
 * and its buffer: an idle keep-alive connection holds neither, and one
 * that uploaded 10 MB does not keep 10 MB. Otherwise (a pipelined
 * request, or its start) move what follows to the front of the buffer,
 * where the parser looks next, and start afresh around it.
 */
static void next_request(struct conn *c)
{
	struct req *q = c->req;
	size_t rest = q->len - q->end;
	char *buf = q->buf;
	size_t cap = q->cap;

	c->state = CONN_HEAD;
	if (rest == 0) {
		req_drop(c);
		return;
	}
	memmove(buf, buf + q->end, rest);
	*q = (struct req){.buf = buf, .len = rest, .cap = cap, .out = q->out};
	out_next(&q->out); /* held answers stay */
}
/* ANCHOR_END: next_request */

/*** answering ***/

/* ANCHOR: finish */
/* ANCHOR: drained */
/*
 * drained: is nothing the client sent left unread, and nothing more
 * likely to come? Yes if it has sent its FIN. Or if the request was read
 * to its end (not refused half-read: a 413 or a 400 leaves the body
 * coming), nothing follows it in the buffer or the stash, and the last
 * receive said the socket had nothing more queued. Bytes may still
 * arrive later, but only from a client that said close, or spoke
 * HTTP/1.0 without keep-alive, and sent more anyway (RFC 9112 section
 * 9.6 tells it not to).
 */
static bool drained(const struct conn *c)
{
	const struct req *q = c->req;

	return c->eof || (q->whole && q->len == q->end && stashed(c) == 0 &&
			  !c->more_queued);
}

/*
 * finish: the last response is sent, and the connection is not kept. If
 * nothing is left unread (drained), closing sends our FIN after the
 * response. Otherwise the client may still be sending (the rest of a 10
 * MB upload we answered 413 after its head), and a close with input
 * unread or still arriving sends a reset instead of a FIN (RFC 9293
 * section 3.6.1), which can destroy our answer before the client reads
 * it. So shutdown(2) SHUT_WR sends our FIN, and we linger: the receive
 * stays armed and what it brings is thrown away, until the client closes
 * its side. The server bounds this with a deadline.
 */
static enum conn_result finish(struct conn *c)
{
	bool done = drained(c);

	req_drop(c);
	if (done)
		return CONN_DONE;
	if (shutdown(c->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
		c->what = "shutdown";
		return CONN_FAILED;
	}
	c->state = CONN_LINGERING;
	stash_drop(c);
	return CONN_WAITING;
}
/* ANCHOR_END: drained */
/* ANCHOR_END: finish */

/*** sending ***/

/* ANCHOR: send */
/* Build with -DCLOSE_MSG_MORE=0 to send the last answer without MSG_MORE. */
#ifndef CLOSE_MSG_MORE
#define CLOSE_MSG_MORE 1
#endif

const struct msghdr *conn_send_prepare(struct conn *c, int *flags)
{
	struct req *q = c->req;
	bool last;

	if (c->sending || c->closing || !q || !out_pending(&q->out))
		return NULL;
	q->msg = (struct msghdr){.msg_iov = q->iov};
	q->msg.msg_iovlen = (size_t)out_gather(&q->out, q->iov);
	/*
	 * MSG_NOSIGNAL (send(2)): a send on a reset connection fails with
	 * EPIPE instead of raising SIGPIPE. MSG_MORE when the connection is
	 * closed once this is sent: the FIN may leave with the last bytes.
	 */
	last = c->state == CONN_WRITING && !q->keep && drained(c);
	*flags = MSG_NOSIGNAL | (last && CLOSE_MSG_MORE ? MSG_MORE : 0);
	c->sending = true;
	return &q->msg;
}

enum conn_result conn_sent(struct conn *c, int res)
{
	c->sending = false;
	if (res < 0) {
		errno = -res;
		if (errno == EPIPE || errno == ECONNRESET)
			return CONN_RESET;
		c->what = "sendmsg";
		return CONN_FAILED;
	}
	/* The kernel may take less than offered: the rest goes next. */
	out_sent(&c->req->out, (size_t)res);
	c->sent += (size_t)res;
	return CONN_WAITING;
}
/* ANCHOR_END: send */

/*** running ***/

/* ANCHOR: hold */
/*
 * hold: the response is finished, nothing is in flight, the connection
 * stays, and the bytes of another request follow it in the buffer: set
 * the response aside if it is small (out_hold), to go out with the next
 * ones in one sendmsg. Answered one by one, pipelined answers cost a
 * send, and a turn of the loop, each.
 */
static bool hold(struct conn *c)
{
	struct req *q = c->req;

	return q->keep && q->len > q->end && out_hold(&q->out);
}
/* ANCHOR_END: hold */

/* ANCHOR: step */
/*
 * step: one move of the state machine, as far as the bytes allow: finish
 * a response that is all sent, parse what is buffered, or take more from
 * the stash. CONN_WAITING with
 * *moved false: nothing could move; wait for a completion.
 */
static enum conn_result step(struct conn *c, bool *moved)
{
	struct req *q = c->req; /* NULL while idle, and while lingering */
	enum conn_result res;

	*moved = false;
	if (c->state == CONN_LINGERING)
		return c->eof ? CONN_DONE : CONN_WAITING;
	if (q && out_pending(&q->out) && c->state == CONN_WRITING &&
	    (c->sending || !hold(c)))
		return CONN_WAITING; /* the send in flight, or the next */
	if (c->state == CONN_WRITING) { /* everything is sent, or held */
		if (c->sending)
			return CONN_WAITING;
		c->answered++;
		if (!q->keep)
			return finish(c);
		next_request(c);
		*moved = true;
		return CONN_WAITING;
	}
	/* A 100 Continue in flight: the buffer stays put until it is sent. */
	if (c->sending)
		return CONN_WAITING;
	/* Parse what is buffered first: a pipelined request needs no more. */
	if (q && q->len != q->last_len) {
		enum conn_state was = c->state;
		bool owed = out_pending(&q->out);

		res = advance(c);
		*moved = c->state != was || out_pending(&q->out) != owed;
		if (res != CONN_WAITING || *moved)
			return res;
	}
	if (stashed(c) > 0) {
		*moved = true;
		return unstash(c);
	}
	if (c->eof)
		return CONN_CLOSED; /* between requests (no req), or not */
	return CONN_WAITING;
}

enum conn_result conn_run(struct conn *c)
{
	enum conn_result res;
	bool moved;

	do
		res = step(c, &moved);
	while (res == CONN_WAITING && moved);
	return res;
}
/* ANCHOR_END: step */
