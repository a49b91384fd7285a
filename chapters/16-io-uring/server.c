/*
 * server.c - the HTTP server of 13-lean, on io_uring: the kernel does the
 * I/O, and the loop reads what it did.
 *
 * Listens on 127.0.0.1:PORT (default 8000; 0 lets the kernel choose) and
 * serves every client from one thread with one io_uring (ring.h). Where
 * 13-lean asked epoll "which sockets are ready?" and then called accept4,
 * recv and sendmsg itself, this loop asks the kernel to do the calls, and
 * then reads their results:
 *
 *	accept: one multishot accept, submitted once: a completion per new
 *	connection, until an error ends it (then it is submitted again);
 *	receive: one multishot receive per connection, into a buffer the
 *	kernel takes from a ring of them shared by every connection, only
 *	when bytes arrive: an idle connection holds no buffer;
 *	send: one sendmsg in flight per connection; one cut short is
 *	submitted again for the rest;
 *	close: close(2), then a cancel for each request still in the kernel;
 *	the slot is freed only when the last of them has completed;
 *	signals: a read of the signalfd, through the ring;
 *	deadlines: the wait's own timeout.
 *
 * Every request carries user_data: what it is, and the connection's slot
 * and generation (slab.h), so a completion for a connection that has
 * gone, and whose slot is someone else's now, is recognised and dropped.
 *
 * The rest is 13-lean's: the states of a connection (conn.h), keep-alive
 * and pipelining, the limits, the deadlines, the lingering close, the
 * spare descriptor for EMFILE, SIGINT/SIGTERM ending it with status 0
 * and everything freed, and SIGQUIT, the draining stop: no new clients,
 * idle connections closed, the others let finish (within -t).
 *
 *	make && ./server              (then: curl -sS http://127.0.0.1:8000/)
 *	kill -USR1 PID                (a status line, with the ring's counts)
 *	kill -QUIT PID                (a draining stop, status 0)
 *	./server -q -r 8 0            (quiet; 8 receive buffers: -ENOBUFS)
 *
 * Sections: the server, logging, signals, requests, connections,
 * deadlines, the listener, draining, completions, the event loop,
 * shutting down, the command line, main.
 */
/* syscall(2) for uring_ffi.h, with getopt(3), sigaction(2) and friends. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "net.h"
#include "ring.h"
#include "slab.h"
#include "stop.h"
#include "timer.h"

#define DEFAULT_PORT	 8000
#define DEFAULT_TIMEOUT	 10	    /* -t: seconds */
#define DEFAULT_MAX_BODY (1u << 20) /* -b: bytes (1 MiB) */
#define DEFAULT_BUFFERS	 256	    /* -r: receive buffers */
#define MAX_TIMEOUT	 86400	    /* -t: a day at most */
#define MAX_MAX_BODY	 (1u << 30) /* -b: 1 GiB at most (held in memory) */
#define MAX_BUFFERS	 32768	    /* -r: the buffer ring's limit */
#define BUFFER_SIZE	 (16 * 1024) /* bytes per receive buffer */
#define RING_ENTRIES	 4096	    /* submission slots (4x as many CQEs) */
#define BGID		 0	    /* the buffer group's id */
#define CQE_BATCH	 64	    /* completions handled between waits */
#define NS_PER_S	 1000000000LL
#define PAUSE_NS	 500000000LL /* a listener out of descriptors rests */

/*** the server ***/

/* ANCHOR: user_data */
/*
 * What a request is, in the top byte of its user_data. A connection's
 * requests also carry its slab token: the slot's index (24 bits here,
 * far more than any descriptor limit) and its generation (32 bits).
 */
enum op {
	OP_ACCEPT = 1, /* the listener's multishot accept */
	OP_LISTEN,     /* out of descriptors: a poll for a queued connection */
	OP_SIGNAL,     /* the read of the signalfd */
	OP_RECV,       /* a connection's multishot receive */
	OP_SEND,       /* a connection's sendmsg */
	OP_CANCEL,     /* a cancel; its own completion says nothing */
};

#define SLOT_BITS 24

static uint64_t user_data(enum op op, uint64_t token)
{
	uint64_t slot = token & ((1u << SLOT_BITS) - 1), gen = token >> 32;

	return (uint64_t)op << 56 | slot << 32 | gen;
}

static enum op ud_op(uint64_t ud)
{
	return (enum op)(ud >> 56);
}

/* ud_token: the slab token back: generation high, slot low. */
static uint64_t ud_token(uint64_t ud)
{
	return (ud & 0xffffffffu) << 32 | (ud >> 32 & ((1u << SLOT_BITS) - 1));
}
/* ANCHOR_END: user_data */

/* ANCHOR: server */
/* Everything the event loop works with. */
struct server {
	struct ring ring;     /* the io_uring; only main submits and waits */
	struct bufring bufs;  /* the receive buffers every connection shares */
	struct slab conns;    /* token -> struct conn *, one per client */
	struct timers timers; /* every open connection's deadline */
	int64_t now;	      /* the clock, read once per turn of the loop */
	int listener;	      /* the listening socket; -1 once draining */
	int spare;	      /* a descriptor kept for EMFILE, or -1 */
	bool accepting;	      /* the multishot accept is in the kernel */
	bool polling;	      /* or, out of descriptors, a poll for POLLIN */
	bool queued;	      /* that poll said a connection is queued */
	bool paused;	      /* out of descriptors, no spare: resting */
	int64_t resume_at;    /* while paused: when to accept again */
	int signals;	      /* a signalfd for the stop signals */
	bool reading_signals; /* its read is in the kernel */
	struct signalfd_siginfo siginfo; /* where that read puts a signal */
	bool draining;	      /* SIGQUIT came: see drain_start */
	bool swept;	      /* and its first sweep has run (drain_sweep) */
	int64_t drain_start;  /* when it came */
	int64_t drain_end;    /* what is still open then is closed */
	uint64_t max_body;    /* -b: the largest request body */
	uint64_t next_id;     /* the next connection's number in the log */
	uint64_t answered;    /* responses sent whole, for the status line */
	uint64_t nobufs;      /* receives ended by an empty buffer ring */
	uint64_t *starved;    /* their tokens, oldest first: a circular
				 queue, armed again as buffers come back */
	size_t starved_cap;   /* its slots (a power of two, or 0) */
	size_t starved_head;  /* the oldest token's slot */
	size_t starved_len;   /* tokens queued (some may be stale) */
	uint32_t returned;    /* buffers put back since the last re-arming */
	uint64_t stale;	      /* completions for a connection gone */
	bool quiet;	      /* -q: no per-request log lines */
};
/* ANCHOR_END: server */

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

/* Set by the SIGUSR1 handler, read and cleared by the loop. */
static volatile sig_atomic_t status_wanted;

/* on_sigusr1: ask for a status line; all a handler may safely do. */
static void on_sigusr1(int sig)
{
	(void)sig;
	status_wanted = 1;
}

/*
 * signals_setup: SIGUSR1 asks for a status line (io_uring_enter fails
 * with EINTR when it lands, and the loop goes round). SIGPIPE is ignored;
 * every send says MSG_NOSIGNAL too.
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

/*** requests ***/

/* ANCHOR: submit */
/* sqe: a fresh submission entry; the ring cannot give one only if
 * io_uring_enter itself fails, which the server cannot serve through. */
static struct uring_sqe *sqe(struct server *s, enum op op, uint64_t token)
{
	struct uring_sqe *e = ring_sqe(&s->ring);

	if (!e)
		die("io_uring_enter (submitting)");
	e->user_data = user_data(op, token);
	return e;
}

/* submit_accept: one multishot accept: a completion per connection. */
static void submit_accept(struct server *s)
{
	struct uring_sqe *e = sqe(s, OP_ACCEPT, 0);

	e->opcode = URING_OP_ACCEPT;
	e->fd = s->listener;
	e->ioprio = URING_ACCEPT_MULTISHOT;
	e->op_flags = SOCK_NONBLOCK | SOCK_CLOEXEC; /* accept4(2)'s flags */
	s->accepting = true;
}

/*
 * submit_listen_poll: tell us when a connection is queued. An accept
 * takes its descriptor number before it waits, so out of descriptors it
 * fails at once, queued connection or not; a poll needs no descriptor.
 */
static void submit_listen_poll(struct server *s)
{
	struct uring_sqe *e = sqe(s, OP_LISTEN, 0);

	e->opcode = URING_OP_POLL_ADD;
	e->fd = s->listener;
	e->op_flags = POLLIN;
	s->polling = true;
}

/* submit_signal_read: read the next signal from the signalfd. */
static void submit_signal_read(struct server *s)
{
	struct uring_sqe *e = sqe(s, OP_SIGNAL, 0);

	e->opcode = URING_OP_READ;
	e->fd = s->signals;
	e->addr = (uint64_t)(uintptr_t)&s->siginfo;
	e->len = sizeof(s->siginfo);
	e->off = (uint64_t)-1; /* no offset: a signalfd is a stream */
	s->reading_signals = true;
}

/* ANCHOR: submit_recv */
/*
 * submit_recv: one multishot receive: a completion each time bytes
 * arrive, in a buffer the kernel takes from group BGID at that moment.
 */
static void submit_recv(struct server *s, struct conn *c)
{
	struct uring_sqe *e = sqe(s, OP_RECV, c->token);

	e->opcode = URING_OP_RECV;
	e->fd = c->fd;
	e->ioprio = URING_RECV_MULTISHOT;
	e->flags = URING_SQE_BUFFER_SELECT;
	e->buf_group = BGID;
	c->recv_armed = true;
	c->recv_cancelled = false;
}

/* submit_send: the connection's next sendmsg, if it has one to send. */
static void submit_send(struct server *s, struct conn *c)
{
	int flags;
	const struct msghdr *msg = conn_send_prepare(c, &flags);
	struct uring_sqe *e;

	if (!msg)
		return;
	e = sqe(s, OP_SEND, c->token);
	e->opcode = URING_OP_SENDMSG;
	e->fd = c->fd;
	e->addr = (uint64_t)(uintptr_t)msg;
	e->len = 1; /* one msghdr */
	e->op_flags = (uint32_t)flags;
}
/* ANCHOR_END: submit_recv */

/* submit_cancel: cancel the request whose user_data is ud. */
static void submit_cancel(struct server *s, uint64_t token, uint64_t ud)
{
	struct uring_sqe *e = sqe(s, OP_CANCEL, token);

	e->opcode = URING_OP_ASYNC_CANCEL;
	e->fd = -1;
	e->addr = ud;
}
/* ANCHOR_END: submit */

/*** connections ***/

static void resume_listener(struct server *s);

/* ANCHOR: conn_close */
/*
 * conn_drop: close a connection: its descriptor now, so the number is
 * free at once; its requests still in the kernel are cancelled, and the
 * context and its slot live until the last of them completes (conn_gone):
 * until then the kernel may still write into its msghdr's buffers.
 */
static void conn_gone(struct server *s, struct conn *c)
{
	if (c->recv_armed || c->sending)
		return; /* a completion is still to come */
	slab_remove(&s->conns, c->token);
	conn_free(c);
}

static void conn_drop(struct server *s, struct conn *c)
{
	timer_cancel(&c->timer);
	conn_close(c);
	c->closing = true;
	if (c->recv_armed && !c->recv_cancelled) {
		submit_cancel(s, c->token, user_data(OP_RECV, c->token));
		c->recv_cancelled = true;
	}
	if (c->sending)
		submit_cancel(s, c->token, user_data(OP_SEND, c->token));
	conn_gone(s, c);
	if (s->paused)
		resume_listener(s); /* a descriptor is free again */
}
/* ANCHOR_END: conn_close */

/* ANCHOR: conn_sync */
/*
 * conn_sync: after connection c has moved, ask the kernel for what it
 * needs now: the next piece of its response, a receive if none is armed
 * and it wants one, or the end of a receive it no longer wants (its
 * stash is full: backpressure).
 */
static void conn_sync(struct server *s, struct conn *c)
{
	bool want = conn_wants_recv(c);

	submit_send(s, c);
	if (want && !c->recv_armed && !c->starved)
		submit_recv(s, c);
	else if (!want && c->recv_armed && !c->recv_cancelled && !c->eof) {
		submit_cancel(s, c->token, user_data(OP_RECV, c->token));
		c->recv_cancelled = true;
	}
}
/* ANCHOR_END: conn_sync */

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

/* ANCHOR: conn_turn */
/*
 * conn_turn: connection c has news (res says what its completion did; it
 * was in state was, having sent sent bytes, before it): run it as far as
 * it goes, then keep it, or close it.
 */
static void conn_turn(struct server *s, struct conn *c, enum conn_result res,
		      enum conn_state was, uint64_t sent)
{
	uint64_t requests = c->requests, answered = c->answered;
	char addr[NET_ADDR_LEN];

	if (res == CONN_WAITING)
		res = conn_run(c);
	if (!s->quiet)
		log_turn(c, requests, answered);
	s->answered += c->answered - answered;
	switch (res) {
	case CONN_WAITING:
		deadline_update(s, c, was, sent, answered);
		conn_sync(s, c);
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
/* ANCHOR_END: conn_turn */

/* ANCHOR: conn_add */
/*
 * conn_add: a new connection, fd: a context, a slot, a deadline, and a
 * multishot receive. TCP_NODELAY (tcp(7)): each answer leaves at once,
 * not held back by Nagle's algorithm until the last one is acknowledged.
 */
static void conn_add(struct server *s, int fd)
{
	struct sockaddr_in peer = {0};
	socklen_t len = sizeof(peer);
	const int one = 1;
	char addr[NET_ADDR_LEN];
	struct conn *c;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		warn("server", "setsockopt TCP_NODELAY", errno);
	/* The address only for the log: with -q, no getpeername at all. */
	if (!s->quiet && getpeername(fd, (struct sockaddr *)&peer, &len) == -1)
		peer.sin_family = AF_UNSPEC;
	c = conn_new(fd, s->next_id, &peer, s->max_body);
	if (!c) {
		warn("server", "conn_new", errno);
		close(fd);
		return;
	}
	c->token = slab_insert(&s->conns, c);
	if (c->token == 0 || (uint32_t)c->token >> SLOT_BITS) {
		warn(peer_name(c, addr), "slab_insert", c->token ? EMFILE : errno);
		if (c->token)
			slab_remove(&s->conns, c->token);
		conn_free(c);
		return;
	}
	c->timer.token = c->token;
	timer_arm(&s->timers, &c->timer, s->now);
	s->next_id++;
	if (!s->quiet)
		printf("new client: %s\n", peer_name(c, addr));
	submit_recv(s, c);
}
/* ANCHOR_END: conn_add */

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

/*** the listener ***/

/* spare_open: the spare descriptor: any will do; /dev/null costs nothing. */
static int spare_open(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* resume_listener: accept again after a pause. */
static void resume_listener(struct server *s)
{
	s->paused = false;
	if (!s->accepting && !s->polling)
		submit_accept(s);
}

/* ANCHOR: shed */
/*
 * shed: accept failed with EMFILE (or ENFILE): a connection waits that
 * we have no descriptor for. Left there, the accept would fail again at
 * once, for ever. So give up the spare, accept the connection on it,
 * close it (the client sees its connection closed, not hanging), and
 * take the spare back. With no spare to give up, rest PAUSE_NS, or until
 * a connection closes.
 */
static void shed(struct server *s)
{
	struct sockaddr_in peer;
	char addr[NET_ADDR_LEN];
	int fd;

	if (s->spare == -1)
		s->spare = spare_open(); /* lost last time; maybe free now */
	if (s->spare == -1) {
		s->paused = true;
		s->resume_at = s->now + PAUSE_NS;
		return;
	}
	close(s->spare);
	fd = net_accept(s->listener, &peer);
	if (fd != -1) {
		close(fd);
		net_addr_str(&peer, addr);
		if (!s->quiet)
			printf("%s: out of descriptors, closed at once\n",
			       addr);
	}
	s->spare = spare_open();
}
/* ANCHOR_END: shed */

/*** draining ***/

/* ANCHOR: drain */
/*
 * idle: c waits for a request of which not a byte has come: not into its
 * buffers, nor its socket (MSG_PEEK), nor a completion not yet read.
 */
static bool idle(struct server *s, const struct conn *c)
{
	char byte;

	if (c->state != CONN_HEAD || c->req || c->sending || c->eof ||
	    c->stash_len > c->stash_off)
		return false;
	if (recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) != -1 ||
	    (errno != EAGAIN && errno != EWOULDBLOCK))
		return false;
	return !ring_ready(&s->ring);
}

/*
 * drain_start: SIGQUIT, a draining stop. Cancel the accept, and stop the
 * listening now (the accept holds the socket open until its cancel
 * completes: close(2) alone would not): a new client is refused.
 */
static void drain_start(struct server *s)
{
	s->draining = true;
	s->drain_start = s->now;
	s->drain_end = s->now + s->timers.length;
	if (s->accepting)
		submit_cancel(s, 0, user_data(OP_ACCEPT, 0));
	if (s->polling)
		submit_cancel(s, 0, user_data(OP_LISTEN, 0));
	if (shutdown(s->listener, SHUT_RD) == -1)
		warn("server", "shutdown (listener)", errno);
	close(s->listener);
	s->listener = -1;
	if (s->spare != -1)
		close(s->spare);
	s->spare = -1;
	s->paused = false;
}
/* ANCHOR_END: drain */

/*
 * drain_sweep: while draining, at the end of every turn that emptied the
 * CQ: close every idle connection (the first sweep logs how many, and how
 * many are left). A connection closed waits for its last completion, as
 * ever (conn_gone).
 */
static void drain_sweep(struct server *s)
{
	struct timer *t, *next;
	size_t idle_closed = 0, left = 0;

	/* The queue lists every open connection; conn_drop takes out only t. */
	for (t = s->timers.head.next; t != &s->timers.head; t = next) {
		struct conn *c = slab_get(&s->conns, t->token);

		next = t->next;
		if (c && idle(s, c)) {
			conn_drop(s, c);
			idle_closed++;
		} else {
			left++;
		}
	}
	if (!s->swept)
		printf("got SIGQUIT: closed %zu idle connections, draining %zu\n",
		       idle_closed, left);
	s->swept = true;
}

/*** completions ***/

/* ANCHOR: on_accept */
/*
 * on_accept: a completion of the multishot accept: a new connection, or
 * an error. Without IORING_CQE_F_MORE the accept has ended, and is
 * submitted again. Out of descriptors (EMFILE, ENFILE), the accept fails
 * whether a connection is queued or not: if the poll said one is, shed
 * it (the spare); either way, poll for the next, and accept only then.
 */
static void on_accept(struct server *s, const struct uring_cqe *cqe)
{
	if (!(cqe->flags & URING_CQE_F_MORE))
		s->accepting = false;
	if (cqe->res >= 0) {
		conn_add(s, cqe->res); /* draining too: the kernel took it */
	} else if (s->listener == -1) {
		return; /* draining: cancelled, or EINVAL from the shut socket */
	} else if (cqe->res == -EMFILE || cqe->res == -ENFILE) {
		if (s->queued)
			shed(s);
		s->queued = false;
		if (!s->accepting && !s->paused && !s->polling)
			submit_listen_poll(s);
		return;
	} else if (cqe->res != -ECONNABORTED && cqe->res != -ECANCELED) {
		warn("server", "accept", -cqe->res);
	}
	if (!s->accepting && !s->paused && s->listener != -1 &&
	    cqe->res != -ECANCELED)
		submit_accept(s);
}

/* on_listen_poll: a connection is queued: try to accept it. */
static void on_listen_poll(struct server *s, const struct uring_cqe *cqe)
{
	s->polling = false;
	if (cqe->res == -ECANCELED || s->listener == -1)
		return;
	s->queued = true;
	if (!s->accepting && !s->paused)
		submit_accept(s);
}
/* ANCHOR_END: on_accept */

/* ANCHOR: starve */
/*
 * starve: connection c's receive found the buffer ring empty (-ENOBUFS)
 * and has ended, its bytes still in the socket. Armed again at once, it
 * would find the ring as empty: every buffer is in a completion not yet
 * read, behind this one. With thousands of connections each such
 * receive comes back as another -ENOBUFS, the CQ fills with them, and
 * which connection gets the next buffer is chance: some wait seconds.
 * So c waits in a queue, first come first armed (rearm_starved).
 */
static void starve(struct server *s, struct conn *c)
{
	if (s->starved_len == s->starved_cap) {
		size_t cap = s->starved_cap ? 2 * s->starved_cap : 64;
		uint64_t *q = malloc(cap * sizeof(*q));

		if (!q)
			die("malloc (the starved queue)");
		for (size_t i = 0; i < s->starved_len; i++)
			q[i] = s->starved[(s->starved_head + i) &
					  (s->starved_cap - 1)];
		free(s->starved);
		s->starved = q;
		s->starved_cap = cap;
		s->starved_head = 0;
	}
	s->starved[(s->starved_head + s->starved_len++) &
		   (s->starved_cap - 1)] = c->token;
	c->starved = true;
}
/* ANCHOR_END: starve */

/* ANCHOR: rearm */
/*
 * rearm_starved: once a turn, before the wait: arm the receives of the
 * oldest starved connections again, one for each buffer put back since
 * the last time; as many as the ring holds once the CQ is empty (no
 * completion holds a buffer then, or few). One that finds the ring empty
 * all the same is queued again, at the back, by on_recv. A token whose
 * connection has gone (its slot's generation moved on) is skipped.
 */
static void rearm_starved(struct server *s)
{
	uint32_t budget = s->returned;

	if (!ring_ready(&s->ring) && budget < s->bufs.count)
		budget = s->bufs.count;
	s->returned = 0;
	while (budget > 0 && s->starved_len > 0) {
		uint64_t token = s->starved[s->starved_head];
		struct conn *c = slab_get(&s->conns, token);

		s->starved_head = (s->starved_head + 1) & (s->starved_cap - 1);
		s->starved_len--;
		if (!c)
			continue;
		c->starved = false;
		if (c->closing || c->recv_armed || !conn_wants_recv(c))
			continue; /* conn_sync arms it when it wants one */
		submit_recv(s, c);
		budget--;
	}
}
/* ANCHOR_END: rearm */

/* ANCHOR: on_recv */
/*
 * on_recv: a completion of connection c's receive. Bytes come in a
 * buffer from the ring, which goes back to the ring as soon as they are
 * copied out. -ENOBUFS: the ring was empty when bytes came; the receive
 * has ended, and waits in the starved queue (starve).
 */
static enum conn_result on_recv(struct server *s, struct conn *c,
				const struct uring_cqe *cqe)
{
	bool more_queued = cqe->flags & URING_CQE_F_SOCK_NONEMPTY;
	enum conn_result res = CONN_WAITING;

	if (!(cqe->flags & URING_CQE_F_MORE))
		c->recv_armed = false;
	if (cqe->flags & URING_CQE_F_BUFFER) {
		uint16_t bid = (uint16_t)(cqe->flags >> URING_CQE_BUFFER_SHIFT);

		if (!c->closing && cqe->res > 0)
			res = conn_input(c, bufring_get(&s->bufs, bid),
					 (size_t)cqe->res, more_queued);
		bufring_put(&s->bufs, bid);
		s->returned++;
		return res;
	}
	if (cqe->res == 0)
		return conn_input(c, NULL, 0, false); /* end of stream */
	if (cqe->res == -ENOBUFS) {
		s->nobufs++;
		if (!c->recv_armed)
			starve(s, c);
	} else if (cqe->res == -ECONNRESET)
		return CONN_RESET;
	else if (cqe->res < 0 && cqe->res != -ECANCELED) {
		errno = -cqe->res;
		c->what = "recv";
		return CONN_FAILED;
	}
	return CONN_WAITING;
}
/* ANCHOR_END: on_recv */

/* ANCHOR: on_conn */
/*
 * on_conn: a completion for a connection's request. One whose token no
 * longer names a connection (the slot's generation has moved on) is
 * stale: its connection was freed, and the slot may be a new one's.
 * One for a connection being closed only counts down to its end.
 */
static void on_conn(struct server *s, const struct uring_cqe *cqe)
{
	struct conn *c = slab_get(&s->conns, ud_token(cqe->user_data));
	enum conn_result res;
	enum conn_state was;
	uint64_t sent;

	if (!c) {
		s->stale++;
		return;
	}
	was = c->state;
	sent = c->sent;
	if (ud_op(cqe->user_data) == OP_RECV) {
		res = on_recv(s, c, cqe);
	} else {
		res = conn_sent(c, cqe->res);
		/*
		 * Completions of two requests come in no promised order: a
		 * client may read its last answer and reset the connection,
		 * and the reset reach us before the send's completion. The
		 * answer was sent whole all the same: count it.
		 */
		if (c->closing && res == CONN_WAITING &&
		    c->state == CONN_WRITING && !out_pending(&c->req->out))
			s->answered++;
		if (c->closing)
			res = CONN_WAITING;
	}
	if (c->closing) {
		conn_gone(s, c);
		return;
	}
	conn_turn(s, c, res, was, sent);
}
/* ANCHOR_END: on_conn */

/*
 * on_signal: the signalfd's read completed: SIGINT or SIGTERM ends the
 * loop (the signal is returned), and so does a SIGQUIT during a drain; a
 * first SIGQUIT starts the drain. Then (or for anything else) read again.
 */
static int on_signal(struct server *s, const struct uring_cqe *cqe)
{
	unsigned sig = s->siginfo.ssi_signo;

	s->reading_signals = false;
	if (cqe->res < 0 && cqe->res != -EINTR && cqe->res != -ECANCELED) {
		errno = -cqe->res;
		die("read signalfd");
	}
	if (cqe->res != (int)sizeof(s->siginfo))
		sig = 0;
	if (sig == SIGINT || sig == SIGTERM || (sig == SIGQUIT && s->draining))
		return (int)sig;
	if (sig == SIGQUIT)
		drain_start(s);
	if (cqe->res != -ECANCELED)
		submit_signal_read(s);
	return 0;
}

/* on_cqe: one completion, to whoever it belongs; a signal number to stop. */
static int on_cqe(struct server *s, const struct uring_cqe *cqe)
{
	switch (ud_op(cqe->user_data)) {
	case OP_ACCEPT:
		on_accept(s, cqe);
		break;
	case OP_LISTEN:
		on_listen_poll(s, cqe);
		break;
	case OP_SIGNAL:
		return on_signal(s, cqe);
	case OP_RECV:
	case OP_SEND:
		on_conn(s, cqe);
		break;
	case OP_CANCEL:
		break; /* what it cancelled completes on its own */
	}
	return 0;
}

/*** the event loop ***/

/* status: the status lines SIGUSR1 asks for: 13-lean's, then the ring's. */
static void status(struct server *s)
{
	printf("status: %zu connections, %" PRIu64 " answered\n",
	       slab_len(&s->conns), s->answered);
	printf("ring: %" PRIu64 " receives out of buffers, %" PRIu64
	       " stale completions, %" PRIu64 " CQ overflows\n",
	       s->nobufs, s->stale, s->ring.overflows);
}

/* ANCHOR: loop */
/*
 * run: submit, wait and dispatch, until SIGINT or SIGTERM, which it
 * returns; or SIGQUIT: drain, until the last connection's last completion
 * or the drain's time is up (returns 0), or a second stop signal comes
 * (returns it). The wait's timeout is the nearest deadline (or the end of
 * a listener's pause, or of the drain): no timer descriptor, no timeout
 * request.
 */
static int run(struct server *s)
{
	for (;;) {
		struct uring_cqe cqe;
		int timeout, stop, n = 0;

		if (status_wanted) {
			status_wanted = 0;
			status(s);
		}
		s->now = timer_now();
		expire(s);
		if (s->draining && ((s->swept && slab_len(&s->conns) == 0) ||
				    s->now >= s->drain_end))
			return 0; /* drained, or out of time */
		if (s->paused && s->now >= s->resume_at)
			resume_listener(s);
		timeout = timers_timeout_ms(&s->timers, s->now);
		if (s->paused || s->draining) {
			int64_t end = s->draining ? s->drain_end : s->resume_at;
			int64_t ms = (end - s->now + 999999) / 1000000;

			if (timeout == -1 || ms < timeout)
				timeout = (int)ms;
		}
		/* Starved receives, the buffers back, then wait. */
		rearm_starved(s);
		bufring_publish(&s->bufs);
		if (ring_wait(&s->ring, timeout) == -1) {
			if (errno == EINTR)
				continue; /* a handler ran */
			die("io_uring_enter");
		}
		s->now = timer_now();
		/*
		 * At most CQE_BATCH completions a turn: the responses they
		 * start are submitted, and their requests' memory freed when
		 * they complete, before more begin (the rest wait in the CQ).
		 */
		while (n < CQE_BATCH && ring_next(&s->ring, &cqe)) {
			/* The post's measure of concurrency, once a turn. */
			if (n++ == 0 && !s->quiet)
				printf("requests in flight: %zu\n",
				       slab_len(&s->conns));
			stop = on_cqe(s, &cqe);
			if (stop)
				return stop;
		}
		/* The CQ is empty: no completion holds news of a connection. */
		if (s->draining && n < CQE_BATCH)
			drain_sweep(s);
	}
}
/* ANCHOR_END: loop */

/*** shutting down ***/

/* ANCHOR: shutdown */
/*
 * server_close: stop accepting, close every connection, and wait (up to
 * a second) for the kernel to hand back every request that still points
 * into our memory, so that nothing is freed under it; then free the rest.
 * After SIGINT or SIGTERM, connections in the middle of a request or a
 * response are cut off; after a drain (sig 0), none is left, unless the
 * drain ran out of time.
 */
static void server_close(struct server *s, int sig)
{
	double secs = (double)(s->now - s->drain_start) / NS_PER_S;
	struct timer *t;
	int64_t give_up = timer_now() + NS_PER_S;
	struct uring_cqe cqe;
	size_t open = 0;

	for (t = s->timers.head.next; t != &s->timers.head; t = t->next)
		open++; /* the open connections; the slab holds closed ones too */
	if (sig == 0 && slab_len(&s->conns) == 0)
		printf("drained in %.1f s\n", secs);
	else if (sig == 0)
		printf("drain: out of time after %.1f s: closing %zu "
		       "connections\n", secs, open);
	else
		printf("got %s: closing %zu connections\n",
		       sig == SIGINT	? "SIGINT"
		       : sig == SIGTERM ? "SIGTERM"
					: "SIGQUIT",
		       open);
	if (s->accepting)
		submit_cancel(s, 0, user_data(OP_ACCEPT, 0));
	if (s->polling)
		submit_cancel(s, 0, user_data(OP_LISTEN, 0));
	if (s->reading_signals)
		submit_cancel(s, 0, user_data(OP_SIGNAL, 0));
	s->paused = true; /* no new accept from here on */
	while ((t = timers_first(&s->timers))) {
		struct conn *c = slab_get(&s->conns, t->token);

		timer_cancel(t);
		if (c)
			conn_drop(s, c);
	}
	while ((slab_len(&s->conns) > 0 || s->accepting || s->polling ||
		s->reading_signals) &&
	       timer_now() < give_up) {
		if (ring_wait(&s->ring, 100) == -1 && errno != EINTR)
			break;
		while (ring_next(&s->ring, &cqe))
			on_cqe(s, &cqe);
	}
	slab_free(&s->conns);
	free(s->starved);
	bufring_close(&s->bufs, &s->ring);
	ring_close(&s->ring);
	if (s->listener != -1)
		close(s->listener);
	if (s->spare != -1)
		close(s->spare);
	close(s->signals);
}
/* ANCHOR_END: shutdown */

/*** the command line ***/

static void usage(void)
{
	fprintf(stderr,
		"usage: server [-q] [-t SECONDS] [-b BYTES] [-r BUFFERS] [PORT]   "
		"(defaults: -t %d, -b %u, -r %d (a power of two), port %d; "
		"0 lets the kernel choose)\n",
		DEFAULT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_BUFFERS, DEFAULT_PORT);
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
	struct server s = {.next_id = 1, .spare = -1}; /* conns: empty */
	unsigned long timeout = DEFAULT_TIMEOUT, buffers = DEFAULT_BUFFERS;
	unsigned short port = DEFAULT_PORT;
	const char *what;
	int opt, bound, sig;

	s.max_body = DEFAULT_MAX_BODY;
	while ((opt = getopt(argc, argv, "qt:b:r:")) != -1) {
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
		case 'r':
			buffers = parse_number(optarg, 1, MAX_BUFFERS);
			if (buffers & (buffers - 1))
				usage(); /* a power of two */
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
	if (ring_open(&s.ring, RING_ENTRIES, &what) == -1)
		die(what);
	if (bufring_open(&s.bufs, &s.ring, (uint32_t)buffers, BUFFER_SIZE,
			 BGID) == -1)
		die("io_uring_register (a buffer ring: Linux 5.19)");
	s.signals = stop_open(&what);
	if (s.signals == -1)
		die(what);
	/*
	 * Blocking, so that the ring's read waits for a signal: a kernel
	 * may complete a read of a non-blocking descriptor with -EAGAIN
	 * rather than wait for it (6.18 waits either way).
	 */
	if (fcntl(s.signals, F_SETFL, 0) == -1)
		die("fcntl signalfd");
	timers_init(&s.timers, (int64_t)timeout * NS_PER_S);
	s.spare = spare_open();
	if (s.spare == -1)
		die("open /dev/null");
	s.listener = net_listen(port, &what);
	if (s.listener == -1)
		die(what);
	bound = net_local_port(s.listener);
	if (bound == -1)
		die("getsockname");
	submit_signal_read(&s);
	submit_accept(&s);
	printf("listening on 127.0.0.1:%d\n", bound);
	sig = run(&s);
	server_close(&s, sig);
	return 0;
	/* ANCHOR_END: setup */
}
