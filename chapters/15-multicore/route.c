/*
 * route.c - the routes of route.h, and the head of every response.
 *
 * Sections: responses, the routes.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "route.h"

/*** responses ***/

/* reason: the reason phrase for the status codes this server sends. */
static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* ANCHOR: head */
/*
 * head: the status line and headers for a body of length bytes; allow, if
 * not NULL, is the Allow header's value (405). keep says whether the
 * connection stays open after this response: "Connection: keep-alive"
 * (which an HTTP/1.0 client needs to hear, and an HTTP/1.1 one may), or
 * "Connection: close", said before closing (RFC 9112 section 9.6).
 */
static int head(struct out *o, int status, uint64_t length, const char *allow,
		bool keep)
{
	if (out_printf(o,
		       "HTTP/1.1 %d %s\r\n"
		       "Content-Type: text/plain\r\n"
		       "Content-Length: %" PRIu64 "\r\n"
		       "%s%s%s"
		       "Connection: %s\r\n"
		       "\r\n",
		       status, reason(status), length, allow ? "Allow: " : "",
		       allow ? allow : "", allow ? "\r\n" : "",
		       keep ? "keep-alive" : "close") == -1)
		return -1;
	return status;
}
/* ANCHOR_END: head */

/* text: a response whose body is the constant string body. */
static int text(struct out *o, int status, const char *body, const char *allow,
		bool keep)
{
	size_t len = strlen(body);

	out_bytes(o, body, len);
	return head(o, status, len, allow, keep);
}

/* The body of an error response is its reason phrase, for a human. */
int route_error(struct out *o, int status)
{
	return text(o, status, reason(status), NULL, false);
}

/* not_allowed: 405, and the methods this path allows (RFC 9110 15.5.6). */
static int not_allowed(struct out *o, const char *allow, bool keep)
{
	return text(o, 405, reason(405), allow, keep);
}

/* ANCHOR: answer */
/*
 * RETRY_AFTER: what a 503 tells the client to wait, in seconds (RFC 9110
 * section 10.2.3): a full queue empties as fast as the workers go.
 */
#define RETRY_AFTER 1

int route_answer(struct out *o, int status, const char *body, size_t len,
		 bool keep)
{
	if (status == 200) {
		out_bytes(o, body, len);
		return head(o, 200, len, NULL, keep);
	}
	if (status == 503) { /* text's head, and one header more */
		const char *r = reason(503);

		out_bytes(o, r, strlen(r));
		if (out_printf(o,
			       "HTTP/1.1 503 %s\r\n"
			       "Retry-After: %d\r\n"
			       "Content-Type: text/plain\r\n"
			       "Content-Length: %zu\r\n"
			       "Connection: %s\r\n"
			       "\r\n",
			       r, RETRY_AFTER, strlen(r),
			       keep ? "keep-alive" : "close") == -1)
			return -1;
		return 503;
	}
	return text(o, status, reason(status), NULL, keep);
}
/* ANCHOR_END: answer */

/*** the routes ***/

/*
 * prefixed: the path starts with prefix, followed by at least one byte;
 * *rest is what follows.
 */
static bool prefixed(const char *buf, struct http_span path,
		     const char *prefix, struct http_span *rest)
{
	size_t n = strlen(prefix);

	if (path.len <= n || memcmp(buf + path.off, prefix, n) != 0)
		return false;
	*rest = (struct http_span){.off = path.off + n, .len = path.len - n};
	return true;
}

/*
 * parse_count: buf[off, off + len) as a decimal count of at most
 * ROUTE_BYTES_MAX: 0 and *n, or -1.
 */
static int parse_count(const char *buf, size_t off, size_t len, uint64_t *n)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = off; i < off + len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > ROUTE_BYTES_MAX)
			return -1; /* and no overflow, however long */
	}
	*n = v;
	return 0;
}

/* ANCHOR: route */
int route_request(struct out *o, const char *buf, struct http_span method,
		  struct http_span target, const char *body, size_t body_len,
		  bool keep, struct route_work *work)
{
	static const char bytes[] = "/bytes/";
	const size_t bytes_len = sizeof(bytes) - 1;
	struct http_span path = target;
	const char *q = memchr(buf + target.off, '?', target.len);
	/* HEAD is routed as GET; conn.c's respond drops the body. */
	bool get = http_span_eq(buf, method, "GET") ||
		   http_span_eq(buf, method, "HEAD");
	uint64_t n;

	if (q)
		path.len = (size_t)(q - (buf + target.off));
	/* An empty path (from "http://host", see http.h) is "/". */
	if (path.len == 0 || http_span_eq(buf, path, "/"))
		return get ? text(o, 200, "Hello", NULL, keep)
			   : not_allowed(o, "GET, HEAD", keep);
	if (http_span_eq(buf, path, "/echo")) {
		if (!http_span_eq(buf, method, "POST"))
			return not_allowed(o, "POST", keep);
		out_bytes(o, body, body_len);
		return head(o, 200, body_len, NULL, keep);
	}
	if (path.len >= bytes_len &&
	    memcmp(buf + path.off, bytes, bytes_len) == 0) {
		if (!get)
			return not_allowed(o, "GET, HEAD", keep);
		if (parse_count(buf, path.off + bytes_len,
				path.len - bytes_len, &n) == -1)
			return text(o, 400, reason(400), NULL, keep);
		out_pattern(o, n);
		return head(o, 200, n, NULL, keep);
	}
	if (prefixed(buf, path, "/files/", &work->arg) ||
	    prefixed(buf, path, "/lookup/", &work->arg)) {
		if (!get)
			return not_allowed(o, "GET, HEAD", keep);
		work->kind = buf[path.off + 1] == 'f' ? WORK_FILE : WORK_LOOKUP;
		return ROUTE_WORK;
	}
	return text(o, 404, reason(404), NULL, keep);
}
/* ANCHOR_END: route */
