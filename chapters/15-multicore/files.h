/*
 * files.h - the blocking work the pool does for the server: reading a
 * file from the -d directory, and looking a host name up.
 *
 *	GET /files/NAME   NAME's bytes, read with open(2) and read(2): a
 *	                  regular file, or a FIFO (read until its writer
 *	                  closes it). NAME is one name in the directory: no
 *	                  "/", not "." or "..", and not a symbolic link
 *	                  (O_NOFOLLOW), so it cannot reach outside; those are
 *	                  404 (a name we would never have) or 403 (a link, a
 *	                  directory, a device). 404 if it does not exist, or
 *	                  if the server has no -d. Over FILES_MAX bytes: 500.
 *	GET /lookup/HOST  HOST's addresses from getaddrinfo(3), IPv4 and
 *	                  IPv6, one per line; 404 if it has none. A slow job
 *	                  (pool.h): a DNS server may take seconds.
 *
 * A work item holds a copy of its name and its result: it never points
 * into a connection's buffers, which the loop may free while it runs.
 */
#ifndef FILES_H
#define FILES_H

#include <stddef.h>

#include "pool.h"

/* The largest file served; its bytes are held in memory while sent. */
#define FILES_MAX (64u * 1024 * 1024)
/* The longest NAME or HOST (NAME_MAX is 255; a DNS name, 253). */
#define FILES_ARG_MAX 255

/* ANCHOR: work */
enum work_kind {
	WORK_FILE,   /* GET /files/NAME */
	WORK_LOOKUP, /* GET /lookup/HOST */
};

/* One request's blocking work: its input, then its result. */
struct work {
	struct pool_job job;	      /* first: the pool sees only this */
	enum work_kind kind;	      /* what to do */
	int dir;		      /* WORK_FILE: the -d directory (or -1) */
	char arg[FILES_ARG_MAX + 1];  /* NAME or HOST, NUL-terminated */
	int status;		      /* the result: 200, 403, 404, 500 */
	char *body;		      /* 200: the body (malloc'd), or NULL */
	size_t len;		      /* its length */
};
/* ANCHOR_END: work */

/*
 * work_new: the work for kind, with arg (len bytes, not NUL-terminated),
 * for the connection whose token is token; dir is the -d directory's
 * descriptor (or -1). NULL with errno set: ENOMEM, or ENAMETOOLONG if arg
 * is longer than FILES_ARG_MAX.
 */
struct work *work_new(enum work_kind kind, int dir, const char *arg,
		      size_t len, uint64_t token);

/* work_free: free w and its result. */
void work_free(struct work *w);

#endif /* FILES_H */
