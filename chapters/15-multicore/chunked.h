/*
 * chunked.h - decode a chunked request body, incrementally and in place.
 *
 * The contract is picohttpparser's phr_decode_chunked: the decoder keeps its
 * place between calls in a small struct, so each call is given only the
 * bytes that arrived since the last one, and never looks at a byte twice.
 * The body's data is moved down over the chunk-size lines and CRLFs that
 * framed it, in the caller's buffer: nothing is allocated or copied out.
 *
 *	chunked-body = *chunk last-chunk trailer-section CRLF
 *	chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *	last-chunk   = 1*("0") [ chunk-ext ] CRLF
 *
 * (RFC 9112 section 7.1). Results and errors are those of http.h.
 */
#ifndef CHUNKED_H
#define CHUNKED_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* The longest chunk-size line, extensions included, CRLF not; longer: 400. */
#define HTTP_CHUNK_LINE_MAX 1024

/*
 * The largest trailer section (its field lines with their CRLFs, not the
 * final empty line); larger is 431, as for a long head.
 */
#define HTTP_TRAILER_MAX 8192

/* Where in the grammar the decoder stands: what the next byte must be. */
enum http_chunked_state {
	CHUNKED_SIZE,	  /* hex digits of a chunk-size */
	CHUNKED_SIZE_BWS, /* whitespace after them: only ';' or CR may follow */
	CHUNKED_EXT,	  /* a chunk extension, skipped up to the CR */
	CHUNKED_SIZE_LF,  /* the LF ending the chunk-size line */
	CHUNKED_DATA,	  /* chunk data: chunk_left more bytes */
	CHUNKED_DATA_CR,  /* the CR after chunk data */
	CHUNKED_DATA_LF,  /* the LF after chunk data */
	CHUNKED_TRAILER,  /* the start of a trailer line, or the final CR */
	CHUNKED_FIELD,	  /* inside a trailer field line */
	CHUNKED_FIELD_LF, /* the LF ending a trailer field line */
	CHUNKED_END_LF,	  /* the LF ending the body */
	CHUNKED_DONE	  /* the body is complete */
};

/* A decoder's state between calls. Set it up with http_chunked_init. */
struct http_chunked {
	enum http_chunked_state state; /* what comes next */
	uint64_t chunk_left;  /* while reading a chunk-size: the size so far;
				 in chunk data: the bytes still to come */
	uint64_t total;	      /* body bytes decoded so far */
	uint64_t max_body;    /* the most body bytes allowed; more is 413 */
	size_t line_len;      /* bytes of the current chunk-size line */
	size_t trailer_len;   /* bytes of the trailer section so far */
	int digits;	      /* hex digits read of the current chunk-size */
};

/* http_chunked_init: a decoder at the start of a body of at most max_body. */
void http_chunked_init(struct http_chunked *d, uint64_t max_body);

/*
 * http_chunked_decode: decode the *len bytes at buf, which follow the bytes
 * given to the previous call. The decoded data is moved to the front of buf
 * and *len is set to its length.
 *
 * Returns HTTP_PARTIAL if the body goes on past these bytes; once it is
 * complete, the number of bytes after it (the start of the next request),
 * which have been moved to buf + *len; or HTTP_BAD, HTTP_BODY_TOO_LARGE
 * (the chunk sizes add up past max_body: said as soon as the size line
 * says so, before the data arrives) or HTTP_HEAD_TOO_LARGE (a trailer
 * section over HTTP_TRAILER_MAX). After an error the decoder must not be
 * used again.
 */
ptrdiff_t http_chunked_decode(struct http_chunked *d, char *buf, size_t *len);

#endif /* CHUNKED_H */
