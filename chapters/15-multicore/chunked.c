/*
 * chunked.c - the chunked transfer coding of RFC 9112 section 7.1, decoded
 * one read at a time.
 *
 * The server accepts a chunked request body with the same limit on the
 * decoded body as on a Content-Length one. The test program runs every
 * case at every split point; from a chapter's directory:
 *
 *	cc -DTEST_CHUNKED -I. ../../common/http_test.c http.c chunked.c \
 *	   -o http_test && ./http_test
 *
 * The decoder is a state machine over bytes (enum http_chunked_state in
 * chunked.h), except in chunk data, which it moves in one memmove(3) per
 * call. As in http.c, line ends are CRLF and nothing else: a bare LF after a
 * chunk-size is 400. Chunk extensions are skipped, as the RFC allows, but
 * their bytes are checked and their length bounded; the trailer section is
 * read, bounded, and thrown away (section 7.1.2 allows a server to discard
 * trailer fields).
 *
 * Sections: hex digits, one byte, the decoder.
 */
#include <string.h>

#include "chunked.h"

/*** hex digits ***/

/* hex_value: the value of a hex digit (either case), or -1. */
static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* is_ctl: a control character, 0x00-0x1f or DEL. */
static int is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* ANCHOR: size_digit */
/*
 * size_digit: add one hex digit to the chunk-size being read. The size is
 * checked against what max_body still allows at each digit, so a client
 * announcing a huge chunk hears 413 before it sends any of it.
 */
static int size_digit(struct http_chunked *d, int v)
{
	if (d->chunk_left > (UINT64_MAX >> 4))
		return HTTP_BAD; /* more than 64 bits */
	d->chunk_left = d->chunk_left * 16 + (uint64_t)v;
	d->digits++;
	/* total <= max_body always holds, so this cannot wrap. */
	if (d->chunk_left > d->max_body - d->total)
		return HTTP_BODY_TOO_LARGE;
	return 0;
}
/* ANCHOR_END: size_digit */

/*** one byte ***/

/* ANCHOR: size_line */
/* size_line: a byte of "chunk-size [ chunk-ext ] CRLF". */
static int size_line(struct http_chunked *d, unsigned char c)
{
	int v = hex_value(c);

	if (c != '\r' && ++d->line_len > HTTP_CHUNK_LINE_MAX)
		return HTTP_BAD;
	if (d->state == CHUNKED_SIZE && v >= 0)
		return size_digit(d, v);
	if (d->state == CHUNKED_SIZE && d->digits == 0)
		return HTTP_BAD; /* the line must start with a digit */
	if (c == '\r') {
		d->state = CHUNKED_SIZE_LF;
		return 0;
	}
	/*
	 * chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): after the
	 * digits, only whitespace and then ';' may come ("5 junk" and "5 5"
	 * are not sizes: lenient chunk lines are what request smuggling
	 * feeds on). The extension itself we skip, but it may hold no
	 * control character but tab (so no bare LF).
	 */
	if (d->state != CHUNKED_EXT) {
		if (c == ' ' || c == '\t') {
			d->state = CHUNKED_SIZE_BWS;
			return 0;
		}
		if (c != ';')
			return HTTP_BAD;
	}
	if (is_ctl(c) && c != '\t')
		return HTTP_BAD;
	d->state = CHUNKED_EXT;
	return 0;
}
/* ANCHOR_END: size_line */

/* ANCHOR: trailer */
/*
 * trailer: a byte of the trailer section: field lines, then an empty line.
 * The lines are not parsed, only bounded and checked for stray controls.
 */
static int trailer(struct http_chunked *d, unsigned char c)
{
	if (d->state == CHUNKED_TRAILER && c == '\r') {
		d->state = CHUNKED_END_LF; /* the empty line: the end */
		return 0;
	}
	if (++d->trailer_len > HTTP_TRAILER_MAX)
		return HTTP_HEAD_TOO_LARGE;
	switch (d->state) {
	case CHUNKED_TRAILER:
		if (c == ' ' || c == '\t' || is_ctl(c))
			return HTTP_BAD; /* obs-fold, or a control */
		d->state = CHUNKED_FIELD;
		return 0;
	case CHUNKED_FIELD:
		if (c == '\r')
			d->state = CHUNKED_FIELD_LF;
		else if (is_ctl(c) && c != '\t')
			return HTTP_BAD;
		return 0;
	default: /* CHUNKED_FIELD_LF */
		if (c != '\n')
			return HTTP_BAD;
		d->state = CHUNKED_TRAILER;
		return 0;
	}
}
/* ANCHOR_END: trailer */

/* ANCHOR: step */
/* step: take one byte of framing (anything but chunk data). */
static int step(struct http_chunked *d, unsigned char c)
{
	switch (d->state) {
	case CHUNKED_SIZE:
	case CHUNKED_SIZE_BWS:
	case CHUNKED_EXT:
		return size_line(d, c);
	case CHUNKED_SIZE_LF:
		if (c != '\n')
			return HTTP_BAD;
		/* A zero size is the last chunk; the trailer follows. */
		d->state = d->chunk_left ? CHUNKED_DATA : CHUNKED_TRAILER;
		return 0;
	case CHUNKED_DATA_CR:
		if (c != '\r')
			return HTTP_BAD; /* more data than the size said */
		d->state = CHUNKED_DATA_LF;
		return 0;
	case CHUNKED_DATA_LF:
		if (c != '\n')
			return HTTP_BAD;
		d->state = CHUNKED_SIZE;
		d->chunk_left = 0;
		d->digits = 0;
		d->line_len = 0;
		return 0;
	case CHUNKED_TRAILER:
	case CHUNKED_FIELD:
	case CHUNKED_FIELD_LF:
		return trailer(d, c);
	case CHUNKED_END_LF:
		if (c != '\n')
			return HTTP_BAD;
		d->state = CHUNKED_DONE;
		return 0;
	default: /* CHUNKED_DATA and CHUNKED_DONE take no single bytes */
		return HTTP_BAD;
	}
}
/* ANCHOR_END: step */

/*** the decoder ***/

void http_chunked_init(struct http_chunked *d, uint64_t max_body)
{
	memset(d, 0, sizeof(*d));
	d->state = CHUNKED_SIZE;
	d->max_body = max_body;
}

/* ANCHOR: decode */
ptrdiff_t http_chunked_decode(struct http_chunked *d, char *buf, size_t *len)
{
	size_t src = 0, dst = 0, n = *len;
	ptrdiff_t result;
	int r;

	for (;;) {
		if (d->state == CHUNKED_DONE) {
			/* What follows the body goes right after its data. */
			result = (ptrdiff_t)(n - src);
			memmove(buf + dst, buf + src, n - src);
			break;
		}
		if (src == n) {
			result = HTTP_PARTIAL;
			break;
		}
		if (d->state == CHUNKED_DATA) {
			size_t k = n - src;

			if (k > d->chunk_left)
				k = (size_t)d->chunk_left;
			/* dst <= src: the data only ever moves down. */
			memmove(buf + dst, buf + src, k);
			dst += k;
			src += k;
			d->chunk_left -= k;
			d->total += k;
			if (d->chunk_left == 0)
				d->state = CHUNKED_DATA_CR;
			continue;
		}
		r = step(d, (unsigned char)buf[src++]);
		if (r != 0) {
			result = r;
			break;
		}
	}
	*len = dst;
	return result;
}
/* ANCHOR_END: decode */
