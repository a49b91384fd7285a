/*
 * files.c - the work of files.h, done in a worker thread with blocking
 * calls: opening and reading a file, resolving a name.
 *
 * Sections: work items, reading a file, looking a name up.
 */
/* openat(2) and O_NOFOLLOW, getaddrinfo(3), under -std=c11. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"

/* A file's buffer starts this large (a FIFO's size is unknown). */
#define READ_FIRST (64 * 1024)

static void file_run(struct pool_job *j);
static void lookup_run(struct pool_job *j);

/*** work items ***/

struct work *work_new(enum work_kind kind, int dir, const char *arg,
		      size_t len, uint64_t token)
{
	struct work *w;

	if (len > FILES_ARG_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->job.run = kind == WORK_FILE ? file_run : lookup_run;
	w->job.token = token;
	w->job.slow = kind == WORK_LOOKUP;
	w->kind = kind;
	w->dir = dir;
	memcpy(w->arg, arg, len); /* NUL-terminated by calloc */
	w->status = 500;
	return w;
}

void work_free(struct work *w)
{
	if (!w)
		return;
	free(w->body);
	free(w);
}

/*** reading a file ***/

/* ANCHOR: name */
/*
 * name_ok: name is one entry of the directory, not a path: not empty, no
 * "/" (so no "../x"), not "." or "..". With openat(2) relative to the
 * directory's descriptor, that keeps the open inside it, but for a
 * symbolic link, which O_NOFOLLOW refuses.
 */
static bool name_ok(const char *name)
{
	return name[0] != '\0' && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}
/* ANCHOR_END: name */

/* What a file read holds, for the cleanup handler if it is cancelled. */
struct reading {
	int fd;	   /* the open file, or -1 */
	char *buf; /* its bytes so far, or NULL */
	size_t len; /* how many */
	size_t cap; /* bytes allocated for buf */
};

/* reading_cancelled: the worker was cancelled in read_all: let go. */
static void reading_cancelled(void *arg)
{
	struct reading *r = arg;

	if (r->fd != -1)
		close(r->fd);
	free(r->buf);
}

/* open_status: the answer for openat's errno. */
static int open_status(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case ENAMETOOLONG:
		return 404;
	case ELOOP:  /* a symbolic link (O_NOFOLLOW) */
	case EACCES: /* no permission */
	case EPERM:
		return 403;
	default: /* EMFILE, ENOMEM...: ours, not the client's */
		return 500;
	}
}

/* ANCHOR: read_all */
/*
 * read_all: open name in dir and read it to its end into r->buf, with
 * blocking calls: openat waits for a FIFO's writer to open it, read for
 * its bytes, and for a disk. Returns the answer's status. These are the
 * calls the pool may cancel (pthread_cancel) when it stops: only here is
 * cancelling enabled, and reading_cancelled undoes what r holds.
 */
static int read_all(const struct work *w, struct reading *r)
{
	struct stat st;
	ssize_t n;

	r->fd = openat(w->dir, w->arg, O_RDONLY | O_NOFOLLOW | O_NOCTTY |
					       O_CLOEXEC);
	if (r->fd == -1)
		return open_status(errno);
	if (fstat(r->fd, &st) == -1)
		return 500;
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
		return 403; /* a directory, a device, a socket */
	if (st.st_size > (off_t)FILES_MAX)
		return 500;
	/* One byte more than a regular file's size, to see its end. */
	r->cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : READ_FIRST;
	for (;;) {
		if (r->len == r->cap) { /* double it, to FILES_MAX + 1 */
			size_t cap = r->cap > FILES_MAX / 2 ? FILES_MAX + 1
							     : 2 * r->cap;
			char *p;

			if (r->len > FILES_MAX)
				return 500; /* a FIFO that went on and on */
			p = realloc(r->buf, cap);
			if (!p)
				return 500;
			r->buf = p;
			r->cap = cap;
		} else if (!r->buf && !(r->buf = malloc(r->cap))) {
			return 500;
		}
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return 500;
		if (n == 0)
			return 200;
		r->len += (size_t)n;
	}
}
/* ANCHOR_END: read_all */

/* ANCHOR: file_run */
/*
 * file_run: a worker's GET /files/NAME. The cleanup handler is pushed for
 * the time cancelling is enabled (pthread_cleanup_push(3)); cancelled,
 * the thread runs it, then the pool's, which frees the work, and ends.
 */
static void file_run(struct pool_job *j)
{
	struct work *w = (struct work *)(void *)j;
	struct reading r = {.fd = -1};
	int old;

	if (w->dir == -1 || !name_ok(w->arg)) {
		w->status = 404;
		return;
	}
	pthread_cleanup_push(reading_cancelled, &r);
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
	w->status = read_all(w, &r);
	pthread_setcancelstate(old, NULL);
	pthread_cleanup_pop(0);
	if (r.fd != -1)
		close(r.fd);
	if (w->status == 200) {
		w->body = r.buf;
		w->len = r.len;
	} else {
		free(r.buf);
	}
}
/* ANCHOR_END: file_run */

/*** looking a name up ***/

/* ANCHOR: lookup_run */
/*
 * lookup_run: a worker's GET /lookup/HOST: every address getaddrinfo(3)
 * gives for HOST, one line each. getaddrinfo may read /etc/hosts, ask a
 * DNS server and wait seconds for it; it is not cancellable here (it
 * allocates as it goes), so pool_stop waits for a lookup to end.
 */
static void lookup_run(struct pool_job *j)
{
	struct work *w = (struct work *)(void *)j;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *a;
	size_t cap = 0;
	int err;

	err = getaddrinfo(w->arg, NULL, &hints, &res);
	if (err != 0) {
		w->status = err == EAI_NONAME ? 404 : 502;
		return;
	}
	for (a = res; a; a = a->ai_next)
		cap += INET6_ADDRSTRLEN + 1;
	w->body = malloc(cap);
	w->status = w->body ? 200 : 500;
	for (a = res; a && w->body; a = a->ai_next) {
		const void *addr =
		    a->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr;

		if (inet_ntop(a->ai_family, addr, w->body + w->len,
			      INET6_ADDRSTRLEN)) {
			w->len += strlen(w->body + w->len);
			w->body[w->len++] = '\n';
		}
	}
	freeaddrinfo(res);
}
/* ANCHOR_END: lookup_run */
