/*
 * ffi_ours.c - one half of the ffi check: what a chapter's hand-written
 * ffi.h says. Compiled with -I pointing at a chapter directory, and linked
 * with ffi_check.c, which holds the other half (what <sys/epoll.h> says) and
 * compares the two. The two headers cannot meet in one file: they declare
 * the same functions with differently named structs.
 */
#include <stddef.h>

#include "ffi.h"
#include "ffi_check.h"

/* Every constant a chapter may declare; the ones it does not are skipped. */
const struct ffi_const ffi_ours[] = {
#define C(name) {#name, (unsigned long)(name)},
#ifdef EPOLL_CLOEXEC
	C(EPOLL_CLOEXEC)
#endif
#ifdef EPOLL_CTL_ADD
	C(EPOLL_CTL_ADD)
#endif
#ifdef EPOLL_CTL_DEL
	C(EPOLL_CTL_DEL)
#endif
#ifdef EPOLL_CTL_MOD
	C(EPOLL_CTL_MOD)
#endif
#ifdef EPOLLIN
	C(EPOLLIN)
#endif
#ifdef EPOLLPRI
	C(EPOLLPRI)
#endif
#ifdef EPOLLOUT
	C(EPOLLOUT)
#endif
#ifdef EPOLLERR
	C(EPOLLERR)
#endif
#ifdef EPOLLHUP
	C(EPOLLHUP)
#endif
#ifdef EPOLLRDHUP
	C(EPOLLRDHUP)
#endif
#ifdef EPOLLEXCLUSIVE
	C(EPOLLEXCLUSIVE)
#endif
#ifdef EPOLLWAKEUP
	C(EPOLLWAKEUP)
#endif
#ifdef EPOLLONESHOT
	C(EPOLLONESHOT)
#endif
#ifdef EPOLLET
	C(EPOLLET)
#endif
#undef C
	{NULL, 0},
};

const size_t ffi_ours_size = sizeof(struct event);
const size_t ffi_ours_events_offset = offsetof(struct event, events);
const size_t ffi_ours_data_offset = offsetof(struct event, data);
const size_t ffi_ours_events_size = sizeof(((struct event *)0)->events);
const size_t ffi_ours_data_size = sizeof(((struct event *)0)->data);

/* The prototypes, checked against the types the man pages give. */
#define SAME_TYPE(f, t)                                                        \
	_Static_assert(__builtin_types_compatible_p(__typeof__(f), t),         \
		       #f " has the man page's type")
SAME_TYPE(epoll_create1, int(int));
SAME_TYPE(epoll_ctl, int(int, int, int, struct event *));
SAME_TYPE(epoll_wait, int(int, struct event *, int, int));
SAME_TYPE(close, int(int));
