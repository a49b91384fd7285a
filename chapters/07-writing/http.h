/*
 * http.h - an incremental HTTP/1.1 request-head parser.
 *
 * The contract is picohttpparser's (h2o/picohttpparser): the caller owns the
 * buffer, reads bytes into it, and calls http_parse_request after every read.
 * The parser never allocates and never keeps state between calls; it answers
 * with the length of the request head once the head is complete, HTTP_PARTIAL
 * while it is not, or an error code that names the response to send. What
 * it returns are (offset, length) pairs into the caller's buffer, not
 * pointers, which stay valid when the caller grows it with realloc(3).
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Results: >= 0 is success; http_error_status maps the others. */
enum http_result {
	HTTP_PARTIAL = -2,	     /* incomplete: read more, call again */
	HTTP_BAD = -1,		     /* malformed request: 400 */
	HTTP_BAD_VERSION = -3,	     /* HTTP/x.y but not 1.0 or 1.1: 505 */
	HTTP_TOO_MANY_HEADERS = -4,  /* more than HTTP_MAX_HEADERS: 431 */
	HTTP_NOT_IMPLEMENTED = -5,   /* a transfer coding we lack: 501 */
	HTTP_EXPECTATION_FAILED = -6 /* Expect other than 100-continue: 417 */
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
	struct http_span target; /* the request-target: "/", "/echo?x=1" */
	int minor_version;	 /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	size_t nheaders;	 /* how many entries of headers are used */
	struct http_header headers[HTTP_MAX_HEADERS]; /* in arrival order */
};

/*
 * http_parse_request: parse the request head at the start of buf[0, len),
 * bytes that need not end in NUL. last_len is len at the previous call on
 * this buffer, 0 the first time: the search for the head's end resumes
 * near there, so a head arriving one byte per read costs O(n), not
 * O(n^2). Returns the head's length in bytes (> 0; the body starts there),
 * HTTP_PARTIAL, or a negative enum http_result; fills req on success.
 */
int http_parse_request(const char *buf, size_t len, size_t last_len,
		       struct http_request *req);

/*
 * http_body_length: the body's length from the headers: Content-Length, or
 * 0 without it (RFC 9112 section 6.3). Returns 0, or HTTP_BAD, or
 * HTTP_NOT_IMPLEMENTED for Transfer-Encoding: this parser reads no
 * transfer coding.
 */
int http_body_length(const struct http_request *req, const char *buf,
		     uint64_t *length);

/*
 * http_expect: 1 if the client sent "Expect: 100-continue" and waits for a
 * "100 Continue" before it sends the body, 0 if it expects nothing,
 * HTTP_EXPECTATION_FAILED for any other expectation (RFC 9110 section
 * 10.1.1).
 */
int http_expect(const struct http_request *req, const char *buf);

/*
 * http_header_next: the index of the first header at or after index from
 * whose name is name (without regard to case), or -1.
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
