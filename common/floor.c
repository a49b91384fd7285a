/*
 * floor.c - a measuring stick for `make bench`, NOT a chapter and not a
 * lesson: the least an epoll HTTP server can do, so that the bench can say
 * how far each chapter is from what this machine allows.
 *
 *	floor [-q] [PORT]            (127.0.0.1; 0 lets the kernel choose)
 *
 * One thread, one epoll, level-triggered. For every readable connection it
 * makes one read, counts the request ends (\r\n\r\n) that the read
 * completes, and sends the canned answer to each of them (the bytes the
 * chapters answer `GET /` with: "Hello") in one send. It parses nothing
 * else: it never looks at the method or the path, reads no body (the
 * bench's requests have none), and knows one header, `Connection: close`
 * (written exactly so, in any case, as the first header of its line), which
 * gets the close answer, and the connection closed once that answer is
 * sent; anything after it is ignored. Every other connection is kept alive.
 * TCP_NODELAY is set on every connection, so a batch of answers leaves at
 * once. An answer that does not fit the socket is kept and the connection
 * stops being read until it is sent (EPOLLOUT), so one read's answers are
 * never more than one batch. A request head longer than 64 KiB closes the
 * connection. Nothing else is defended: no deadlines, no limit on
 * connections, no handling of running out of descriptors.
 *
 * It prints `listening on 127.0.0.1:PORT` first, then nothing until
 * SIGINT or SIGTERM, when it frees every connection, prints
 * `floor: N requests on M connections` (unless -q) and exits 0. A bad
 * command line prints a usage line and exits 2.
 *
 * Sections: limits and state, connections, answers, the loop, main.
 */
/* accept4 and SOCK_NONBLOCK/SOCK_CLOEXEC are GNU extensions. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/*** limits and state ***/

enum {
	DEFAULT_PORT = 8000,
	READ_SIZE = 16384,    /* one read at most */
	OUT_SIZE = 65536,     /* the shared batch of answers */
	CARRY = 32,           /* tail of an unfinished head kept for the next
				 read: more than the longest match below */
	MAX_HEAD = 65536,     /* an unfinished head longer than this closes */
	EVENTS = 256,         /* events per epoll_wait */
};

static const char ANSWER_KEEP[] = "HTTP/1.1 200 OK\r\n"
				  "Content-Type: text/plain\r\n"
				  "Content-Length: 5\r\n"
				  "Connection: keep-alive\r\n\r\nHello";
static const char ANSWER_CLOSE[] = "HTTP/1.1 200 OK\r\n"
				   "Content-Type: text/plain\r\n"
				   "Content-Length: 5\r\n"
				   "Connection: close\r\n\r\nHello";
/* Matched case-insensitively (the pattern is lower case) after a '\n'. */
static const char CLOSE_HEADER[] = "connection: close\r";

/* The listener and the signalfd are told apart from connections by these
   two addresses in epoll_event.data.ptr. */
static char listener_tag, signals_tag;

struct conn {
	int fd;                 /* the accepted socket */
	bool close_seen;        /* the unfinished request asked to close */
	bool closing;           /* close once out is sent */
	size_t head;            /* bytes of the unfinished request so far */
	size_t carry_len;       /* bytes in carry */
	char carry[CARRY];      /* the unfinished request's last bytes */
	char *out;              /* answers the socket did not take, or NULL */
	size_t out_len;         /* bytes in out */
	size_t out_off;         /* bytes of out already sent */
	struct conn *prev, *next; /* every open connection, to free at exit */
};

static int ep = -1;               /* the epoll instance */
static struct conn *conns;        /* the open connections */
static unsigned long requests;    /* request ends counted */
static unsigned long accepted;    /* connections accepted */
static char inbuf[CARRY + READ_SIZE]; /* carry + one read */
static char outbuf[OUT_SIZE];     /* one read's answers */
static size_t outlen;             /* bytes in outbuf */

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/*** connections ***/

static void conn_free(struct conn *c)
{
	close(c->fd); /* close(2) also takes it out of the epoll set */
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->out);
	free(c);
}

/* conn_want: wait for readable (the usual) or writable (while out waits). */
static int conn_want(struct conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};

	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;
		struct conn *c;
		struct epoll_event ev = {.events = EPOLLIN};

		if (fd == -1) {
			/* accept(2): EAGAIN: none left; ECONNABORTED: gone
			   before we took it. Anything else: try next turn. */
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				perror("accept4");
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		/* tcp(7): send each batch at once, not after an ACK. */
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			       sizeof(one)) == -1 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			close(fd);
			free(c);
			continue;
		}
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
		accepted++;
	}
}

/*** answers ***/

/* send_out: send len bytes of buf, or keep what the socket did not take
   in c->out. Returns -1 if the connection failed. */
static int send_out(struct conn *c, const char *buf, size_t len)
{
	ssize_t n = 0;
	char *more;

	if (c->out == NULL) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n == -1)
			n = 0;
		if ((size_t)n == len)
			return 0;
	}
	more = realloc(c->out, c->out_len + (len - (size_t)n));
	if (more == NULL)
		return -1;
	memcpy(more + c->out_len, buf + n, len - (size_t)n);
	c->out = more;
	c->out_len += len - (size_t)n;
	return 0;
}

/* answer: add one answer to the batch, sending the batch if it is full. */
static int answer(struct conn *c, bool close_it)
{
	const char *a = close_it ? ANSWER_CLOSE : ANSWER_KEEP;
	size_t len = close_it ? sizeof(ANSWER_CLOSE) - 1
			      : sizeof(ANSWER_KEEP) - 1;

	if (outlen + len > sizeof(outbuf)) {
		if (send_out(c, outbuf, outlen) == -1)
			return -1;
		outlen = 0;
	}
	memcpy(outbuf + outlen, a, len);
	outlen += len;
	requests++;
	return 0;
}

/* close_header: does buf[i..n) start with CLOSE_HEADER, in any case? */
static bool close_header(const char *buf, size_t i, size_t n)
{
	size_t k, len = sizeof(CLOSE_HEADER) - 1;

	if (n - i < len)
		return false; /* cut by the read: the carry sees it again */
	for (k = 0; k < len; k++) {
		char ch = buf[i + k];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch != CLOSE_HEADER[k])
			return false;
	}
	return true;
}

/* scan: answer every request that buf[0..n) completes (buf starts with
   the connection's carry, kept bytes of its unfinished request); keep the
   new carry. Returns -1 if the connection must close now. */
static int scan(struct conn *c, const char *buf, size_t n, size_t carried)
{
	size_t start = 0, i = 0; /* the unfinished request begins at start */
	const char *nl;

	while (i < n && (nl = memchr(buf + i, '\n', n - i)) != NULL) {
		i = (size_t)(nl - buf) + 1;
		if (close_header(buf, i, n))
			c->close_seen = true;
		if (i - start >= 4 && memcmp(buf + i - 4, "\r\n\r\n", 4) == 0) {
			if (answer(c, c->close_seen) == -1)
				return -1;
			if (c->close_seen) {
				c->closing = true; /* the rest is ignored */
				return 0;
			}
			start = i;
			c->head = 0;
			carried = 0;
		}
	}
	/* The head grows by what this read added to it. */
	c->head += n - (start > carried ? start : carried);
	if (c->head > MAX_HEAD)
		return -1;
	c->carry_len = n - start < CARRY ? n - start : CARRY;
	memcpy(c->carry, buf + n - c->carry_len, c->carry_len);
	return 0;
}

/* conn_read: one read, its answers in one send. */
static void conn_read(struct conn *c)
{
	ssize_t n;

	memcpy(inbuf, c->carry, c->carry_len);
	n = read(c->fd, inbuf + c->carry_len, READ_SIZE);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) { /* EOF, or an error such as ECONNRESET */
		conn_free(c);
		return;
	}
	outlen = 0;
	if (scan(c, inbuf, c->carry_len + (size_t)n, c->carry_len) == -1 ||
	    (outlen > 0 && send_out(c, outbuf, outlen) == -1)) {
		conn_free(c);
		return;
	}
	if (c->out != NULL) {
		if (conn_want(c, EPOLLOUT) == -1)
			conn_free(c);
	} else if (c->closing) {
		conn_free(c);
	}
}

/* conn_write: send what waits in out; then read again, or close. */
static void conn_write(struct conn *c)
{
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		conn_free(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	if (c->closing || conn_want(c, EPOLLIN) == -1)
		conn_free(c);
}

/*** the loop ***/

static void run(int lfd)
{
	struct epoll_event events[EVENTS];

	for (;;) {
		int i, n = epoll_wait(ep, events, EVENTS, -1);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			void *p = events[i].data.ptr;
			struct conn *c = p;

			if (p == &signals_tag)
				return;
			if (p == &listener_tag)
				accept_all(lfd);
			else if (c->out != NULL)
				conn_write(c);
			else
				conn_read(c);
		}
	}
}

/*** main ***/

static void usage(void)
{
	fprintf(stderr, "usage: floor [-q] [PORT]   (a measuring stick for "
			"make bench, not a chapter; default port %d, 0 lets "
			"the kernel choose)\n",
		DEFAULT_PORT);
	exit(2);
}

static int listen_on(unsigned short port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		die("setsockopt");
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1)
		die("bind");
	if (listen(fd, SOMAXCONN) == -1)
		die("listen");
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	unsigned long port = DEFAULT_PORT;
	bool quiet = false;
	int opt, lfd, sfd;
	sigset_t stop;
	struct epoll_event ev = {.events = EPOLLIN};

	while ((opt = getopt(argc, argv, "q")) != -1) {
		if (opt != 'q')
			usage();
		quiet = true;
	}
	if (argc - optind > 1)
		usage();
	if (argc - optind == 1) {
		const char *s = argv[optind];

		if (*s == '\0' || strspn(s, "0123456789") != strlen(s) ||
		    strlen(s) > 5)
			usage();
		port = strtoul(s, NULL, 10);
		if (port > 65535)
			usage();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* signalfd(2): block the signals, then read them as events. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &stop, NULL) == -1)
		die("sigprocmask");
	sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd == -1)
		die("signalfd");
	lfd = listen_on((unsigned short)port);
	if (getsockname(lfd, (struct sockaddr *)&a, &alen) == -1)
		die("getsockname");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep == -1)
		die("epoll_create1");
	ev.data.ptr = &listener_tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		die("epoll_ctl (listener)");
	ev.data.ptr = &signals_tag;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) == -1)
		die("epoll_ctl (signals)");
	printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));

	run(lfd);

	while (conns)
		conn_free(conns);
	close(ep);
	close(lfd);
	close(sfd);
	if (!quiet)
		printf("floor: %lu requests on %lu connections\n", requests,
		       accepted);
	return 0;
}
