/*
 * http.c - parse an HTTP/1.1 request head, incrementally, without copying.
 *
 * It has the shape of picohttpparser, and works in two stages: find_end
 * looks at the new bytes only, for the empty line that ends the head, and
 * then parse_head reads the complete head once.
 *
 *	new bytes -> find_end -> no end yet: HTTP_PARTIAL (read, call again)
 *	                |        bare CR or LF: 400
 *	                v the end is there
 *	        parse_request_line -> malformed: 400; HTTP/2.0 and such: 505
 *	                v
 *	        parse_header_line, per line -> malformed: 400; too many: 431
 *	                v the empty line
 *	        the head's length: the body or the next request starts there
 *
 * Because the second stage only ever sees a complete head, it never has to
 * stop in the middle of a token and resume: there is no saved state, and the
 * same bytes always give the same answer however they were split.
 *
 * Where RFC 9112 lets a server choose between accepting and refusing (a
 * bare LF as a line end, folded lines, a list of Content-Length values),
 * this parser refuses: a server that reads a request one way while a
 * proxy in front of it reads it another is how request smuggling starts.
 * A bare LF is refused as soon as it arrives, not waited on.
 *
 * Sections: character classes, finding the end of the head, the request
 * line, header lines, the parser, spans, body framing, errors.
 */
#include <limits.h>
#include <string.h>

#include "http.h"

/*** character classes ***/

/* ANCHOR: classes */
/* tchar (RFC 9110 section 5.6.2): what a token (method, field name) holds. */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	/* c != 0: strchr(3) would find the string's own terminator. */
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* VCHAR (RFC 5234 appendix B.1): visible ASCII, '!' to '~'. */
static int is_vchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* OWS, "optional whitespace" (RFC 9110 section 5.6.3): space or tab. */
static int is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* ANCHOR_END: classes */

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* ASCII only, unlike tolower(3), whose answer depends on the locale. */
static unsigned char to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/*** finding the end of the head ***/

/* ANCHOR: find_end */
/*
 * find_end: look at the bytes buf[from, len) for the CR LF CR LF that ends
 * a head starting at start; at each LF, look back at the three bytes before
 * it. On success store the index just past the end in *end and return 0.
 * Otherwise return HTTP_PARTIAL (not there yet) or HTTP_BAD (a bare CR or
 * LF). No byte at or past len is examined.
 */
static int find_end(const char *buf, size_t len, size_t start, size_t from,
		    size_t *end)
{
	size_t i;

	for (i = from; i < len; i++) {
		if (buf[i] == '\r') {
			/* A CR must be followed by LF, now or later. */
			if (i + 1 < len && buf[i + 1] != '\n')
				return HTTP_BAD;
		} else if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return HTTP_BAD; /* bare LF: see the top */
			if (i >= start + 3 &&
			    memcmp(buf + i - 3, "\r\n\r\n", 4) == 0) {
				*end = i + 1;
				return 0;
			}
		}
	}
	return HTTP_PARTIAL;
}
/* ANCHOR_END: find_end */

/* line_end: the CR that ends the line at pos (find_end made sure of it). */
static size_t line_end(const char *buf, size_t pos, size_t end)
{
	while (pos < end && buf[pos] != '\r')
		pos++;
	return pos;
}

static struct http_span span(size_t off, size_t len)
{
	struct http_span s = {.off = off, .len = len};

	return s;
}

/*** the request line ***/

/* ANCHOR: request_line */
/*
 * parse_version: buf[pos, eol) must be "HTTP/1.0" or "HTTP/1.1" (RFC 9112
 * section 2.3; "HTTP" is case-sensitive). Stores the minor version.
 */
static int parse_version(const char *buf, size_t pos, size_t eol, int *minor)
{
	const char *v = buf + pos;

	if (eol - pos != 8 || memcmp(v, "HTTP/", 5) != 0 ||
	    !is_digit((unsigned char)v[5]) || v[6] != '.' ||
	    !is_digit((unsigned char)v[7]))
		return HTTP_BAD;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return HTTP_BAD_VERSION;
	*minor = v[7] - '0';
	return 0;
}

/*
 * parse_request_line: buf[pos, eol) is "method SP request-target SP
 * HTTP-version" (RFC 9112 section 3), with exactly one space between parts.
 */
static int parse_request_line(const char *buf, size_t pos, size_t eol,
			      struct http_request *req)
{
	size_t p = pos;

	/* method = token */
	while (p < eol && is_tchar((unsigned char)buf[p]))
		p++;
	if (p == pos || p == eol || buf[p] != ' ')
		return HTTP_BAD;
	req->method = span(pos, p - pos);

	/* request-target: at least one visible ASCII byte */
	pos = ++p;
	while (p < eol && is_vchar((unsigned char)buf[p]))
		p++;
	if (p == pos || p == eol || buf[p] != ' ')
		return HTTP_BAD;
	req->target = span(pos, p - pos);

	return parse_version(buf, p + 1, eol, &req->minor_version);
}
/* ANCHOR_END: request_line */

/*** header lines ***/

/* ANCHOR: header_line */
/*
 * parse_header_line: buf[pos, eol) is "field-name ':' OWS field-value OWS"
 * (RFC 9112 section 5). The value is stored without the OWS around it.
 */
static int parse_header_line(const char *buf, size_t pos, size_t eol,
			     struct http_header *h)
{
	size_t p = pos, value, value_end;

	/*
	 * A line starting with a space or tab continues the previous one
	 * (obs-fold, section 5.2) or, after the request-line, hides a field
	 * from some parsers but not others (section 2.2). Reject both.
	 */
	if (is_ows((unsigned char)buf[p]))
		return HTTP_BAD;

	/* field-name = token, then the colon with nothing between */
	while (p < eol && is_tchar((unsigned char)buf[p]))
		p++;
	if (p == pos || p == eol || buf[p] != ':')
		return HTTP_BAD;
	h->name = span(pos, p - pos);

	/* field-value, trimmed at both ends */
	p++;
	while (p < eol && is_ows((unsigned char)buf[p]))
		p++;
	value = p;
	value_end = eol;
	while (value_end > value && is_ows((unsigned char)buf[value_end - 1]))
		value_end--;
	h->value = span(value, value_end - value);
	return 0;
}
/* ANCHOR_END: header_line */

/*** the parser ***/

/* ANCHOR: parse_head */
/*
 * parse_head: buf[start, end) is a complete head, ending in CR LF CR LF.
 * Read the request line, then header lines until the empty one.
 */
static int parse_head(const char *buf, size_t start, size_t end,
		      struct http_request *req)
{
	size_t pos = start, eol = line_end(buf, pos, end);
	int r;

	r = parse_request_line(buf, pos, eol, req);
	if (r != 0)
		return r;
	req->nheaders = 0;
	for (pos = eol + 2; pos < end; pos = eol + 2) {
		eol = line_end(buf, pos, end);
		if (eol == pos)
			break; /* the empty line: the end of the head */
		if (req->nheaders == HTTP_MAX_HEADERS)
			return HTTP_TOO_MANY_HEADERS;
		r = parse_header_line(buf, pos, eol,
				      &req->headers[req->nheaders]);
		if (r != 0)
			return r;
		req->nheaders++;
	}
	return 0;
}
/* ANCHOR_END: parse_head */

/* ANCHOR: parse_request */
int http_parse_request(const char *buf, size_t len, size_t last_len,
		       struct http_request *req)
{
	size_t start = 0, from, end = 0;
	int r;

	/* RFC 9112 section 2.2: skip one empty line before the request. */
	if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
		start = 2;

	/*
	 * The previous call searched buf[0, last_len) and found no end, so
	 * the end, if it is here, is an LF at or past last_len (find_end
	 * looks back from each LF). Only the last byte seen is looked at
	 * again: it may be a CR whose LF had not arrived.
	 */
	from = (last_len >= 1 && last_len <= len) ? last_len - 1 : 0;
	if (from < start)
		from = start;

	r = find_end(buf, len, start, from, &end);
	if (r != 0)
		return r;
	if (end > INT_MAX)
		return HTTP_BAD; /* 2 GiB of head: its length is no int */
	r = parse_head(buf, start, end, req);
	if (r != 0)
		return r;
	return (int)end;
}
/* ANCHOR_END: parse_request */

/*** spans ***/

int http_span_eq(const char *buf, struct http_span s, const char *str)
{
	return strlen(str) == s.len && memcmp(buf + s.off, str, s.len) == 0;
}

int http_span_ieq(const char *buf, struct http_span s, const char *str)
{
	size_t i;

	if (strlen(str) != s.len)
		return 0;
	for (i = 0; i < s.len; i++)
		if (to_lower((unsigned char)buf[s.off + i]) !=
		    to_lower((unsigned char)str[i]))
			return 0;
	return 1;
}

int http_header_next(const struct http_request *req, const char *buf,
		     const char *name, int from)
{
	size_t i;

	for (i = from < 0 ? 0 : (size_t)from; i < req->nheaders; i++)
		if (http_span_ieq(buf, req->headers[i].name, name))
			return (int)i;
	return -1;
}

/*** body framing ***/

/* ANCHOR: content_length */
/*
 * parse_length: a Content-Length value is 1*DIGIT (RFC 9110 section 8.6):
 * no sign, no "0x", no spaces inside, not empty, and it must fit 64 bits.
 */
static int parse_length(const char *buf, struct http_span s, uint64_t *n)
{
	uint64_t v = 0;
	size_t i;

	if (s.len == 0)
		return HTTP_BAD;
	for (i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)buf[s.off + i];

		if (!is_digit(c))
			return HTTP_BAD;
		if (v > (UINT64_MAX - (c - '0')) / 10)
			return HTTP_BAD; /* overflow */
		v = v * 10 + (c - '0');
	}
	*n = v;
	return 0;
}
/* ANCHOR_END: content_length */

/* ANCHOR: body_framing */
int http_body_length(const struct http_request *req, const char *buf,
		     uint64_t *length)
{
	int te = http_header_next(req, buf, "transfer-encoding", 0);
	int i, seen = 0;
	uint64_t n;

	*length = 0; /* section 6.3: a request without either has no body */
	/*
	 * RFC 9112 section 6.1: both at once "ought to be handled as an
	 * error". A proxy that trusts one and a server that trusts the other
	 * disagree on where this request ends: request smuggling. Alone, a
	 * transfer coding this parser cannot read is 501 (section 6.1 again).
	 */
	if (te >= 0 && http_header_next(req, buf, "content-length", 0) >= 0)
		return HTTP_BAD;
	if (te >= 0)
		return HTTP_NOT_IMPLEMENTED;
	/* Every Content-Length line must hold the same number. */
	for (i = http_header_next(req, buf, "content-length", 0); i >= 0;
	     i = http_header_next(req, buf, "content-length", i + 1)) {
		if (parse_length(buf, req->headers[i].value, &n) != 0)
			return HTTP_BAD;
		if (seen && n != *length)
			return HTTP_BAD;
		*length = n;
		seen = 1;
	}
	return 0;
}
/* ANCHOR_END: body_framing */

/*** errors ***/

int http_error_status(int result)
{
	switch (result) {
	case HTTP_BAD:
		return 400;
	case HTTP_BAD_VERSION:
		return 505;
	case HTTP_TOO_MANY_HEADERS:
		return 431;
	case HTTP_NOT_IMPLEMENTED:
		return 501;
	default:
		return 500; /* HTTP_PARTIAL or a success: not an error */
	}
}
