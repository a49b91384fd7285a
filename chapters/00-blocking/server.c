/*
 * server.c - chapter 00: a blocking server, one client at a time.
 *
 * Listens on 127.0.0.1:PORT (default 8000; 0 lets the kernel choose) and
 * answers every connection with a small HTTP/1.1 response whose body is
 * "Hello". It does one thing at a time: accept a client, read its request,
 * write the answer, close, accept the next. While it waits for one client,
 * every other client waits too. That is the lesson, and the baseline the
 * later chapters are measured against.
 *
 *	make && ./server              (then: curl -sS http://127.0.0.1:8000/)
 *	./server -q 0                 (quiet, on a port the kernel chooses)
 *
 * New in this chapter: everything. No epoll yet: chapter 01 starts on that.
 *
 * Sections: the response, the command line, the listener, one connection,
 * main.
 */

/* For socket(2), getopt(3) and friends under -std=c11. Not _GNU_SOURCE. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 8000
/* The largest request head read; a longer one is answered all the same. */
#define REQUEST_MAX 8192

/*** the response ***/

/* ANCHOR: response */
/* The whole answer, the same for every request. HTTP wants CRLF line ends. */
static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
			       "Content-Type: text/plain\r\n"
			       "Content-Length: 5\r\n"
			       "Connection: close\r\n"
			       "\r\n"
			       "Hello";
/* ANCHOR_END: response */

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

/*** the listener ***/

/* ANCHOR: listen */
/*
 * listen_on: a socket listening on 127.0.0.1:port. Returns its descriptor,
 * or -1 with errno set and *what naming the call that failed.
 */
static int listen_on(unsigned short port, const char **what)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1;
	int fd, saved;

	*what = "socket";
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd == -1)
		return -1;
	/*
	 * socket(7): SO_REUSEADDR lets a restarted server bind its port while
	 * connections of the previous run linger in TIME_WAIT. It does not let
	 * two servers listen on one port: the second bind gets EADDRINUSE.
	 */
	*what = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto out_close_fd;
	*what = "bind";
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == -1)
		goto out_close_fd;
	/*
	 * listen(2): from now on the kernel completes TCP handshakes by itself
	 * and queues the new connections (up to the backlog) until accept
	 * takes them. Clients connect even while we are busy elsewhere.
	 */
	*what = "listen";
	if (listen(fd, SOMAXCONN) == -1)
		goto out_close_fd;
	return fd;

out_close_fd:
	saved = errno; /* close may change errno: keep the one that matters */
	close(fd);
	errno = saved;
	return -1;
}
/* ANCHOR_END: listen */

/*** one connection ***/

/* head_complete: does buf[from..len) hold the blank line ending the head? */
static bool head_complete(const char *buf, size_t len, size_t from)
{
	for (size_t i = from; i + 4 <= len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return true;
	}
	return false;
}

/* ANCHOR: read */
/*
 * read_request: read from fd into buf until the request head is complete
 * ("\r\n\r\n"), the client stops sending (EOF), or buf is full. Returns the
 * number of bytes read, or -1 with errno set.
 *
 * Each read returns whatever has arrived, from 1 byte up to the space left,
 * so the bytes are accumulated and the end is searched for across reads.
 * Each read also blocks until something arrives: a client that sends
 * nothing holds the whole server here.
 */
static ssize_t read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n == -1) {
			/* read(2): EINTR means a signal came first; retry. */
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break; /* EOF: the client will send nothing more */
		/* The end may straddle two reads: look 3 bytes back. */
		size_t from = len >= 3 ? len - 3 : 0;

		len += (size_t)n;
		if (head_complete(buf, len, from))
			break;
	}
	return (ssize_t)len;
}
/* ANCHOR_END: read */

/* ANCHOR: write */
/*
 * send_all: write all len bytes of buf to fd. Returns 0, or -1 with errno
 * set. send(2) may take fewer bytes than offered (a partial write), so it
 * is called until nothing is left. MSG_NOSIGNAL: once the connection is
 * dead (the client reset it, or we shut down writing), a send fails with
 * EPIPE and, without the flag, also raises SIGPIPE, which would kill the
 * whole server. (The first send after a reset may fail with ECONNRESET
 * instead, and no signal.)
 */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}
/* ANCHOR_END: write */

/* ANCHOR: serve */
/*
 * serve: answer one connection and close it. Errors end this connection
 * only: they are logged and the server goes on with the next client.
 */
static void serve(int fd)
{
	char req[REQUEST_MAX];
	ssize_t got = read_request(fd, req, sizeof(req));

	if (got == -1)
		perror("read");
	else if (got > 0 && send_all(fd, RESPONSE, sizeof(RESPONSE) - 1) == -1)
		perror("send");
	/* got == 0: the client left without a request; nothing to answer. */
	/* close(2): the descriptor is gone even if close reports an error. */
	if (close(fd) == -1)
		perror("close");
}
/* ANCHOR_END: serve */

/*** main ***/

int main(int argc, char **argv)
{
	bool quiet = false;
	unsigned short port = DEFAULT_PORT;
	const char *what;
	int opt;

	while ((opt = getopt(argc, argv, "q")) != -1) {
		if (opt != 'q')
			usage();
		quiet = true;
	}
	if (argc - optind > 1)
		usage();
	if (argc - optind == 1)
		port = parse_port(argv[optind]);
	/* One line at a time, even when stdout is a file or a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	int lfd = listen_on(port, &what);

	if (lfd == -1) {
		fprintf(stderr, "%s: %s\n", what, strerror(errno));
		return 1;
	}
	/* With port 0 the kernel chose one: ask which. */
	struct sockaddr_in addr;
	socklen_t addr_len = sizeof(addr);

	if (getsockname(lfd, (struct sockaddr *)&addr, &addr_len) == -1) {
		perror("getsockname");
		return 1;
	}
	printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));

	/* ANCHOR: loop */
	for (;;) {
		struct sockaddr_in peer;
		socklen_t peer_len = sizeof(peer);
		/* accept(2) sleeps until the kernel has a connection queued. */
		int fd = accept(lfd, (struct sockaddr *)&peer, &peer_len);

		if (fd == -1) {
			/*
			 * accept(2): EINTR, a signal handler ran (there is
			 * none yet; the retry is free); ECONNABORTED, a queued
			 * connection was aborted; EMFILE, out of descriptors.
			 * None is a reason to stop serving everyone else.
			 */
			if (errno != EINTR)
				perror("accept");
			continue;
		}
		if (!quiet) {
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
			printf("new client: %s:%u\n", ip,
			       (unsigned)ntohs(peer.sin_port));
		}
		serve(fd); /* everyone else waits until this returns */
	}
	/* ANCHOR_END: loop */
}
