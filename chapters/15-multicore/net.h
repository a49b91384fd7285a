/*
 * net.h - the listening socket, accept, and printable addresses.
 *
 * New in chapter 04: all of it (chapter 00 did the same, blocking, inside
 * its server.c).
 */
#ifndef NET_H
#define NET_H

#include <netinet/in.h>
#include <stddef.h>

/* Room for "255.255.255.255:65535" and its NUL. */
#define NET_ADDR_LEN 22

/*
 * net_listen: a non-blocking socket listening on 127.0.0.1:port (0: the
 * kernel chooses). Returns its descriptor, or -1 with errno set and *what
 * naming the call that failed.
 */
int net_listen(unsigned short port, const char **what);

/* net_local_port: the port fd is bound to, or -1 with errno set. */
int net_local_port(int fd);

/*
 * net_accept: take one connection off the listener's queue, as a
 * non-blocking, close-on-exec socket, and store the client's address in
 * *peer. Returns its descriptor, or -1 with errno set; EAGAIN means the
 * queue was empty.
 */
int net_accept(int listener, struct sockaddr_in *peer);

/* net_addr_str: addr as "a.b.c.d:port" in buf (NET_ADDR_LEN bytes). */
void net_addr_str(const struct sockaddr_in *addr, char buf[NET_ADDR_LEN]);

#endif /* NET_H */
