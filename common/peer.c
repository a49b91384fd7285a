/*
 * peer.c - a test peer: a TCP client that misbehaves on command.
 *
 *	peer [options] PORT          (always connects to 127.0.0.1:PORT)
 *
 *	-s BYTES    send these bytes; the escapes \r \n \t \0 \\ and \xHH
 *	            are decoded
 *	-f FILE     send the contents of FILE (not with -s)
 *	-x N        repeat what is sent N times in one buffer (pipelining)
 *	-c SIZE     send in pieces of SIZE bytes (1: a byte at a time)
 *	-d MS       wait MS milliseconds between pieces (needs -c)
 *	-h          half-close (shutdown SHUT_WR) after sending everything
 *	-S N        reset (SO_LINGER {1, 0}, close) once N bytes are sent;
 *	            only those N are sent (0: reset right after connecting)
 *	-R N        reset once N bytes are received
 *	-e N        close normally once N bytes are received (for servers
 *	            that keep the connection open)
 *	-n          never read: after sending, hold the connection until -t
 *	            (a close or reset by the server is still noticed)
 *	-r SIZE/MS  read slowly: at most SIZE bytes every MS milliseconds,
 *	            with a small receive buffer (SO_RCVBUF)
 *	-o FILE     write what is received to FILE (- or default: stdout)
 *	-q          write what is received nowhere (it is still counted)
 *	-C N        open N connections, all of them first, then each runs
 *	            the same script; received bytes share one output
 *	-t MS       give up after MS milliseconds in all (default 10000)
 *	-v          report events on stderr, one line each, with the time
 *	            since the start: "[12 ms] #1 connected"
 *
 * The end: peer reads until the server closes the connection (EOF or reset)
 * or the script ends it (-S, -R, -e, or -n at the deadline), then prints one
 * summary line on stderr:
 *
 *	peer: sent 24 bytes, received 98 bytes, closed by server (eof)
 *	after 303 ms
 *
 * where the end is one of: closed by server (eof), closed by server (reset),
 * reset by us, closed by us, still open (the deadline came first), failed.
 * With -C N the line counts connections by how they ended, and the time is
 * that of the last end. Times come from CLOCK_MONOTONIC and count from just
 * before the first connect.
 *
 * Exit status (with -C, the first that applies to any connection, in this
 * order):
 *	1  a connection failed: connect, send, recv, or writing the output
 *	4  the server reset a connection
 *	3  the deadline came before the script's end (with -n, holding until
 *	   the deadline is the script's end)
 *	0  otherwise: the server closed the connection, or the script ran to
 *	   its end
 *	2  a bad command line (checked before anything is sent)
 *
 * This is a test peer, not a lesson: one thread and poll(2), which is plenty
 * for a few thousand connections. Sockets are non-blocking, connects
 * included, so that one stuck connection never holds up the others or the
 * deadline. TCP_NODELAY is set, so that every piece leaves when it is sent.
 *
 * Sections: limits and state, the script, time and reports, one connection, the loop,
 * the command line, main.
 */
/* POLLRDHUP (poll(2)) and SOCK_NONBLOCK/SOCK_CLOEXEC are GNU extensions. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*** limits and state ***/

#define SCRIPT_MAX  (1UL << 30) /* bytes to send, after -x, at most */
#define MS_MAX      86400000L   /* a day: the largest -d, -r or -t */
#define CONNS_MAX   100000      /* the largest -C */
#define SLOW_MAX    (1L << 20)  /* the largest SIZE of -r */
#define RECV_CHUNK  65536       /* bytes asked of one recv(2) */
#define DEFAULT_TIMEOUT_MS 10000

/* Exit statuses; see the header. */
enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_DEADLINE = 3,
       EXIT_RESET = 4 };

/* What the command line asks for. */
struct options {
	char *script;          /* the bytes to send, -x applied; may be NULL */
	size_t script_len;     /* how many */
	size_t send_len;       /* how many of them to send: -S, or all */
	size_t piece;          /* -c: bytes per piece; 0 sends all at once */
	long gap_ms;           /* -d: the pause between pieces */
	bool half_close;       /* -h: shutdown(SHUT_WR) after the last byte */
	bool reset_sent;       /* -S: reset once send_len bytes are sent */
	long long reset_recv;  /* -R: reset after this many received, or -1 */
	long long close_recv;  /* -e: close after this many received, or -1 */
	bool never_read;       /* -n: never call recv */
	size_t slow_size;      /* -r SIZE: bytes per interval; 0 = full speed */
	long slow_ms;          /* -r MS: the interval */
	int out_fd;            /* where received bytes go; -1 for -q */
	long conns;            /* -C: how many connections */
	long timeout_ms;       /* -t: the deadline, from the start */
	bool verbose;          /* -v: one line per event on stderr */
	unsigned short port;   /* the server's port on 127.0.0.1 */
};

/* How a connection ended (or why it has not). */
enum outcome {
	RUNNING,      /* connecting, or running its script */
	SERVER_EOF,   /* the server closed: recv returned 0 (or POLLRDHUP) */
	SERVER_RESET, /* the server reset: ECONNRESET or EPIPE */
	US_RESET,     /* -S or -R: we reset it */
	US_CLOSED,    /* -e: we closed it */
	STILL_OPEN,   /* the deadline came first */
	FAILED,       /* a system call failed */
	OUTCOMES      /* how many there are */
};

static const char *const outcome_name[OUTCOMES] = {
	[RUNNING] = "running",
	[SERVER_EOF] = "closed by server (eof)",
	[SERVER_RESET] = "closed by server (reset)",
	[US_RESET] = "reset by us",
	[US_CLOSED] = "closed by us",
	[STILL_OPEN] = "still open",
	[FAILED] = "failed",
};

/* One connection and how far its script has got. */
struct conn {
	int fd;               /* the socket; -1 once the connection ended */
	long id;              /* 1..N, for the reports */
	bool connected;       /* the handshake has completed */
	size_t sent;          /* bytes of the script sent so far */
	size_t piece_start;   /* where the piece being sent starts */
	size_t piece_end;     /* where it ends */
	int64_t send_at;      /* ns: when the next piece may start */
	bool sent_all;        /* the script's sending is done (-h included) */
	uint64_t received;    /* bytes received so far */
	size_t budget;        /* -r: bytes we may still read this interval */
	int64_t read_at;      /* -r: ns when the budget is refilled */
	enum outcome outcome; /* how it ended, or RUNNING */
	int64_t ended;        /* ns: when it ended */
};

/* Everything the loop works on. */
struct peer {
	struct options opt;   /* the command line */
	struct conn *conns;   /* opt.conns of them */
	struct pollfd *pfds;  /* what poll watches: open connections only */
	long *pfd_conn;       /* pfds[k] is for conns[pfd_conn[k]] */
	int64_t t0;           /* ns: the start, just before the first connect */
	bool scripts_started; /* every handshake is over: scripts run */
};

/*** the script ***/

/* hex_digit: the value of the hex digit c, or -1. */
static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * unescape: decode the C escapes of -s into a new buffer; its length goes to
 * *len. NULL with errno EINVAL on an unknown or cut escape (ENOMEM when
 * malloc fails).
 */
static char *unescape(const char *s, size_t *len)
{
	char *out = malloc(strlen(s) + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	while (*s) {
		int hi, lo;

		if (*s != '\\') {
			out[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'r': out[n++] = '\r'; break;
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case '0': out[n++] = '\0'; break;
		case '\\': out[n++] = '\\'; break;
		case 'x':
			hi = hex_digit(s[1]);
			lo = hi < 0 ? -1 : hex_digit(s[2]);
			if (lo < 0)
				goto bad;
			out[n++] = (char)(hi << 4 | lo);
			s += 2;
			break;
		default:
			goto bad;
		}
		s++;
	}
	*len = n;
	return out;
bad:
	free(out);
	errno = EINVAL;
	return NULL;
}

/* read_file: the whole of path in a new buffer, or NULL with errno set. */
static char *read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap), *bigger;
	int fd, saved;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		goto out_free;
	for (;;) {
		ssize_t got;

		if (n == cap) {
			if (cap >= SCRIPT_MAX) {
				errno = EFBIG;
				goto out_close;
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger)
				goto out_close;
			buf = bigger;
			cap *= 2;
		}
		got = read(fd, buf + n, cap - n);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			goto out_close;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd); /* read-only: nothing to lose if close fails */
	*len = n;
	return buf;

out_close:
	saved = errno;
	close(fd);
	errno = saved;
out_free:
	saved = errno;
	free(buf);
	errno = saved;
	return NULL;
}

/*
 * repeat: buf (len bytes, freed here) times n, in one new buffer. NULL with
 * errno EFBIG past SCRIPT_MAX, or ENOMEM.
 */
static char *repeat(char *buf, size_t *len, unsigned long n)
{
	char *out;

	if (n == 1)
		return buf;
	if (*len > SCRIPT_MAX / n) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	out = malloc(*len * n + 1); /* + 1: malloc(0) may return NULL */
	if (out)
		for (unsigned long i = 0; i < n; i++)
			memcpy(out + i * *len, buf, *len);
	free(buf);
	*len *= n;
	return out;
}

/*** time and reports ***/

/* now_ns: CLOCK_MONOTONIC in nanoseconds; it never goes back. */
static int64_t now_ns(void)
{
	struct timespec ts;

	/* clock_gettime(2) cannot fail for CLOCK_MONOTONIC on Linux. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ms_since: whole milliseconds from t0 to t. */
static long long ms_since(int64_t t0, int64_t t)
{
	return (long long)((t - t0) / 1000000);
}

/* event: with -v, one line "[T ms] #ID what" on stderr. */
static void event(const struct peer *p, const struct conn *c,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void event(const struct peer *p, const struct conn *c,
		  const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (!p->opt.verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* stderr is unbuffered: one fprintf is one write(2), one line. */
	fprintf(stderr, "[%lld ms] #%ld %s\n", ms_since(p->t0, now_ns()),
		c->id, what);
}

/* summary: the last line: bytes, how the connections ended, and when. */
static void summary(const struct peer *p)
{
	unsigned long long sent = 0, received = 0;
	long count[OUTCOMES] = {0};
	int64_t last = p->t0;
	const char *sep = "";

	for (long i = 0; i < p->opt.conns; i++) {
		const struct conn *c = &p->conns[i];

		sent += c->sent;
		received += c->received;
		count[c->outcome]++;
		if (c->ended > last)
			last = c->ended;
	}
	fprintf(stderr, "peer: ");
	if (p->opt.conns > 1)
		fprintf(stderr, "%ld connections, ", p->opt.conns);
	fprintf(stderr, "sent %llu bytes, received %llu bytes, ", sent,
		received);
	for (int o = 0; o < OUTCOMES; o++) {
		if (!count[o])
			continue;
		if (p->opt.conns > 1)
			fprintf(stderr, "%s%ld %s", sep, count[o],
				outcome_name[o]);
		else
			fprintf(stderr, "%s", outcome_name[o]);
		sep = ", ";
	}
	fprintf(stderr, " after %lld ms\n", ms_since(p->t0, last));
}

/* exit_status: see the header; the first that applies to any connection. */
static int exit_status(const struct peer *p)
{
	bool failed = false, reset = false, late = false;

	for (long i = 0; i < p->opt.conns; i++) {
		const struct conn *c = &p->conns[i];

		if (c->outcome == FAILED)
			failed = true;
		else if (c->outcome == SERVER_RESET)
			reset = true;
		else if (c->outcome == STILL_OPEN &&
			 !(p->opt.never_read && c->sent_all))
			late = true;
	}
	return failed ? EXIT_FAILED
	       : reset ? EXIT_RESET
	       : late  ? EXIT_DEADLINE
		       : EXIT_OK;
}

/*** one connection ***/

/*
 * conn_end: the connection is over; close it (if still open) and record how
 * it ended. close(2) of a socket with unread input sends a reset, not a FIN
 * (RFC 2525, 2.17): -n peers that end this way reset the connection.
 */
static void conn_end(struct conn *c, enum outcome how)
{
	if (c->fd != -1 && close(c->fd) == -1 && how != FAILED) {
		/* The descriptor is gone all the same (close(2)). */
		fprintf(stderr, "peer: #%ld close: %s\n", c->id,
			strerror(errno));
		how = FAILED;
	}
	c->fd = -1;
	c->outcome = how;
	c->ended = now_ns();
}

/* conn_fail: a call failed on this connection: say so and end it. */
static void conn_fail(struct conn *c, const char *what, int err)
{
	fprintf(stderr, "peer: #%ld %s: %s\n", c->id, what, strerror(err));
	conn_end(c, FAILED);
}

/*
 * conn_reset: end the connection with a reset. socket(7): SO_LINGER with a
 * zero timeout makes close(2) discard unsent data and send RST at once.
 */
static void conn_reset(struct peer *p, struct conn *c, bool after_send)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == -1) {
		conn_fail(c, "setsockopt SO_LINGER", errno);
		return;
	}
	if (after_send)
		event(p, c, "reset by us after %zu bytes sent", c->sent);
	else
		event(p, c, "reset by us after %llu bytes received",
		      (unsigned long long)c->received);
	conn_end(c, US_RESET);
}

/* conn_open: a non-blocking socket and its connect(2) under way. */
static void conn_open(struct peer *p, struct conn *c)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(p->opt.port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1;
	int rcvbuf = (int)p->opt.slow_size;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		conn_fail(c, "socket", errno);
		return;
	}
	/* tcp(7): no Nagle, so that each piece leaves when it is sent. */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		conn_fail(c, "setsockopt TCP_NODELAY", errno);
		return;
	}
	/*
	 * socket(7): the receive buffer must be set before connect to shape
	 * the window the server sees. The kernel doubles the value and
	 * enforces a minimum of a few KB.
	 */
	if (rcvbuf && setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				 sizeof(rcvbuf)) == -1) {
		conn_fail(c, "setsockopt SO_RCVBUF", errno);
		return;
	}
	/*
	 * connect(2): a non-blocking connect says EINPROGRESS and completes
	 * later; POLLOUT then tells, and SO_ERROR says how. EINTR means the
	 * same: the handshake goes on without us.
	 */
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		c->connected = true;
		event(p, c, "connected");
	} else if (errno != EINPROGRESS && errno != EINTR) {
		conn_fail(c, "connect", errno);
	}
}

/* conn_connected: POLLOUT (or an error) on a connect under way. */
static void conn_connected(struct peer *p, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
		conn_fail(c, "getsockopt SO_ERROR", errno);
		return;
	}
	if (err) {
		conn_fail(c, "connect", err);
		return;
	}
	c->connected = true;
	event(p, c, "connected");
}

/* conn_sent_all: the last byte is out: reset or half-close as asked. */
static void conn_sent_all(struct peer *p, struct conn *c)
{
	if (p->opt.reset_sent) {
		conn_reset(p, c, true);
		return;
	}
	c->sent_all = true;
	if (!p->opt.half_close)
		return;
	/* shutdown(2): we send a FIN; the other direction stays open. */
	if (shutdown(c->fd, SHUT_WR) == -1) {
		conn_fail(c, "shutdown", errno);
		return;
	}
	event(p, c, "half-closed after %zu bytes sent", c->sent);
}

/* conn_start: every handshake is over; the script begins now. */
static void conn_start(struct peer *p, struct conn *c, int64_t now)
{
	size_t piece = p->opt.piece ? p->opt.piece : p->opt.send_len;

	c->piece_end = piece < p->opt.send_len ? piece : p->opt.send_len;
	c->send_at = now;
	c->budget = p->opt.slow_size;
	c->read_at = now;
	if (p->opt.send_len == 0)
		conn_sent_all(p, c);
}

/*
 * conn_send: POLLOUT: send the rest of the current piece. send(2) may take
 * fewer bytes than offered; EAGAIN means the socket buffer is full, so wait
 * for POLLOUT again. MSG_NOSIGNAL: a reset peer gives EPIPE, not SIGPIPE.
 */
static void conn_send(struct peer *p, struct conn *c)
{
	const struct options *o = &p->opt;

	while (c->sent < c->piece_end) {
		ssize_t n = send(c->fd, o->script + c->sent,
				 c->piece_end - c->sent, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1 && (errno == ECONNRESET || errno == EPIPE)) {
			event(p, c, "reset by server after %zu bytes sent",
			      c->sent);
			conn_end(c, SERVER_RESET);
			return;
		}
		if (n == -1) {
			conn_fail(c, "send", errno);
			return;
		}
		c->sent += (size_t)n;
	}
	event(p, c, "sent %zu bytes, %zu in all", c->piece_end - c->piece_start,
	      c->sent);
	if (c->sent == o->send_len) {
		conn_sent_all(p, c);
		return;
	}
	/* The next piece, after the gap. */
	c->piece_start = c->piece_end;
	c->piece_end += o->piece;
	if (c->piece_end > o->send_len)
		c->piece_end = o->send_len;
	c->send_at = now_ns() + (int64_t)o->gap_ms * 1000000;
}

/* write_all: all len bytes of buf to fd, or -1 with errno set. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* recv_limit: how many bytes conn_recv may take now (> 0). */
static size_t recv_limit(const struct peer *p, const struct conn *c)
{
	const struct options *o = &p->opt;
	size_t want = RECV_CHUNK;
	long long stop = o->reset_recv >= 0 ? o->reset_recv : o->close_recv;

	if (o->slow_size && c->budget < want)
		want = c->budget;
	if (stop >= 0 && (unsigned long long)stop - c->received < want)
		want = (size_t)((unsigned long long)stop - c->received);
	return want;
}

/*
 * conn_recv: POLLIN (or HUP or ERR): one recv(2). Data goes to the output;
 * EOF or a reset ends the connection; -r, -R and -e are applied.
 */
static void conn_recv(struct peer *p, struct conn *c)
{
	const struct options *o = &p->opt;
	char buf[RECV_CHUNK];
	ssize_t n;

	do
		n = recv(c->fd, buf, recv_limit(p, c), 0);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return; /* readiness was a hint: nothing after all */
	if (n == -1 && errno == ECONNRESET) {
		event(p, c, "reset by server after %llu bytes received",
		      (unsigned long long)c->received);
		conn_end(c, SERVER_RESET);
		return;
	}
	if (n == -1) {
		conn_fail(c, "recv", errno);
		return;
	}
	if (n == 0) {
		/* recv(2): 0 is end of file: the server sent its FIN. */
		event(p, c, "eof after %llu bytes received",
		      (unsigned long long)c->received);
		conn_end(c, SERVER_EOF);
		return;
	}
	c->received += (uint64_t)n;
	event(p, c, "received %zd bytes, %llu in all", n,
	      (unsigned long long)c->received);
	if (o->out_fd != -1 && write_all(o->out_fd, buf, (size_t)n) == -1) {
		conn_fail(c, "write output", errno);
		return;
	}
	if (o->slow_size) {
		c->budget -= (size_t)n;
		if (c->budget == 0)
			c->read_at = now_ns() + (int64_t)o->slow_ms * 1000000;
	}
	if (o->reset_recv >= 0 && c->received == (uint64_t)o->reset_recv) {
		conn_reset(p, c, false);
	} else if (o->close_recv >= 0 &&
		   c->received == (uint64_t)o->close_recv) {
		event(p, c, "closed by us after %llu bytes received",
		      (unsigned long long)c->received);
		conn_end(c, US_CLOSED);
	}
}

/*
 * conn_watch: -n: poll reported a close without our reading. SO_ERROR holds
 * a reset (socket(7)); POLLRDHUP or POLLHUP alone is the server's FIN.
 */
static void conn_watch(struct peer *p, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
		conn_fail(c, "getsockopt SO_ERROR", errno);
	} else if (err == ECONNRESET || err == EPIPE) {
		event(p, c, "reset by server (never read)");
		conn_end(c, SERVER_RESET);
	} else if (err) {
		conn_fail(c, "socket error", err);
	} else {
		event(p, c, "eof (never read)");
		conn_end(c, SERVER_EOF);
	}
}

/*** the loop ***/

/*
 * interest: what poll should watch for on c now, and the earliest time
 * (*wake, ns) at which that may change. 0: nothing, leave it out.
 */
static short interest(struct peer *p, struct conn *c, int64_t now,
		      int64_t *wake)
{
	const struct options *o = &p->opt;
	short ev = 0;

	if (c->fd == -1)
		return 0;
	if (!c->connected)
		return POLLOUT;
	if (!p->scripts_started)
		return 0;
	if (!c->sent_all) {
		if (now >= c->send_at)
			ev |= POLLOUT;
		else if (c->send_at < *wake)
			*wake = c->send_at;
	}
	if (o->never_read) {
		ev |= POLLRDHUP;
	} else if (o->slow_size && c->budget == 0) {
		if (now >= c->read_at) {
			c->budget = o->slow_size; /* a new interval */
			ev |= POLLIN;
		} else if (c->read_at < *wake) {
			*wake = c->read_at;
		}
	} else {
		ev |= POLLIN;
	}
	return ev;
}

/* handle: act on what poll(2) reported for c. */
static void handle(struct peer *p, struct conn *c, short events,
		   short revents)
{
	if (!c->connected) {
		conn_connected(p, c);
		return;
	}
	/* poll(2): POLLERR and POLLHUP are reported even when not asked. */
	if (p->opt.never_read) {
		if (revents & (POLLERR | POLLHUP | POLLRDHUP)) {
			conn_watch(p, c);
			return;
		}
	} else if ((events & POLLIN) &&
		   (revents & (POLLIN | POLLERR | POLLHUP))) {
		conn_recv(p, c);
	}
	if (c->fd != -1 && (events & POLLOUT) &&
	    (revents & (POLLOUT | POLLERR | POLLHUP)))
		conn_send(p, c);
}

/* poll_ms: the poll(2) timeout for waking at `wake`: rounded up, clamped. */
static int poll_ms(int64_t now, int64_t wake)
{
	int64_t ms = (wake - now + 999999) / 1000000;

	if (ms < 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * run: open every connection, wait for every handshake, then run the
 * script on each until all have ended or the deadline comes.
 */
static void run(struct peer *p)
{
	const int64_t deadline = p->t0 + (int64_t)p->opt.timeout_ms * 1000000;
	long n = p->opt.conns;

	for (long i = 0; i < n; i++)
		conn_open(p, &p->conns[i]);
	for (;;) {
		int64_t now = now_ns(), wake = deadline;
		bool connecting = false, running = false;
		nfds_t nfds;
		int ready;

		if (now >= deadline)
			break;
		for (long i = 0; i < n; i++) {
			struct conn *c = &p->conns[i];

			connecting |= c->fd != -1 && !c->connected;
			running |= c->fd != -1;
		}
		if (!running)
			break;
		if (!connecting && !p->scripts_started) {
			p->scripts_started = true;
			for (long i = 0; i < n; i++)
				if (p->conns[i].fd != -1)
					conn_start(p, &p->conns[i], now);
			continue; /* -S 0 may have ended some already */
		}
		nfds = 0;
		for (long i = 0; i < n; i++) {
			short ev = interest(p, &p->conns[i], now, &wake);

			if (!ev)
				continue;
			p->pfds[nfds] = (struct pollfd){.fd = p->conns[i].fd,
							.events = ev};
			p->pfd_conn[nfds++] = i;
		}
		ready = poll(p->pfds, nfds, poll_ms(now, wake));
		if (ready == -1 && errno != EINTR) {
			/* ENOMEM, or EINVAL: more fds than RLIMIT_NOFILE. */
			int err = errno;

			for (long i = 0; i < n; i++)
				if (p->conns[i].fd != -1)
					conn_fail(&p->conns[i], "poll",
						  err);
			return;
		}
		/* poll(2): EINTR is no events; the loop recomputes the wait. */
		for (nfds_t k = 0; ready > 0 && k < nfds; k++) {
			struct conn *c = &p->conns[p->pfd_conn[k]];

			if (p->pfds[k].revents && c->fd != -1)
				handle(p, c, p->pfds[k].events,
				       p->pfds[k].revents);
		}
	}
	for (long i = 0; i < n; i++) {
		struct conn *c = &p->conns[i];

		if (c->fd == -1)
			continue;
		event(p, c, c->connected ? "timeout" : "timeout connecting");
		conn_end(c, STILL_OPEN);
	}
}

/*** the command line ***/

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "peer: %s\n", why);
	fprintf(stderr,
		"usage: peer [-hnqv] [-s BYTES | -f FILE] [-x N] [-c SIZE "
		"[-d MS]] [-S N] [-R N | -e N] [-r SIZE/MS] [-o FILE] "
		"[-C N] [-t MS] PORT\n");
	exit(EXIT_USAGE);
}

/* number: s as a decimal integer in [lo, hi], or usage(). */
static long long number(const char *s, long long lo, long long hi,
			const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || *s < '0' || *s > '9' || v < lo ||
	    v > hi) {
		char why[96];

		snprintf(why, sizeof(why), "%s: want a number from %lld to %lld",
			 what, lo, hi);
		usage(why);
	}
	return v;
}

/* open_output: -o FILE as a descriptor; - is stdout. Exits on failure. */
static int open_output(const char *path)
{
	int fd;

	if (strcmp(path, "-") == 0)
		return STDOUT_FILENO;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		fprintf(stderr, "peer: %s: %s\n", path, strerror(errno));
		exit(EXIT_FAILED);
	}
	return fd;
}

/* parse: the command line into *o, or usage(). */
static void parse(int argc, char **argv, struct options *o)
{
	const char *text = NULL, *file = NULL, *out = NULL;
	char *slash;
	long long reset_sent = -1, repeat_n = 1;
	bool quiet = false;
	int c;

	*o = (struct options){.reset_recv = -1, .close_recv = -1,
			      .conns = 1, .timeout_ms = DEFAULT_TIMEOUT_MS,
			      .out_fd = STDOUT_FILENO, .gap_ms = -1};
	while ((c = getopt(argc, argv, "s:f:x:c:d:hS:R:e:nr:o:qC:t:v")) != -1) {
		switch (c) {
		case 's': text = optarg; break;
		case 'f': file = optarg; break;
		case 'x': repeat_n = number(optarg, 1, SCRIPT_MAX, "-x"); break;
		case 'c': o->piece = (size_t)number(optarg, 1, SCRIPT_MAX,
						    "-c"); break;
		case 'd': o->gap_ms = (long)number(optarg, 0, MS_MAX, "-d");
			  break;
		case 'h': o->half_close = true; break;
		case 'S': reset_sent = number(optarg, 0, SCRIPT_MAX, "-S");
			  break;
		case 'R': o->reset_recv = number(optarg, 1, LLONG_MAX, "-R");
			  break;
		case 'e': o->close_recv = number(optarg, 1, LLONG_MAX, "-e");
			  break;
		case 'n': o->never_read = true; break;
		case 'r':
			slash = strchr(optarg, '/');
			if (!slash)
				usage("-r: want SIZE/MS, e.g. 100/50");
			o->slow_ms = (long)number(slash + 1, 1, MS_MAX,
						  "-r MS");
			*slash = '\0'; /* optarg points into argv: writable */
			o->slow_size = (size_t)number(optarg, 1, SLOW_MAX,
						      "-r SIZE");
			break;
		case 'o': out = optarg; break;
		case 'q': quiet = true; break;
		case 'C': o->conns = (long)number(optarg, 1, CONNS_MAX, "-C");
			  break;
		case 't': o->timeout_ms = (long)number(optarg, 1, MS_MAX,
						       "-t"); break;
		case 'v': o->verbose = true; break;
		default: usage(NULL);
		}
	}
	if (argc - optind != 1)
		usage(argc - optind ? "one PORT, please" : "PORT is missing");
	o->port = (unsigned short)number(argv[optind], 1, 65535, "PORT");
	if (text && file)
		usage("-s and -f: choose one");
	if (o->gap_ms >= 0 && !o->piece)
		usage("-d needs -c");
	if (o->gap_ms < 0)
		o->gap_ms = 0;
	if (o->reset_recv >= 0 && o->close_recv >= 0)
		usage("-R and -e: choose one");
	if (o->never_read && (o->reset_recv >= 0 || o->close_recv >= 0 ||
			      o->slow_size))
		usage("-n never reads: not with -R, -e or -r");
	if (out && quiet)
		usage("-o and -q: choose one");

	/* The bytes to send. */
	if (text)
		o->script = unescape(text, &o->script_len);
	else if (file)
		o->script = read_file(file, &o->script_len);
	if ((text || file) && !o->script) {
		if (text && errno == EINVAL)
			usage("-s: unknown escape (known: \\r \\n \\t \\0 "
			      "\\\\ \\xHH)");
		fprintf(stderr, "peer: %s: %s\n", text ? "-s" : file,
			strerror(errno));
		exit(EXIT_FAILED);
	}
	if (o->script) {
		o->script = repeat(o->script, &o->script_len,
				   (unsigned long)repeat_n);
		if (!o->script) {
			fprintf(stderr, "peer: -x: %s\n", strerror(errno));
			exit(EXIT_FAILED);
		}
	}
	o->send_len = o->script_len;
	if (reset_sent >= 0) {
		if ((unsigned long long)reset_sent > o->script_len)
			usage("-S: more bytes than there are to send");
		o->reset_sent = true;
		o->send_len = (size_t)reset_sent;
		if (o->half_close)
			usage("-S resets: not with -h");
	}
	if (quiet)
		o->out_fd = -1;
	else if (out)
		o->out_fd = open_output(out);
}

/*** main ***/

/*
 * room_for: many connections need many descriptors; raise the soft limit
 * (getrlimit(2)) toward the hard one. If that fails, socket() will say
 * EMFILE for the connections that do not fit, which is reported.
 */
static void room_for(long conns)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)conns + 16;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		perror("peer: setrlimit RLIMIT_NOFILE");
}

int main(int argc, char **argv)
{
	struct peer p = {0};
	struct sigaction ign = {.sa_handler = SIG_IGN};
	int status;

	parse(argc, argv, &p.opt);
	/* A closed stdout must give EPIPE from write(2), not kill us. */
	if (sigaction(SIGPIPE, &ign, NULL) == -1) {
		perror("peer: sigaction");
		return EXIT_FAILED;
	}
	room_for(p.opt.conns);
	p.conns = calloc((size_t)p.opt.conns, sizeof(*p.conns));
	p.pfds = calloc((size_t)p.opt.conns, sizeof(*p.pfds));
	p.pfd_conn = calloc((size_t)p.opt.conns, sizeof(*p.pfd_conn));
	if (!p.conns || !p.pfds || !p.pfd_conn) {
		perror("peer: calloc");
		return EXIT_FAILED;
	}
	for (long i = 0; i < p.opt.conns; i++) {
		p.conns[i].fd = -1;
		p.conns[i].id = i + 1;
	}

	p.t0 = now_ns();
	run(&p);
	summary(&p);
	status = exit_status(&p);

	if (p.opt.out_fd > STDOUT_FILENO && close(p.opt.out_fd) == -1) {
		perror("peer: close output");
		status = EXIT_FAILED;
	}
	free(p.conns);
	free(p.pfds);
	free(p.pfd_conn);
	free(p.opt.script);
	return status;
}
