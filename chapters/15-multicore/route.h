/*
 * route.h - what the server answers: the routes, and every response's head.
 *
 *	GET  /          200, "Hello"
 *	GET  /bytes/N   200, N bytes of out.c's pattern (N from 0 to 64 MiB;
 *	                anything else after /bytes/ is 400: the request is
 *	                well-formed HTTP but asks for what we will not make,
 *	                and 413 would speak of the request's own content)
 *	POST /echo      200, the request's body
 *	GET  /files/NAME   blocking work (files.h): route_request says
 *	GET  /lookup/HOST  ROUTE_WORK, and route_answer makes the response
 *	                once a worker has the result
 *	other methods   405, with an Allow header naming the right ones
 *	other paths     404
 *
 * HEAD is GET without the body (RFC 9110 section 9.3.2): the same status
 * and headers, Content-Length included; a general-purpose server must
 * support both (section 9.1). A query string ("/?x=1") is ignored, and
 * the empty path of "http://host" is "/". Every response is HTTP/1.1
 * with Content-Type, Content-Length and a Connection header: keep-alive
 * or close.
 */
#ifndef ROUTE_H
#define ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "files.h"
#include "http.h"
#include "out.h"

/* The largest N of GET /bytes/N. */
#define ROUTE_BYTES_MAX (64u * 1024 * 1024)

/* ANCHOR: api */
/* route_request's answer for a request that needs blocking work. */
#define ROUTE_WORK 0

/* ANCHOR: work */
/* What blocking work a request needs, when route_request says ROUTE_WORK. */
struct route_work {
	enum work_kind kind;  /* a file, or a lookup */
	struct http_span arg; /* NAME or HOST, in the request's buffer */
};
/* ANCHOR_END: work */

/*
 * route_request: put the response to a complete request into o. The spans
 * are offsets into buf; the body is body_len bytes at body, which must
 * stay put until o is sent. keep: the connection stays open after it.
 * Returns the status code, or -1 with errno ENOBUFS (the head did not
 * fit: it always does), or ROUTE_WORK: the answer needs the work that
 * *work now describes, and nothing is in o yet.
 */
int route_request(struct out *o, const char *buf, struct http_span method,
		  struct http_span target, const char *body, size_t body_len,
		  bool keep, struct route_work *work);

/*
 * route_answer: put into o the response for blocking work whose result is
 * status and, if 200, body (len bytes, which stay put until o is sent);
 * 503 says "Retry-After". Returns the status, or -1 as route_request.
 */
int route_answer(struct out *o, int status, const char *body, size_t len,
		 bool keep);

/*
 * route_error: put a response with status (400, 501...) into o, for a
 * request refused before it was understood: "Connection: close".
 */
int route_error(struct out *o, int status);
/* ANCHOR_END: api */

#endif /* ROUTE_H */
