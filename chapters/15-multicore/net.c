/*
 * net.c - the listening socket and accept4, for net.h.
 *
 * Sections: the listener, accepting, addresses.
 */
/* accept4(2) is a Linux extension, declared only under _GNU_SOURCE. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

/*** the listener ***/

/* ANCHOR: listen */
int net_listen(unsigned short port, const char **what)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int one = 1;
	int fd, saved;

	/*
	 * SOCK_NONBLOCK: accept on this socket returns EAGAIN instead of
	 * sleeping when no connection is queued. epoll says when one is, but
	 * accept(2) warns that readiness is a hint: the connection may be
	 * gone (an error, another thread) by the time we accept, and a
	 * blocking accept would then sleep until the next one arrives.
	 */
	*what = "socket";
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* socket(7): rebind at once, even with connections in TIME_WAIT. */
	*what = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto out_close_fd;
	*what = "bind";
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == -1)
		goto out_close_fd;
	/*
	 * listen(2): the kernel completes handshakes by itself and queues up
	 * to SOMAXCONN connections (the system's cap, net.core.somaxconn)
	 * until we accept them. A burst of clients waits there, not refused.
	 */
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
/* ANCHOR_END: listen */

int net_local_port(int fd)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &len) == -1)
		return -1;
	return ntohs(addr.sin_port);
}

/*** accepting ***/

/* ANCHOR: accept */
int net_accept(int listener, struct sockaddr_in *peer)
{
	socklen_t len = sizeof(*peer);

	/*
	 * accept4(2), not accept: on Linux the new socket does NOT inherit
	 * O_NONBLOCK from the listener (accept(2)), so a plain accept
	 * would hand us a blocking socket, and one read on it at the wrong
	 * moment would put the whole server to sleep. The flags set
	 * non-blocking and close-on-exec atomically, with no fcntl after.
	 */
	return accept4(listener, (struct sockaddr *)peer, &len,
		       SOCK_NONBLOCK | SOCK_CLOEXEC);
}
/* ANCHOR_END: accept */

/*** addresses ***/

void net_addr_str(const struct sockaddr_in *addr, char buf[NET_ADDR_LEN])
{
	char ip[INET_ADDRSTRLEN];

	if (!inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, NET_ADDR_LEN, "%s:%u", ip,
		 (unsigned)ntohs(addr->sin_port));
}
