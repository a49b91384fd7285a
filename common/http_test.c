/*
 * http_test.c - every rule of a chapter's http.c (and chunked.c), as a table
 * of cases, each run at every split point.
 *
 * A server never knows how a request will be cut into reads, so the parser
 * must give the same answer however it is cut. For each case, this program
 * feeds the parser:
 *
 *	- the whole input at once;
 *	- every prefix of it, from scratch: each answer must be HTTP_PARTIAL or
 *	  the final answer, and once it is the final answer it stays so;
 *	- each prefix, then the whole input with last_len set to the prefix's
 *	  length, as a server does after its next read: same final answer;
 *	- one byte more per call, with last_len, like the slowest client.
 *
 * Every call sees its bytes copied so that they end right before a page
 * mapped PROT_NONE: a parser that reads one byte too far dies of SIGSEGV
 * (picohttpparser's test.c does the same). The copies move around, as a
 * buffer grown with realloc(3) does, so answers are offsets, not pointers.
 *
 *	cc -I chapters/08-limits common/http_test.c \
 *	   chapters/08-limits/http.c -o http_test && ./http_test
 *
 * With -DTEST_CHUNKED (and chunked.c on the command line: chapter 08 on), it
 * also tests the chunked decoder the same way. The output is a line per
 * group of cases, then "http_test: N cases, M split points, F failures";
 * the exit status is 1 if F is not 0.
 *
 * Sections: the guard page, reporting, running one request, the request
 * cases, framing cases, Expect and Connection cases, generated cases, the
 * chunked decoder, main.
 */
/* MAP_ANONYMOUS is not POSIX; glibc shows it with _DEFAULT_SOURCE. */
#define _DEFAULT_SOURCE

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http.h"
#ifdef TEST_CHUNKED
#include "chunked.h"
#endif

/* The largest input a case may have. */
#define ROOM (64 * 1024)

/* The default max_head of the cases. */
#define MAX_HEAD 8192

/* A byte string that may hold NUL bytes: T("...") makes one. */
struct text {
	const char *s; /* the bytes */
	size_t len;    /* how many */
};

#define T(lit) {lit, sizeof(lit) - 1}

/*** the guard page ***/

/* The first byte of the PROT_NONE page; inputs end right before it. */
static char *guard;

/* The page size, for resume_case. */
static size_t page;

static void guard_setup(void)
{
	long size = sysconf(_SC_PAGESIZE);
	size_t room;
	char *mem;

	if (size <= 0) {
		perror("sysconf");
		exit(1);
	}
	page = (size_t)size;
	/* ROOM rounded up to whole pages, and three for resume_case. */
	room = (ROOM + page - 1) / page * page + 3 * page;
	mem = mmap(NULL, room + page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	guard = mem + room;
	if (mprotect(guard, page, PROT_NONE) == -1) {
		perror("mprotect");
		exit(1);
	}
}

/* protect: make the page at p unreadable (prot PROT_NONE) or readable. */
static void protect(char *p, int prot)
{
	if (mprotect(p, page, prot) == -1) {
		perror("mprotect");
		exit(1);
	}
}

/* place: copy n bytes so that they end at the guard page; return them. */
static char *place(const char *src, size_t n)
{
	char *p = guard - n;

	if (n > 0)
		memcpy(p, src, n);
	return p;
}

/*** reporting ***/

static unsigned long n_cases;	 /* cases run */
static unsigned long n_splits;	 /* split points tried */
static unsigned long n_failures; /* checks that failed */

/* fail: say which case failed and how; counted, never fatal. */
static void fail(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	n_failures++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The counts when a group started, for its summary line. */
static unsigned long group_cases, group_splits, group_failures;

static void group_start(void)
{
	group_cases = n_cases;
	group_splits = n_splits;
	group_failures = n_failures;
}

static void group_end(const char *group)
{
	printf("%-26s %4lu cases, %6lu split points, %lu failures\n", group,
	       n_cases - group_cases, n_splits - group_splits,
	       n_failures - group_failures);
}

/*** running one request ***/

/*
 * A check run on every successful parse: does req (whose spans point into
 * buf) hold what the case expects? Returns NULL if so, or what is wrong.
 */
typedef const char *check_fn(const void *c, const struct http_request *req,
			     const char *buf);

/* One input to parse, and what to expect. */
struct parse_job {
	const char *name;    /* the case's name, for failures */
	struct text in;	     /* the bytes */
	size_t max_head;     /* the limit passed to the parser */
	int want;	     /* the final answer: a head length or an error */
	check_fn *check;     /* run after each success, or NULL */
	const void *c;	     /* the case, for check */
};

/*
 * parse_at: parse in[0, len) placed before the guard, resuming from
 * last_len; when the answer is a success, also run the check.
 */
static int parse_at(const struct parse_job *j, size_t len, size_t last_len,
		    const char *how)
{
	struct http_request req;
	const char *buf = place(j->in.s, len);
	const char *bad;
	int r;

	memset(&req, 0xa5, sizeof(req)); /* no field may be left unset */
	r = http_parse_request(buf, len, last_len, j->max_head, &req);
	if (r > 0 && (size_t)r > len) {
		fail(j->name, "%s: returned %d, more than the %zu bytes given",
		     how, r, len);
	} else if (r > 0 && r == j->want && j->check) {
		bad = j->check(j->c, &req, buf);
		if (bad)
			fail(j->name, "%s: %s", how, bad);
	}
	return r;
}

/* run_parse: the four ways of feeding one input, with their checks. */
static void run_parse(const struct parse_job *j)
{
	size_t n = j->in.len, k;
	int r, prev = HTTP_PARTIAL;

	n_cases++;
	r = parse_at(j, n, 0, "whole");
	if (r != j->want)
		fail(j->name, "whole: got %d, want %d", r, j->want);

	for (k = 0; k < n; k++) {
		char how[64];

		n_splits++;
		snprintf(how, sizeof(how), "first %zu bytes", k);
		r = parse_at(j, k, 0, how);
		if (r != HTTP_PARTIAL && r != j->want)
			fail(j->name, "%s: got %d, want -2 or %d", how, r,
			     j->want);
		if (prev != HTTP_PARTIAL && r != prev)
			fail(j->name, "%s: got %d after %d for fewer bytes",
			     how, r, prev);
		prev = r;
		if (r != HTTP_PARTIAL)
			continue;
		snprintf(how, sizeof(how), "all after %zu bytes", k);
		r = parse_at(j, n, k, how);
		if (r != j->want)
			fail(j->name, "%s: got %d, want %d", how, r, j->want);
	}

	for (k = 1, r = HTTP_PARTIAL; k <= n && r == HTTP_PARTIAL; k++)
		r = parse_at(j, k, k - 1, "one byte at a time");
	if (n > 0 && r != j->want)
		fail(j->name, "one byte at a time: got %d, want %d", r,
		     j->want);
}

/*** the request cases ***/

/*
 * A request case: the head, what follows it, and the answer. For a valid
 * head, want is 0 (meaning "the head's length") and fields is the request
 * written out as "METHOD TARGET 1.MINOR [name: value]..." to compare with.
 */
struct req_case {
	const char *name;   /* what it shows */
	struct text head;   /* the head (or, for an error, the whole input) */
	struct text rest;   /* what follows the head: a body, a request */
	int want;	    /* 0 for a valid head, else the error */
	const char *fields; /* for a valid head: what the parser found */
	size_t max_head;    /* 0 for MAX_HEAD */
};

#define OK(name, head, rest, fields) {name, T(head), T(rest), 0, fields, 0}
#define ERR(name, input, error) {name, T(input), T(""), error, NULL, 0}

/* describe: the request as "METHOD TARGET 1.M [name: value]...". */
static const char *describe(const struct http_request *req, const char *buf)
{
	static char out[ROOM];
	size_t i, n;

	n = (size_t)snprintf(out, sizeof(out), "%.*s %.*s 1.%d",
			     (int)req->method.len, buf + req->method.off,
			     (int)req->target.len, buf + req->target.off,
			     req->minor_version);
	for (i = 0; i < req->nheaders && n < sizeof(out); i++) {
		const struct http_header *h = &req->headers[i];

		n += (size_t)snprintf(out + n, sizeof(out) - n,
				      " [%.*s: %.*s]", (int)h->name.len,
				      buf + h->name.off, (int)h->value.len,
				      buf + h->value.off);
	}
	return out;
}

static const char *check_fields(const void *c, const struct http_request *req,
				const char *buf)
{
	const struct req_case *rc = c;
	static char msg[2 * ROOM];
	const char *got = describe(req, buf);

	if (strcmp(got, rc->fields) == 0)
		return NULL;
	snprintf(msg, sizeof(msg), "found {%s}, want {%s}", got, rc->fields);
	return msg;
}

/* ANCHOR: request_cases */
/* The Host line every HTTP/1.1 request must have (RFC 9112 section 3.2). */
#define H "Host: a\r\n"

static const struct req_case request_cases[] = {
	/* valid requests */
	OK("minimal GET", "GET / HTTP/1.1\r\n" H "\r\n", "",
	   "GET / 1.1 [Host: a]"),
	OK("GET with headers",
	   "GET /a?b=c HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", "",
	   "GET /a?b=c 1.1 [Host: x] [Accept: */*]"),
	OK("HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", "", "GET / 1.0"),
	OK("POST with its body after the head",
	   "POST /echo HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\n", "hello",
	   "POST /echo 1.1 [Host: a] [Content-Length: 5]"),
	OK("a second request after the head", "GET / HTTP/1.1\r\n" H "\r\n",
	   "GET /2 HTTP/1.1\r\n" H "\r\n", "GET / 1.1 [Host: a]"),
	OK("a body holding a request is not parsed",
	   "POST / HTTP/1.1\r\n" H "Content-Length: 22\r\n\r\n",
	   "GET /secret HTTP/1.1\r\n",
	   "POST / 1.1 [Host: a] [Content-Length: 22]"),
	OK("value OWS trimmed", "GET / HTTP/1.1\r\n" H "A: \t x y \t\r\n\r\n",
	   "", "GET / 1.1 [Host: a] [A: x y]"),
	OK("empty value", "GET / HTTP/1.1\r\n" H "A:\r\nB: \r\n\r\n", "",
	   "GET / 1.1 [Host: a] [A: ] [B: ]"),
	OK("tab and obs-text in a value",
	   "GET / HTTP/1.1\r\n" H "A: x\ty\xff\r\n\r\n", "",
	   "GET / 1.1 [Host: a] [A: x\ty\xff]"),
	OK("token characters in names and methods",
	   "M-1!#$%&'*+.^_`|~ * HTTP/1.1\r\n" H "X-!#$%&'*+.^_`|~: v\r\n\r\n",
	   "", "M-1!#$%&'*+.^_`|~ * 1.1 [Host: a] [X-!#$%&'*+.^_`|~: v]"),
	OK("one empty line before the request is skipped",
	   "\r\nGET / HTTP/1.1\r\n" H "\r\n", "", "GET / 1.1 [Host: a]"),
	OK("case kept in names",
	   "GET / HTTP/1.1\r\n" H "cOnTeNt-LeNgTh: 0\r\n\r\n", "",
	   "GET / 1.1 [Host: a] [cOnTeNt-LeNgTh: 0]"),
	/* Host (RFC 9112 section 3.2) */
	ERR("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", HTTP_BAD),
	ERR("HTTP/1.1 without Host, other headers",
	    "GET / HTTP/1.1\r\nHostx: a\r\nX-Host: a\r\n\r\n", HTTP_BAD),
	ERR("two Host lines", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
	    HTTP_BAD),
	ERR("two Host lines in HTTP/1.0",
	    "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", HTTP_BAD),
	ERR("Host: a b", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HTTP_BAD),
	ERR("Host with a control byte", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",
	    HTTP_BAD),
	ERR("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
	    HTTP_BAD),
	ERR("Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
	    HTTP_BAD),
	ERR("Host with a list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
	    HTTP_BAD),
	ERR("invalid Host in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n",
	    HTTP_BAD),
	ERR("a port that is not digits", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n",
	    HTTP_BAD),
	ERR("two ports", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", HTTP_BAD),
	ERR("IPv6 without brackets", "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n",
	    HTTP_BAD),
	ERR("IPv6 bracket not closed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
	    HTTP_BAD),
	ERR("brackets without an IPv6 address",
	    "GET / HTTP/1.1\r\nHost: [127.0.0.1]\r\n\r\n", HTTP_BAD),
	ERR("a bad %-escape", "GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", HTTP_BAD),
	OK("Host: IPv4 and port",
	   "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", "",
	   "GET / 1.1 [Host: 127.0.0.1:8080]"),
	OK("Host: IPv6 and port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	   "", "GET / 1.1 [Host: [::1]:8080]"),
	OK("Host: every reg-name character",
	   "GET / HTTP/1.1\r\nHost: a%4A-._~!$&'()*+,;=9\r\n\r\n", "",
	   "GET / 1.1 [Host: a%4A-._~!$&'()*+,;=9]"),
	OK("Host: empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", "",
	   "GET / 1.1 [Host: a:]"),
	OK("Host: empty (RFC 9110 section 7.2)",
	   "GET / HTTP/1.1\r\nHost:\r\n\r\n", "", "GET / 1.1 [Host: ]"),
	OK("Host: name in any case", "GET / HTTP/1.1\r\nhOsT: a\r\n\r\n", "",
	   "GET / 1.1 [hOsT: a]"),
	/* absolute-form (RFC 9112 section 3.2.2): routed by path and query */
	OK("absolute-form target", "GET http://a/b?c HTTP/1.1\r\n" H "\r\n", "",
	   "GET /b?c 1.1 [Host: a]"),
	OK("absolute-form, no path: empty, which means /",
	   "GET http://a:80 HTTP/1.1\r\n" H "\r\n", "", "GET  1.1 [Host: a]"),
	OK("absolute-form, a query and no path",
	   "GET http://a?q HTTP/1.1\r\n" H "\r\n", "", "GET ?q 1.1 [Host: a]"),
	OK("absolute-form, https, any case, IPv6",
	   "GET HTTPS://[::1]:443/x HTTP/1.1\r\n" H "\r\n", "",
	   "GET /x 1.1 [Host: a]"),
	OK("absolute-form naming another host than Host",
	   "GET http://b.example/x HTTP/1.1\r\n" H "\r\n", "",
	   "GET /x 1.1 [Host: a]"),
	OK("absolute-form in HTTP/1.0 without Host",
	   "GET http://a/x HTTP/1.0\r\n\r\n", "", "GET /x 1.0"),
	OK("another scheme is left as it is",
	   "GET ftp://a/x HTTP/1.1\r\n" H "\r\n", "",
	   "GET ftp://a/x 1.1 [Host: a]"),
	ERR("absolute-form still needs Host in HTTP/1.1",
	    "GET http://a/ HTTP/1.1\r\n\r\n", HTTP_BAD),
	ERR("absolute-form without a host",
	    "GET http:///x HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("absolute-form with userinfo",
	    "GET http://u@a/ HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("absolute-form with a bad port",
	    "GET http://a:b/ HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	/* incomplete */
	ERR("no empty line yet", "GET / HTTP/1.1\r\nHost: a\r\n", HTTP_PARTIAL),
	ERR("nothing yet", "", HTTP_PARTIAL),
	ERR("only the skipped empty line", "\r\n", HTTP_PARTIAL),
	/* the request line */
	ERR("two empty lines before the request",
	    "\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("empty method", " / HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("method not a token", "G(T / HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("two spaces after the method", "GET  / HTTP/1.1\r\n" H "\r\n",
	    HTTP_BAD),
	ERR("empty target", "GET  HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("space inside the target", "GET /a b HTTP/1.1\r\n" H "\r\n",
	    HTTP_BAD),
	ERR("control in the target", "GET /a\x01 HTTP/1.1\r\n" H "\r\n",
	    HTTP_BAD),
	ERR("NUL in the target", "GET /a\0b HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("DEL in the target", "GET /\x7f HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("non-ASCII in the target", "GET /\xc3\xa9 HTTP/1.1\r\n" H "\r\n",
	    HTTP_BAD),
	ERR("tab as a separator", "GET\t/ HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("no version (HTTP/0.9)", "GET /\r\n\r\n", HTTP_BAD),
	ERR("space after the version", "GET / HTTP/1.1 \r\n\r\n", HTTP_BAD),
	ERR("lowercase http", "GET / http/1.1\r\n\r\n", HTTP_BAD),
	ERR("version without minor", "GET / HTTP/1\r\n\r\n", HTTP_BAD),
	ERR("two-digit minor version", "GET / HTTP/1.10\r\n\r\n", HTTP_BAD),
	ERR("HTTP/1.2 is 505", "GET / HTTP/1.2\r\n\r\n", HTTP_BAD_VERSION),
	ERR("HTTP/2.0 is 505", "GET / HTTP/2.0\r\n\r\n", HTTP_BAD_VERSION),
	ERR("HTTP/0.9 is 505", "GET / HTTP/0.9\r\n\r\n", HTTP_BAD_VERSION),
	/* line ends */
	ERR("bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", HTTP_BAD),
	ERR("bare LF ending a header", "GET / HTTP/1.1\r\nHost: a\n\r\n",
	    HTTP_BAD),
	ERR("bare LF as the empty line", "GET / HTTP/1.1\r\nHost: a\r\n\n",
	    HTTP_BAD),
	ERR("bare LF first", "\nGET / HTTP/1.1\r\n" H "\r\n", HTTP_BAD),
	ERR("bare CR in a value", "GET / HTTP/1.1\r\n" H "A: x\ry\r\n\r\n",
	    HTTP_BAD),
	ERR("CR CR LF", "GET / HTTP/1.1\r\r\n\r\n", HTTP_BAD),
	/* header lines */
	ERR("obs-fold", "GET / HTTP/1.1\r\n" H "A: x\r\n y\r\n\r\n", HTTP_BAD),
	ERR("obs-fold with a tab", "GET / HTTP/1.1\r\n" H "A: x\r\n\ty\r\n\r\n",
	    HTTP_BAD),
	ERR("whitespace before the first header",
	    "GET / HTTP/1.1\r\n Host: a\r\n\r\n", HTTP_BAD),
	ERR("space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
	    HTTP_BAD),
	ERR("tab before the colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
	    HTTP_BAD),
	ERR("empty name", "GET / HTTP/1.1\r\n" H ": a\r\n\r\n", HTTP_BAD),
	ERR("no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", HTTP_BAD),
	ERR("space inside a name", "GET / HTTP/1.1\r\n" H "X Y: a\r\n\r\n",
	    HTTP_BAD),
	ERR("NUL in a name", "GET / HTTP/1.1\r\n" H "A\0B: a\r\n\r\n",
	    HTTP_BAD),
	ERR("non-ASCII in a name", "GET / HTTP/1.1\r\n" H "\xc3\xa9: a\r\n\r\n",
	    HTTP_BAD),
	ERR("NUL in a value", "GET / HTTP/1.1\r\n" H "A: x\0y\r\n\r\n",
	    HTTP_BAD),
	ERR("control in a value", "GET / HTTP/1.1\r\n" H "A: x\x01y\r\n\r\n",
	    HTTP_BAD),
	ERR("DEL in a value", "GET / HTTP/1.1\r\n" H "A: x\x7fy\r\n\r\n",
	    HTTP_BAD),
	ERR("ESC in a value", "GET / HTTP/1.1\r\n" H "A: \x1b[31m\r\n\r\n",
	    HTTP_BAD),
	/* limits (max_head is the last field) */
	{"head of exactly max_head bytes", T("GET / HTTP/1.0\r\nA: b\r\n\r\n"),
	 T(""), 0, "GET / 1.0 [A: b]", 24},
	{"head one byte over max_head", T("GET / HTTP/1.0\r\nA: bc\r\n\r\n"),
	 T(""), HTTP_HEAD_TOO_LARGE, NULL, 24},
	{"no end within max_head", T("GET / HTTP/1.0\r\nA: bbbbbbbbbbbbbbbbbb"),
	 T(""), HTTP_HEAD_TOO_LARGE, NULL, 25},
	{"max_head bytes and no end", T("GET / HTTP/1.0\r\nA: bb"), T(""),
	 HTTP_HEAD_TOO_LARGE, NULL, 21},
	{"a body past max_head is fine", T("GET / HTTP/1.0\r\n\r\n"),
	 T("0123456789012345678901234567890123456789"), 0, "GET / 1.0", 20},
	{"a CR on max_head's last byte", T("GET / HTTP/1.0\r\nA: bc\rd"),
	 T(""), HTTP_HEAD_TOO_LARGE, NULL, 22},
};
/* ANCHOR_END: request_cases */

static void run_request_case(const struct req_case *c)
{
	char in[ROOM];
	struct parse_job j = {
		.name = c->name,
		.in = {in, c->head.len + c->rest.len},
		.max_head = c->max_head ? c->max_head : MAX_HEAD,
		.want = c->want ? c->want : (int)c->head.len,
		.check = c->fields ? check_fields : NULL,
		.c = c,
	};

	memcpy(in, c->head.s, c->head.len);
	memcpy(in + c->head.len, c->rest.s, c->rest.len);
	run_parse(&j);
}

/*** framing cases ***/

/* A framing case: a valid head and what http_body_framing says of it. */
struct body_case {
	const char *name;	 /* what it shows */
	struct text head;	 /* a complete, valid head */
	int want;		 /* 0 or the error */
	enum http_body_kind kind; /* when want is 0 */
	uint64_t length;	 /* when kind is HTTP_BODY_LENGTH */
	uint64_t max_body;	 /* 0 for no limit */
};

#define REQ(headers) "POST / HTTP/1.1\r\n" H headers "\r\n"
#define NONE(name, head) {name, T(head), 0, HTTP_BODY_NONE, 0, 0}
#define LEN(name, head, n) {name, T(head), 0, HTTP_BODY_LENGTH, n, 0}
#define CHUNKED(name, head) {name, T(head), 0, HTTP_BODY_CHUNKED, 0, 0}
#define BODY_ERR(name, head, e) {name, T(head), e, HTTP_BODY_NONE, 0, 0}

/* ANCHOR: body_cases */
static const struct body_case body_cases[] = {
	NONE("no Content-Length, no Transfer-Encoding", REQ("")),
	LEN("Content-Length", REQ("Content-Length: 42\r\n"), 42),
	LEN("Content-Length: 0", REQ("Content-Length: 0\r\n"), 0),
	LEN("leading zeros", REQ("Content-Length: 007\r\n"), 7),
	LEN("OWS around the value is not part of it",
	    REQ("Content-Length: \t 5 \t\r\n"), 5),
	LEN("name in any case", REQ("content-LENGTH: 5\r\n"), 5),
	LEN("repeated, same value",
	    REQ("Content-Length: 5\r\nContent-Length: 5\r\n"), 5),
	LEN("the largest 64-bit value",
	    REQ("Content-Length: 18446744073709551615\r\n"), UINT64_MAX),
	BODY_ERR("negative", REQ("Content-Length: -1\r\n"), HTTP_BAD),
	BODY_ERR("plus sign", REQ("Content-Length: +5\r\n"), HTTP_BAD),
	BODY_ERR("hex", REQ("Content-Length: 0x10\r\n"), HTTP_BAD),
	BODY_ERR("empty", REQ("Content-Length:\r\n"), HTTP_BAD),
	BODY_ERR("space inside", REQ("Content-Length: 1 0\r\n"), HTTP_BAD),
	BODY_ERR("decimal point", REQ("Content-Length: 5.0\r\n"), HTTP_BAD),
	BODY_ERR("one past 64 bits",
		 REQ("Content-Length: 18446744073709551616\r\n"), HTTP_BAD),
	BODY_ERR("far past 64 bits",
		 REQ("Content-Length: 99999999999999999999999999\r\n"),
		 HTTP_BAD),
	BODY_ERR("repeated, different values",
		 REQ("Content-Length: 5\r\nContent-Length: 6\r\n"), HTTP_BAD),
	BODY_ERR("repeated, one invalid",
		 REQ("Content-Length: 5\r\nContent-Length: x\r\n"), HTTP_BAD),
	BODY_ERR("a list of equal values", REQ("Content-Length: 5, 5\r\n"),
		 HTTP_BAD),
	BODY_ERR("a list of different values", REQ("Content-Length: 5, 6\r\n"),
		 HTTP_BAD),
	{"over max_body is 413", T(REQ("Content-Length: 101\r\n")),
	 HTTP_BODY_TOO_LARGE, HTTP_BODY_NONE, 0, 100},
	{"exactly max_body", T(REQ("Content-Length: 100\r\n")), 0,
	 HTTP_BODY_LENGTH, 100, 100},
	CHUNKED("chunked", REQ("Transfer-Encoding: chunked\r\n")),
	CHUNKED("chunked in any case", REQ("Transfer-Encoding: ChUnKeD\r\n")),
	CHUNKED("chunked with empty list elements",
		REQ("Transfer-Encoding: , chunked ,\r\n")),
	BODY_ERR("TE and CL: smuggling",
		 REQ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
		 HTTP_BAD),
	BODY_ERR("CL and TE: smuggling",
		 REQ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
		 HTTP_BAD),
	BODY_ERR("gzip, chunked is not implemented",
		 REQ("Transfer-Encoding: gzip, chunked\r\n"),
		 HTTP_NOT_IMPLEMENTED),
	BODY_ERR("a coding with parameters, then chunked",
		 REQ("Transfer-Encoding: gzip;level=1 , chunked\r\n"),
		 HTTP_NOT_IMPLEMENTED),
	BODY_ERR("gzip, then chunked on a second line",
		 REQ("Transfer-Encoding: gzip\r\n"
		     "Transfer-Encoding: chunked\r\n"),
		 HTTP_NOT_IMPLEMENTED),
	/* RFC 9112 section 6.3: chunked not last is 400 */
	BODY_ERR("gzip alone: the last coding is not chunked",
		 REQ("Transfer-Encoding: gzip\r\n"), HTTP_BAD),
	BODY_ERR("chunked, identity",
		 REQ("Transfer-Encoding: chunked, identity\r\n"), HTTP_BAD),
	BODY_ERR("chunked, gzip", REQ("Transfer-Encoding: chunked, gzip\r\n"),
		 HTTP_BAD),
	BODY_ERR("gzip, chunked, identity",
		 REQ("Transfer-Encoding: gzip, chunked, identity\r\n"),
		 HTTP_BAD),
	BODY_ERR("chunked, then gzip on a second line",
		 REQ("Transfer-Encoding: chunked\r\n"
		     "Transfer-Encoding: gzip\r\n"),
		 HTTP_BAD),
	BODY_ERR("chunked with a parameter is not chunked",
		 REQ("Transfer-Encoding: chunked;q=1\r\n"), HTTP_BAD),
	BODY_ERR("a near miss: chunked_",
		 REQ("Transfer-Encoding: chunked_\r\n"), HTTP_BAD),
	BODY_ERR("a coding that is not a token",
		 REQ("Transfer-Encoding: gz ip, chunked\r\n"), HTTP_BAD),
	BODY_ERR("chunked twice",
		 REQ("Transfer-Encoding: chunked, chunked\r\n"), HTTP_BAD),
	BODY_ERR("chunked on two lines",
		 REQ("Transfer-Encoding: chunked\r\n"
		     "Transfer-Encoding: chunked\r\n"),
		 HTTP_BAD),
	BODY_ERR("empty Transfer-Encoding", REQ("Transfer-Encoding:\r\n"),
		 HTTP_BAD),
	BODY_ERR("Transfer-Encoding in HTTP/1.0",
		 "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		 HTTP_BAD),
};
/* ANCHOR_END: body_cases */

static const char *check_body(const void *c, const struct http_request *req,
			      const char *buf)
{
	const struct body_case *bc = c;
	static char msg[256];
	struct http_body body;
	uint64_t max = bc->max_body ? bc->max_body : UINT64_MAX;
	int r = http_body_framing(req, buf, max, &body);

	if (r != bc->want) {
		snprintf(msg, sizeof(msg), "framing: got %d, want %d", r,
			 bc->want);
		return msg;
	}
	if (r == 0 && (body.kind != bc->kind || body.length != bc->length)) {
		snprintf(msg, sizeof(msg),
			 "framing: got kind %d length %" PRIu64
			 ", want kind %d length %" PRIu64,
			 (int)body.kind, body.length, (int)bc->kind,
			 bc->length);
		return msg;
	}
	return NULL;
}

static void run_body_case(const struct body_case *c)
{
	struct parse_job j = {
		.name = c->name,
		.in = c->head,
		.max_head = MAX_HEAD,
		.want = (int)c->head.len,
		.check = check_body,
		.c = c,
	};

	run_parse(&j);
}

/*** Expect and Connection cases ***/

/* What http_expect, http_keep_alive and http_connection_has say. */
struct conn_case {
	const char *name; /* what it shows */
	struct text head; /* a complete, valid head */
	int expect;	  /* what http_expect returns */
	int keep_alive;	  /* what http_keep_alive returns */
	int close;	  /* http_connection_has(..., "close") */
};

#define GET11(headers) "GET / HTTP/1.1\r\n" H headers "\r\n"
#define GET10(headers) "GET / HTTP/1.0\r\n" headers "\r\n"

/* ANCHOR: conn_cases */
static const struct conn_case conn_cases[] = {
	{"HTTP/1.1 keeps alive", T(GET11("")), 0, 1, 0},
	{"HTTP/1.0 closes", T(GET10("")), 0, 0, 0},
	{"HTTP/1.1 with close", T(GET11("Connection: close\r\n")), 0, 0, 1},
	{"HTTP/1.0 with keep-alive", T(GET10("Connection: keep-alive\r\n")), 0,
	 1, 0},
	{"tokens in any case", T(GET11("Connection: CLOSE\r\n")), 0, 0, 1},
	{"close in a list", T(GET11("Connection: upgrade , close\r\n")), 0, 0,
	 1},
	{"close on a second line",
	 T(GET11("Connection: upgrade\r\nConnection: close\r\n")), 0, 0, 1},
	{"close inside a word is not close",
	 T(GET11("Connection: closed, x-close\r\n")), 0, 1, 0},
	{"close wins over keep-alive",
	 T(GET10("Connection: keep-alive, close\r\n")), 0, 0, 1},
	{"Expect: 100-continue", T(GET11("Expect: 100-continue\r\n")), 1, 1,
	 0},
	{"Expect in any case", T(GET11("expect: 100-CONTINUE\r\n")), 1, 1, 0},
	{"Expect: 100-continue in HTTP/1.0 is ignored",
	 T(GET10("Expect: 100-continue\r\n")), 0, 0, 0},
	{"other expectations are 417", T(GET11("Expect: 200-ok\r\n")),
	 HTTP_EXPECTATION_FAILED, 1, 0},
	{"100-continue and another", T(GET11("Expect: 100-continue, x\r\n")),
	 HTTP_EXPECTATION_FAILED, 1, 0},
};
/* ANCHOR_END: conn_cases */

static const char *check_conn(const void *c, const struct http_request *req,
			      const char *buf)
{
	const struct conn_case *cc = c;
	static char msg[256];
	int e = http_expect(req, buf), k = http_keep_alive(req, buf);
	int cl = http_connection_has(req, buf, "close");

	if (e == cc->expect && k == cc->keep_alive && cl == cc->close)
		return NULL;
	snprintf(msg, sizeof(msg),
		 "expect/keep-alive/close: got %d/%d/%d, want %d/%d/%d", e, k,
		 cl, cc->expect, cc->keep_alive, cc->close);
	return msg;
}

static void run_conn_case(const struct conn_case *c)
{
	struct parse_job j = {
		.name = c->name,
		.in = c->head,
		.max_head = MAX_HEAD,
		.want = (int)c->head.len,
		.check = check_conn,
		.c = c,
	};

	run_parse(&j);
}

/*** generated cases ***/

/* A case too long to write out: count header lines "X-N: v". */
static const char *check_count(const void *c, const struct http_request *req,
			       const char *buf)
{
	const size_t *want = c;

	(void)buf;
	return req->nheaders == *want ? NULL : "wrong header count";
}

/* headers_case: a request with count header lines. */
static void headers_case(const char *name, size_t count, int too_many)
{
	char in[ROOM];
	size_t n = 0, i;
	struct parse_job j;

	n += (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.0\r\n");
	for (i = 0; i < count; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-%zu: v\r\n",
				      i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
	j.name = name;
	j.in.s = in;
	j.in.len = n;
	j.max_head = MAX_HEAD;
	j.want = too_many ? HTTP_TOO_MANY_HEADERS : (int)n;
	j.check = check_count;
	j.c = &count;
	run_parse(&j);
}

/* ANCHOR: resume_case */
/*
 * resume_case: a call with last_len does not read again what the previous
 * call read, so a slow client costs O(n), not O(n^2). The proof: a head of
 * three pages, read first up to just past the second; then the middle page
 * is made unreadable and the parser resumes. Reading it again would die of
 * SIGSEGV. (The first page stays readable: each call looks at the first two
 * bytes, for the empty line it skips.) The last call, with the head
 * complete, reads it all.
 */
static void resume_case(void)
{
	const char *name = "resuming does not rescan";
	char *buf = guard - 3 * page;
	size_t n = 3 * page;
	struct http_request req;
	int r;

	n_cases++;
	n_splits += 2;
	memset(buf, 'a', n);
	memcpy(buf, "GET / HTTP/1.0\r\nX: ", 19);
	memcpy(buf + n - 4, "\r\n\r\n", 4);
	r = http_parse_request(buf, 2 * page + 1, 0, n, &req);
	if (r != HTTP_PARTIAL)
		fail(name, "two pages: got %d, want -2", r);
	protect(buf + page, PROT_NONE);
	r = http_parse_request(buf, n - 1, 2 * page + 1, n, &req);
	protect(buf + page, PROT_READ | PROT_WRITE);
	if (r != HTTP_PARTIAL)
		fail(name, "all but the last byte: got %d, want -2", r);
	r = http_parse_request(buf, n, n - 1, n, &req);
	if (r != (int)n || req.nheaders != 1 ||
	    req.headers[0].value.len != n - 23)
		fail(name, "the whole head: got %d, want %zu", r, n);
}
/* ANCHOR_END: resume_case */

/*
 * status_case: every error maps to its status code. Not a parse, so it
 * counts as a case with no split points.
 */
static void status_cases(void)
{
	static const int map[][2] = {
		{HTTP_BAD, 400},	       {HTTP_BAD_VERSION, 505},
		{HTTP_HEAD_TOO_LARGE, 431},     {HTTP_TOO_MANY_HEADERS, 431},
		{HTTP_BODY_TOO_LARGE, 413},     {HTTP_NOT_IMPLEMENTED, 501},
		{HTTP_EXPECTATION_FAILED, 417},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		n_cases++;
		if (http_error_status(map[i][0]) != map[i][1])
			fail("http_error_status", "%d: got %d, want %d",
			     map[i][0], http_error_status(map[i][0]),
			     map[i][1]);
	}
}

/*** the chunked decoder ***/

#ifdef TEST_CHUNKED
/* A chunked body, and what decoding it gives. */
struct chunk_case {
	const char *name;  /* what it shows */
	struct text in;	   /* the raw body, and maybe what follows it */
	int want;	   /* 0 when it decodes, else the error */
	struct text data;  /* the decoded data, when want is 0 */
	struct text rest;  /* the bytes after the body, when want is 0 */
	uint64_t max_body; /* 0 for 1000 */
};

#define DEC(name, in, data, rest) {name, T(in), 0, T(data), T(rest), 0}
#define DEC_ERR(name, in, e) {name, T(in), e, T(""), T(""), 0}

/* ANCHOR: chunk_cases */
static const struct chunk_case chunk_cases[] = {
	DEC("one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", ""),
	DEC("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	    "hello world", ""),
	DEC("empty body", "0\r\n\r\n", "", ""),
	DEC("hex sizes in both cases",
	    "a\r\n0123456789\r\nB\r\nabcdefghijk\r\n0\r\n\r\n",
	    "0123456789abcdefghijk", ""),
	DEC("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", ""),
	DEC("data holding CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", ""),
	DEC("data holding NUL", "3\r\na\0b\r\n0\r\n\r\n", "a\0b", ""),
	DEC("extensions are skipped",
	    "5;name=value\r\nhello\r\n0;x=\"q\"\r\n\r\n", "hello", ""),
	DEC("BWS before an extension", "5 ;a\r\nhello\r\n0\t;b\r\n\r\n",
	    "hello", ""),
	DEC("trailers are consumed",
	    "5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", "hello", ""),
	DEC("the next request stays",
	    "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hello",
	    "GET / HTTP/1.1\r\n"),
	{"a body of exactly max_body", T("a\r\n0123456789\r\n0\r\n\r\n"), 0,
	 T("0123456789"), T(""), 10},
	DEC_ERR("incomplete", "5\r\nhel", HTTP_PARTIAL),
	DEC_ERR("no last chunk", "5\r\nhello\r\n", HTTP_PARTIAL),
	DEC_ERR("no final CRLF", "5\r\nhello\r\n0\r\n", HTTP_PARTIAL),
	DEC_ERR("empty size", "\r\nhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("bad hex", "5g\r\nhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("negative size", "-5\r\nhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("space before the size", " 5\r\nhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("junk after the size", "5 junk\r\nhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("a second number", "5 5\r\nhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("bare LF after the size", "5\nhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("bare CR after the size", "5\rhello\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("bare LF in an extension", "5;a\nb\r\nhello\r\n0\r\n\r\n",
		HTTP_BAD),
	DEC_ERR("more data than the size", "5\r\nhello!\r\n0\r\n\r\n",
		HTTP_BAD),
	DEC_ERR("less data than the size", "5\r\nhell\r\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("bare LF after the data", "5\r\nhello\n0\r\n\r\n", HTTP_BAD),
	DEC_ERR("no CRLF after the data", "5\r\nhello0\r\n\r\n", HTTP_BAD),
	DEC_ERR("bare LF ending the body", "5\r\nhello\r\n0\r\n\n", HTTP_BAD),
	DEC_ERR("obs-fold in the trailer",
		"5\r\nhello\r\n0\r\nA: b\r\n c\r\n\r\n", HTTP_BAD),
	DEC_ERR("NUL in the trailer", "5\r\nhello\r\n0\r\nA: \0\r\n\r\n",
		HTTP_BAD),
	DEC_ERR("bare LF in the trailer", "5\r\nhello\r\n0\r\nA: b\n\r\n",
		HTTP_BAD),
	{"a size over max_body is 413 before the data", T("b\r\n"),
	 HTTP_BODY_TOO_LARGE, T(""), T(""), 10},
	{"chunks adding up past max_body", T("5\r\nhello\r\n6\r\n"),
	 HTTP_BODY_TOO_LARGE, T(""), T(""), 10},
	{"a 64-bit size with no limit", T("ffffffffffffffff\r\nabc"),
	 HTTP_PARTIAL, T(""), T(""), UINT64_MAX},
	{"a size past 64 bits", T("10000000000000000\r\n"), HTTP_BAD, T(""),
	 T(""), UINT64_MAX},
};
/* ANCHOR_END: chunk_cases */

/* The decoder's output, gathered across calls. */
struct decoded {
	char data[ROOM];   /* the data so far */
	size_t len;	   /* its length */
	char rest[ROOM];   /* the bytes after the body */
	size_t rest_len;   /* their length */
};

/*
 * decode_part: decode in[0, n) placed before the guard with decoder d,
 * adding the data to out, and after a complete body the bytes after it.
 */
static ptrdiff_t decode_part(struct http_chunked *d, const char *in, size_t n,
			     struct decoded *out)
{
	char *buf = place(in, n);
	size_t len = n;
	ptrdiff_t r = http_chunked_decode(d, buf, &len);

	if (len > n || out->len + len > sizeof(out->data))
		return -100; /* reported by the caller as a wrong result */
	memcpy(out->data + out->len, buf, len);
	out->len += len;
	if (r > 0) {
		memcpy(out->rest + out->rest_len, buf + len, (size_t)r);
		out->rest_len += (size_t)r;
	}
	return r;
}

/* chunk_check: the outcome of one way of decoding against the case. */
static void chunk_check(const struct chunk_case *c, const char *how,
			ptrdiff_t r, const struct decoded *out, uint64_t max)
{
	ptrdiff_t want = c->want ? c->want : (ptrdiff_t)c->rest.len;

	if (out->len > max)
		fail(c->name, "%s: %zu bytes decoded, over max_body", how,
		     out->len);
	if (r != want) {
		fail(c->name, "%s: got %td, want %td", how, r, want);
		return;
	}
	if (c->want != 0)
		return;
	if (out->len != c->data.len ||
	    memcmp(out->data, c->data.s, out->len) != 0)
		fail(c->name, "%s: wrong data (%zu bytes)", how, out->len);
	if (out->rest_len != c->rest.len ||
	    memcmp(out->rest, c->rest.s, out->rest_len) != 0)
		fail(c->name, "%s: wrong bytes after the body", how);
}

/* chunk_init: a fresh decoder and an empty output. */
static void chunk_init(struct http_chunked *d, uint64_t max,
		       struct decoded *out)
{
	http_chunked_init(d, max);
	out->len = 0;
	out->rest_len = 0;
}

static void run_chunk_case(const struct chunk_case *c)
{
	static struct decoded out;
	struct http_chunked d;
	uint64_t max = c->max_body ? c->max_body : 1000;
	size_t n = c->in.len, k;
	ptrdiff_t r;

	n_cases++;
	chunk_init(&d, max, &out);
	r = decode_part(&d, c->in.s, n, &out);
	chunk_check(c, "whole", r, &out, max);

	for (k = 0; k <= n; k++) {
		char how[64];

		n_splits++;
		snprintf(how, sizeof(how), "split after %zu bytes", k);
		chunk_init(&d, max, &out);
		r = decode_part(&d, c->in.s, k, &out);
		if (r == HTTP_PARTIAL) {
			r = decode_part(&d, c->in.s + k, n - k, &out);
		} else if (r >= 0) {
			/* complete within k: the rest is after the body */
			memcpy(out.rest + out.rest_len, c->in.s + k, n - k);
			out.rest_len += n - k;
			r += (ptrdiff_t)(n - k);
		}
		chunk_check(c, how, r, &out, max);
	}

	chunk_init(&d, max, &out);
	for (k = 0, r = HTTP_PARTIAL; k < n && r == HTTP_PARTIAL; k++)
		r = decode_part(&d, c->in.s + k, 1, &out);
	if (r >= 0) {
		memcpy(out.rest + out.rest_len, c->in.s + k, n - k);
		out.rest_len += n - k;
		r += (ptrdiff_t)(n - k);
	}
	chunk_check(c, "one byte at a time", r, &out, max);
}
/*
 * long_chunk_case: the limits need inputs too long to write out: a
 * chunk-size line of line_len zeros, or a trailer field line of
 * trailer_len bytes (CRLF included).
 */
static void long_chunk_case(const char *name, size_t line_len,
			    size_t trailer_len, int want)
{
	static char in[ROOM];
	struct chunk_case c = {name, {in, 0}, want, T(""), T(""), 1000};
	size_t n = 0;

	memset(in, '0', line_len);
	n = line_len;
	memcpy(in + n, "\r\n", 2);
	n += 2;
	if (trailer_len > 0) {
		memcpy(in + n, "X: ", 3);
		memset(in + n + 3, 'a', trailer_len - 5);
		memcpy(in + n + trailer_len - 2, "\r\n", 2);
		n += trailer_len;
	}
	memcpy(in + n, "\r\n", 2);
	c.in.len = n + 2;
	run_chunk_case(&c);
}
#endif /* TEST_CHUNKED */

/*** main ***/

#define RUN_ALL(table, fn)                                                   \
	do {                                                                 \
		size_t i_;                                                   \
		for (i_ = 0; i_ < sizeof(table) / sizeof(table[0]); i_++)   \
			fn(&table[i_]);                                      \
	} while (0)

int main(void)
{
	guard_setup();

	group_start();
	RUN_ALL(request_cases, run_request_case);
	group_end("request heads");

	group_start();
	headers_case("64 headers", HTTP_MAX_HEADERS, 0);
	headers_case("65 headers are too many", HTTP_MAX_HEADERS + 1, 1);
	resume_case();
	status_cases();
	group_end("limits and status codes");

	group_start();
	RUN_ALL(body_cases, run_body_case);
	group_end("body framing");

	group_start();
	RUN_ALL(conn_cases, run_conn_case);
	group_end("Expect and Connection");

#ifdef TEST_CHUNKED
	group_start();
	RUN_ALL(chunk_cases, run_chunk_case);
	long_chunk_case("a size line of the longest length",
			HTTP_CHUNK_LINE_MAX, 0, 0);
	long_chunk_case("a size line too long", HTTP_CHUNK_LINE_MAX + 1, 0,
			HTTP_BAD);
	long_chunk_case("a trailer of the largest size", 1, HTTP_TRAILER_MAX,
			0);
	long_chunk_case("a trailer too large", 1, HTTP_TRAILER_MAX + 1,
			HTTP_HEAD_TOO_LARGE);
	group_end("chunked bodies");
#endif

	printf("http_test: %lu cases, %lu split points, %lu failures\n",
	       n_cases, n_splits, n_failures);
	return n_failures ? 1 : 0;
}
