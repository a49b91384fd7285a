/*
 * fuzz_http.c - a libFuzzer target for a chapter's http.c (and chunked.c).
 *
 * libFuzzer calls LLVMFuzzerTestOneInput with millions of inputs, mutating
 * the ones that reach new code. Sanitizers catch memory errors; on top of
 * that this target checks what must hold for every input:
 *
 *	- parsing the input split at a point chosen by its first two bytes
 *	  (a prefix from scratch, then the whole with last_len) gives the
 *	  same answer and the same fields as parsing it whole, and the prefix
 *	  alone answers HTTP_PARTIAL or that same answer;
 *	- a success consumes no more than it was given, and every span lies
 *	  inside the head;
 *	- the helpers (framing, Expect, Connection) run on every parsed head;
 *	- with -DTEST_CHUNKED, decoding the input as a chunked body in two
 *	  pieces gives the same result, data and leftover as in one, and the
 *	  data never exceeds max_body.
 *
 * Each piece is copied to a buffer of its exact size, so that AddressSanitizer
 * catches a read one byte too far.
 *
 *	clang -fsanitize=fuzzer,address,undefined -I CHAPTER \
 *	      common/fuzz_http.c CHAPTER/http.c -o fuzz_http
 *	./fuzz_http -max_total_time=300 corpus/
 *
 * An invariant that fails calls abort(), which libFuzzer reports as a crash
 * and saves the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#ifdef TEST_CHUNKED
#include "chunked.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A head limit small enough for the fuzzer to reach. */
#define MAX_HEAD 1024

/* must: abort with a message unless cond holds. */
static void must(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_http: invariant broken: %s\n", what);
		abort();
	}
}

/* copy: the bytes in a heap block of exactly n bytes (at least 1). */
static char *copy(const uint8_t *src, size_t n)
{
	char *p = malloc(n ? n : 1);

	must(p != NULL, "malloc");
	if (n)
		memcpy(p, src, n);
	return p;
}

static int span_inside(struct http_span s, size_t end)
{
	return s.off <= end && s.len <= end - s.off;
}

/* same_request: the two parses found the same fields. */
static int same_request(const struct http_request *a,
			const struct http_request *b)
{
	size_t i;

	if (memcmp(&a->method, &b->method, sizeof(a->method)) != 0 ||
	    memcmp(&a->target, &b->target, sizeof(a->target)) != 0 ||
	    a->minor_version != b->minor_version ||
	    a->nheaders != b->nheaders)
		return 0;
	for (i = 0; i < a->nheaders; i++)
		if (memcmp(&a->headers[i], &b->headers[i],
			   sizeof(a->headers[i])) != 0)
			return 0;
	return 1;
}

/* check_request: what must hold of a successful parse of n bytes. */
static void check_request(const struct http_request *req, const char *buf,
			  int r, size_t n)
{
	struct http_body body;
	size_t i, end = (size_t)r;
	int f;

	must(end <= n && end <= MAX_HEAD, "head longer than the input");
	must(span_inside(req->method, end) && req->method.len > 0,
	     "method outside the head");
	/* The target may be empty: what is left of "http://host". */
	must(span_inside(req->target, end), "target outside the head");
	must(req->minor_version == 0 || req->minor_version == 1, "version");
	must(req->nheaders <= HTTP_MAX_HEADERS, "header count");
	for (i = 0; i < req->nheaders; i++)
		must(span_inside(req->headers[i].name, end) &&
			     span_inside(req->headers[i].value, end) &&
			     req->headers[i].name.len > 0,
		     "header outside the head");

	f = http_body_framing(req, buf, 1 << 20, &body);
	must(f == 0 || f == HTTP_BAD || f == HTTP_BODY_TOO_LARGE ||
		     f == HTTP_NOT_IMPLEMENTED,
	     "framing result");
	must(f != 0 || body.kind != HTTP_BODY_LENGTH || body.length <= 1 << 20,
	     "Content-Length over max_body");
	f = http_expect(req, buf);
	must(f == 0 || f == 1 || f == HTTP_EXPECTATION_FAILED, "expect");
	f = http_keep_alive(req, buf);
	must(f == 0 || f == 1, "keep-alive");
}

/* fuzz_parser: whole against split, on in[0, n), split after k bytes. */
static void fuzz_parser(const uint8_t *in, size_t n, size_t k)
{
	struct http_request whole, split;
	char *all = copy(in, n), *prefix = copy(in, k);
	int r, r_prefix, r_rest;

	r = http_parse_request(all, n, 0, MAX_HEAD, &whole);
	must(r > 0 || r == HTTP_PARTIAL || r == HTTP_BAD ||
		     r == HTTP_BAD_VERSION || r == HTTP_HEAD_TOO_LARGE ||
		     r == HTTP_TOO_MANY_HEADERS,
	     "parse result");
	if (r > 0)
		check_request(&whole, all, r, n);

	r_prefix = http_parse_request(prefix, k, 0, MAX_HEAD, &split);
	must(r_prefix == HTTP_PARTIAL || r_prefix == r,
	     "a prefix answered neither partial nor the final answer");
	if (r_prefix > 0)
		must(same_request(&whole, &split), "prefix fields differ");
	if (r_prefix == HTTP_PARTIAL) {
		r_rest = http_parse_request(all, n, k, MAX_HEAD, &split);
		must(r_rest == r, "resuming with last_len changed the answer");
		if (r > 0)
			must(same_request(&whole, &split),
			     "resuming with last_len changed the fields");
	}
	free(all);
	free(prefix);
}

#ifdef TEST_CHUNKED
/*
 * decode: decode in[0, n) with d, appending data to out (at *out_len) and
 * returning the result; leftover bytes are appended to rest (at *rest_len).
 */
static ptrdiff_t decode(struct http_chunked *d, const uint8_t *in, size_t n,
			char *out, size_t *out_len, char *rest,
			size_t *rest_len)
{
	char *buf = copy(in, n);
	size_t len = n;
	ptrdiff_t r = http_chunked_decode(d, buf, &len);

	must(len <= n, "decoded more than given");
	must(r < 0 || (size_t)r <= n - len, "leftover past the input");
	memcpy(out + *out_len, buf, len);
	*out_len += len;
	if (r > 0) {
		memcpy(rest + *rest_len, buf + len, (size_t)r);
		*rest_len += (size_t)r;
	}
	free(buf);
	return r;
}

/* fuzz_chunked: the input as a chunked body, whole against split at k. */
static void fuzz_chunked(const uint8_t *in, size_t n, size_t k, uint64_t max)
{
	struct http_chunked d;
	char *out1 = malloc(n + 1), *rest1 = malloc(n + 1);
	char *out2 = malloc(n + 1), *rest2 = malloc(n + 1);
	size_t out1_len = 0, rest1_len = 0, out2_len = 0, rest2_len = 0;
	ptrdiff_t r1, r2;

	must(out1 && rest1 && out2 && rest2, "malloc");
	http_chunked_init(&d, max);
	r1 = decode(&d, in, n, out1, &out1_len, rest1, &rest1_len);
	must(r1 >= 0 || r1 == HTTP_PARTIAL || r1 == HTTP_BAD ||
		     r1 == HTTP_BODY_TOO_LARGE || r1 == HTTP_HEAD_TOO_LARGE,
	     "chunked result");
	must(out1_len <= max, "decoded past max_body");

	http_chunked_init(&d, max);
	r2 = decode(&d, in, k, out2, &out2_len, rest2, &rest2_len);
	if (r2 == HTTP_PARTIAL) {
		r2 = decode(&d, in + k, n - k, out2, &out2_len, rest2,
			    &rest2_len);
	} else if (r2 >= 0) {
		memcpy(rest2 + rest2_len, in + k, n - k);
		rest2_len += n - k;
		r2 += (ptrdiff_t)(n - k);
	}
	must(r1 == r2, "split decoding changed the result");
	if (r1 >= 0 || r1 == HTTP_PARTIAL) {
		must(out1_len == out2_len &&
			     memcmp(out1, out2, out1_len) == 0,
		     "split decoding changed the data");
		must(rest1_len == rest2_len &&
			     memcmp(rest1, rest2, rest1_len) == 0,
		     "split decoding changed the leftover");
	}
	free(out1);
	free(rest1);
	free(out2);
	free(rest2);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t k;

	if (size < 2)
		return 0;
	/* The first two bytes choose the split point; the rest is input. */
	k = ((size_t)data[0] << 8 | data[1]) % (size - 1);
	fuzz_parser(data + 2, size - 2, k);
#ifdef TEST_CHUNKED
	fuzz_chunked(data + 2, size - 2, k, 1 + (data[0] & 0x3f) * 16);
#endif
	return 0;
}
