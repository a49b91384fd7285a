/*
 * delayserver.c - a test peer: answers each request after a delay it names.
 *
 *	delayserver [-q] [PORT]       (default 8080; 0 lets the kernel choose)
 *
 * `GET /<ms>/<message>` is answered with `message` as a text/plain body after
 * <ms> milliseconds (at most MAX_DELAY_MS), then the connection is closed.
 * Anything else gets 400. Many connections are served at once: one thread
 * each, because this is a test peer, not a lesson; blocking code is the
 * simplest thing that is obviously correct. Prints `listening on
 * 127.0.0.1:PORT` first, then one line per request unless -q.
 *
 * Sections: limits, one connection, the listener, main.
 */
/* accept4(2) and SOCK_CLOEXEC are GNU extensions. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/*** limits ***/

#define MAX_DELAY_MS   60000 /* a longer delay is a malformed request */
#define REQUEST_MAX    4096  /* bytes of request head we read at most */
#define READ_TIMEOUT_S 10    /* a client silent this long is dropped */

static bool quiet; /* -q: no line per request */

/*** one connection ***/

/* read_head: read until the blank line ending the head; its length, or -1. */
static ssize_t read_head(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1; /* error, timeout (EAGAIN), early EOF */
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return (ssize_t)len;
	}
	return -1;
}

/*
 * parse: "GET /<ms>/<message> HTTP/1.x\r\n" -> *ms and message (NUL-ended,
 * in place). 0, or -1 when the request is malformed.
 */
static int parse(char *head, long *ms, char **message)
{
	char *p = head, *end;

	if (strncmp(p, "GET /", 5) != 0)
		return -1;
	p += 5;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	*ms = strtol(p, &end, 10);
	if (errno || *ms > MAX_DELAY_MS || *end != '/')
		return -1;
	*message = end + 1;
	end = strchr(*message, ' ');
	if (!end || strncmp(end, " HTTP/1.", 8) != 0)
		return -1;
	*end = '\0';
	return 0;
}

/* sleep_ms: sleep that long, resuming after signals (nanosleep(2)). */
static void sleep_ms(long ms)
{
	struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&left, &left) == -1 && errno == EINTR)
		;
}

/* write_all: send every byte or fail (-1). */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void answer(int fd, const char *status, const char *body)
{
	char head[256];
	int len = snprintf(head, sizeof(head),
			   "HTTP/1.1 %s\r\n"
			   "Content-Type: text/plain\r\n"
			   "Content-Length: %zu\r\n"
			   "Connection: close\r\n\r\n",
			   status, strlen(body));

	/* A client that went away is not our problem: say so and move on. */
	if ((write_all(fd, head, (size_t)len) == -1 ||
	     write_all(fd, body, strlen(body)) == -1) &&
	    !quiet)
		fprintf(stderr, "delayserver: send: %s\n", strerror(errno));
}

/* serve: one connection, start to close; the thread's body. */
static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char head[REQUEST_MAX];
	char *message;
	long ms;

	if (read_head(fd, head, sizeof(head)) == -1) {
		/* Nothing sensible arrived; there is no one to answer. */
		if (!quiet)
			printf("(no complete request)\n");
	} else if (parse(head, &ms, &message) == -1) {
		answer(fd, "400 Bad Request", "bad request\n");
		if (!quiet)
			printf("400 for a malformed request\n");
	} else {
		sleep_ms(ms);
		answer(fd, "200 OK", message);
		if (!quiet)
			printf("answered /%ld/%s after %ld ms\n", ms, message,
			       ms);
	}
	close(fd);
	return NULL;
}

/*** the listener ***/

/* listen_on: a listening socket on 127.0.0.1:port; exits on failure. */
static int listen_on(int port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(fd, SOMAXCONN) ||
	    getsockname(fd, (struct sockaddr *)&addr, &len)) {
		perror("delayserver: listen");
		exit(1);
	}
	printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
	return fd;
}

/* start: hand a new connection to a detached thread of its own. */
static void start(int fd)
{
	struct timeval tv = {.tv_sec = READ_TIMEOUT_S};
	pthread_attr_t attr;
	pthread_t t;
	int err;

	/* A client that never sends must not keep its thread forever. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
		perror("delayserver: SO_RCVTIMEO");
		close(fd);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, serve, (void *)(intptr_t)fd);
	pthread_attr_destroy(&attr);
	if (err) {
		fprintf(stderr, "delayserver: pthread_create: %s\n",
			strerror(err));
		close(fd);
	}
}

/*** main ***/

static void usage(void)
{
	fprintf(stderr, "usage: delayserver [-q] [PORT]   (GET /<ms>/<message> "
			"answers message after ms; default port 8080)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int port = 8080, lfd;
	int i = 1;

	if (i < argc && strcmp(argv[i], "-q") == 0) {
		quiet = true;
		i++;
	}
	if (i < argc) {
		char *end;
		long v;

		errno = 0;
		v = strtol(argv[i], &end, 10);
		if (errno || end == argv[i] || *end || v < 0 || v > 65535)
			usage();
		port = (int)v;
		i++;
	}
	if (i != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	lfd = listen_on(port);

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd >= 0) {
			start(fd);
		} else if (errno == EMFILE || errno == ENFILE ||
			   errno == ENOBUFS || errno == ENOMEM) {
			/* Out of something: let connections finish first. */
			perror("delayserver: accept");
			sleep_ms(10);
		} else if (errno != EINTR && errno != ECONNABORTED) {
			perror("delayserver: accept");
			return 1;
		}
	}
}
