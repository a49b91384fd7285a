/*
 * http.c - the end of the head and Content-Length, for http.h.
 *
 * What it does not do is as much a part of the lesson as what it does: it
 * does not check the request line, accept bare LF line ends, reject two
 * different Content-Length headers, or know Transfer-Encoding. Chapter 05's
 * book page lists each of these with the chapter that deals with it.
 *
 * Sections: the head, Content-Length.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http.h"

/*** the head ***/

/* ANCHOR: head_end */
size_t http_head_end(const char *buf, size_t len, size_t from)
{
	for (size_t i = from; i + 4 <= len; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}
/* ANCHOR_END: head_end */

/*** Content-Length ***/

/* same_letters: do a and b (n bytes each) match, ignoring ASCII case? */
static bool same_letters(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)a[i]) !=
		    tolower((unsigned char)b[i]))
			return false;
	return true;
}

/* ANCHOR: content_length */
int http_content_length(const char *head, size_t len, size_t *value)
{
	/* A header line starts after a CRLF: the request line cannot match. */
	static const char name[] = "\r\ncontent-length:";
	const size_t name_len = sizeof(name) - 1;
	size_t i, v = 0;

	*value = 0;
	for (i = 0; i + name_len <= len; i++)
		if (same_letters(head + i, name, name_len))
			break;
	if (i + name_len > len)
		return 0; /* no Content-Length: no body */
	i += name_len;
	while (i < len && (head[i] == ' ' || head[i] == '\t'))
		i++;
	if (i == len || !isdigit((unsigned char)head[i]))
		return -1;
	for (; i < len && isdigit((unsigned char)head[i]); i++) {
		unsigned d = (unsigned)(head[i] - '0');

		if (v > (SIZE_MAX - d) / 10)
			return -1; /* would overflow */
		v = v * 10 + d;
	}
	while (i < len && (head[i] == ' ' || head[i] == '\t'))
		i++;
	/* The head ends in CRLF CRLF, so a well-formed value ends at a CR. */
	if (i == len || head[i] != '\r')
		return -1;
	*value = v;
	return 0;
}
/* ANCHOR_END: content_length */
