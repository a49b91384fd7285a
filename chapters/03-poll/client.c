/*
 * client.c - chapter 03: N requests in flight, answered in completion order.
 *
 * Connects N non-blocking sockets to the delay server and asks the i-th
 * (from 0) for `GET /<(N-i)*MS>/request-<i>`: the first request sent waits
 * longest. One thread waits on one poll for all of them and prints each
 * response the moment it completes, so the lines come out in the reverse of
 * the sending order and the whole run takes about the longest delay, not
 * the sum of them.
 *
 *	../../common/delayserver &          (or in another terminal)
 *	./client                  5 requests, MS=1000: about 5 s, not 15
 *	./client -n 10 -d 100 -p 8080
 *	./client -T               a second thread connects and registers the
 *	                          requests through a registry clone while the
 *	                          main thread is already asleep in poll_wait
 *
 * New since chapter 02: poll.h and poll.c put mio's Poll / Registry /
 * Events in front of ffi.h; this file uses poll.h only. TCP sockets,
 * non-blocking connect, send and recv, and a second thread.
 *
 * Sections: error checking, requests, the event loop, the registering
 * thread, the command line, main.
 */
/* gettid(2), and the SYS_* numbers in <sys/syscall.h>, are GNU. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "poll.h"

#define MAX_REQUESTS 1000  /* -n at most: each is a descriptor */
#define MAX_DELAY_MS 60000 /* the delay server's own limit */
#define RESPONSE_MAX 1024  /* a response bigger than this is an error */
#define EVENTS_CAP   64	   /* events one poll_wait can return */

/*** error checking ***/

/*
 * CHECK(call): make a call that returns -1 with errno set on failure; if it
 * fails, print the call as written and strerror(errno), then exit 1. For
 * setup in main (and the registering thread) only; die(what) is the same
 * for a failure found some other way.
 */
#define CHECK(call) check_result((call), #call)

static void die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(1);
}

static long check_result(long ret, const char *what)
{
	if (ret == -1)
		die(what);
	return ret;
}

/* now_ms: milliseconds on a clock that never jumps (clock_gettime(2)). */
static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/*** requests ***/

/* ANCHOR: request */
struct request {
	int fd;		       /* the socket; -1 before and after */
	unsigned index;	       /* i: the request's token and name */
	char out[128];	       /* the request, GET /<ms>/request-<i> */
	size_t out_len;	       /* bytes in out */
	size_t sent;	       /* how many of them the kernel took */
	char in[RESPONSE_MAX]; /* the response as it arrives */
	size_t in_len;	       /* bytes in in */
	bool done;	       /* answered or failed, and closed */
};
/* ANCHOR_END: request */

/* Everything the event loop works with. */
struct client {
	/*
	 * With -T a second thread starts the requests while the loop runs.
	 * The kernel keeps epoll's own state consistent between threads;
	 * keeping ours consistent is our job: whoever touches reqs holds this.
	 */
	pthread_mutex_t lock;
	struct poll poll;	 /* the one poll; only main waits on it */
	struct events events;	 /* what the last poll_wait returned */
	struct request *reqs;	 /* n requests; request i has token i */
	unsigned n;		 /* how many */
	unsigned left;		 /* how many are not done yet */
	unsigned failed;	 /* how many of the done ones failed */
	long start_ms;		 /* now_ms() when the first one started */
	struct sockaddr_in addr; /* the delay server */
};

/* request_init: request i of n: its text, not yet connected. */
static void request_init(struct request *r, unsigned i, unsigned n,
			 unsigned delay_ms, int port)
{
	int len = snprintf(r->out, sizeof(r->out),
			   "GET /%lu/request-%u HTTP/1.1\r\n"
			   "Host: 127.0.0.1:%d\r\n"
			   "Connection: close\r\n\r\n",
			   (unsigned long)(n - i) * delay_ms, i, port);

	r->fd = -1;
	r->index = i;
	r->out_len = (size_t)len;
}

/* ANCHOR: start */
/*
 * request_start: open a non-blocking socket, begin connecting, and register
 * it under its token. connect(2) on a non-blocking socket does not wait for
 * the handshake: EINPROGRESS means it has begun, and the socket becomes
 * writable when it ends, either way. So we register for readable and
 * writable at once, edge-triggered: the first event is the handshake's
 * outcome, when we send; the response comes later, when we read.
 */
static int request_start(struct request *r, const struct sockaddr_in *addr,
			 const struct registry *registry)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int saved;

	if (fd == -1)
		return -1;
	/* connect(2): after EINTR, too, the connection goes on by itself. */
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == -1 &&
	    errno != EINPROGRESS && errno != EINTR)
		goto out_close;
	r->fd = fd;
	if (registry_register(registry, fd, r->index,
			      INTEREST_READABLE | INTEREST_WRITABLE) == -1) {
		r->fd = -1;
		goto out_close;
	}
	return 0;

out_close:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
/* ANCHOR_END: start */

/* request_close: deregister, then close (epoll(7): DEL before close). */
static void request_close(struct client *c, struct request *r)
{
	if (registry_deregister(poll_registry(&c->poll), r->fd) == -1)
		fprintf(stderr, "client: request %u: deregister: %s\n",
			r->index, strerror(errno));
	close(r->fd);
	r->fd = -1;
	r->done = true;
	c->left--;
}

/* request_fail: report why request r failed (errno), and close it. */
static void request_fail(struct client *c, struct request *r, const char *what)
{
	fprintf(stderr, "client: request %u: %s: %s\n", r->index, what,
		strerror(errno));
	c->failed++;
	request_close(c, r);
}

/* ANCHOR: send */
/* send_some: send what is left of the request; 0 (done or EAGAIN) or -1. */
static int send_some(struct request *r)
{
	while (r->sent < r->out_len) {
		/* MSG_NOSIGNAL: a dead connection is EPIPE, not SIGPIPE. */
		ssize_t n = send(r->fd, r->out + r->sent, r->out_len - r->sent,
				 MSG_NOSIGNAL);

		if (n >= 0)
			r->sent += (size_t)n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0; /* the next writable edge will tell us */
		else if (errno != EINTR)
			return -1;
	}
	return 0;
}
/* ANCHOR_END: send */

/* ANCHOR: drain */
/*
 * drain: read everything there is, until recv(2) says EAGAIN. Under
 * edge-triggered epoll this is an obligation, not an optimisation: bytes
 * left unread now will not raise another event, and the request would wait
 * forever. Returns 0 at EAGAIN (more may come), 1 at end of stream (the
 * server closed: the response is complete), -1 on error.
 */
static int drain(struct request *r)
{
	for (;;) {
		size_t room = sizeof(r->in) - r->in_len;
		ssize_t n;

		if (room == 0) {
			errno = EMSGSIZE;
			return -1;
		}
		n = recv(r->fd, r->in + r->in_len, room, 0);
		if (n > 0)
			r->in_len += (size_t)n;
		else if (n == 0)
			return 1;
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		else if (errno != EINTR)
			return -1;
	}
}
/* ANCHOR_END: drain */

/* ANCHOR: finish */
/* finish: the server closed; print the response's body, or why not. */
static void finish(struct client *c, struct request *r)
{
	const char *body = memmem(r->in, r->in_len, "\r\n\r\n", 4);
	const char *eol = memchr(r->in, '\r', r->in_len);

	if (!body || strncmp(r->in, "HTTP/1.1 200 ", 13) != 0) {
		fprintf(stderr, "client: request %u: bad response: %.*s\n",
			r->index, eol ? (int)(eol - r->in) : (int)r->in_len,
			r->in);
		c->failed++;
	} else {
		body += 4;
		printf("response %u after %ld ms: %.*s\n", r->index,
		       now_ms() - c->start_ms, (int)(r->in + r->in_len - body),
		       body);
	}
	request_close(c, r);
}
/* ANCHOR_END: finish */

/*** the event loop ***/

/* ANCHOR: on_event */
/* on_event: move request r forward by what event e says. */
static void on_event(struct client *c, struct request *r, struct event e)
{
	const struct registry *registry = poll_registry(&c->poll);
	int eof;

	if (event_is_error(e)) {
		/* socket(7) SO_ERROR: the pending error, e.g. the refusal. */
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
			errno = err;
		request_fail(c, r, r->sent ? "socket" : "connect");
		return;
	}
	if (r->sent < r->out_len) {
		if (!event_is_writable(e))
			return; /* still connecting */
		if (send_some(r) == -1) {
			request_fail(c, r, "send");
			return;
		}
		if (r->sent < r->out_len)
			return;
		/* All sent: from now on only reading is of interest. */
		if (registry_reregister(registry, r->fd, r->index,
					INTEREST_READABLE) == -1) {
			request_fail(c, r, "reregister");
			return;
		}
	}
	if (!event_is_readable(e) && !event_is_read_closed(e))
		return;
	eof = drain(r);
	if (eof == -1)
		request_fail(c, r, "recv");
	else if (eof == 1)
		finish(c, r);
}
/* ANCHOR_END: on_event */

/* ANCHOR: loop */
/* run: wait and dispatch until every request is done. */
static void run(struct client *c)
{
	while (c->left > 0) {
		if (poll_wait(&c->poll, &c->events, -1) == -1) {
			/*
			 * poll_wait hands EINTR to us (as mio does). No signal
			 * handler of ours set a flag to look at, so wait
			 * again. It happens even without handlers: signal(7)
			 * lists epoll_wait among the calls that fail with EINTR
			 * after a stop signal (SIGTSTP from Ctrl-Z, or SIGSTOP)
			 * and SIGCONT.
			 */
			if (errno == EINTR)
				continue;
			die("poll_wait");
		}
		/*
		 * Take the lock for the batch, never across poll_wait: the
		 * registering thread needs it to register, and we would
		 * sleep forever waiting for an event it cannot create.
		 */
		pthread_mutex_lock(&c->lock);
		for (size_t i = 0; i < events_len(&c->events); i++) {
			struct event e = events_get(&c->events, i);
			uint64_t token = event_token(e);

			/* A token we never gave out, or a request closed
			 * earlier in this batch: nothing to do. */
			if (token >= c->n || c->reqs[token].done)
				continue;
			on_event(c, &c->reqs[token], e);
		}
		pthread_mutex_unlock(&c->lock);
	}
}
/* ANCHOR_END: loop */

/*** the registering thread ***/

/* ANCHOR: registrar */
/* What the second thread (-T) gets from main. */
struct registrar {
	struct registry registry; /* a clone of main's; this thread's own */
	pid_t main_tid;		  /* the thread to wait for */
	struct client *c;	  /* the requests to start */
};

/*
 * blocked_in_epoll_wait: is thread tid asleep in epoll_wait right now?
 * proc(5): /proc/self/task/TID/syscall starts with the number of the system
 * call the thread is blocked in, or says "running". (Introspection for the
 * demonstration; glibc's epoll_wait is epoll_pwait on aarch64.)
 */
static bool blocked_in_epoll_wait(pid_t tid)
{
	char path[64], buf[64];
	ssize_t n;
	long nr;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	nr = strtol(buf, NULL, 10);
#ifdef SYS_epoll_wait
	if (nr == SYS_epoll_wait)
		return true;
#endif
	return nr == SYS_epoll_pwait;
}

/*
 * registrar: wait (at most 5 s) until main is really asleep in the kernel
 * with nothing registered, then connect and register every request through
 * the cloned registry. Each registration must wake main's poll_wait, or the
 * program never ends.
 */
static void *registrar(void *arg)
{
	struct registrar *g = arg;
	struct client *c = g->c;
	const struct timespec ms = {0, 1000000L};
	int tries = 0;

	while (!blocked_in_epoll_wait(g->main_tid) && ++tries < 5000)
		nanosleep(&ms, NULL);
	printf("thread: main %s; registering %u requests through a clone "
	       "(epoll fd %d)\n",
	       tries < 5000 ? "is blocked in epoll_wait"
			    : "was not seen asleep in 5 s",
	       c->n, g->registry.epfd);
	for (unsigned i = 0; i < c->n; i++) {
		int ret;

		/*
		 * Holding the lock while we register orders everything we do
		 * to request i before the loop handles the event the
		 * registration causes. After this, request i is the loop's.
		 */
		pthread_mutex_lock(&c->lock);
		ret = request_start(&c->reqs[i], &c->addr, &g->registry);
		pthread_mutex_unlock(&c->lock);
		if (ret == -1)
			die("request_start");
	}
	CHECK(registry_close(&g->registry));
	return NULL;
}
/* ANCHOR_END: registrar */

/*** the command line ***/

static void usage(void)
{
	fprintf(stderr,
		"usage: client [-p PORT] [-n N] [-d MS] [-T]   (N requests, "
		"the i-th delayed (N-i)*MS ms;\n"
		"       defaults: port 8080, N 5, MS 1000; N*MS at most %d; "
		"-T: register from a second thread)\n",
		MAX_DELAY_MS);
	exit(2);
}

/* number: s as an integer in [min, max], or usage(). */
static long number(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage();
	return v;
}

/*** main ***/

int main(int argc, char **argv)
{
	struct client c = {.lock = PTHREAD_MUTEX_INITIALIZER, .n = 5};
	long delay_ms = 1000, port = 8080;
	bool threaded = false;
	struct registrar g;
	pthread_t thread;
	int opt, err;

	while ((opt = getopt(argc, argv, "p:n:d:T")) != -1) {
		switch (opt) {
		case 'p':
			port = number(optarg, 1, 65535);
			break;
		case 'n':
			c.n = (unsigned)number(optarg, 1, MAX_REQUESTS);
			break;
		case 'd':
			delay_ms = number(optarg, 0, MAX_DELAY_MS);
			break;
		case 'T':
			threaded = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || c.n * delay_ms > MAX_DELAY_MS)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	c.reqs = calloc(c.n, sizeof(*c.reqs));
	if (!c.reqs)
		die("calloc");
	for (unsigned i = 0; i < c.n; i++)
		request_init(&c.reqs[i], i, c.n, (unsigned)delay_ms, (int)port);
	c.left = c.n;
	c.addr =
	    (struct sockaddr_in){.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(poll_new(&c.poll));
	CHECK(events_new(&c.events, EVENTS_CAP));
	c.start_ms = now_ms();

	/* ANCHOR: main_start */
	if (!threaded) {
		for (unsigned i = 0; i < c.n; i++)
			if (request_start(&c.reqs[i], &c.addr,
					  poll_registry(&c.poll)) == -1)
				die("request_start");
	} else {
		g = (struct registrar){.main_tid = gettid(), .c = &c};
		CHECK(registry_try_clone(poll_registry(&c.poll), &g.registry));
		err = pthread_create(&thread, NULL, registrar, &g);
		if (err) {
			errno = err;
			die("pthread_create");
		}
		printf("main: waiting in poll_wait (epoll fd %d), nothing "
		       "registered yet\n",
		       poll_registry(&c.poll)->epfd);
	}
	run(&c);
	/* ANCHOR_END: main_start */

	printf("done in %ld ms: %u answered, %u failed\n",
	       now_ms() - c.start_ms, c.n - c.failed, c.failed);
	if (threaded && (err = pthread_join(thread, NULL)) != 0) {
		errno = err;
		die("pthread_join");
	}
	events_free(&c.events);
	CHECK(poll_close(&c.poll));
	free(c.reqs);
	return c.failed ? 1 : 0;
}
