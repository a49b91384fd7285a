/*
 * http.h - just enough HTTP/1.1 to tell when a request is complete.
 *
 * A request is a head (the request line and header lines, each ended by
 * CRLF, then an empty line) and a body of as many bytes as its
 * Content-Length header says, none without one. These two functions find
 * both, and nothing more: this is the source post's deliberately minimal
 * parsing, made safe for C. Chapter 06 replaces it with a real parser.
 *
 * Both work on the caller's bytes, which need not be NUL-terminated, and
 * neither allocates, prints, or reads outside [0, len).
 *
 * New in chapter 05: all of it.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

/* ANCHOR: api */
/*
 * http_head_end: the length of the head in buf[0, len): the offset just
 * past the first "\r\n\r\n", or 0 if it has not arrived yet. The search
 * starts at from, so that a caller who appends bytes and looks again can
 * skip what it has already searched (from = old length - 3: the end may
 * straddle two reads).
 */
size_t http_head_end(const char *buf, size_t len, size_t from);

/*
 * http_content_length: the value of the first Content-Length header in
 * head[0, len), which must be a whole head. The name is matched without
 * regard to case; the value must be decimal digits, optionally surrounded
 * by spaces or tabs. Returns 0 and sets *value (0 when there is no such
 * header), or -1 if the value is not digits or does not fit in a size_t.
 */
int http_content_length(const char *head, size_t len, size_t *value);
/* ANCHOR_END: api */

#endif /* HTTP_H */
