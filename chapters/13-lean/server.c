/*
 * server.c - chapter 13: what a connection costs.
 *
 * Listens on 127.0.0.1:PORT (default 8000; 0 lets the kernel choose) and
 * serves every client from one thread with one poll: keep-alive,
 * pipelining and backpressure, edge-triggered connections with a budget
 * per turn, and every defence of the chapters before. This file is the
 * loop and a connection's life:
 *
 *	accept: a connection is run at once (conn_add): its request is often
 *	there already, and one answered and closed in that turn never
 *	enters epoll; only one that must wait is registered, edge-triggered,
 *	once (conn.c's arm);
 *	a turn: conn.c reads, parses, answers and sends until the socket
 *	says EAGAIN or the turn's budget is spent; one that spent it is run
 *	again before the next wait (run_again);
 *	deadlines: one per connection on one timer queue, -t SECONDS long:
 *	the request's, the write's progress, the idle time between requests,
 *	a lingering close's;
 *	close: close(2) alone, which also takes the socket out of epoll
 *	(conn_drop); conn.c lingers first only when input may be unread;
 *	the listener: level-triggered, added once, never re-armed; taken out
 *	of epoll only while out of descriptors (listener_pause);
 *	stop: SIGINT and SIGTERM through a signalfd: everything closed and
 *	freed, exit 0.
 *
 * An idle connection is its struct conn and its slab slot: what a request
 * needs (conn.h's struct req) exists only while one is in progress.
 *
 *	make && ./server              (then: curl -sS http://127.0.0.1:8000/)
 *	./server -t 5 -b 65536 0      (5 s deadlines, 64 KiB bodies)
 *	kill -USR1 PID                (prints a status line)
 *	kill PID                      (or Ctrl-C: a clean exit, status 0)
 *	make EXTRA_CFLAGS=-DCONN_MODE=CONN_ONESHOT   (or CONN_LEVEL: the
 *	                              other registrations, conn.h)
 *	make EXTRA_CFLAGS=-DCLOSE_MSG_MORE=0         (a closing answer
 *	                              without MSG_MORE, out.h)
 *
 * A turn that answered several pipelined requests logs one "answered"
 * line for them all.
 *
 * Sections: the server, logging, signals, connections, deadlines, running
 * connections, the listener, the event loop, shutting down, the command
 * line, main.
 */
/* getopt(3), sigaction(2), sigprocmask(2) and friends under -std=c11. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "conn.h"
#include "net.h"
#include "poll.h"
#include "slab.h"
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
	int listener;	      /* the listening socket, under token LISTENER */
	int signals;	      /* a signalfd for SIGINT and SIGTERM: SIGNALS */
	int spare;	      /* a descriptor kept for EMFILE, or -1 */
	uint64_t *again;      /* tokens of connections to run again before
				 waiting (CONN_AGAIN), oldest first */
	size_t again_len;     /* how many there are */
	size_t again_cap;     /* how many fit */
	bool paused;	      /* the listener is out of epoll (no spare) */
	int64_t resume_at;    /* while paused: when to try it again */
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

/*
 * peer_name: c's client as "a.b.c.d:port", in buf, for a log line. Formatted
 * only when a line is written: with -q, never. A connection keeps the
 * 16-byte address, not the string.
 */
static const char *peer_name(const struct conn *c, char buf[NET_ADDR_LEN])
{
	net_addr_str(&c->peer, buf);
	return buf;
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
 * signals_setup: SIGUSR1 asks for a status line, through a handler, as in
 * chapter 06 (SA_RESTART; epoll_wait fails with EINTR all the same, see
 * signal(7)). SIGPIPE is ignored; every send says MSG_NOSIGNAL anyway.
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

/* ANCHOR: signalfd */
/*
 * stop_signals: SIGINT and SIGTERM, as a descriptor to read. They are
 * blocked first (sigprocmask(2)): a blocked signal stays pending instead of
 * running a handler or its default action (ending the process), and
 * signalfd(2) makes the pending ones readable, one struct signalfd_siginfo
 * each. In the epoll set, "stop" is then one more event, handled in its
 * turn by the loop like a socket's: no handler, no flag, no window between
 * testing a flag and going to sleep in which a signal goes unnoticed.
 * (Threads would have to block them too; this server has one.)
 */
static int stop_signals(void)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		die("sigprocmask");
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		die("signalfd");
	return fd;
}

/*
 * on_signals: the signalfd is readable. Read every pending signal (the
 * registration is edge-triggered: read until EAGAIN). Returns the signal
 * that asks us to stop, or 0.
 */
static int on_signals(struct server *s)
{
	struct signalfd_siginfo si;
	int stop = 0;
	ssize_t n;

	for (;;) {
		n = read(s->signals, &si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			break; /* EAGAIN: none left (it never returns less) */
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
			stop = (int)si.ssi_signo;
	}
	if (n == -1 && errno != EAGAIN)
		die("read signalfd");
	return stop;
}
/* ANCHOR_END: signalfd */

/*** connections ***/

/* ANCHOR: conn_add */
/*
 * conn_add: give accepted socket fd a context and a slot, and run it at
 * once, as if an event had said it was readable: a client sends its
 * request as soon as its connect completes, which is before we accept, so
 * the request is often there already. Then the connection is answered in
 * this turn, and one not kept
 * alive is closed without ever entering epoll: no epoll_ctl at all. If
 * nothing has come, recv says EAGAIN, and conn_run adds the socket to
 * epoll under the slot's token, as it does whenever a connection must
 * wait. The context is in the slab before the socket is in epoll, so no
 * event can arrive for a token the slab does not know.
 */
static void conn_turn(struct server *s, struct conn *c, const struct event *e);

static void conn_add(struct server *s, int fd, const struct sockaddr_in *from)
{
	struct conn *c = conn_new(fd, s->next_id, from, s->max_body);
	char addr[NET_ADDR_LEN];

	if (!c) {
		warn("server", "conn_new", errno);
		close(fd);
		return;
	}
	c->token = slab_insert(&s->conns, c);
	if (c->token == 0) {
		warn(peer_name(c, addr), "slab_insert", errno);
		conn_free(c);
		return;
	}
	/* The request's deadline runs from now: see deadline_update. */
	c->timer.token = c->token;
	timer_arm(&s->timers, &c->timer, s->now);
	s->next_id++;
	if (!s->quiet)
		printf("new client: %s\n", peer_name(c, addr));
	c->can_read = true; /* an optimist's guess; EAGAIN corrects it */
	conn_turn(s, c, NULL);
}
/* ANCHOR_END: conn_add */

/* ANCHOR: conn_drop */
/*
 * conn_drop: forget a connection: out of the slab (its token is dead from
 * now on), and closed, which also takes it out of epoll. Deregistering
 * before close is the safe default for code that cannot know who else
 * holds the socket: epoll watches the open file, not the
 * descriptor, and close(2) removes it from epoll only when the last
 * descriptor for that open file goes (epoll(7), Q6); one left behind by
 * a dup(2), a fork(2) or a descriptor passed to another process would
 * keep it registered, and its events coming. This server knows: it never
 * dups, forks or passes a socket on, and SOCK_CLOEXEC keeps an exec from
 * inheriting one, so the accepted descriptor is the socket's only
 * reference, and close alone is exact. An EPOLL_CTL_DEL first would be one
 * syscall per connection for nothing.
 */
static void listener_resume(struct server *s);

static void conn_drop(struct server *s, struct conn *c)
{
	slab_remove(&s->conns, c->token);
	timer_cancel(&c->timer);
	conn_free(c);
	if (s->paused)
		listener_resume(s); /* a descriptor is free again */
}
/* ANCHOR_END: conn_drop */

/*** deadlines ***/

/* ANCHOR: deadline */
/*
 * deadline_update: connection c was in state was, had sent sent bytes and
 * finished answered responses, and its callback has run. Its deadline
 * follows the state it is in now:
 *
 *	reading a request  armed at accept (conn_add), and again when a
 *	                   response is finished and the connection kept: the
 *	                   next request (or the client's close) must come
 *	                   whole within -t (the idle keep-alive timeout and
 *	                   the slowloris deadline in one). A client sending
 *	                   a byte now and then gains nothing.
 *	writing            armed when writing starts, and again after every
 *	                   turn that sent something (nginx's send_timeout):
 *	                   a slow reader lives, one that stopped reading dies
 *	lingering          armed when the response is sent, never extended
 *
 * Every deadline is -t from when it is armed, which keeps the queue
 * sorted (timer.h).
 */
static void deadline_update(struct server *s, struct conn *c,
			    enum conn_state was, uint64_t sent,
			    uint64_t answered)
{
	bool rearm = false;

	switch (c->state) {
	case CONN_HEAD:
	case CONN_BODY:
		rearm = c->answered != answered;
		break;
	case CONN_WRITING:
		rearm = was != CONN_WRITING || c->sent != sent ||
			c->answered != answered;
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
 * close: nginx does the same (client_header_timeout logs a 408 and closes
 * without sending one), because a client that slow is not listening.
 */
static void expire(struct server *s)
{
	struct timer *t;

	while ((t = timers_expired(&s->timers, s->now))) {
		struct conn *c = slab_get(&s->conns, t->token);
		char addr[NET_ADDR_LEN];

		if (!c)
			continue; /* cannot happen: conn_drop cancels */
		if (!s->quiet)
			printf("%s: timeout, %s\n", peer_name(c, addr),
			       doing(c->state));
		conn_drop(s, c);
	}
}
/* ANCHOR_END: expire */

/*** running connections ***/

/* ANCHOR: again */
/*
 * again_push: remember to run connection c again before the next wait
 * (it said CONN_AGAIN). Once per connection: c->again says it is listed.
 */
static int again_push(struct server *s, struct conn *c)
{
	if (c->again)
		return 0;
	if (s->again_len == s->again_cap) {
		size_t cap = s->again_cap ? 2 * s->again_cap : 64;
		uint64_t *p = realloc(s->again, cap * sizeof(*p));

		if (!p)
			return -1;
		s->again = p;
		s->again_cap = cap;
	}
	s->again[s->again_len++] = c->token;
	c->again = true;
	return 0;
}
/* ANCHOR_END: again */

/* log_turn: the log lines for what connection c did in its turn. */
static void log_turn(const struct conn *c, uint64_t requests,
		     uint64_t answered)
{
	if (c->requests != requests)
		printf("got all data: %zu bytes\n", c->last_size);
	if (c->answered == answered + 1)
		printf("answered from request %" PRIu64 ": %d\n", c->id,
		       c->status);
	else if (c->answered > answered)
		printf("answered from request %" PRIu64 ": %d (and %" PRIu64
		       " before it)\n",
		       c->id, c->status, c->answered - answered - 1);
}

/* ANCHOR: on_conn */
/*
 * conn_turn: run connection c, for event e or (e NULL) because it asked
 * to run again, or has just been accepted; then keep it, list it to run
 * again, or close it.
 */
static void conn_turn(struct server *s, struct conn *c, const struct event *e)
{
	const struct registry *r = poll_registry(&s->poll);
	enum conn_state was = c->state;
	uint64_t sent = c->sent;
	uint64_t requests = c->requests, answered = c->answered;
	enum conn_result res;
	char addr[NET_ADDR_LEN];

	res = e ? conn_ready_cb(c, *e, r) : conn_run(c, r);
	if (!s->quiet)
		log_turn(c, requests, answered);
	s->answered += c->answered - answered;
	switch (res) {
	case CONN_AGAIN:
		if (again_push(s, c) == -1) {
			warn(peer_name(c, addr), "realloc", errno);
			break;
		}
		/* fall through */
	case CONN_WAITING:
		deadline_update(s, c, was, sent, answered);
		return;
	case CONN_DONE:
		break;
	case CONN_CLOSED:
		if (c->req && !s->quiet)
			printf("%s: left after %zu bytes of a request\n",
			       peer_name(c, addr), c->req->len);
		break;
	case CONN_RESET:
		if (!s->quiet)
			printf("%s: reset by the client\n", peer_name(c, addr));
		break;
	case CONN_FAILED:
		warn(peer_name(c, addr), c->what, errno);
		break;
	}
	conn_drop(s, c);
}

/*
 * on_conn: connection c's socket is ready, as event e says.
 */
static void on_conn(struct server *s, struct conn *c, struct event e)
{
	/*
	 * An error, or a hang-up (both directions shut: for a socket we have
	 * not shut down, a reset). Nothing can be sent any more: collect the
	 * error, which reading SO_ERROR also clears, and close. A reset is
	 * the client's choice, not a failure: no error line for it. While
	 * lingering our side is shut already, and the client's FIN makes a
	 * hang-up: that is the end we wait for, and linger reads it.
	 */
	if (c->state != CONN_LINGERING &&
	    (event_is_error(e) || event_is_write_closed(e))) {
		int err = conn_error(c);
		char addr[NET_ADDR_LEN];

		if (err && err != ECONNRESET && err != EPIPE)
			warn(peer_name(c, addr), "socket", err);
		else if (!s->quiet)
			printf("%s: reset by the client\n", peer_name(c, addr));
		conn_drop(s, c);
		return;
	}
	conn_turn(s, c, &e);
}

/*
 * run_again: run the connections that spent their budget last turn, in
 * the order they stopped. Those that stop again go to the end of the
 * list, for the next turn. A token whose connection has been closed
 * since finds nothing in the slab.
 */
static void run_again(struct server *s)
{
	size_t n = s->again_len;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct conn *c = slab_get(&s->conns, s->again[i]);

		if (c) {
			c->again = false;
			conn_turn(s, c, NULL);
		}
	}
	memmove(s->again, s->again + n, (s->again_len - n) * sizeof(*s->again));
	s->again_len -= n;
}
/* ANCHOR_END: on_conn */

/*** the listener ***/

/* spare_open: the spare descriptor: any will do; /dev/null costs nothing. */
static int spare_open(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* ANCHOR: listener */
/*
 * listener_watch: put the listener in epoll, level-triggered. One-shot, it
 * would need an epoll_ctl after every accept to re-arm it: one syscall per
 * connection. Level-triggered, it is simply reported at every poll_wait
 * for as long as a connection is queued, and needs no epoll_ctl at all
 * once added. (Edge-triggered would need no
 * re-arming either, but then accept must run until EAGAIN, and the
 * EMFILE case below becomes a stall; see out_of_fds.)
 */
static int listener_watch(struct server *s)
{
	return registry_register(poll_registry(&s->poll), s->listener, LISTENER,
				 INTEREST_READABLE | INTEREST_LEVEL);
}
/* ANCHOR_END: listener */

/* ANCHOR: emfile */
/*
 * out_of_fds: accept4 failed with EMFILE (this process has as many
 * descriptors as its limit allows) or ENFILE (the system has). The
 * connection stays queued, so the listener stays readable: level-
 * triggered, it is reported again at the next wait, and the loop spins
 * until a descriptor frees up (an edge-triggered listener would instead
 * never be reported again: a stall). The way out is libuv's
 * (uv__emfile_trick): give up the spare descriptor kept for this moment,
 * accept the connection with it, close it at once (the client sees its
 * connection closed rather than hanging in the queue), and take the spare
 * back. Returns false if there is no spare to give up.
 */
static bool out_of_fds(struct server *s)
{
	struct sockaddr_in peer;
	char addr[NET_ADDR_LEN];
	int fd;

	if (s->spare == -1)
		s->spare = spare_open(); /* lost last time; maybe free now */
	if (s->spare == -1)
		return false;
	close(s->spare);
	do
		fd = net_accept(s->listener, &peer);
	while (fd == -1 && errno == EINTR);
	if (fd != -1) {
		close(fd);
		if (!s->quiet) {
			net_addr_str(&peer, addr);
			printf("%s: out of descriptors, closed at once\n",
			       addr);
		}
	}
	s->spare = spare_open();
	return true;
}
/* ANCHOR_END: emfile */

/* How long a listener paused for want of descriptors waits to try again. */
#define PAUSE_NS (NS_PER_S / 2)

/*
 * listener_pause: out of descriptors with no spare to give up (another
 * process took the last file: ENFILE): take the listener out of epoll
 * until conn_drop frees a descriptor, or PAUSE_NS from now, whichever
 * comes first. Level-triggered, it would otherwise be reported at every
 * wait, and the loop would spin. (epoll_ctl has no "interested in
 * nothing" for a level-triggered source: deregistering is the way.)
 */
static void listener_pause(struct server *s)
{
	if (registry_deregister(poll_registry(&s->poll), s->listener) == -1)
		die("registry_deregister (listener)"); /* it would spin */
	s->paused = true;
	s->resume_at = s->now + PAUSE_NS;
}

/*
 * listener_resume: a descriptor is free again, or the pause is over: watch
 * the listener again. If epoll cannot take it back (ENOMEM, ENOSPC), stay
 * paused and try again PAUSE_NS later: a server that gave up here would
 * be deaf for good.
 */
static void listener_resume(struct server *s)
{
	if (listener_watch(s) == -1) {
		warn("server", "registry_register (listener)", errno);
		s->resume_at = s->now + PAUSE_NS;
		return;
	}
	s->paused = false;
}

/* ANCHOR: on_listener */
/*
 * until_resume_ms: the wait's timeout, timeout (ms, -1 for none), cut
 * short so that the loop wakes up when the paused listener is due to try
 * again. Rounded up, like timers_timeout_ms, so that it never wakes early.
 */
static int until_resume_ms(const struct server *s, int timeout)
{
	int64_t left = s->resume_at - s->now;
	int ms = left <= 0 ? 0 : (int)((left + NS_PER_S / 1000 - 1) /
					(NS_PER_S / 1000));

	return timeout == -1 || ms < timeout ? ms : timeout;
}

/*
 * on_listener: the listener is readable: a connection is queued. Accept
 * one; if more are queued, the next wait reports the listener again (it
 * is level-triggered), after this turn's other events: one accept per
 * wakeup. EINTR is retried in place.
 */
static void on_listener(struct server *s)
{
	struct sockaddr_in peer;
	int fd;

	do
		fd = net_accept(s->listener, &peer);
	while (fd == -1 && errno == EINTR);
	if (fd != -1) {
		conn_add(s, fd, &peer);
	} else if (errno == EMFILE || errno == ENFILE) {
		int err = errno;

		if (!out_of_fds(s)) {
			/* No spare either (something else took it). */
			warn("server", "accept", err);
			listener_pause(s);
		}
	} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
		/*
		 * accept(2): ECONNABORTED (the client gave up while queued),
		 * ENOBUFS, ENOMEM, or a network error. Each concerns one
		 * connection or one moment, never the server: log it and go
		 * on.
		 */
		warn("server", "accept", errno);
	}
}
/* ANCHOR_END: on_listener */

/*** the event loop ***/

/* ANCHOR: loop */
/*
 * run: wait and dispatch, until SIGINT or SIGTERM; returns the signal.
 * Each turn reads the clock once (as libuv's loop time does): deadlines
 * set in a turn all count from that moment, so they stay in order.
 */
static int run(struct server *s)
{
	for (;;) {
		int timeout, stop;

		s->now = timer_now();
		expire(s);
		/*
		 * Sleep until an event, or the nearest deadline; not at all
		 * if a connection waits to run again.
		 */
		timeout = s->again_len > 0
			      ? 0
			      : timers_timeout_ms(&s->timers, s->now);
		if (s->paused)
			timeout = until_resume_ms(s, timeout);
		/*
		 * EINTR: a handler ran (SIGUSR1). poll_wait then returns no
		 * events; look at what the handler asked for, and wait again.
		 */
		if (poll_wait(&s->poll, &s->events, timeout) == -1 &&
		    errno != EINTR)
			die("poll_wait");
		s->now = timer_now();
		if (s->paused && s->now >= s->resume_at)
			listener_resume(s); /* try accept4 again */
		if (status_wanted) {
			status_wanted = 0;
			printf("status: %zu connections, %" PRIu64
			       " answered\n",
			       slab_len(&s->conns), s->answered);
		}
		if (events_len(&s->events) > 0 && !s->quiet)
			printf("requests in flight: %zu\n",
			       slab_len(&s->conns));
		for (size_t i = 0; i < events_len(&s->events); i++) {
			struct event e = events_get(&s->events, i);
			uint64_t token = event_token(e);
			struct conn *c;

			if (token == LISTENER) {
				on_listener(s);
				continue;
			}
			if (token == SIGNALS) {
				stop = on_signals(s);
				if (stop)
					return stop;
				continue;
			}
			/*
			 * A token whose connection was closed earlier in this
			 * batch finds nothing, even if its slot and its
			 * descriptor number are already a new connection's:
			 * the slot's generation has moved on (slab.h). In
			 * this server it cannot happen: epoll_wait reports a
			 * source at most once per batch, and a handler closes
			 * only its own connection. The check is the defence
			 * for when it can.
			 */
			c = slab_get(&s->conns, token);
			if (c)
				on_conn(s, c, e);
		}
		run_again(s);
	}
}
/* ANCHOR_END: loop */

/*** shutting down ***/

/* ANCHOR: shutdown */
/*
 * server_close: stop accepting, close every connection, free everything.
 * Connections in the middle of a request or a response are cut off: this
 * is a fast shutdown, like nginx's on SIGTERM (its graceful one, SIGQUIT,
 * lets them finish). Every connection has a deadline from accept to close,
 * so the timer queue lists them all.
 */
static void server_close(struct server *s, int sig)
{
	const struct registry *r = poll_registry(&s->poll);
	struct timer *t;

	printf("got %s: closing %zu connections\n",
	       sig == SIGINT ? "SIGINT" : "SIGTERM", slab_len(&s->conns));
	/*
	 * The listener is closing: dropping connections must not resume it.
	 * (Its deregistration, like the signalfd's, is not needed: close
	 * would do, as for a connection in conn_drop. It costs one syscall
	 * per run, and says what happens.)
	 */
	if (s->paused)
		s->paused = false; /* out of epoll already */
	else if (registry_deregister(r, s->listener) == -1)
		warn("server", "registry_deregister (listener)", errno);
	/* New clients now get "connection refused" from the kernel. */
	close(s->listener);
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
	if (s->spare != -1)
		close(s->spare);
	free(s->again);
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
	s.signals = stop_signals();
	/* Taken now, while descriptors are plentiful: see out_of_fds. */
	s.spare = spare_open();
	if (s.spare == -1)
		die("open /dev/null");
	timers_init(&s.timers, (int64_t)timeout * NS_PER_S);
	s.listener = net_listen(port, &what);
	if (s.listener == -1)
		die(what);
	bound = net_local_port(s.listener);
	if (bound == -1)
		die("getsockname");
	if (poll_new(&s.poll) == -1)
		die("poll_new");
	if (events_new(&s.events, EVENTS_CAP) == -1)
		die("events_new");
	if (registry_register(poll_registry(&s.poll), s.signals, SIGNALS,
			      INTEREST_READABLE) == -1)
		die("registry_register (signals)");
	if (listener_watch(&s) == -1)
		die("registry_register (listener)");
	printf("listening on 127.0.0.1:%d\n", bound);
	sig = run(&s);
	server_close(&s, sig);
	return 0;
	/* ANCHOR_END: setup */
}
