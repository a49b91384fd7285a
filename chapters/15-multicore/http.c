/*
 * http.c - parse an HTTP/1.1 request head, incrementally, without copying.
 *
 * The parser has the shape of picohttpparser, and each of its rules is a
 * case in common/http_test.c, run at every split point; from a chapter's
 * directory:
 *
 *	cc -I. ../../common/http_test.c http.c -o http_test && ./http_test
 *
 * How it works, in two stages, each a function:
 *
 *	find_end     looks at the new bytes only, for the empty line that ends
 *	             the head. Until it is there, the answer is HTTP_PARTIAL
 *	             and nothing else is parsed, so a head that arrives one
 *	             byte per read costs O(n) in all, not O(n^2).
 *	parse_head   then reads the complete head once: parse_request_line,
 *	             then parse_header_line per line up to the empty one.
 *
 *	new bytes -> find_end -> no end yet: HTTP_PARTIAL (read, call again)
 *	                |        bare CR or LF: 400; max_head bytes: 431
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
 * Choices the RFC leaves to the server (RFC 9112 unless said otherwise):
 *
 *	- Lines end in CRLF. A bare LF is rejected (400), although section 2.2
 *	  allows accepting it: a server and a proxy that disagree about where
 *	  a line ends is how request smuggling starts. It is rejected as soon
 *	  as it arrives, so a client sending bare LFs gets its 400 at once
 *	  rather than waiting for a head end that will never come. A bare CR
 *	  is rejected too (section 2.2 allows that or reading it as a space).
 *	- One empty line before the request-line is skipped (section 2.2 says
 *	  a server SHOULD ignore at least one: some clients send CRLF after a
 *	  POST body).
 *	- The request-line is method SP target SP version, with single spaces.
 *	  The target is visible ASCII only (section 3.2: a URI has no room for
 *	  anything else).
 *	- The version is exactly "HTTP/1.0" or "HTTP/1.1". Another well-formed
 *	  "HTTP/d.d" is 505 Version Not Supported; anything else ("HTTP/1",
 *	  "http/1.1", "HTTP/1.10") is 400. (RFC 9110 section 2.5 suggests
 *	  treating HTTP/1.2 as 1.1; no such version exists, so we refuse it.)
 *	- A header line that starts with a space or tab is rejected: it is
 *	  either obs-fold (section 5.2) or whitespace before the first field
 *	  (section 2.2); so is a space before the colon (section 5.1).
 *	- Content-Length: repeated lines with the same value are accepted;
 *	  differing values are 400. A comma list ("5, 5") is 400: the RFC
 *	  (section 6.3) lets a server accept a list of identical values, but
 *	  "the value is 1*DIGIT" is one rule with no exceptions to get wrong.
 *	- Host (section 3.2): an HTTP/1.1 request without it, any request
 *	  with two, or with a value that is not host[:port], is 400. An
 *	  IPv6 literal is checked loosely (hex digits, colons and dots).
 *	- An absolute-form target ("http://host/path", section 3.2.2) is
 *	  served by its path. Its authority must be valid, but need not
 *	  match Host: the RFC says to use the target's and ignore Host's,
 *	  and this server serves every host alike.
 *	- Transfer-Encoding with Content-Length is 400 (section 6.1: the
 *	  classic smuggling setup). A list whose last coding is not chunked
 *	  is 400 (section 6.3), and so are chunked twice, an empty list, or
 *	  Transfer-Encoding in an HTTP/1.0 request; another coding before
 *	  the final chunked ("gzip, chunked") is 501.
 *
 * Sections: character classes, finding the end of the head, the request
 * line, header lines, Host and the target's authority, the parser, lists
 * and spans, body framing, Expect and Connection, errors.
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

/*
 * What a field value may hold (RFC 9110 section 5.5): visible ASCII,
 * obs-text (0x80-0xff, which we pass through untouched), space and tab. Not
 * NUL, not any other control character, not DEL.
 */
static int is_value_char(unsigned char c)
{
	return is_vchar(c) || c >= 0x80 || is_ows(c);
}
/* ANCHOR_END: classes */

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
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
 * Otherwise return HTTP_PARTIAL (not there yet), HTTP_BAD (a bare CR or LF)
 * or HTTP_HEAD_TOO_LARGE (max_head bytes and still no end).
 *
 * Only bytes below max_head are examined, never any at or past len.
 */
static int find_end(const char *buf, size_t len, size_t start, size_t from,
		    size_t max_head, size_t *end)
{
	size_t limit = len < max_head ? len : max_head;
	size_t i;

	for (i = from; i < limit; i++) {
		if (buf[i] == '\r') {
			/* A CR must be followed by LF, now or later. */
			if (i + 1 < limit && buf[i + 1] != '\n')
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
	return len >= max_head ? HTTP_HEAD_TOO_LARGE : HTTP_PARTIAL;
}
/* ANCHOR_END: find_end */

/*
 * line_end: the index of the CR that ends the line starting at pos. In a
 * head that find_end accepted every CR starts a CRLF, and the head ends with
 * one, so the search stops before end.
 */
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

	/* field-value, checked byte by byte, then trimmed at both ends */
	p++;
	while (p < eol && is_ows((unsigned char)buf[p]))
		p++;
	value = p;
	for (; p < eol; p++)
		if (!is_value_char((unsigned char)buf[p]))
			return HTTP_BAD;
	value_end = eol;
	while (value_end > value && is_ows((unsigned char)buf[value_end - 1]))
		value_end--;
	h->value = span(value, value_end - value);
	return 0;
}
/* ANCHOR_END: header_line */

/*** Host and the target's authority ***/

/* What a reg-name may hold besides %HH (RFC 3986 section 3.2.2). */
static int is_host_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return 1;
	return c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL;
}

/*
 * is_authority: buf[p, end) is host [":" port] (RFC 9110 section 7.2).
 * The host is an IPv6 literal in brackets, read loosely (hex digits,
 * colons, dots), or a reg-name, which covers IPv4 addresses too; the port
 * is digits. need_host refuses an empty host, which a Host header may
 * have (RFC 9110 section 7.2) but an http URI may not (section 4.2.1).
 */
static int is_authority(const char *buf, size_t p, size_t end, int need_host)
{
	size_t host = p, colons = 0;

	if (p < end && buf[p] == '[') {
		for (p++; p < end && buf[p] != ']'; p++) {
			if (buf[p] == ':')
				colons++;
			else if (buf[p] != '.' &&
				 !is_hex((unsigned char)buf[p]))
				return 0;
		}
		if (p == end || colons == 0)
			return 0;
		p++; /* the ']' */
	} else {
		while (p < end) {
			if (buf[p] == '%' && end - p >= 3 &&
			    is_hex((unsigned char)buf[p + 1]) &&
			    is_hex((unsigned char)buf[p + 2]))
				p += 3;
			else if (is_host_char((unsigned char)buf[p]))
				p++;
			else
				break;
		}
	}
	if (need_host && p == host)
		return 0;
	if (p < end && buf[p] == ':') {
		p++;
		while (p < end && is_digit((unsigned char)buf[p]))
			p++;
	}
	return p == end;
}

/* ANCHOR: host */
/*
 * check_host: RFC 9112 section 3.2: a server MUST answer 400 to an
 * HTTP/1.1 request without Host, and to any request with more than one
 * Host line or an invalid one. (HTTP/1.0 did not require Host.)
 */
static int check_host(const struct http_request *req, const char *buf)
{
	int i = http_header_next(req, buf, "host", 0);
	struct http_span v;

	if (i < 0)
		return req->minor_version == 1 ? HTTP_BAD : 0;
	if (http_header_next(req, buf, "host", i + 1) >= 0)
		return HTTP_BAD;
	v = req->headers[i].value;
	return is_authority(buf, v.off, v.off + v.len, 0) ? 0 : HTTP_BAD;
}
/* ANCHOR_END: host */

/* ANCHOR: absolute_form */
/*
 * absolute_form: a target "http://authority/path?query" (RFC 9112 section
 * 3.2.2; a client sends it to a proxy, and a server MUST accept it too).
 * Its authority must be valid, with a host (RFC 9110 section 4.2.1); the
 * target is then narrowed to the path and query, which the routes read as
 * they read an origin-form target. "http://host" has an empty path, which
 * means "/" (RFC 9112 section 3.2.1). Any other target is left as it is.
 */
static int absolute_form(const char *buf, struct http_request *req)
{
	struct http_span t = req->target;
	size_t p, end = t.off + t.len;

	if (t.len >= 7 && http_span_ieq(buf, span(t.off, 7), "http://"))
		p = t.off + 7;
	else if (t.len >= 8 && http_span_ieq(buf, span(t.off, 8), "https://"))
		p = t.off + 8;
	else
		return 0;
	t.off = p;
	while (p < end && buf[p] != '/' && buf[p] != '?')
		p++;
	if (!is_authority(buf, t.off, p, 1))
		return HTTP_BAD;
	req->target = span(p, end - p);
	return 0;
}
/* ANCHOR_END: absolute_form */

/*** the parser ***/

/* ANCHOR: parse_head */
/*
 * parse_head: buf[start, end) is a complete head, ending in CR LF CR LF.
 * Read the request line, then header lines until the empty one; then the
 * rules that need the whole head (Host).
 */
static int parse_head(const char *buf, size_t start, size_t end,
		      struct http_request *req)
{
	size_t pos = start, eol = line_end(buf, pos, end);
	int r;

	r = parse_request_line(buf, pos, eol, req);
	if (r == 0)
		r = absolute_form(buf, req);
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
	return check_host(req, buf);
}
/* ANCHOR_END: parse_head */

/* ANCHOR: parse_request */
int http_parse_request(const char *buf, size_t len, size_t last_len,
		       size_t max_head, struct http_request *req)
{
	size_t start = 0, from, end = 0;
	int r;

	if (max_head > INT_MAX)
		max_head = INT_MAX; /* the length must fit the int result */

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

	r = find_end(buf, len, start, from, max_head, &end);
	if (r != 0)
		return r;
	r = parse_head(buf, start, end, req);
	if (r != 0)
		return r;
	return (int)end;
}
/* ANCHOR_END: parse_request */

/*** lists and spans ***/

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

/*
 * list_next: take the next element of a comma-separated list (RFC 9110
 * section 5.6.1) off the front of *rest into *elem, without the OWS around
 * it. Empty elements ("a, , b") are skipped, as that section asks. Returns
 * 0 when the list is used up.
 */
static int list_next(const char *buf, struct http_span *rest,
		     struct http_span *elem)
{
	while (rest->len > 0) {
		size_t b = rest->off, e = b, stop = rest->off + rest->len;

		while (e < stop && buf[e] != ',')
			e++;
		rest->len = stop - e - (e < stop); /* past the comma */
		rest->off = e + (e < stop);
		while (b < e && is_ows((unsigned char)buf[b]))
			b++;
		while (e > b && is_ows((unsigned char)buf[e - 1]))
			e--;
		if (e > b) {
			*elem = span(b, e - b);
			return 1;
		}
	}
	return 0;
}

/*
 * list_has: 1 if some header called name lists token, else 0.
 * Both are compared without regard to case.
 */
static int list_has(const struct http_request *req, const char *buf,
		    const char *name, const char *token)
{
	struct http_span rest, elem;
	int i;

	for (i = http_header_next(req, buf, name, 0); i >= 0;
	     i = http_header_next(req, buf, name, i + 1)) {
		rest = req->headers[i].value;
		while (list_next(buf, &rest, &elem))
			if (http_span_ieq(buf, elem, token))
				return 1;
	}
	return 0;
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

/* content_length: every Content-Length line must hold the same number. */
static int content_length(const struct http_request *req, const char *buf,
			  uint64_t max_body, struct http_body *out)
{
	uint64_t n;
	int i, seen = 0;

	for (i = http_header_next(req, buf, "content-length", 0); i >= 0;
	     i = http_header_next(req, buf, "content-length", i + 1)) {
		if (parse_length(buf, req->headers[i].value, &n) != 0)
			return HTTP_BAD;
		if (seen && n != out->length)
			return HTTP_BAD;
		out->length = n;
		seen = 1;
	}
	if (out->length > max_body)
		return HTTP_BODY_TOO_LARGE;
	out->kind = HTTP_BODY_LENGTH;
	return 0;
}
/* ANCHOR_END: content_length */

/* ANCHOR: transfer_coding */
/*
 * is_coding: a list element is a transfer-coding: a token, perhaps with
 * parameters after a ';' (RFC 9112 section 7), which are not read.
 */
static int is_coding(const char *buf, struct http_span e)
{
	size_t p = e.off, end = e.off + e.len;

	while (p < end && is_tchar((unsigned char)buf[p]))
		p++;
	if (p == e.off)
		return 0;
	while (p < end && is_ows((unsigned char)buf[p]))
		p++;
	return p == end || buf[p] == ';';
}

/*
 * transfer_coding: the codings of all Transfer-Encoding lines, in order.
 * RFC 9112 section 6.3: if the last is not chunked, the body's length
 * cannot be known: 400, and the connection closes. Chunked is applied
 * once (section 6.1). Before it, any other coding is one we do not
 * implement: 501 (section 6.1 again).
 */
static int transfer_coding(const struct http_request *req, const char *buf,
			   struct http_body *out)
{
	struct http_span rest, elem;
	int i, chunked = 0, other = 0;

	/* Section 6.1: in HTTP/1.0, Transfer-Encoding means faulty framing. */
	if (req->minor_version == 0)
		return HTTP_BAD;
	for (i = http_header_next(req, buf, "transfer-encoding", 0); i >= 0;
	     i = http_header_next(req, buf, "transfer-encoding", i + 1)) {
		rest = req->headers[i].value;
		while (list_next(buf, &rest, &elem)) {
			if (chunked || !is_coding(buf, elem))
				return HTTP_BAD; /* after chunked, or junk */
			if (http_span_ieq(buf, elem, "chunked"))
				chunked = 1;
			else
				other = 1;
		}
	}
	if (!chunked)
		return HTTP_BAD; /* empty, or chunked is not last */
	if (other)
		return HTTP_NOT_IMPLEMENTED;
	out->kind = HTTP_BODY_CHUNKED;
	return 0;
}
/* ANCHOR_END: transfer_coding */

/* ANCHOR: body_framing */
int http_body_framing(const struct http_request *req, const char *buf,
		      uint64_t max_body, struct http_body *out)
{
	int te = http_header_next(req, buf, "transfer-encoding", 0);
	int cl = http_header_next(req, buf, "content-length", 0);

	out->kind = HTTP_BODY_NONE;
	out->length = 0;
	/*
	 * RFC 9112 section 6.1: both at once "ought to be handled as an
	 * error". A proxy that trusts one and a server that trusts the other
	 * disagree on where this request ends: request smuggling.
	 */
	if (te >= 0 && cl >= 0)
		return HTTP_BAD;
	if (te >= 0)
		return transfer_coding(req, buf, out);
	if (cl >= 0)
		return content_length(req, buf, max_body, out);
	return 0; /* section 6.3: a request without either has no body */
}
/* ANCHOR_END: body_framing */

/*** Expect and Connection ***/

/* ANCHOR: expect */
int http_expect(const struct http_request *req, const char *buf)
{
	struct http_span rest, elem;
	int i, cont = 0;

	for (i = http_header_next(req, buf, "expect", 0); i >= 0;
	     i = http_header_next(req, buf, "expect", i + 1)) {
		rest = req->headers[i].value;
		while (list_next(buf, &rest, &elem)) {
			if (!http_span_ieq(buf, elem, "100-continue"))
				return HTTP_EXPECTATION_FAILED;
			cont = 1;
		}
	}
	/*
	 * RFC 9110 section 10.1.1: a server MUST ignore 100-continue in an
	 * HTTP/1.0 request (a 1.0 client cannot read a 1xx response).
	 */
	return cont && req->minor_version == 1;
}
/* ANCHOR_END: expect */

int http_connection_has(const struct http_request *req, const char *buf,
			const char *token)
{
	return list_has(req, buf, "connection", token);
}

int http_keep_alive(const struct http_request *req, const char *buf)
{
	if (http_connection_has(req, buf, "close"))
		return 0;
	if (req->minor_version == 1)
		return 1;
	return http_connection_has(req, buf, "keep-alive");
}

/*** errors ***/

int http_error_status(int result)
{
	switch (result) {
	case HTTP_BAD:
		return 400;
	case HTTP_BAD_VERSION:
		return 505;
	case HTTP_HEAD_TOO_LARGE:
	case HTTP_TOO_MANY_HEADERS:
		return 431;
	case HTTP_BODY_TOO_LARGE:
		return 413;
	case HTTP_NOT_IMPLEMENTED:
		return 501;
	case HTTP_EXPECTATION_FAILED:
		return 417;
	default:
		return 500; /* HTTP_PARTIAL or a success: not an error */
	}
}
