/*
 * server.c - the HTTP server, from its first accept to its exit, in as few
 * system calls and bytes as it takes.
 *
 * Listens on 127.0.0.1:PORT (default 8000; 0 lets the kernel choose) and
 * serves its clients from -L loops (chapter 15), each a thread pinned to
 * one CPU with its own epoll set, timers, connections and slab: each loop
 * is chapter 14's one loop, as Mario Zupan's "Epoll With Rust" has it,
 * and a connection belongs to the loop that accepted it. -m says how the
 * loops share the port: a listening socket each with SO_REUSEPORT
 * (reuseport, the default), or one socket in every loop's epoll set with
 * EPOLLEXCLUSIVE (exclusive) or without it (shared: the thundering herd).
 * Per-loop counters (accepted, wakeups, wasted, requests) on SIGUSR1 and
 * at exit. Main reads the signals and tells the loops to stop or drain
 * (the last sections). This file is
 * the loop and a connection's life:
 *
 *	accept: a level-triggered listener, added once, never re-armed
 *	(listener.h); a new connection is run at once (conn_add): its
 *	request is often there already, and one answered and closed in that
 *	turn never enters epoll; only one that must wait is registered,
 *	edge-triggered, once (conn.c's arm; conn.h's CONN_MODE);
 *	a turn: conn.c reads, parses, answers and sends until the socket
 *	says EAGAIN or the turn's budget is spent; one that spent it is run
 *	again before the next wait (run_again), since no event would come
 *	to say it still has work;
 *	close: close(2) alone, which also takes the socket out of epoll
 *	(conn_drop); conn.c lingers first only when input may be unread;
 *	an idle connection: its struct conn and its slab slot, no more
 *	(conn.h's struct req exists only while a request is in progress).
 *
 * A connection goes round a cycle: it reads and accumulates the request,
 * until EAGAIN, until the head and the Content-Length bytes of body are
 * in; then it answers at once, in as many sends as the kernel wants, and
 * waits for room only when a send stops short; then it goes round again
 * for the next request, or is closed. Its token is a slot and a generation (slab.h). SIGUSR1
 * asks for a status line. SIGPIPE is ignored, behind MSG_NOSIGNAL.
 *
 * A connection answers request after request (conn.c): HTTP/1.1 ones stay
 * open unless a request says "Connection: close", HTTP/1.0 ones only if a
 * request says "Connection: keep-alive", and error answers still close.
 * Requests already received are answered in order, without waiting for
 * another event (pipelining); a connection whose answer is not sent is
 * not read (backpressure); and -t SECONDS is also the idle time allowed
 * between requests, counted from the end of the last answer.
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
 * server closes everything, frees everything, and exits 0.
 *
 *	make && ./server              (then: curl -sS http://127.0.0.1:8000/)
 *	curl -sS http://127.0.0.1:8000/bytes/1000000 | wc -c
 *	curl -sS --data-binary @file http://127.0.0.1:8000/echo | cmp - file
 *	kill -USR1 PID                (prints a status line)
 *	kill PID                      (or Ctrl-C: a clean exit, status 0)
 *	./server -q 0                 (quiet, on a port the kernel chooses)
 *	./server -t 5 -b 65536 0      (5 s deadlines, 64 KiB bodies)
 *	make EXTRA_CFLAGS=-DCONN_MODE=CONN_ONESHOT   (or CONN_LEVEL: the
 *	                              other registrations, conn.h)
 *	make EXTRA_CFLAGS=-DCLOSE_MSG_MORE=0         (a closing answer
 *	                              without MSG_MORE, out.c)
 *
 * Work that would block the loop goes to a pool of threads (pool.h):
 * GET /files/NAME reads a file of -d DIR, GET /lookup/HOST resolves a
 * name (files.h). The connection waits without being read; a worker
 * does the work with blocking calls, puts the result on a done-list and
 * wakes the loop through an eventfd (WAKER); the loop hands each result
 * to its connection by token (work_done), and sends it. -w WORKERS
 * threads, -Q QUEUE jobs waiting at most: a full queue is 503.
 *
 *	./server -d /tmp/files 0      (then: curl .../files/NAME)
 *	curl -sS http://127.0.0.1:8000/lookup/localhost
 *
 * The log is the post's: "new client", "requests in flight" on every turn
 * of the loop that has events, "got all data", "answered from request",
 * now with the status (one line, with a count, for the pipelined answers
 * of one turn), a line when a client leaves in the middle of a request,
 * one for each deadline that passes ("timeout"), one for each connection
 * refused for want of descriptors, one for a result whose client has
 * gone, and one for the shutdown.
 *
 * Sections: the server, logging, signals, connections, deadlines, running
 * connections, draining, blocking work, the listener, the event loop,
 * shutting down, the loops, the command line, main.
 */
/* sched_getaffinity(2) and pthread_setaffinity_np(3): GNU extensions. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "files.h"
#include "listener.h"
#include "net.h"
#include "poll.h"
#include "pool.h"
#include "slab.h"
#include "stop.h"
#include "timer.h"

#define DEFAULT_PORT	 8000
#define DEFAULT_TIMEOUT	 10	    /* -t: seconds */
#define DEFAULT_MAX_BODY (1u << 20) /* -b: bytes (1 MiB) */
#define DEFAULT_WORKERS	 4	    /* -w: threads for blocking work */
#define DEFAULT_QUEUE	 64	    /* -Q: jobs waiting for a worker */
#define MAX_WORKERS	 256
#define MAX_LOOPS	 256	    /* -L */
#define MAX_QUEUE	 65536
#define MAX_TIMEOUT	 86400	    /* -t: a day at most */
#define MAX_MAX_BODY	 (1u << 30) /* -b: 1 GiB at most (held in memory) */
#define EVENTS_CAP	 1024 /* events one poll_wait can return (the post's) */
#define NS_PER_S	 1000000000LL

/*** the server ***/

/* ANCHOR: tokens */
/*
 * Tokens: a connection's token is its slab token (slab.h), a slot index
 * and a generation. No generation is 0, so no slab token is below 2^32:
 * in each loop, the listener, the loop's stop eventfd and its pool
 * eventfd take 0, 1 and 2.
 */
#define LISTENER 0
#define STOP	 1
#define WAKER	 2

/* How the loops share the port (-m). */
enum mode {
	MODE_REUSEPORT, /* a listener each, SO_REUSEPORT: a queue each */
	MODE_EXCLUSIVE, /* one listener in every epoll set, EPOLLEXCLUSIVE */
	MODE_SHARED,	/* the same without it: every waiting loop wakes */
};

/*
 * A loop's counters. Only its own thread writes them (count: a load and
 * a store, no lock, no locked instruction); main reads them for the
 * SIGUSR1 lines and at exit. Atomic, relaxed: a reader sees a recent
 * value, never a torn one, and ThreadSanitizer knows it is meant.
 */
struct counters {
	_Atomic uint64_t accepted; /* connections this loop accepted */
	_Atomic uint64_t wakeups;  /* times its listener was reported */
	_Atomic uint64_t wasted;   /* ... and accept found nothing: EAGAIN */
	_Atomic uint64_t requests; /* responses sent whole */
	_Atomic uint64_t conns;	   /* connections open now */
};

/*
 * What main tells the loops, through one word they all read when their
 * stop eventfd is reported, and what they tell main back.
 */
enum command {
	CMD_RUN,   /* go on */
	CMD_DRAIN, /* SIGQUIT: drain (drain_start) */
	CMD_STOP,  /* SIGINT, SIGTERM, or a second SIGQUIT: return now */
};

struct shared {
	_Atomic int command;	     /* enum command, written by main */
	_Atomic uint64_t next_id;    /* the next connection's number */
	int wake_main;		     /* an eventfd main watches */
	_Atomic unsigned drained;    /* loops that have begun to drain */
	_Atomic uint64_t idle_closed; /* ... the idle connections they closed */
	_Atomic uint64_t draining;   /* ... the connections they kept */
	_Atomic unsigned finished;   /* loops whose run has returned */
};

/*
 * Everything one event loop works with: one per loop, each on a thread
 * of its own (chapter 15), sharing nothing but the pool and the
 * read-only settings, so that nothing on the request path takes a lock.
 */
struct server {
	unsigned id;	      /* loop=ID, and its pool home */
	pthread_t thread;     /* the loop's thread */
	struct poll poll;     /* the epoll instance; only this loop waits */
	struct events events; /* what the last poll_wait returned */
	struct slab conns;    /* token -> struct conn *, one per client */
	struct timers timers; /* every connection's deadline, nearest first */
	int64_t now;	      /* the clock, read once per turn of the loop */
	struct listener listener; /* the listening socket: LISTENER */
	int stop_fd;	      /* an eventfd main writes: STOP; main's */
	struct shared *shared; /* main's word, and the drain's report */
	bool draining;	      /* CMD_DRAIN came: see drain_start */
	int64_t drain_start;  /* when it came */
	int64_t drain_end;    /* what is still open then is closed */
	size_t left;	      /* connections open when run returned */
	struct pool *pool;    /* the workers (shared); our home's fd: WAKER */
	int dir;	      /* -d: the directory /files/ serves, or -1 */
	uint64_t *again;      /* tokens of connections to run again before
				 waiting (CONN_AGAIN), oldest first */
	size_t again_len;     /* how many there are */
	size_t again_cap;     /* how many fit */
	uint64_t max_body;    /* -b: the largest request body */
	struct counters counters; /* what it did, for main to print */
	struct server *loops; /* every loop, for the log's count */
	unsigned nloops;      /* how many */
	bool quiet;	      /* -q: no per-request log lines */
};

/* count: add n to counter c, which only this thread writes. */
static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(
	    c, atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/* counted: counter c, read from any thread. */
static uint64_t counted(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}
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
/* Set by the SIGUSR1 handler, read and cleared by main (wait_signal). */
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
static int work_start(struct server *s, struct conn *c);

static void conn_add(struct server *s, int fd, const struct sockaddr_in *from)
{
	/*
	 * The one write every loop makes to one shared word, once per
	 * connection (not per request), for log lines that number clients
	 * as the chapters before did: 1, 2, 3, whichever loop took them.
	 */
	uint64_t id = atomic_fetch_add_explicit(&s->shared->next_id, 1,
						memory_order_relaxed);
	struct conn *c = conn_new(fd, id, from, s->max_body);
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
	atomic_store_explicit(&s->counters.conns, slab_len(&s->conns),
			      memory_order_relaxed);
	if (!s->quiet)
		printf("new client: %s\n", peer_name(c, addr));
	c->can_read = true; /* an optimist's guess; EAGAIN corrects it */
	conn_turn(s, c, NULL);
}
/* ANCHOR_END: conn_add */

static void resume_listener(struct server *s);

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
static void conn_drop(struct server *s, struct conn *c)
{
	slab_remove(&s->conns, c->token);
	timer_cancel(&c->timer);
	conn_free(c);
	atomic_store_explicit(&s->counters.conns, slab_len(&s->conns),
			      memory_order_relaxed);
	if (s->listener.paused)
		resume_listener(s); /* a descriptor is free again */
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
 *	                   turn that sent something: a slow reader lives,
 *	                   one that stopped reading dies
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
 * close: a client that slow is not listening.
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

/*** draining ***/

/* wake_main: tell main to look at the shared report. */
static void wake_main(struct server *s)
{
	uint64_t one = 1;

	if (write(s->shared->wake_main, &one, sizeof(one)) == -1)
		warn("server", "write eventfd", errno);
}

/* ANCHOR: drain */
/*
 * idle: c waits for a request of which not a byte has come, neither into
 * a buffer (it has no req) nor into its socket (MSG_PEEK looks without taking).
 */
static bool idle(const struct conn *c)
{
	char byte;

	if (c->state != CONN_HEAD || c->req)
		return false;
	return recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == -1 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * drain_start: main said CMD_DRAIN (SIGQUIT): this loop's share of
 * chapter 14's draining stop. Close its listener and every idle
 * connection; the others answer the requests they have sent and close
 * once idle (conn_turn), within -t from now. What it did goes into the
 * shared report, which main prints as one line once every loop has
 * added to it.
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
	atomic_fetch_add(&s->shared->idle_closed, idle_closed);
	atomic_fetch_add(&s->shared->draining, slab_len(&s->conns));
	atomic_fetch_add(&s->shared->drained, 1); /* after the sums */
	wake_main(s);
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
	count(&s->counters.requests, c->answered - answered);
	switch (res) {
	case CONN_WORK:
		if (work_start(s, c) == 0) {
			deadline_update(s, c, was, sent, answered);
			return; /* until its work is done */
		}
		/* answered at once (503): send that before the next wait */
		/* fall through */
	case CONN_AGAIN:
		if (again_push(s, c) == -1) {
			warn(peer_name(c, addr), "realloc", errno);
			break;
		}
		/* fall through */
	case CONN_WAITING:
		if (s->draining && idle(c))
			break; /* answered, and no next request: close */
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
	 * An error or a hang-up (both directions shut, or a reset): nothing
	 * more can come in or go out. Edge-triggered, these are reported
	 * once, and end the connection here, or nobody would ever look at
	 * it again. A reset is the client's choice, not a failure: no error
	 * line for it.
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

/*** blocking work ***/

/* ANCHOR: work_start */
/*
 * work_start: connection c's answer needs blocking work (CONN_WORK). Copy
 * what it asks into a work item under c's token, and queue it: 0. Or, if
 * that cannot be, answer c at once and return -1: 503 if the queue is
 * full, 404 for a name too long to be one, 500 without memory.
 */
static int work_start(struct server *s, struct conn *c)
{
	const struct req *q = c->req;
	struct work *w = work_new(q->work.kind, s->dir, q->buf + q->work.arg.off,
				  q->work.arg.len, c->token);
	int status = w ? 503 : errno == ENAMETOOLONG ? 404 : 500;

	if (w)
		w->job.home = s->id; /* its result comes back to this loop */
	if (w && pool_submit(s->pool, &w->job) == 0)
		return 0;
	work_free(w);
	if (conn_answer(c, status, NULL, 0) == CONN_FAILED)
		warn("server", c->what, errno); /* then it sends nothing */
	return -1;
}
/* ANCHOR_END: work_start */

/* ANCHOR: work_done */
/*
 * work_done: the pool's eventfd was reported: take every finished job at
 * once (one wake may stand for many), give each result to its connection,
 * and run that, which sends it. The token finds the connection; one that
 * was closed while its job ran (a reset, a deadline) is not found, its
 * slot's generation having moved on, and the result is dropped.
 */
static void work_done(struct server *s)
{
	struct pool_job *j = pool_done(s->pool, s->id), *next;

	for (; j; j = next) {
		struct work *w = (struct work *)(void *)j;
		struct conn *c = slab_get(&s->conns, j->token);

		next = j->next;
		if (!c || !c->req || !c->req->working) {
			if (!s->quiet)
				printf("a job done for a client gone: dropped\n");
		} else if (conn_answer(c, w->status, w->body, w->len) ==
			   CONN_FAILED) {
			w->body = NULL; /* c's now */
			warn("server", c->what, errno);
			conn_drop(s, c);
		} else {
			w->body = NULL;
			conn_turn(s, c, NULL);
		}
		work_free(w);
	}
}
/* ANCHOR_END: work_done */

/*** the listener ***/

/*
 * resume_listener: a descriptor is free again, or the pause is over: put
 * the listener back in epoll. If that fails, it stays paused (listener.h).
 */
static void resume_listener(struct server *s)
{
	if (listener_resume(&s->listener, poll_registry(&s->poll),
			       s->now) == -1)
		warn("server", "registry_register (listener)", errno);
}

/* ANCHOR: on_listener */
/*
 * on_listener: the listener is readable: a connection is queued. Accept
 * one; if more are queued, the next wait reports the listener again (it
 * is level-triggered), after this turn's other events: one accept per
 * wakeup. listener_arm only takes a listener that this accept paused out
 * of epoll.
 */
static void on_listener(struct server *s)
{
	struct sockaddr_in peer;
	char addr[NET_ADDR_LEN];
	int fd;

	count(&s->counters.wakeups, 1);
	switch (listener_accept(&s->listener, s->now, &fd, &peer)) {
	case LISTENER_ACCEPTED:
		count(&s->counters.accepted, 1);
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
		/* Another loop took it first: a wasted wakeup. */
		count(&s->counters.wasted, 1);
		break;
	}
	if (listener_arm(&s->listener, poll_registry(&s->poll), s->now) == -1)
		warn("server", "registry_deregister (listener)", errno);
}
/* ANCHOR_END: on_listener */

/*** the event loop ***/

/* in_flight: the connections open in every loop, for the log. */
static uint64_t in_flight(struct server *s)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < s->nloops; i++)
		n += counted(&s->loops[i].counters.conns);
	return n;
}

/* ANCHOR: loop */
/*
 * command: the stop eventfd was reported: read it (it is edge-triggered,
 * so this is not needed to silence it, only to keep its count from
 * growing), then main's word. Returns true if the loop must return now.
 */
static bool command(struct server *s)
{
	uint64_t n;

	if (read(s->stop_fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		die("read eventfd");
	switch (atomic_load(&s->shared->command)) {
	case CMD_STOP:
		return true;
	case CMD_DRAIN:
		if (!s->draining)
			drain_start(s);
		return false;
	default:
		return false;
	}
}

/*
 * run: wait and dispatch, until main says stop (its eventfd and
 * CMD_STOP); or drain (CMD_DRAIN), until the last connection closes or
 * the drain's time is up. Each turn
 * reads the clock once (as libuv's loop time does): deadlines set in a
 * turn all count from that moment, so they stay in order. Every loop
 * runs this, on its own thread, with its own epoll set.
 */
static void run(struct server *s)
{
	for (;;) {
		int timeout;

		s->now = timer_now();
		expire(s);
		if (s->draining && (slab_len(&s->conns) == 0 ||
				    s->now >= s->drain_end))
			return; /* drained, or out of time */
		/*
		 * Sleep until an event, a deadline, or the end of a pause; not
		 * at all if a connection waits to run again.
		 */
		timeout = s->again_len > 0
			      ? 0
			      : timers_timeout_ms(&s->timers, s->now);
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
		/*
		 * The post's measure of concurrency: contexts alive now, in
		 * every loop (each loop's count as its loop last wrote it).
		 */
		if (events_len(&s->events) > 0 && !s->quiet)
			printf("requests in flight: %" PRIu64 "\n",
			       in_flight(s));
		for (size_t i = 0; i < events_len(&s->events); i++) {
			struct event e = events_get(&s->events, i);
			uint64_t token = event_token(e);
			struct conn *c;

			if (token == LISTENER) {
				if (!s->draining) /* else closed this turn */
					on_listener(s);
				continue;
			}
			if (token == WAKER) {
				work_done(s);
				continue;
			}
			if (token == STOP) {
				if (command(s))
					return; /* main said so: loops_stop */
				continue;
			}
			/*
			 * A connection closed earlier in this batch (by
			 * work_done, whose job ended after its client left)
			 * may still have an event in it. It finds no context,
			 * and nothing to do: its slot's generation has moved
			 * on (slab.h), even if the slot and the descriptor
			 * number are a new connection's now.
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
 * server_close: loop s stops: stop accepting, close every connection,
 * free everything it owns. Connections in the middle of a request or a
 * response are cut off: this is a fast shutdown. Every connection has a
 * deadline from accept to close, so the timer queue lists them all. The
 * pool is not the loop's: main stops it once every loop has returned.
 */
static void server_close(struct server *s)
{
	const struct registry *r = poll_registry(&s->poll);
	struct timer *t;

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
	free(s->again);
	events_free(&s->events);
	poll_close(&s->poll);
}
/* ANCHOR_END: shutdown */

/*** the loops ***/

/* ANCHOR: loop_main */
/* loop_main: a loop's thread: run until told to stop, then close. */
static void *loop_main(void *arg)
{
	struct server *s = arg;
	char name[16];

	/* Its name in /proc/PID/task/TID/comm, top -H and gdb: loop0, ... */
	snprintf(name, sizeof(name), "loop%u", s->id);
	pthread_setname_np(pthread_self(), name);
	run(s);
	s->left = slab_len(&s->conns); /* for main, after the join */
	server_close(s);
	atomic_fetch_add(&s->shared->finished, 1);
	wake_main(s);
	return NULL;
}
/* ANCHOR_END: loop_main */

/* ANCHOR: loop_open */
/*
 * loop_open: loop s's epoll set, its listener, its stop eventfd. Loop 0
 * opens the listening socket on port; in reuseport mode every other loop
 * opens one of its own on the port loop 0 got (port 0 lets the kernel
 * choose it once, for all), otherwise it listens on loop 0's socket. In
 * exclusive mode the listener is registered with EPOLLEXCLUSIVE: a new
 * connection wakes one of the loops waiting on it, not all. Dies on
 * failure (at startup, nothing to save).
 */
static void loop_open(struct server *s, struct server *first, enum mode mode,
		      unsigned short port)
{
	const struct registry *r;
	const char *what;
	int err;

	if (poll_new(&s->poll) == -1)
		die("poll_new");
	if (events_new(&s->events, EVENTS_CAP) == -1)
		die("events_new");
	r = poll_registry(&s->poll);
	if (s == first || mode == MODE_REUSEPORT)
		err = listener_open(&s->listener, port, mode == MODE_REUSEPORT,
				    &what);
	else
		err = listener_share(&s->listener, &first->listener, &what);
	if (err == -1)
		die(what);
	if (listener_watch(&s->listener, r, LISTENER,
			   mode == MODE_EXCLUSIVE ? INTEREST_EXCLUSIVE : 0) ==
	    -1)
		die("registry_register (listener)");
	s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->stop_fd == -1)
		die("eventfd");
	if (registry_register(r, s->stop_fd, STOP, INTEREST_READABLE) == -1)
		die("registry_register (stop)");
	if (registry_register(r, s->pool->homes[s->id].wake_fd, WAKER,
			      INTEREST_READABLE) == -1)
		die("registry_register (waker)");
}
/* ANCHOR_END: loop_open */

/* ANCHOR: loops_start */
/*
 * loops_start: a thread for each of the n loops, pinned to cpus[i % ncpus]
 * (so that a loop and its connections' data stay in one CPU's caches).
 * The threads block every signal, as the pool's workers do: SIGINT and
 * SIGTERM go to main's signalfd, SIGUSR1 to main's handler. A pin that
 * fails (a CPU taken away since sched_getaffinity) is said once; the loop
 * runs unpinned.
 */
static void loops_start(struct server *loops, unsigned n, const int *cpus,
			unsigned ncpus)
{
	sigset_t all, old;
	bool told = false;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < n; i++) {
		cpu_set_t set;
		int err = pthread_create(&loops[i].thread, NULL, loop_main,
					 &loops[i]);

		if (err != 0) {
			errno = err;
			die("pthread_create");
		}
		CPU_ZERO(&set);
		CPU_SET(cpus[i % ncpus], &set);
		err = pthread_setaffinity_np(loops[i].thread, sizeof(set),
					     &set);
		if (err != 0 && !told) {
			warn("server", "pthread_setaffinity_np (loops unpinned)",
			     err);
			told = true;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}
/* ANCHOR_END: loops_start */

/* ANCHOR: counters */
/* print_counters: one line per loop, as SIGUSR1 and the exit print them. */
static void print_counters(struct server *loops, unsigned n)
{
	uint64_t conns = 0, requests = 0;

	for (unsigned i = 0; i < n; i++) {
		conns += counted(&loops[i].counters.conns);
		requests += counted(&loops[i].counters.requests);
	}
	printf("status: %" PRIu64 " connections, %" PRIu64 " answered\n",
	       conns, requests);
	for (unsigned i = 0; i < n; i++) {
		struct counters *k = &loops[i].counters;

		printf("loop=%u accepted=%" PRIu64 " wakeups=%" PRIu64
		       " wasted=%" PRIu64 " requests=%" PRIu64 "\n",
		       i, counted(&k->accepted), counted(&k->wakeups),
		       counted(&k->wasted), counted(&k->requests));
	}
}
/* ANCHOR_END: counters */

/* ANCHOR: wait_signal */
/* tell: set main's word to cmd, and wake every loop to read it. */
static void tell(struct server *loops, unsigned n, enum command cmd)
{
	uint64_t one = 1;

	atomic_store(&loops[0].shared->command, cmd);
	for (unsigned i = 0; i < n; i++)
		if (write(loops[i].stop_fd, &one, sizeof(one)) == -1)
			die("write eventfd");
}

/*
 * wait_signal: main's loop, a small one, on the signalfd (token 0) and
 * the eventfd the loops write (token 1), printing the counters whenever
 * SIGUSR1's handler interrupts the wait. SIGINT or SIGTERM: every loop
 * is told to stop; returns the signal. SIGQUIT: every loop is told to
 * drain, main prints their report once all have made it, and returns 0
 * when all have finished; a stop signal meanwhile (a second SIGQUIT too)
 * stops them at once.
 */
static int wait_signal(int signals, struct server *loops, unsigned n)
{
	struct shared *sh = loops[0].shared;
	struct poll p;
	struct events ev;
	bool draining = false, reported = false;
	int sig = 0;
	uint64_t v;

	if (poll_new(&p) == -1 || events_new(&ev, 2) == -1)
		die("poll_new");
	if (registry_register(poll_registry(&p), signals, 0,
			      INTEREST_READABLE) == -1 ||
	    registry_register(poll_registry(&p), sh->wake_main, 1,
			      INTEREST_READABLE) == -1)
		die("registry_register (main)");
	for (;;) {
		if (status_wanted) {
			status_wanted = 0;
			print_counters(loops, n);
		}
		if (poll_wait(&p, &ev, -1) == -1) {
			if (errno == EINTR)
				continue; /* SIGUSR1's handler ran */
			die("poll_wait");
		}
		sig = stop_read(signals);
		if (sig == -1)
			die("read signalfd");
		if (sig == SIGQUIT && !draining) {
			draining = true;
			tell(loops, n, CMD_DRAIN);
		} else if (sig) {
			printf("got %s: closing %" PRIu64 " connections\n",
			       sig == SIGINT	? "SIGINT"
			       : sig == SIGTERM ? "SIGTERM"
						: "SIGQUIT",
			       in_flight(&loops[0]));
			tell(loops, n, CMD_STOP);
			break;
		}
		if (read(sh->wake_main, &v, sizeof(v)) == -1 && errno != EAGAIN)
			die("read eventfd");
		if (draining && !reported && atomic_load(&sh->drained) == n) {
			printf("got SIGQUIT: closed %" PRIu64
			       " idle connections, draining %" PRIu64 "\n",
			       atomic_load(&sh->idle_closed),
			       atomic_load(&sh->draining));
			reported = true;
		}
		if (draining && atomic_load(&sh->finished) == n)
			break; /* sig is 0: drained, or out of time */
	}
	events_free(&ev);
	poll_close(&p); /* which takes its descriptors out of it */
	return sig;
}
/* ANCHOR_END: wait_signal */

/* ANCHOR: loops_stop */
/*
 * loops_stop: join every loop (told to stop, or done draining), close
 * their stop eventfds; then stop the pool, whose results nobody will
 * take now. After a drain (sig 0), say how it ended: every connection
 * closed, or some cut off when the time was up.
 */
static void loops_stop(struct server *loops, unsigned n, struct pool *pool,
		       int sig)
{
	struct pool_job *j, *next;
	int64_t longest = 0;
	size_t left = 0;

	for (unsigned i = 0; i < n; i++) {
		pthread_join(loops[i].thread, NULL);
		close(loops[i].stop_fd);
		left += loops[i].left;
		if (loops[i].now - loops[i].drain_start > longest)
			longest = loops[i].now - loops[i].drain_start;
	}
	if (sig == 0 && left == 0)
		printf("drained in %.1f s\n", (double)longest / NS_PER_S);
	else if (sig == 0)
		printf("drain: out of time after %.1f s: closing %zu "
		       "connections\n",
		       (double)longest / NS_PER_S, left);
	for (j = pool_stop(pool); j; j = next) {
		next = j->next;
		work_free((struct work *)(void *)j);
	}
}
/* ANCHOR_END: loops_stop */

/*** the command line ***/

static void usage(void)
{
	fprintf(stderr,
		"usage: server [-q] [-t SECONDS] [-b BYTES] [-d DIR] "
		"[-w WORKERS] [-Q QUEUE] [-L LOOPS] "
		"[-m reuseport|exclusive|shared] [PORT]   "
		"(defaults: -t %d, -b %u, no -d, -w %d, -Q %d, -L the CPUs "
		"it may use, -m reuseport, port %d; 0 lets the kernel "
		"choose)\n",
		DEFAULT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_WORKERS,
		DEFAULT_QUEUE, DEFAULT_PORT);
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

/* parse_mode: -m's argument, or usage(). */
static enum mode parse_mode(const char *s)
{
	if (strcmp(s, "reuseport") == 0)
		return MODE_REUSEPORT;
	if (strcmp(s, "exclusive") == 0)
		return MODE_EXCLUSIVE;
	if (strcmp(s, "shared") == 0)
		return MODE_SHARED;
	usage();
	return MODE_REUSEPORT; /* not reached */
}

/* ANCHOR: cpus */
/*
 * allowed_cpus: the CPUs this process may run on (sched_getaffinity:
 * taskset or a container may allow fewer than the machine has), in
 * cpus[], at most CPU_SETSIZE; returns how many.
 */
static unsigned allowed_cpus(int cpus[CPU_SETSIZE])
{
	cpu_set_t set;
	unsigned n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == -1)
		die("sched_getaffinity");
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	return n;
}
/* ANCHOR_END: cpus */

/*** main ***/

int main(int argc, char **argv)
{
	static int cpus[CPU_SETSIZE];
	static struct shared shared = {.next_id = 1};
	unsigned long timeout = DEFAULT_TIMEOUT;
	unsigned long workers = DEFAULT_WORKERS, queue = DEFAULT_QUEUE;
	unsigned long nloops = 0, max_body = DEFAULT_MAX_BODY;
	enum mode mode = MODE_REUSEPORT;
	const char *dir = NULL;
	unsigned short port = DEFAULT_PORT;
	struct server *loops;
	struct pool pool;
	unsigned ncpus;
	const char *what;
	int opt, bound = 0, sig, signals, dirfd = -1;
	bool quiet = false;

	while ((opt = getopt(argc, argv, "qt:b:d:w:Q:L:m:")) != -1) {
		switch (opt) {
		case 'q':
			quiet = true;
			break;
		case 't':
			timeout = parse_number(optarg, 1, MAX_TIMEOUT);
			break;
		case 'b':
			max_body = parse_number(optarg, 0, MAX_MAX_BODY);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'w':
			workers = parse_number(optarg, 1, MAX_WORKERS);
			break;
		case 'Q':
			queue = parse_number(optarg, 1, MAX_QUEUE);
			break;
		case 'L':
			nloops = parse_number(optarg, 1, MAX_LOOPS);
			break;
		case 'm':
			mode = parse_mode(optarg);
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
	ncpus = allowed_cpus(cpus);
	if (nloops == 0)
		nloops = ncpus < MAX_LOOPS ? ncpus : MAX_LOOPS;
	signals_setup();
	/* Before any thread: every thread inherits the blocked signals. */
	signals = stop_open(&what);
	if (signals == -1)
		die(what);
	if (dir) {
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd == -1)
			die(dir);
	}
	if (pool_start(&pool, (unsigned)workers, queue, (unsigned)nloops,
		       &what) == -1)
		die(what);
	loops = calloc(nloops, sizeof(*loops));
	if (!loops)
		die("calloc");
	shared.wake_main = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (shared.wake_main == -1)
		die("eventfd");
	for (unsigned i = 0; i < nloops; i++) {
		struct server *s = &loops[i];

		s->id = i;
		s->shared = &shared;
		s->loops = loops;
		s->nloops = (unsigned)nloops;
		s->pool = &pool;
		s->dir = dirfd;
		s->max_body = max_body;
		s->quiet = quiet;
		timers_init(&s->timers, (int64_t)timeout * NS_PER_S);
		loop_open(s, &loops[0], mode, i == 0 ? port : (unsigned short)bound);
		if (i == 0) {
			bound = net_local_port(s->listener.fd);
			if (bound == -1)
				die("getsockname");
		}
	}
	loops_start(loops, (unsigned)nloops, cpus, ncpus);
	printf("listening on 127.0.0.1:%d\n", bound);
	sig = wait_signal(signals, loops, (unsigned)nloops);
	loops_stop(loops, (unsigned)nloops, &pool, sig);
	print_counters(loops, (unsigned)nloops);
	if (dirfd != -1)
		close(dirfd);
	close(shared.wake_main);
	close(signals);
	free(loops);
	return 0;
	/* ANCHOR_END: setup */
}
