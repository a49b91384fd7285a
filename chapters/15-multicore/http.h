/*
 * http.h - an incremental HTTP/1.1 request-head parser.
 *
 * The contract is picohttpparser's (h2o/picohttpparser): the caller owns the
 * buffer, reads bytes into it, and calls http_parse_request after every read.
 * The parser never allocates and never keeps state between calls; it answers
 * with the length of the request head once the head is complete, HTTP_PARTIAL
 * while it is not, or an error code that names the response to send.
 *
 * What it returns are (offset, length) pairs into the caller's buffer, not
 * pointers: a caller that grows its buffer with realloc(3) keeps valid
 * results.
 *
 * The syntax is RFC 9112 (HTTP/1.1), read strictly. The choices where the RFC
 * lets a server pick are listed in http.c's opening comment.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Results. A result >= 0 means success (for http_parse_request: the number of
 * bytes the head took). The negative values are the reasons to stop;
 * http_error_status maps each to the status code a server should answer.
 */
enum http_result {
	HTTP_PARTIAL = -2,	     /* incomplete: read more, call again */
	HTTP_BAD = -1,		     /* malformed request: 400 */
	HTTP_BAD_VERSION = -3,	     /* HTTP/x.y but not 1.0 or 1.1: 505 */
	HTTP_HEAD_TOO_LARGE = -4,    /* head longer than max_head: 431 */
	HTTP_TOO_MANY_HEADERS = -5,  /* more than HTTP_MAX_HEADERS: 431 */
	HTTP_BODY_TOO_LARGE = -6,    /* body longer than max_body: 413 */
	HTTP_NOT_IMPLEMENTED = -7,   /* a transfer coding we lack: 501 */
	HTTP_EXPECTATION_FAILED = -8 /* Expect other than 100-continue: 417 */
};

/* The most header lines one request may have; one more is 431. */
#define HTTP_MAX_HEADERS 64

/* A piece of the caller's buffer: bytes [off, off + len). */
struct http_span {
	size_t off; /* where it starts, counted from the buffer's start */
	size_t len; /* how many bytes; 0 for an empty value */
};

/* One header line, "name: value", with the value's outer whitespace cut. */
struct http_header {
	struct http_span name;	/* the field name, as sent (case kept) */
	struct http_span value; /* the field value, without leading and
				   trailing spaces and tabs */
};

/* What http_parse_request found. Valid only when it returned > 0. */
struct http_request {
	struct http_span method; /* "GET", "POST", ...: a token */
	struct http_span target; /* the request-target: "/", "/echo?x=1";
				    of "http://host/x?y", "/x?y" (empty for
				    "http://host", which means "/") */
	int minor_version;	 /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	size_t nheaders;	 /* how many entries of headers are used */
	struct http_header headers[HTTP_MAX_HEADERS]; /* in arrival order */
};

/*
 * http_parse_request: parse the request head at the start of buf.
 *
 *	buf, len   the bytes received so far (they need not end in NUL)
 *	last_len   len at the previous call on this buffer, 0 the first time:
 *	           the search for the head's end resumes near there instead of
 *	           rescanning from byte 0, so a head arriving one byte per read
 *	           costs O(n), not O(n^2)
 *	max_head   the longest head accepted, in bytes (at most INT_MAX)
 *	req        filled in on success
 *
 * Returns the head's length in bytes (> 0; the body, or the next request,
 * starts there), HTTP_PARTIAL, or a negative enum http_result. Host is
 * checked here (RFC 9112 section 3.2): missing in HTTP/1.1, twice, or
 * invalid is HTTP_BAD.
 */
int http_parse_request(const char *buf, size_t len, size_t last_len,
		       size_t max_head, struct http_request *req);

/* How the body of a request is delimited (RFC 9112 section 6.3). */
enum http_body_kind {
	HTTP_BODY_NONE,	  /* no Content-Length, no Transfer-Encoding */
	HTTP_BODY_LENGTH, /* Content-Length: exactly length bytes follow */
	HTTP_BODY_CHUNKED /* Transfer-Encoding: chunked */
};

/* The answer of http_body_framing. */
struct http_body {
	enum http_body_kind kind; /* which of the three */
	uint64_t length;	  /* for HTTP_BODY_LENGTH: the byte count */
};

/*
 * http_body_framing: decide from the headers how the body is delimited.
 * A Content-Length above max_body is HTTP_BODY_TOO_LARGE before a byte of
 * the body is read. Returns 0, or HTTP_BAD, HTTP_BODY_TOO_LARGE or
 * HTTP_NOT_IMPLEMENTED.
 */
int http_body_framing(const struct http_request *req, const char *buf,
		      uint64_t max_body, struct http_body *out);

/*
 * http_expect: 1 if the client sent "Expect: 100-continue" and waits for a
 * "100 Continue" before it sends the body, 0 if it expects nothing,
 * HTTP_EXPECTATION_FAILED for any other expectation (RFC 9110 section
 * 10.1.1).
 */
int http_expect(const struct http_request *req, const char *buf);

/*
 * http_connection_has: 1 if a Connection header lists token (compared
 * without regard to case: "close", "keep-alive"), else 0.
 */
int http_connection_has(const struct http_request *req, const char *buf,
			const char *token);

/*
 * http_keep_alive: 1 if the connection may carry another request after this
 * one: HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
 * "Connection: keep-alive" (RFC 9112 section 9.3).
 */
int http_keep_alive(const struct http_request *req, const char *buf);

/*
 * http_header_next: the index of the first header at or after index from
 * whose name is name (without regard to case), or -1. To visit them all:
 *
 *	for (i = http_header_next(req, buf, "te", 0); i >= 0;
 *	     i = http_header_next(req, buf, "te", i + 1))
 */
int http_header_next(const struct http_request *req, const char *buf,
		     const char *name, int from);

/* http_span_eq: 1 if the span holds exactly the string s (case counts). */
int http_span_eq(const char *buf, struct http_span span, const char *s);

/* http_span_ieq: the same, ASCII letters compared without regard to case. */
int http_span_ieq(const char *buf, struct http_span span, const char *s);

/* http_error_status: the status code to answer for an error result. */
int http_error_status(int result);

#endif /* HTTP_H */
