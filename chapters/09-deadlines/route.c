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
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* ANCHOR: head */
/*
 * head: the status line and headers for a body of length bytes; allow, if
 * not NULL, is the Allow header's value (405). Connection: close, because
 * the server closes every connection after one response, and says so (RFC
 * 9112 section 9.6).
 */
static int head(struct out *o, int status, uint64_t length, const char *allow)
{
	if (out_printf(o,
		       "HTTP/1.1 %d %s\r\n"
		       "Content-Type: text/plain\r\n"
		       "Content-Length: %" PRIu64 "\r\n"
		       "%s%s%s"
		       "Connection: close\r\n"
		       "\r\n",
		       status, reason(status), length, allow ? "Allow: " : "",
		       allow ? allow : "", allow ? "\r\n" : "") == -1)
		return -1;
	return status;
}
/* ANCHOR_END: head */

/* text: a response whose body is the constant string body. */
static int text(struct out *o, int status, const char *body, const char *allow)
{
	size_t len = strlen(body);

	out_bytes(o, body, len);
	return head(o, status, len, allow);
}

/* The body of an error response is its reason phrase, for a human. */
int route_error(struct out *o, int status)
{
	return text(o, status, reason(status), NULL);
}

/* not_allowed: 405, and the methods this path allows (RFC 9110 15.5.6). */
static int not_allowed(struct out *o, const char *allow)
{
	return text(o, 405, reason(405), allow);
}

/*** the routes ***/

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
		  struct http_span target, const char *body, size_t body_len)
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
		return get ? text(o, 200, "Hello", NULL)
			   : not_allowed(o, "GET, HEAD");
	if (http_span_eq(buf, path, "/echo")) {
		if (!http_span_eq(buf, method, "POST"))
			return not_allowed(o, "POST");
		out_bytes(o, body, body_len);
		return head(o, 200, body_len, NULL);
	}
	if (path.len >= bytes_len &&
	    memcmp(buf + path.off, bytes, bytes_len) == 0) {
		if (!get)
			return not_allowed(o, "GET, HEAD");
		if (parse_count(buf, path.off + bytes_len,
				path.len - bytes_len, &n) == -1)
			return route_error(o, 400);
		out_pattern(o, n);
		return head(o, 200, n, NULL);
	}
	return route_error(o, 404);
}
/* ANCHOR_END: route */
