/*
 * server.c - the one-shot HTTP server, reading and writing correctly.
 *
 * Listens on 127.0.0.1:PORT (default 8000; 0 lets the kernel choose) and
 * serves every client from one thread with one poll, as Mario Zupan's
 * "Epoll With Rust" does. The listener is one-shot, re-armed after each
 * accept. Each connection is one-shot too, and goes round a cycle: armed
 * for reading, it reads and accumulates the request, until EAGAIN at each
 * event, until the head and the Content-Length bytes of body are in; then
 * it answers at once, in as many sends as the kernel wants, and waits for
 * room (EPOLLOUT) only when a send stops short; then it is closed. Its
 * token is a slot and a generation (slab.h). SIGUSR1 asks for a status
 * line. SIGPIPE is ignored, behind MSG_NOSIGNAL.
 *
 * What a request may be is bounded (conn.c): a head over 8 KiB is 431 (a
 * request line alone that long, 414), a body over -b BYTES is 413, and
 * chunked bodies are decoded within the same limit (chunked.c).
 *
 * Every connection has a deadline, -t SECONDS, on one timer queue
 * (timer.h): a request must arrive whole within -t of the accept, however
 * slowly its bytes trickle in (slowloris), and a response must make
 * progress every -t; a lingering close lasts at most -t. The wait sleeps
 * until the nearest deadline, and no longer.
 *
 * The edges of its life: a lingering close, so that an answer sent early
 * (a 413 after the head) reaches a client that is still uploading
 * (conn.c); a spare descriptor for when accept4 fails with EMFILE, and a
 * listener that pauses rather than spins or goes deaf (listener.h); and
 * SIGINT/SIGTERM read from a signalfd in the epoll set (stop.h): the
 * server closes everything, frees everything, and exits 0. SIGQUIT is the
 * draining stop: no new clients, idle connections closed, the others let
 * finish what is in flight (within -t), then the same exit.
 *
 *	make && ./server              (then: curl -sS http://127.0.0.1:8000/)
 *	curl -sS http://127.0.0.1:8000/bytes/1000000 | wc -c
 *	curl -sS --data-binary @file http://127.0.0.1:8000/echo | cmp - file
 *	kill -USR1 PID                (prints a status line)
 *	kill PID                      (or Ctrl-C: a clean exit, status 0)
 *	kill -QUIT PID                (a draining stop, status 0)
 *	./server -q 0                 (quiet, on a port the kernel chooses)
 *	./server -t 5 -b 65536 0      (5 s deadlines, 64 KiB bodies)
 *
 * The log is the post's: "new client", "requests in flight" on every turn
 * of the loop that has events, "got all data", "answered from request",
 * now with the status, a line when a client leaves early, one for each
 * deadline that passes ("timeout"), one for each connection refused for
 * want of descriptors, and one or two for the shutdown.
 *
 * Sections: the server, logging, signals, connections, deadlines, the
 * listener, the event loop, shutting down, the command line, main.
 */
/* getopt(3), sigaction(2), sigprocmask(2) and friends under -std=c11. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "listener.h"
#include "net.h"
#include "poll.h"
#include "slab.h"
#include "stop.h"
#include "timer.h"

#define DEFAULT_PORT	 8000
#define DEFAULT_TIMEOUT	 10	    /* -t: seconds */
#define DEFAULT_MAX_BODY (1u << 20) /* -b: bytes (1 MiB) */
#define MAX_TIMEOUT	 86400	    /* -t: a day at most */
#define MAX_MAX_BODY	 (1u << 30) /* -b: 1 GiB at most (held in memory) */
#define EVENTS_CAP	 1024 /* events one poll_wait can return (the post's) */
#define NS_PER_S	 1000000000LL

/*** the server ***/

/* ANCHOR: tokens */
/*
 * Tokens: a connection's token is its slab token (slab.h), a slot index
 * and a generation. No generation is 0, so no slab token is below 2^32:
 * the listener and the signalfd take 0 and 1.
 */
#define LISTENER 0
#define SIGNALS	 1

/* Everything the event loop works with. */
struct server {
	struct poll poll;     /* the epoll instance; only main waits on it */
	struct events events; /* what the last poll_wait returned */
	struct slab conns;    /* token -> struct conn *, one per client */
	struct timers timers; /* every connection's deadline, nearest first */
	int64_t now;	      /* the clock, read once per turn of the loop */
	struct listener listener; /* the listening socket: LISTENER */
	int signals;	      /* a signalfd for the stop signals: SIGNALS */
	bool draining;	      /* SIGQUIT came: see drain_start */
	int64_t drain_start;  /* when it came */
	int64_t drain_end;    /* what is still open then is closed */
	uint64_t max_body;    /* -b: the largest request body */
	uint64_t next_id;     /* the next connection's number in the log */
	uint64_t answered;    /* responses sent whole, for the status line */
	bool quiet;	      /* -q: no per-request log lines */
};
/* ANCHOR_END: tokens */

/*** logging ***/

/* die: a failure the server cannot serve through: what: strerror, exit 1. */
static void die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(1);
}

/* warn: a failure that ends one connection at most: logged, and go on. */
static void warn(const char *who, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", who, what, strerror(err));
}

/*** signals ***/

/* ANCHOR: signals */
/* Set by the SIGUSR1 handler, read and cleared by the loop. */
static volatile sig_atomic_t status_wanted;

/* on_sigusr1: ask for a status line; all a handler may safely do. */
static void on_sigusr1(int sig)
{
	(void)sig;
	status_wanted = 1;
}

/*
 * signals_setup: SIGUSR1 asks for a status line. SA_RESTART is set, so
 * that blocking calls such as a write(2) to a full stdout pipe resume
 * after the handler instead of failing; even so epoll_wait fails with
 * EINTR (signal(7) lists it among the calls never restarted), which is
 * what run expects. recv, sendmsg and accept4 on our non-blocking
 * sockets never sleep, so they are not interrupted in practice; their
 * EINTR loops are there because POSIX allows it. A SIGUSR1 that lands
 * between the loop's look at the flag and its wait is seen only at the
 * next wakeup: the window that stop.h closes for SIGINT and SIGTERM, and
 * one a status line can live with.
 *
 * SIGPIPE is ignored. Every send already says MSG_NOSIGNAL, so no socket
 * can raise it; this is the belt to those braces: it covers stdout too
 * (the log piped into a pager that quit), where a server should see
 * EPIPE and carry on rather than die.
 */
static void signals_setup(void)
{
	struct sigaction sa = {.sa_handler = on_sigusr1,
			       .sa_flags = SA_RESTART};

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) == -1)
		die("sigaction SIGUSR1");
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		die("sigaction SIGPIPE");
}
/* ANCHOR_END: signals */

/*** connections ***/

/* ANCHOR: conn_add */
/*
 * conn_add: give accepted socket fd a token and a context, and watch it.
 * The context goes into the slab before the socket goes into epoll, so no
 * event can ever arrive for a token the slab does not know.
 */
static void conn_add(struct server *s, int fd, const struct sockaddr_in *peer)
{
	const struct registry *r = poll_registry(&s->poll);
	struct conn *c = conn_new(fd, s->next_id, peer, s->max_body);

	if (!c) {
		warn("server", "conn_new", errno);
		close(fd);
		return;
	}
	c->token = slab_insert(&s->conns, c);
	if (c->token == 0) {
		warn(c->peer, "slab_insert", errno);
		conn_free(c);
		return;
	}
	if (registry_register(r, fd, c->token,
			      INTEREST_READABLE | INTEREST_ONESHOT) == -1) {
		warn(c->peer, "registry_register", errno);
		slab_remove(&s->conns, c->token);
		conn_free(c);
		return;
	}
	/* The request's deadline runs from now: see deadline_update. */
	c->timer.token = c->token;
	timer_arm(&s->timers, &c->timer, s->now);
	s->next_id++;
	if (!s->quiet)
		printf("new client: %s\n", c->peer);
}
/* ANCHOR_END: conn_add */

static void resume_listener(struct server *s);

/* ANCHOR: conn_drop */
/*
 * conn_drop: forget a connection: out of the slab, out of epoll, closed.
 * epoll(7): deregister before close. close removes a descriptor from epoll
 * only with the last reference to its open file, and it is not ours to
 * know whether some other reference (a dup, a child) exists.
 */
static void conn_drop(struct server *s, struct conn *c)
{
	slab_remove(&s->conns, c->token);
	timer_cancel(&c->timer);
	if (registry_deregister(poll_registry(&s->poll), c->fd) == -1)
		warn(c->peer, "registry_deregister", errno);
	conn_free(c);
	if (s->listener.paused)
		resume_listener(s); /* a descriptor is free again */
}
/* ANCHOR_END: conn_drop */

/*** deadlines ***/

/* sent_so_far: how many bytes of c's output the kernel has taken. */
static uint64_t sent_so_far(const struct conn *c)
{
	return c->out.head_sent + c->out.body_sent;
}

/* ANCHOR: deadline */
/*
 * deadline_update: connection c was in state was, had sent sent bytes, and
 * its callback has run. Its deadline follows the state it is in now:
 *
 *	reading a request  armed at accept (conn_add) and never extended: a
 *	                   client sending a byte now and then gains nothing
 *	writing            armed when writing starts, and again after every
 *	                   turn that sent something: a slow reader lives,
 *	                   one that stopped reading dies
 *	lingering          armed when the response is sent, never extended
 *
 * Every deadline is -t from when it is armed, which keeps the queue
 * sorted (timer.h).
 */
static void deadline_update(struct server *s, struct conn *c,
			    enum conn_state was, uint64_t sent)
{
	bool rearm = false;

	switch (c->state) {
	case CONN_HEAD:
	case CONN_BODY:
		break;
	case CONN_WRITING:
		rearm = was != CONN_WRITING || sent_so_far(c) != sent;
		break;
	case CONN_LINGERING:
		rearm = was != CONN_LINGERING;
		break;
	}
	if (rearm)
		timer_arm(&s->timers, &c->timer, s->now);
}
/* ANCHOR_END: deadline */

/* doing: what a connection in state was doing, for the log. */
static const char *doing(enum conn_state state)
{
	switch (state) {
	case CONN_HEAD:
	case CONN_BODY:
		return "reading the request";
	case CONN_WRITING:
		return "writing the response";
	default:
		return "lingering";
	}
}

/* ANCHOR: expire */
/*
 * expire: close every connection whose deadline has passed, nearest
 * first. A request that did not arrive in time gets no answer, only a
 * close: a client that slow is not listening.
 */
static void expire(struct server *s)
{
	struct timer *t;

	while ((t = timers_expired(&s->timers, s->now))) {
		struct conn *c = slab_get(&s->conns, t->token);

		if (!c)
			continue; /* cannot happen: conn_drop cancels */
		if (!s->quiet)
			printf("%s: timeout, %s\n", c->peer, doing(c->state));
		conn_drop(s, c);
	}
}
/* ANCHOR_END: expire */

/*** draining ***/

/* ANCHOR: drain */
/*
 * idle: c waits for a request of which not a byte has come, neither into
 * its buffer nor into its socket (MSG_PEEK looks without taking).
 */
static bool idle(const struct conn *c)
{
	char byte;

	if (c->state != CONN_HEAD || c->len > 0)
		return false;
	return recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * drain_start: SIGQUIT, a draining stop. Close the listener (a new client
 * is refused by the kernel from now on) and every idle connection; the
 * others finish their request and close (on_conn), within -t from now.
 */
static void drain_start(struct server *s)
{
	struct timer *t, *next;
	size_t idle_closed = 0;

	s->draining = true;
	s->drain_start = s->now;
	s->drain_end = s->now + s->timers.length;
	if (listener_close(&s->listener, poll_registry(&s->poll)) == -1)
		warn("server", "registry_deregister (listener)", errno);
	/* The queue lists every connection; conn_drop takes out only t. */
	for (t = s->timers.head.next; t != &s->timers.head; t = next) {
		struct conn *c = slab_get(&s->conns, t->token);

		next = t->next;
		if (c && idle(c)) {
			conn_drop(s, c);
			idle_closed++;
		}
	}
	printf("got SIGQUIT: closed %zu idle connections, draining %zu\n",
	       idle_closed, slab_len(&s->conns));
}
/* ANCHOR_END: drain */

/* drain_timeout_ms: the wait's timeout, cut short by the drain's end. */
static int drain_timeout_ms(const struct server *s, int timeout)
{
	int64_t ms = (s->drain_end - s->now + 999999) / 1000000;

	if (ms < 0)
		ms = 0;
	return timeout == -1 || ms < timeout ? (int)ms : timeout;
}

/* ANCHOR: on_conn */
/*
 * on_conn: connection c's socket is ready, as event e says.
 */
static void on_conn(struct server *s, struct conn *c, struct event e)
{
	const struct registry *r = poll_registry(&s->poll);
	bool was_complete = c->complete;
	enum conn_state was = c->state;
	uint64_t sent = sent_so_far(c);
	enum conn_result res;

	/*
	 * An error or a hang-up (both directions shut, or a reset): nothing
	 * more can come in or go out. Under one-shot these end the
	 * connection here, or nobody would ever look at it again. A reset
	 * is the client's choice, not a failure: no error line for it.
	 */
	if (c->state != CONN_LINGERING &&
	    (event_is_error(e) || event_is_write_closed(e))) {
		int err = conn_error(c);

		if (err && err != ECONNRESET && err != EPIPE)
			warn(c->peer, "socket", err);
		else if (!s->quiet)
			printf("%s: reset by the client\n", c->peer);
		conn_drop(s, c);
		return;
	}
	res = conn_ready_cb(c, r);
	if (!was_complete && c->complete && !s->quiet)
		printf("got all data: %zu bytes\n",
		       c->head_len + (size_t)c->body_len);
	if (was != CONN_LINGERING && c->answered) {
		s->answered++;
		if (!s->quiet)
			printf("answered from request %" PRIu64 ": %d\n", c->id,
			       c->status);
	}
	switch (res) {
	case CONN_WAITING:
		if (s->draining && idle(c))
			break; /* answered, and no next request: close */
		deadline_update(s, c, was, sent);
		return;
	case CONN_DONE:
		break;
	case CONN_CLOSED:
		if (c->len > 0 && !s->quiet)
			printf("%s: left after %zu bytes of a request\n",
			       c->peer, c->len);
		break;
	case CONN_RESET:
		if (!s->quiet)
			printf("%s: reset by the client\n", c->peer);
		break;
	case CONN_FAILED:
		warn(c->peer, c->what, errno);
		break;
	}
	conn_drop(s, c);
}
/* ANCHOR_END: on_conn */

/*** the listener ***/

/*
 * resume_listener: a descriptor is free again, or the pause is over: arm
 * the listener again. If that fails, it stays paused (listener.h).
 */
static void resume_listener(struct server *s)
{
	if (listener_resume(&s->listener, poll_registry(&s->poll),
			       s->now) == -1)
		warn("server", "registry_reregister (listener)", errno);
}

/* ANCHOR: on_listener */
/*
 * on_listener: the listener is readable: a connection is queued. Accept
 * one, then re-arm: one-shot interest was disarmed by this very event, and
 * without EPOLL_CTL_MOD the server would never hear of another client.
 * Re-arming polls the listener afresh, so if more connections are queued,
 * the next poll_wait reports it again at once.
 */
static void on_listener(struct server *s)
{
	struct sockaddr_in peer;
	char addr[NET_ADDR_LEN];
	int fd;

	switch (listener_accept(&s->listener, s->now, &fd, &peer)) {
	case LISTENER_ACCEPTED:
		conn_add(s, fd, &peer);
		break;
	case LISTENER_SHED:
		net_addr_str(&peer, addr);
		if (!s->quiet)
			printf("%s: out of descriptors, closed at once\n",
			       addr);
		break;
	case LISTENER_FAILED:
		warn("server", "accept", errno);
		break;
	case LISTENER_EMPTY:
		break;
	}
	if (listener_arm(&s->listener, poll_registry(&s->poll), s->now) == -1)
		warn("server", "registry_reregister (listener)", errno);
}
/* ANCHOR_END: on_listener */

/*** the event loop ***/

/* ANCHOR: loop */
/*
 * run: wait and dispatch, until SIGINT or SIGTERM, which it returns; or
 * SIGQUIT: drain, until the last connection closes or the drain's time is
 * up (returns 0), or a second stop signal comes (returns it).
 * Each turn reads the clock once (as libuv's loop time does): deadlines
 * set in a turn all count from that moment, so they stay in order.
 */
static int run(struct server *s)
{
	for (;;) {
		int timeout, stop;

		/* What the SIGUSR1 handler asked for, before each wait. */
		if (status_wanted) {
			status_wanted = 0;
			printf("status: %zu connections, %" PRIu64
			       " answered\n",
			       slab_len(&s->conns), s->answered);
		}
		s->now = timer_now();
		expire(s);
		if (s->draining && (slab_len(&s->conns) == 0 ||
				    s->now >= s->drain_end))
			return 0; /* drained, or out of time */
		/* Sleep until an event, a deadline, or the end of a pause. */
		timeout = timers_timeout_ms(&s->timers, s->now);
		timeout = listener_timeout_ms(&s->listener, s->now, timeout);
		if (s->draining)
			timeout = drain_timeout_ms(s, timeout);
		if (poll_wait(&s->poll, &s->events, timeout) == -1) {
			/* A signal (a handler ran): wait again. */
			if (errno == EINTR)
				continue;
			die("poll_wait");
		}
		s->now = timer_now();
		if (s->listener.paused && s->now >= s->listener.resume_at)
			resume_listener(s); /* try accept4 again */
		/* The post's measure of concurrency: contexts alive now. */
		if (events_len(&s->events) > 0 && !s->quiet)
			printf("requests in flight: %zu\n",
			       slab_len(&s->conns));
		for (size_t i = 0; i < events_len(&s->events); i++) {
			struct event e = events_get(&s->events, i);
			uint64_t token = event_token(e);
			struct conn *c;

			if (token == LISTENER) {
				if (!s->draining) /* else closed this turn */
					on_listener(s);
				continue;
			}
			if (token == SIGNALS) {
				stop = stop_read(s->signals);
				if (stop == -1)
					die("read signalfd");
				if (stop == SIGQUIT && !s->draining)
					drain_start(s);
				else if (stop)
					return stop;
				continue;
			}
			/*
			 * Under one-shot a token is reported once per arming,
			 * so an event for a connection closed earlier in this
			 * batch cannot happen; if it ever did, there is no
			 * context, and nothing to do: its slot's generation
			 * has moved on (slab.h), even if the slot and the
			 * descriptor number are a new connection's now.
			 */
			c = slab_get(&s->conns, token);
			if (c)
				on_conn(s, c, e);
		}
	}
}
/* ANCHOR_END: loop */

/*** shutting down ***/

/* ANCHOR: shutdown */
/*
 * server_close: stop accepting, close every connection, free everything.
 * After SIGINT or SIGTERM, connections in the middle of a request or a
 * response are cut off: a fast stop. After a drain (sig 0), none is left,
 * unless the drain ran out of time. Every connection has a deadline from
 * accept to close, so the timer queue lists them all.
 */
static void server_close(struct server *s, int sig)
{
	const struct registry *r = poll_registry(&s->poll);
	double secs = (double)(s->now - s->drain_start) / NS_PER_S;
	struct timer *t;

	if (sig == 0 && slab_len(&s->conns) == 0)
		printf("drained in %.1f s\n", secs);
	else if (sig == 0)
		printf("drain: out of time after %.1f s: closing %zu "
		       "connections\n", secs, slab_len(&s->conns));
	else
		printf("got %s: closing %zu connections\n",
		       sig == SIGINT	? "SIGINT"
		       : sig == SIGTERM ? "SIGTERM"
					: "SIGQUIT",
		       slab_len(&s->conns));
	/* First, so that dropping connections does not re-arm it. */
	if (!s->draining && listener_close(&s->listener, r) == -1)
		warn("server", "registry_deregister (listener)", errno);
	while ((t = timers_first(&s->timers))) {
		struct conn *c = slab_get(&s->conns, t->token);

		timer_cancel(t);
		if (c)
			conn_drop(s, c);
	}
	slab_free(&s->conns);
	if (registry_deregister(r, s->signals) == -1)
		warn("server", "registry_deregister (signals)", errno);
	close(s->signals);
	events_free(&s->events);
	poll_close(&s->poll);
}
/* ANCHOR_END: shutdown */

/*** the command line ***/

static void usage(void)
{
	fprintf(stderr,
		"usage: server [-q] [-t SECONDS] [-b BYTES] [PORT]   "
		"(defaults: -t %d, -b %u, port %d; 0 lets the kernel "
		"choose)\n",
		DEFAULT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_PORT);
	exit(2);
}

/* parse_number: s as decimal digits, from min to max, or usage(). */
static unsigned long parse_number(const char *s, unsigned long min,
				  unsigned long max)
{
	unsigned long v = 0;

	if (*s == '\0')
		usage();
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			usage();
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			usage();
	}
	if (v < min)
		usage();
	return v;
}

/*** main ***/

int main(int argc, char **argv)
{
	struct server s = {.next_id = 1}; /* conns: empty */
	unsigned long timeout = DEFAULT_TIMEOUT;
	unsigned short port = DEFAULT_PORT;
	const char *what;
	int opt, bound, sig;

	s.max_body = DEFAULT_MAX_BODY;
	while ((opt = getopt(argc, argv, "qt:b:")) != -1) {
		switch (opt) {
		case 'q':
			s.quiet = true;
			break;
		case 't':
			timeout = parse_number(optarg, 1, MAX_TIMEOUT);
			break;
		case 'b':
			s.max_body = parse_number(optarg, 0, MAX_MAX_BODY);
			break;
		default:
			usage();
		}
	}
	if (argc - optind > 1)
		usage();
	if (argc - optind == 1)
		port = (unsigned short)parse_number(argv[optind], 0, 65535);
	/* One line at a time, even when stdout is a file or a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* ANCHOR: setup */
	signals_setup();
	s.signals = stop_open(&what);
	if (s.signals == -1)
		die(what);
	timers_init(&s.timers, (int64_t)timeout * NS_PER_S);
	if (listener_open(&s.listener, port, &what) == -1)
		die(what);
	bound = net_local_port(s.listener.fd);
	if (bound == -1)
		die("getsockname");
	if (poll_new(&s.poll) == -1)
		die("poll_new");
	if (events_new(&s.events, EVENTS_CAP) == -1)
		die("events_new");
	if (registry_register(poll_registry(&s.poll), s.signals, SIGNALS,
			      INTEREST_READABLE) == -1)
		die("registry_register (signals)");
	if (listener_watch(&s.listener, poll_registry(&s.poll), LISTENER) == -1)
		die("registry_register (listener)");
	printf("listening on 127.0.0.1:%d\n", bound);
	sig = run(&s);
	server_close(&s, sig);
	return 0;
	/* ANCHOR_END: setup */
}
