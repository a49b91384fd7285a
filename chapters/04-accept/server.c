/*
 * server.c - chapter 04: accept without blocking, a context per connection.
 *
 * Listens on 127.0.0.1:PORT (default 8000; 0 lets the kernel choose) and
 * serves every client from one thread with one poll. The listening socket
 * is a source like any other: registered under token 100 with one-shot
 * read interest, it reports "a connection is queued"; we accept one, give
 * it the next token (101, 102, ...) and a context in a table keyed by
 * token, and arm the listener again. A connection reports "readable"; we
 * read what arrived, answer "Hello", and close it. A client that connects
 * and sends nothing costs one table entry and blocks nobody.
 *
 *	make && ./server              (then: curl -sS http://127.0.0.1:8000/)
 *	./server -q 0                 (quiet, on a port the kernel chooses)
 *
 * New since chapter 03: a server. INTEREST_ONESHOT in poll.h/poll.c, the
 * token table (table.c), the listener and accept4 (net.c), the connection
 * context (conn.c). The design is the source post's ("Epoll With Rust").
 *
 * Sections: the server, logging, connections, the listener, the event
 * loop, the command line, main.
 */
/* getopt(3) and the socket calls under -std=c11. Not _GNU_SOURCE. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "net.h"
#include "poll.h"
#include "table.h"

#define DEFAULT_PORT 8000
#define EVENTS_CAP   1024 /* events one poll_wait can return (the post's) */

/*** the server ***/

/* ANCHOR: tokens */
/*
 * Tokens: the post's numbering. The listener is 100; connections count up
 * from 101 in a 64-bit counter that would take centuries to wrap, so a
 * token is never reused and an old one can never name a new connection.
 */
#define LISTENER   100
#define FIRST_CONN 101

/* Everything the event loop works with. */
struct server {
	struct poll poll;     /* the epoll instance; only main waits on it */
	struct events events; /* what the last poll_wait returned */
	struct table conns;   /* token -> struct conn *, one per client */
	int listener;	      /* the listening socket, under token LISTENER */
	uint64_t next_token;  /* the next connection's token */
	bool quiet;	      /* -q: no "new client" lines */
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

/*** connections ***/

/* ANCHOR: conn_add */
/*
 * conn_add: give accepted socket fd a token and a context, and watch it.
 * The context goes into the table before the socket goes into epoll, so no
 * event can ever arrive for a token the table does not know.
 */
static void conn_add(struct server *s, int fd, const struct sockaddr_in *peer)
{
	const struct registry *r = poll_registry(&s->poll);
	uint64_t token = s->next_token++;
	struct conn *c = conn_new(fd, token, peer);

	if (!c) {
		warn("server", "conn_new", errno);
		close(fd);
		return;
	}
	if (table_insert(&s->conns, token, c) == -1) {
		warn(c->peer, "table_insert", errno);
		conn_free(c);
		return;
	}
	if (registry_register(r, fd, token,
			      INTEREST_READABLE | INTEREST_ONESHOT) == -1) {
		warn(c->peer, "registry_register", errno);
		table_remove(&s->conns, token);
		conn_free(c);
		return;
	}
	if (!s->quiet)
		printf("new client: %s\n", c->peer);
}
/* ANCHOR_END: conn_add */

/* ANCHOR: conn_drop */
/*
 * conn_drop: forget a connection: out of the table, out of epoll, closed.
 * epoll(7): deregister before close. close removes a descriptor from epoll
 * only with the last reference to its open file, and it is not ours to
 * know whether some other reference (a dup, a child) exists.
 */
static void conn_drop(struct server *s, struct conn *c)
{
	table_remove(&s->conns, c->token);
	if (registry_deregister(poll_registry(&s->poll), c->fd) == -1)
		warn(c->peer, "registry_deregister", errno);
	conn_free(c);
}
/* ANCHOR_END: conn_drop */

/* ANCHOR: on_conn */
/* on_conn: connection c's socket is ready, as event e says. */
static void on_conn(struct server *s, struct conn *c, struct event e)
{
	/*
	 * An error or a hang-up (both directions shut, or a reset): nothing
	 * more can come in or go out. Under one-shot these end the
	 * connection here, or nobody would ever look at it again.
	 */
	if (event_is_error(e) || event_is_write_closed(e)) {
		int err = conn_error(c);

		if (err)
			warn(c->peer, "socket", err);
		conn_drop(s, c);
		return;
	}
	switch (conn_read_cb(c, poll_registry(&s->poll))) {
	case CONN_WAITING:
		return;
	case CONN_SHORT:
		fprintf(stderr, "%s: short write; closing\n", c->peer);
		break;
	case CONN_FAILED:
		warn(c->peer, c->what, errno);
		break;
	case CONN_ANSWERED:
	case CONN_CLOSED:
		break;
	}
	conn_drop(s, c);
}
/* ANCHOR_END: on_conn */

/*** the listener ***/

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
	int fd = net_accept(s->listener, &peer);

	if (fd != -1)
		conn_add(s, fd, &peer);
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		/*
		 * accept(2): ECONNABORTED (the client gave up while queued),
		 * EMFILE/ENFILE (out of descriptors), ENOBUFS/ENOMEM, or a
		 * network error. Each concerns one connection or one moment,
		 * never the server: log it and go on. EAGAIN is a spurious
		 * wakeup and EINTR a signal; re-arming handles both.
		 */
		warn("server", "accept", errno);
	if (registry_reregister(poll_registry(&s->poll), s->listener, LISTENER,
				INTEREST_READABLE | INTEREST_ONESHOT) == -1)
		die("registry_reregister (listener)"); /* deaf for good */
}
/* ANCHOR_END: on_listener */

/*** the event loop ***/

/* ANCHOR: loop */
/* run: wait and dispatch, forever. */
static _Noreturn void run(struct server *s)
{
	for (;;) {
		if (poll_wait(&s->poll, &s->events, -1) == -1) {
			/* A signal (a handler ran, or a stop): wait again. */
			if (errno == EINTR)
				continue;
			die("poll_wait");
		}
		for (size_t i = 0; i < events_len(&s->events); i++) {
			struct event e = events_get(&s->events, i);
			uint64_t token = event_token(e);
			struct conn *c;

			if (token == LISTENER) {
				on_listener(s);
				continue;
			}
			/*
			 * Under one-shot a token is reported once per arming,
			 * so an event for a connection closed earlier in this
			 * batch cannot happen; if it ever did, there is no
			 * context, and nothing to do.
			 */
			c = table_get(&s->conns, token);
			if (c)
				on_conn(s, c, e);
		}
	}
}
/* ANCHOR_END: loop */

/*** the command line ***/

static void usage(void)
{
	fprintf(stderr,
		"usage: server [-q] [PORT]   (default %d; 0 lets the kernel "
		"choose)\n",
		DEFAULT_PORT);
	exit(2);
}

/* parse_port: PORT as decimal digits 0..65535, or usage(). */
static unsigned short parse_port(const char *s)
{
	unsigned long v = 0;

	if (*s == '\0')
		usage();
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			usage();
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			usage();
	}
	return (unsigned short)v;
}

/*** main ***/

int main(int argc, char **argv)
{
	struct server s = {.next_token = FIRST_CONN}; /* conns: empty */
	unsigned short port = DEFAULT_PORT;
	const char *what;
	int opt, bound;

	while ((opt = getopt(argc, argv, "q")) != -1) {
		if (opt != 'q')
			usage();
		s.quiet = true;
	}
	if (argc - optind > 1)
		usage();
	if (argc - optind == 1)
		port = parse_port(argv[optind]);
	/* One line at a time, even when stdout is a file or a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* ANCHOR: setup */
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
	if (registry_register(poll_registry(&s.poll), s.listener, LISTENER,
			      INTEREST_READABLE | INTEREST_ONESHOT) == -1)
		die("registry_register (listener)");
	printf("listening on 127.0.0.1:%d\n", bound);
	run(&s);
	/* ANCHOR_END: setup */
}
