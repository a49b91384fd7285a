/*
 * ffi.h - epoll's kernel interface, declared by hand.
 *
 * This is the only file in the program that knows how the kernel spells
 * epoll. Instead of including <sys/epoll.h> we write down, from the man pages
 * (epoll_create1(2), epoll_ctl(2), epoll_wait(2)) and the kernel's
 * include/uapi/linux/eventpoll.h, exactly what we use: a few constants, one
 * struct and four functions. Nothing is hidden, and the test suite compiles
 * common/ffi_check.c to prove every value and offset here agrees with the
 * system header.
 *
 * The functions themselves are still glibc's: declaring a prototype by hand
 * links against the same symbol, a thin wrapper that makes the system call and
 * turns the kernel's negative errno into -1 plus errno.
 *
 * Linux only; the struct layout below is for x86_64 and aarch64.
 *
 * Sections: constants, the event struct, the system calls.
 */
#ifndef FFI_H
#define FFI_H

#include <stddef.h>
#include <stdint.h>

/*** constants ***/

/* ANCHOR: constants */
/* epoll_create1(2) flag: close the epoll descriptor across exec(3). */
#define EPOLL_CLOEXEC 02000000

/* epoll_ctl(2) operations. */
#define EPOLL_CTL_ADD 1 /* start watching a descriptor */
#define EPOLL_CTL_DEL 2 /* stop watching it */
#define EPOLL_CTL_MOD 3 /* change what we watch it for, or re-arm it */

/*
 * Event bits. The same bits say "I am interested in" when we register a
 * descriptor and "this is ready" when epoll_wait(2) reports it.
 */
#define EPOLLIN 0x001u  /* readable: data, EOF, or a connection to accept */
#define EPOLLOUT 0x004u /* writable: room to write (how much: per file type) */
#define EPOLLERR 0x008u /* error condition; reported whether asked for or not */
#define EPOLLHUP 0x010u /* hang-up; reported whether asked for or not */
#define EPOLLRDHUP 0x2000u /* stream socket: the peer shut down writing */

/* Modes, not events: they change how and how often readiness is reported. */
#define EPOLLONESHOT (1u << 30) /* report once, then disarm until MOD */
#define EPOLLET (1u << 31)      /* edge-triggered: report changes only */
/* ANCHOR_END: constants */

/*** the event struct ***/

/* ANCHOR: event */
/*
 * struct epoll_event, under a name of our own. The kernel declares it packed
 * on x86_64 only (a leftover from 32-bit compatibility), so it is 12 bytes
 * there and 16 everywhere else, where `data` is aligned to 8. Getting this
 * wrong does not fail loudly: epoll_wait(2) would fill the array with one
 * layout and we would read it with another.
 */
#if defined(__x86_64__)
#define FFI_PACKED __attribute__((packed))
#else
#define FFI_PACKED
#endif

struct event {
	uint32_t events; /* EPOLL* bits: interest in, readiness out */
	uint64_t data;   /* ours alone: the kernel hands it back untouched */
} FFI_PACKED;

#if defined(__x86_64__)
_Static_assert(sizeof(struct event) == 12, "packed on x86_64");
_Static_assert(offsetof(struct event, data) == 4, "data follows events");
#elif defined(__aarch64__)
_Static_assert(sizeof(struct event) == 16, "natural alignment on aarch64");
_Static_assert(offsetof(struct event, data) == 8, "data aligned to 8");
#else
#error "this tutorial's struct event is checked on x86_64 and aarch64 only"
#endif
/* ANCHOR_END: event */

/*** the system calls ***/

/* ANCHOR: syscalls */
/* epoll_create1(2): a new epoll instance; returns its descriptor, or -1. */
int epoll_create1(int flags);

/* epoll_ctl(2): add, change or remove interest in fd; 0 or -1. */
int epoll_ctl(int epfd, int op, int fd, struct event *event);

/*
 * epoll_wait(2): sleep until at least one watched descriptor is ready or
 * timeout_ms passes (-1: forever, 0: don't sleep). Fills up to maxevents
 * entries of events; returns how many, 0 on timeout, or -1.
 */
int epoll_wait(int epfd, struct event *events, int maxevents, int timeout_ms);

/* close(2): release a descriptor (the epoll instance's too). */
int close(int fd);
/* ANCHOR_END: syscalls */

#endif /* FFI_H */
