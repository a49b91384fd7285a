/*
 * listener.c - the listening socket, level-triggered, and paused when
 * the process is out of descriptors; see listener.h.
 *
 * Sections: the listener, accepting, pausing.
 */
/* SO_REUSEPORT, and open(2)'s O_CLOEXEC, under -std=c11. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"

#define NS_PER_MS 1000000LL

/* ANCHOR: table */
/*
 * table: the table of descriptors is the process's, one for every loop.
 * shed frees a number and accepts into it; another loop's accept4 in
 * between would take the number, and leave the shedding loop with
 * neither the connection nor a spare. So accept4 holds this lock for
 * reading (the loops never wait for each other) and shed for writing.
 * Writers first (a GNU initializer): accepting loops cannot hold it off.
 */
static pthread_rwlock_t table = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
/* ANCHOR_END: table */

/*** the listener ***/

/* spare_open: the spare descriptor: any will do; /dev/null costs nothing. */
static int spare_open(void)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* ANCHOR: reuseport */
/*
 * listen_reuseport: net_listen's socket, with SO_REUSEPORT set before the
 * bind: every socket that sets it (in a process of the same user) may
 * bind the same address and port, and the kernel gives each new
 * connection to one of them by a hash of its addresses and ports, into
 * that socket's own accept queue (socket(7)).
 */
static int listen_reuseport(unsigned short port, const char **what)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1;
	int fd, saved;

	*what = "socket";
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	*what = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto out_close_fd;
	*what = "bind";
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == -1)
		goto out_close_fd;
	*what = "listen";
	if (listen(fd, SOMAXCONN) == -1)
		goto out_close_fd;
	return fd;

out_close_fd:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
/* ANCHOR_END: reuseport */

/* with_spare: l->fd is fd, or -1 (errno set): open l's spare as well. */
static int with_spare(struct listener *l, int fd, const char **what)
{
	int err;

	l->paused = false;
	l->fd = fd;
	if (fd == -1)
		return -1;
	l->spare = spare_open();
	if (l->spare == -1) {
		err = errno;
		*what = "open /dev/null";
		close(fd);
		errno = err;
		return -1;
	}
	return 0;
}

int listener_open(struct listener *l, unsigned short port, bool reuseport,
		  const char **what)
{
	return with_spare(l, reuseport ? listen_reuseport(port, what)
				       : net_listen(port, what),
			  what);
}

int listener_share(struct listener *l, const struct listener *from,
		   const char **what)
{
	*what = "fcntl F_DUPFD_CLOEXEC";
	return with_spare(l, fcntl(from->fd, F_DUPFD_CLOEXEC, 0), what);
}

int listener_watch(struct listener *l, const struct registry *r,
		   uint64_t token, unsigned interest)
{
	l->token = token;
	l->interest = INTEREST_READABLE | INTEREST_LEVEL | interest;
	return registry_register(r, l->fd, token, l->interest);
}

int listener_close(struct listener *l, const struct registry *r)
{
	/* A paused listener is out of epoll already. */
	int ret = l->paused ? 0 : registry_deregister(r, l->fd), err = errno;

	l->paused = false;
	close(l->fd);
	if (l->spare != -1)
		close(l->spare);
	errno = err;
	return ret;
}

/*** accepting ***/

/* ANCHOR: emfile */
/*
 * shed: accept4 failed with EMFILE (this process has as many descriptors
 * as its limit allows) or ENFILE (the system has). The connection stays
 * queued, so the listener stays readable: level-triggered, it is reported
 * again at once, and the loop spins until a descriptor frees up (an
 * edge-triggered listener would instead never be reported again: a
 * stall). The way out is libuv's (uv__emfile_trick): give up the spare
 * descriptor kept for this moment, accept the connection with it, close
 * it at once (the client sees its connection closed rather than hanging
 * in the queue), and take the spare back. Returns 1 if a connection was
 * shed (from *peer), 0 if none was queued any more, -1 if there is no
 * spare to give up, or the number it freed was taken before the accept
 * (by a thread that does not take the table lock: a pool worker's open).
 * The caller holds the table lock for writing.
 */
static int shed(struct listener *l, struct sockaddr_in *peer)
{
	int fd, err;

	if (l->spare == -1)
		l->spare = spare_open(); /* lost last time; maybe free now */
	if (l->spare == -1)
		return -1;
	close(l->spare);
	do
		fd = net_accept(l->fd, peer);
	while (fd == -1 && errno == EINTR);
	err = errno;
	if (fd != -1)
		close(fd);
	l->spare = spare_open();
	if (fd == -1 && (err == EMFILE || err == ENFILE))
		return -1; /* still queued, and no spare now */
	return fd != -1;
}
/* ANCHOR_END: emfile */

/* pause_listener: out of epoll, LISTENER_PAUSE_NS at most. */
static void pause_listener(struct listener *l, int64_t now)
{
	l->paused = true;
	l->resume_at = now + LISTENER_PAUSE_NS;
}

/* ANCHOR: accept */
enum listener_result listener_accept(struct listener *l, int64_t now,
				     int *fd, struct sockaddr_in *peer)
{
	int err, res;

	pthread_rwlock_rdlock(&table);
	do
		*fd = net_accept(l->fd, peer);
	while (*fd == -1 && errno == EINTR);
	err = errno;
	pthread_rwlock_unlock(&table);
	errno = err;
	if (*fd != -1)
		return LISTENER_ACCEPTED;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return LISTENER_EMPTY;
	if (errno != EMFILE && errno != ENFILE)
		/*
		 * accept(2): ECONNABORTED (the client gave up while queued),
		 * ENOBUFS, ENOMEM, or a network error. Each concerns one
		 * connection or one moment, never the server.
		 */
		return LISTENER_FAILED;
	pthread_rwlock_wrlock(&table);
	res = shed(l, peer);
	pthread_rwlock_unlock(&table);
	switch (res) {
	case 1:
		return LISTENER_SHED;
	case 0:
		return LISTENER_EMPTY;
	default:
		/*
		 * No spare either (another process took the last file:
		 * ENFILE; or a worker's open took the number): pause until
		 * a connection closes, or 500 ms.
		 */
		pause_listener(l, now);
		errno = err;
		return LISTENER_FAILED;
	}
}
/* ANCHOR_END: accept */

/* ANCHOR: arm */
int listener_arm(struct listener *l, const struct registry *r, int64_t now)
{
	(void)now;
	/*
	 * Level-triggered, a paused listener would be reported at every
	 * wait, and the loop would spin. epoll_ctl has no "interested in
	 * nothing" for a level-triggered source: deregistering is the way.
	 */
	if (!l->paused)
		return 0;
	return registry_deregister(r, l->fd);
}
/* ANCHOR_END: arm */

/*** pausing ***/

int listener_resume(struct listener *l, const struct registry *r,
		    int64_t now)
{
	if (registry_register(r, l->fd, l->token, l->interest) == -1) {
		/*
		 * ENOMEM or ENOSPC: the kernel could not take it back this
		 * moment. Giving up here would leave the server deaf for
		 * good, while trying again later costs nothing.
		 */
		int err = errno;

		pause_listener(l, now);
		errno = err;
		return -1;
	}
	l->paused = false;
	return 0;
}

int listener_timeout_ms(const struct listener *l, int64_t now, int timeout)
{
	int64_t left = l->resume_at - now;
	int ms;

	if (!l->paused)
		return timeout;
	ms = left <= 0 ? 0 : (int)((left + NS_PER_MS - 1) / NS_PER_MS);
	return timeout == -1 || ms < timeout ? ms : timeout;
}
