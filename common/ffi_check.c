/*
 * ffi_check.c - does a chapter's hand-written ffi.h agree with the system?
 *
 * Linked with ffi_ours.c (compiled against the chapter's ffi.h), this half
 * includes <sys/epoll.h> and compares: every constant the chapter declares,
 * and the size and offsets of its struct event against struct epoll_event.
 * Prints one line per item checked and exits 1 on any difference.
 *
 *	cc -std=gnu11 -I chapters/01-ffi common/ffi_ours.c common/ffi_check.c \
 *		-o ffi_check && ./ffi_check
 */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ffi_check.h"

static const struct ffi_const system_consts[] = {
#define C(name) {#name, (unsigned long)(name)},
	C(EPOLL_CLOEXEC) C(EPOLL_CTL_ADD) C(EPOLL_CTL_DEL) C(EPOLL_CTL_MOD)
	C(EPOLLIN) C(EPOLLPRI) C(EPOLLOUT) C(EPOLLERR) C(EPOLLHUP)
	C(EPOLLRDHUP) C(EPOLLEXCLUSIVE) C(EPOLLWAKEUP) C(EPOLLONESHOT)
	C(EPOLLET)
#undef C
	{NULL, 0},
};

/* The system's prototypes, checked against the same man-page types. */
#define SAME_TYPE(f, t)                                                        \
	_Static_assert(__builtin_types_compatible_p(__typeof__(f), t),         \
		       #f " has the man page's type")
SAME_TYPE(epoll_create1, int(int));
SAME_TYPE(epoll_ctl, int(int, int, int, struct epoll_event *));
SAME_TYPE(epoll_wait, int(int, struct epoll_event *, int, int));
SAME_TYPE(close, int(int));

static int bad;

/* same: print one comparison (in hex when hex is set); remember a mismatch. */
static void same(const char *what, unsigned long ours, unsigned long sys,
		 int hex)
{
	printf(hex ? "%-22s ours %#-10lx system %#-10lx %s\n"
		   : "%-22s ours %-10lu system %-10lu %s\n",
	       what, ours, sys, ours == sys ? "ok" : "DIFFERENT");
	bad |= ours != sys;
}

int main(void)
{
	for (const struct ffi_const *o = ffi_ours; o->name; o++) {
		const struct ffi_const *s = system_consts;

		while (s->name && strcmp(s->name, o->name) != 0)
			s++;
		if (!s->name) {
			printf("%-22s not in <sys/epoll.h>\n", o->name);
			bad = 1;
			continue;
		}
		same(o->name, o->value, s->value, 1);
	}
	same("sizeof(struct event)", ffi_ours_size, sizeof(struct epoll_event),
	     0);
	same("offsetof(events)", ffi_ours_events_offset,
	     offsetof(struct epoll_event, events), 0);
	same("offsetof(data)", ffi_ours_data_offset,
	     offsetof(struct epoll_event, data), 0);
	same("sizeof(events)", ffi_ours_events_size,
	     sizeof(((struct epoll_event *)0)->events), 0);
	same("sizeof(data)", ffi_ours_data_size,
	     sizeof(((struct epoll_event *)0)->data), 0);
	return bad;
}
