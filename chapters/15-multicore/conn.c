/*
 * conn.c - a connection's context and its callback, for conn.h.
 *
 * conn_run reads until EAGAIN (or this turn's budget) and gives what
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
 * After the last response, if input may be left unread, a lingering
 * close: our side is shut down, and what the client still sends is read
 * and thrown away until it shuts down its side, so that closing never
 * resets a connection whose client has not read our answer yet.
 *
 * The socket is registered once, edge-triggered, for both directions
 * (conn_watch). An event then says only that something changed, so the
 * connection keeps what the events said (can_read, can_write) until a
 * call says EAGAIN, and moves as far as they allow (step). A turn has a
 * budget; a connection that spends it with work left says CONN_AGAIN,
 * and the server runs it again without waiting for an event.
 *
 * What a request needs is a struct req, allocated when its bytes arrive
 * and freed once it is answered (read_more, next_request), so that an
 * idle connection is only its small struct conn. A connection that is not
 * kept is closed at once when nothing it sent can be left unread, its
 * FIN leaving with the last answer (MSG_MORE), and lingers only when
 * something may be (finish).
 *
 * Sections: budgets and limits, the context, registering, reading, the
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
 * How much one turn of a connection may move, in each direction, and how
 * many requests it may answer. Without a cap, one client uploading,
 * downloading or pipelining at full speed could keep the loop on its
 * socket for as long as it liked. A connection that stops at a cap with
 * work left says CONN_AGAIN, and the server runs it again after the
 * others, before it waits: under edge-triggering no event would come to
 * remind it (nothing changed on the socket).
 */
#define READ_BUDGET    (4 * 1024 * 1024)
#define REQUEST_BUDGET 64

/*
 * The bytes one turn may send to one connection. Filling a socket's
 * buffer can take megabytes (the kernel grows it for a fast reader), and
 * a crowd of slow readers, each with a large answer pending, would have
 * the loop copy megabytes per connection per turn while a small request
 * waits. 64 KiB is one of out.c's pattern pieces: one sendmsg. Build with
 * -DWRITE_CAP=0 for the 4 MiB of chapter 11.
 */
#ifndef WRITE_CAP
#define WRITE_CAP 1
#endif
#define WRITE_BUDGET (WRITE_CAP ? 64 * 1024 : 4 * 1024 * 1024)

/* What is left of a turn's budget. */
struct budget {
	size_t read;	   /* bytes it may still read */
	size_t write;	   /* bytes it may still send */
	unsigned requests; /* responses it may still finish */
};
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
	c->can_write = true; /* a new socket has room; EAGAIN will say not */
	c->max_body = max_body;
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
 * other. Set at a connection's second request (step), not at accept:
 * a connection closed after one answer has nothing for Nagle to hold
 * back, and its close path stays one call shorter.
 */
static int nodelay(int fd)
{
	int on = 1;

	if (!NODELAY)
		return 0;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}
/* ANCHOR_END: nodelay */

/* req_drop: free the request in progress, if there is one. */
static void req_drop(struct conn *c)
{
	if (!c->req)
		return;
	free(c->req->answer);
	out_free(&c->req->out);
	free(c->req->buf);
	free(c->req);
	c->req = NULL;
}

void conn_free(struct conn *c)
{
	/* close(2): never retried; the descriptor is gone either way. */
	close(c->fd);
	req_drop(c);
	free(c);
}

/*** registering ***/

/* ANCHOR: arm */
/*
 * interest: what the connection waits for now, in the level and one-shot
 * modes: the request's bytes in every state but CONN_WRITING (the
 * client's end of stream while lingering), and room in the socket's
 * buffer only while output is pending. Never reading while writing is
 * the backpressure; never asking for EPOLLOUT with nothing to send keeps
 * a level-triggered loop from waking at every turn.
 */
static unsigned interest(const struct conn *c)
{
	unsigned in = 0;

	if (c->state != CONN_WRITING && !(c->req && out_held(&c->req->out)))
		in |= INTEREST_READABLE;
	if (c->req && out_pending(&c->req->out))
		in |= INTEREST_WRITABLE;
	return in;
}

/*
 * watched: what epoll is to watch for the connection now. Edge-triggered:
 * both directions, for good; the readiness flags say what to do with an
 * event. Otherwise its interest, level-triggered or one-shot.
 */
static unsigned watched(const struct conn *c)
{
	if (CONN_MODE == CONN_EDGE)
		return INTEREST_READABLE | INTEREST_WRITABLE;
	return interest(c) |
	       (CONN_MODE == CONN_ONESHOT ? INTEREST_ONESHOT : INTEREST_LEVEL);
}

/*
 * arm: tell epoll what the connection waits for now; the first time, that
 * is registering it (ADD), which the server leaves until the connection
 * must wait (see conn_add in server.c). Edge-triggered: nothing more,
 * ever. Level-triggered: a MOD only when the interest changes, that is,
 * when a response starts or stops waiting for room. One-shot: a MOD every
 * time, because the event disarmed it.
 */
static enum conn_result arm(struct conn *c, const struct registry *r,
			    enum conn_result res)
{
	bool added = c->interest != 0;
	unsigned in = watched(c);
	int err;

	if (added && in == c->interest && CONN_MODE != CONN_ONESHOT)
		return res;
	/*
	 * ADD, like MOD, looks at the socket at once (the kernel's
	 * ep_insert and ep_modify poll it): bytes that came after our last
	 * recv said EAGAIN are reported, not lost.
	 */
	if (added)
		err = registry_reregister(r, c->fd, c->token, in);
	else
		err = registry_register(r, c->fd, c->token, in);
	if (err == -1) {
		c->what = added ? "registry_reregister" : "registry_register";
		return CONN_FAILED;
	}
	c->interest = in;
	return res;
}
/* ANCHOR_END: arm */

/*** reading ***/

/*
 * reserve: room for READ_CHUNK more bytes in q->buf, doubling it as
 * needed. 0, or -1 with errno ENOMEM (the buffer is then unchanged).
 */
static int reserve(struct req *q)
{
	size_t cap = q->cap ? q->cap : READ_CHUNK;
	char *buf;

	if (q->cap - q->len >= READ_CHUNK)
		return 0;
	while (cap - q->len < READ_CHUNK) {
		if (cap > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	buf = realloc(q->buf, cap);
	if (!buf)
		return -1;
	q->buf = buf;
	q->cap = cap;
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
	const struct req *q = c->req;

	if (c->state == CONN_HEAD)
		return MAX_HEAD;
	if (q->chunked)
		return q->len + READ_CHUNK;
	return q->head_len + (size_t)q->body_len;
}

/*
 * read_some: one recv, of at most limit - q->len bytes and this turn's
 * budget. EAGAIN clears can_read. So does a short count: the socket's
 * queue was emptied, and bytes arriving later raise a new edge (unless
 * the client has shut down its side: that event has come already, and no
 * other will, so read on until end of stream). The one other short count
 * is TCP urgent data (MSG_OOB): recv stops at its mark, and a client that
 * sends it may wait for its deadline. End of stream sets c->eof,
 * which is not an error: the client may have half-closed after its last
 * request, and still wait for the answers.
 */
static enum conn_result read_some(struct conn *c, size_t limit,
				  struct budget *b)
{
	struct req *q = c->req;
	size_t room;
	ssize_t n;

	if (reserve(q) == -1) {
		/* Out of memory: this connection ends, not the server. */
		c->what = "realloc";
		return CONN_FAILED;
	}
	room = q->cap - q->len;
	if (room > limit - q->len)
		room = limit - q->len;
	if (room > b->read)
		room = b->read;
	do
		n = recv(c->fd, q->buf + q->len, room, 0);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->can_read = false; /* all there is, for now */
			return CONN_WAITING;
		}
		if (errno == ECONNRESET)
			return CONN_RESET;
		c->what = "recv";
		return CONN_FAILED;
	}
	if (n == 0) {
		c->eof = true;
		c->can_read = false;
		return CONN_WAITING;
	}
	if ((size_t)n < room && !c->read_closed)
		c->can_read = false;
	q->len += (size_t)n;
	b->read -= (size_t)n;
	return CONN_WAITING;
}
/* ANCHOR_END: read */

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
	/* ANCHOR: work */
	/*
	 * The answer needs blocking work: the server hands it to a worker,
	 * and the connection waits in CONN_WRITING with nothing of its own
	 * to send (answers held before it go: conn_run), so that nothing
	 * more is read meanwhile, until conn_answer.
	 */
	if (status == ROUTE_WORK) {
		q->working = true;
		return CONN_WORK;
	}
	/* ANCHOR_END: work */
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
						(size_t)q->body_len, q->keep,
						&q->work));
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
	free(q->answer);
	*q = (struct req){.buf = buf, .len = rest, .cap = cap, .out = q->out};
	out_next(&q->out); /* held answers stay */
}
/* ANCHOR_END: next_request */

/*** answering ***/

/* ANCHOR: finish */
/*
 * linger: read and throw away what the client sends, until EAGAIN (wait
 * for more), end of stream (done: close), or this turn's budget.
 */
static enum conn_result linger(struct conn *c, struct budget *b)
{
	char scratch[16 * 1024];
	ssize_t n;

	while (c->can_read) {
		if (b->read == 0)
			return CONN_AGAIN;
		do
			n = recv(c->fd, scratch, sizeof(scratch), 0);
		while (n == -1 && errno == EINTR);
		if (n == 0)
			return CONN_DONE;
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				c->can_read = false;
			else if (errno == ECONNRESET)
				return CONN_RESET;
			else {
				c->what = "recv";
				return CONN_FAILED;
			}
		} else {
			b->read -= (size_t)n < b->read ? (size_t)n : b->read;
		}
	}
	return CONN_WAITING;
}

/* ANCHOR: drained */
/*
 * drained: is nothing the client sent left unread, and nothing more
 * likely to come? Yes if it has sent its FIN and we read up to it. Or if
 * the request was read to its end (not refused half-read: a 413 or a 400
 * leaves the body coming), nothing follows it in the buffer (a client
 * that pipelines may still be sending), and the last read emptied the
 * socket (can_read is false: a recv said EAGAIN, or returned less than it
 * was offered, and no event has said readable since). Bytes may still
 * arrive after the last read, but only from a client that said close,
 * or spoke HTTP/1.0 without keep-alive, and sent more anyway (RFC 9112
 * section 9.6 tells it not to). The last test needs edge-triggering: in
 * the other modes EPOLLIN is not watched while a response is sent, and
 * bytes that came meanwhile raised no event.
 */
static bool drained(const struct conn *c)
{
	const struct req *q = c->req;

	return c->eof || (CONN_MODE == CONN_EDGE && q->whole &&
			  q->len == q->end && !c->can_read);
}

/*
 * finish: the last response is sent, and the connection is not kept. If
 * nothing is left unread (drained), close(2) sends our FIN after the
 * response: no shutdown, no lingering. Otherwise the client may still be
 * sending (the rest of a 10 MB upload we answered 413 after its head,
 * more requests), and close on a socket with unread input, or input still
 * arriving, sends a reset instead of a FIN (RFC 9293 section 3.6.1): Linux
 * drops what of our response is unsent, the client's next send fails, and
 * a client busy uploading gives up without reading our answer (some
 * stacks even discard what they received; RFC 9112 section 9.6). So
 * shutdown(2) SHUT_WR sends our FIN, and we linger: read and discard
 * until the client closes its side, which it does once it has read our
 * response and seen our FIN. The server bounds this with a deadline.
 * Either way the request is done with: its struct req goes now.
 */
static enum conn_result finish(struct conn *c, struct budget *b)
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
	return linger(c, b);
}
/* ANCHOR_END: drained */
/* ANCHOR_END: finish */

/*** the callback ***/

/* ANCHOR: send */
/*
 * send_some: send what is owed (a response, or a 100 Continue), within
 * the budget. EAGAIN clears can_write: the next EPOLLOUT sets it again.
 */
static enum conn_result send_some(struct conn *c, struct budget *b)
{
	struct out *o = &c->req->out;
	uint64_t before = o->sent;
	/* Closed once sent without lingering (finish): say so to out_send. */
	bool last = !c->req->keep && drained(c);
	enum out_result r = out_send(o, c->fd, b->write, last);
	uint64_t sent = o->sent - before;

	c->sent += sent;
	b->write -= sent < b->write ? (size_t)sent : b->write;
	switch (r) {
	case OUT_DONE:
		return CONN_WAITING;
	case OUT_AGAIN:
		c->can_write = false;
		return CONN_WAITING;
	case OUT_BUDGET:
		return CONN_AGAIN;
	case OUT_ERROR:
		break;
	}
	if (errno == EPIPE || errno == ECONNRESET)
		return CONN_RESET;
	c->what = "sendmsg";
	return CONN_FAILED;
}
/* ANCHOR_END: send */

/* ANCHOR: read_more */
/*
 * read_more: read what the request wants next. An idle connection gets
 * its struct req here, once an event has said that bytes came (or, just
 * accepted, conn_add guessed so); if none had after all (EAGAIN, or the
 * end of stream), it is freed again at once.
 */
static enum conn_result read_more(struct conn *c, struct budget *b, bool *moved)
{
	enum conn_result res;
	size_t before;

	if (!c->req) {
		c->req = calloc(1, sizeof(*c->req));
		if (!c->req) {
			c->what = "calloc";
			return CONN_FAILED;
		}
	}
	before = c->req->len;
	if (before >= wanted(c))
		return refuse(c, 431); /* the parser says so first */
	res = read_some(c, wanted(c), b);
	*moved = c->req->len != before || c->eof;
	if (c->req->len == 0)
		req_drop(c);
	return res;
}
/* ANCHOR_END: read_more */

/* ANCHOR: hold */
/*
 * hold: the response is finished, the connection stays, and the bytes of
 * another request follow it in the buffer: set the response aside if it
 * is small (out_hold), to go out with the next ones in one sendmsg.
 * Answered one by one, pipelined answers cost a send each. A response
 * that waits for a worker is not finished: nothing to hold.
 */
static bool hold(struct conn *c)
{
	struct req *q = c->req;

	return c->state == CONN_WRITING && !q->working && q->keep &&
	       q->len > q->end && out_hold(&q->out);
}
/* ANCHOR_END: hold */

/* ANCHOR: step */
/*
 * step: one move of the state machine, as far as the flags allow: send,
 * finish a response, parse what is buffered, or read. CONN_WAITING with
 * *moved false: nothing could move, wait for an event.
 */
static enum conn_result step(struct conn *c, struct budget *b, bool *moved)
{
	struct req *q = c->req; /* NULL while idle, and while lingering */
	enum conn_result res;

	*moved = false;
	if (c->state == CONN_LINGERING)
		return linger(c, b);
	/*
	 * Held answers wait while the buffer holds more to parse; the
	 * turn's last answer is not held: all go before it ends.
	 */
	if (q && out_pending(&q->out) && (b->requests == 1 || !hold(c)) &&
	    !(out_held(&q->out) && c->state != CONN_WRITING &&
	      q->len != q->last_len)) {
		if (c->can_write) {
			if (b->write == 0)
				return CONN_AGAIN;
			*moved = true;
			return send_some(c, b);
		}
		if (c->state == CONN_WRITING || out_held(&q->out))
			return CONN_WAITING; /* wait for room (backpressure) */
	}
	if (c->state == CONN_WRITING && q->working)
		return CONN_WAITING; /* for conn_answer */
	if (c->state == CONN_WRITING) { /* sent, or held */
		c->answered++;
		if (!q->keep)
			return finish(c, b);
		next_request(c);
		/* A second request: only now can Nagle hold an answer. */
		if (c->answered == 1 && nodelay(c->fd) == -1) {
			c->what = "setsockopt";
			return CONN_FAILED;
		}
		*moved = true;
		return --b->requests == 0 ? CONN_AGAIN : CONN_WAITING;
	}
	/* Parse what is buffered first: a pipelined request needs no read. */
	if (q && q->len != q->last_len) {
		enum conn_state was = c->state;
		bool owed = out_pending(&q->out);

		res = advance(c);
		*moved = c->state != was || out_pending(&q->out) != owed;
		if (res != CONN_WAITING || *moved)
			return res;
		q->last_len = q->len; /* all looked at: held answers may go */
		if (out_held(&q->out)) {
			*moved = true;
			return CONN_WAITING;
		}
	}
	if (c->eof)
		return CONN_CLOSED; /* between requests (no req), or not */
	if (!c->can_read)
		return CONN_WAITING;
	if (b->read == 0)
		return CONN_AGAIN;
	return read_more(c, b, moved);
}
/* ANCHOR_END: step */

/* ANCHOR: callbacks */
/* ANCHOR: ready_cb */
enum conn_result conn_run(struct conn *c, const struct registry *r)
{
	struct budget b = {READ_BUDGET, WRITE_BUDGET, REQUEST_BUDGET};
	enum conn_result res;
	bool moved;

	do
		res = step(c, &b, &moved);
	while (res == CONN_WAITING && moved);
	/*
	 * The answers held before a request that needs work go now, not
	 * with its result: a job may take seconds. What the socket does not
	 * take goes when it has room (step sends while a job runs).
	 */
	if (res == CONN_WORK && out_held(&c->req->out) && c->can_write) {
		enum conn_result sent = send_some(c, &b);

		if (sent == CONN_RESET || sent == CONN_FAILED)
			return sent;
	}
	if (res == CONN_WAITING || res == CONN_AGAIN || res == CONN_WORK)
		return arm(c, r, res);
	return res;
}

/* ANCHOR: answer */
enum conn_result conn_answer(struct conn *c, int status, char *body,
			     size_t len)
{
	struct req *q = c->req;

	q->working = false;
	q->answer = body;
	return respond(c, route_answer(&q->out, status, body, len, q->keep));
}
/* ANCHOR_END: answer */

enum conn_result conn_ready_cb(struct conn *c, struct event e,
			       const struct registry *r)
{
	if (event_is_readable(e) || event_is_read_closed(e))
		c->can_read = true;
	if (event_is_read_closed(e))
		c->read_closed = true;
	if (event_is_writable(e))
		c->can_write = true;
	return conn_run(c, r);
}
/* ANCHOR_END: ready_cb */
/* ANCHOR_END: callbacks */
