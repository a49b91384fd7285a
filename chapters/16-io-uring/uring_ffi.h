/*
 * uring_ffi.h - the kernel's io_uring interface, declared by hand.
 *
 * The only file of the chapter that speaks io_uring's ABI: the three
 * system calls, the structures the kernel and the program share, and the
 * constants this server uses, as io_uring_setup(2), io_uring_enter(2),
 * io_uring_register(2) and <linux/io_uring.h> define them. Nothing here
 * comes from liburing or the kernel headers: common/uring_check.c includes
 * both this file and <linux/io_uring.h> and compares every constant, every
 * size and every offset, so a mistake here fails a test, not a reader.
 *
 * The names are ours (uring_, URING_), so that the two can be compared in
 * one file; each comment names the kernel's.
 *
 * syscall(2) is a GNU extension: a file that includes this one defines
 * _GNU_SOURCE (or _DEFAULT_SOURCE) before any system header.
 *
 * Sections: the system calls, setup, the rings, submission entries,
 * completion entries, the buffer ring, waiting.
 */
#ifndef URING_FFI_H
#define URING_FFI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/*** the system calls ***/

/* ANCHOR: syscalls */
/*
 * The system call numbers: the same on x86_64 and aarch64, as on most
 * architectures (calls added since Linux 5.0 share one number across
 * them; alpha is an exception). libc has no wrappers for them;
 * syscall(2) returns -1 with errno set.
 */
#define URING_NR_SETUP	  425 /* __NR_io_uring_setup */
#define URING_NR_ENTER	  426 /* __NR_io_uring_enter */
#define URING_NR_REGISTER 427 /* __NR_io_uring_register */

struct uring_params;

/* io_uring_setup(2): a ring with entries submission slots; its fd. */
static inline int uring_setup(unsigned entries, struct uring_params *p)
{
	return (int)syscall(URING_NR_SETUP, entries, p);
}

/*
 * io_uring_enter(2): submit to_submit entries, then, with
 * URING_ENTER_GETEVENTS, wait until min_complete completions are there;
 * arg is a struct uring_getevents_arg when flags say URING_ENTER_EXT_ARG
 * (argsz its size).
 */
static inline int uring_enter(int fd, unsigned to_submit,
			      unsigned min_complete, unsigned flags,
			      const void *arg, size_t argsz)
{
	return (int)syscall(URING_NR_ENTER, fd, to_submit, min_complete, flags,
			    arg, argsz);
}

/* io_uring_register(2): opcode with its argument (nr_args of them). */
static inline int uring_register(int fd, unsigned opcode, void *arg,
				 unsigned nr_args)
{
	return (int)syscall(URING_NR_REGISTER, fd, opcode, arg, nr_args);
}
/* ANCHOR_END: syscalls */

/*** setup ***/

/* ANCHOR: params */
/* Where each field of a ring lies, in bytes from the start of its mmap. */
struct uring_sq_offsets { /* struct io_sqring_offsets */
	uint32_t head;	       /* the kernel's index: consumed so far */
	uint32_t tail;	       /* ours: submitted so far */
	uint32_t ring_mask;    /* entries - 1 */
	uint32_t ring_entries; /* how many slots */
	uint32_t flags;	       /* URING_SQ_* (the kernel sets them) */
	uint32_t dropped;      /* entries the kernel found invalid */
	uint32_t array;	       /* the index array: slot -> SQE */
	uint32_t resv1;
	uint64_t user_addr; /* resv2 in 6.1's headers; unused here */
};

struct uring_cq_offsets { /* struct io_cqring_offsets */
	uint32_t head;	       /* ours: consumed so far */
	uint32_t tail;	       /* the kernel's: posted so far */
	uint32_t ring_mask;    /* entries - 1 */
	uint32_t ring_entries; /* how many slots */
	uint32_t overflow;     /* completions that found the ring full */
	uint32_t cqes;	       /* the array of struct uring_cqe */
	uint32_t flags;	       /* ours to set; unused here */
	uint32_t resv1;
	uint64_t user_addr; /* resv2 in 6.1's headers; unused here */
};

/* What we ask io_uring_setup for, and what it answers. */
struct uring_params { /* struct io_uring_params */
	uint32_t sq_entries;	 /* out: submission slots */
	uint32_t cq_entries;	 /* in with URING_SETUP_CQSIZE; out */
	uint32_t flags;		 /* in: URING_SETUP_* */
	uint32_t sq_thread_cpu;	 /* SQPOLL only */
	uint32_t sq_thread_idle; /* SQPOLL only */
	uint32_t features;	 /* out: URING_FEAT_* */
	uint32_t wq_fd;		 /* ATTACH_WQ only */
	uint32_t resv[3];	 /* zero */
	struct uring_sq_offsets sq_off; /* out */
	struct uring_cq_offsets cq_off; /* out */
};

/* Setup flags (io_uring_setup(2)). */
#define URING_SETUP_CQSIZE	  (1U << 3)  /* cq_entries is ours */
#define URING_SETUP_SUBMIT_ALL	  (1U << 7)  /* a bad SQE stops nothing */
#define URING_SETUP_COOP_TASKRUN  (1U << 8)  /* no IPI to run completions */
#define URING_SETUP_SINGLE_ISSUER (1U << 12) /* one thread submits */
#define URING_SETUP_DEFER_TASKRUN (1U << 13) /* completions run in enter */

/* Features the kernel reports (io_uring_setup(2)). */
#define URING_FEAT_SINGLE_MMAP (1U << 0) /* SQ and CQ share one mmap */
#define URING_FEAT_NODROP      (1U << 1) /* overflowing CQEs are kept */
#define URING_FEAT_EXT_ARG     (1U << 8) /* enter takes a timeout */

/* The mmap(2) offsets of the three shared regions. */
#define URING_OFF_SQ_RING 0ULL
#define URING_OFF_CQ_RING 0x8000000ULL
#define URING_OFF_SQES	  0x10000000ULL
/* ANCHOR_END: params */

/*** the rings ***/

/* The SQ ring's flags word, written by the kernel. */
#define URING_SQ_CQ_OVERFLOW (1U << 1) /* completions wait in overflow */
#define URING_SQ_TASKRUN     (1U << 2) /* enter to run completions */

/*** submission entries ***/

/* ANCHOR: sqe */
/*
 * One submission queue entry, 64 bytes. The kernel's has a union at
 * almost every field; we name the member this server uses.
 */
struct uring_sqe {	   /* struct io_uring_sqe */
	uint8_t opcode;	   /* URING_OP_* */
	uint8_t flags;	   /* URING_SQE_* */
	uint16_t ioprio;   /* for accept and recv: their multishot flag */
	int32_t fd;	   /* the descriptor to work on */
	uint64_t off;	   /* offset (files); unused on sockets */
	uint64_t addr;	   /* the buffer, the msghdr, or the request key */
	uint32_t len;	   /* the buffer's length */
	uint32_t op_flags; /* msg_flags, accept_flags, cancel_flags,
			      poll32_events (little-endian only)... */
	uint64_t user_data; /* ours: comes back in the completion */
	uint16_t buf_group; /* with URING_SQE_BUFFER_SELECT: the group */
	uint16_t personality; /* credentials; 0: the ring's */
	int32_t file_index;   /* splice_fd_in / file_index / addr_len */
	uint64_t addr3;	      /* a third address; unused */
	uint64_t pad2;	      /* __pad2[1] */
};

/* Operations (enum io_uring_op); the order is the ABI. */
#define URING_OP_POLL_ADD     6	 /* IORING_OP_POLL_ADD: one poll(2) */
#define URING_OP_SENDMSG      9	 /* IORING_OP_SENDMSG: sendmsg(2) */
#define URING_OP_ACCEPT	      13 /* IORING_OP_ACCEPT: accept4(2) */
#define URING_OP_ASYNC_CANCEL 14 /* IORING_OP_ASYNC_CANCEL */
#define URING_OP_READ	      22 /* IORING_OP_READ: read(2) */
#define URING_OP_RECV	      27 /* IORING_OP_RECV: recv(2) */

/* SQE flags (IOSQE_*). */
#define URING_SQE_BUFFER_SELECT (1U << 5) /* take a buffer from buf_group */

/* In ioprio: keep going, one completion per result. */
#define URING_ACCEPT_MULTISHOT (1U << 0) /* IORING_ACCEPT_MULTISHOT */
#define URING_RECV_MULTISHOT   (1U << 1) /* IORING_RECV_MULTISHOT */

/* In op_flags of URING_OP_ASYNC_CANCEL. */
#define URING_ASYNC_CANCEL_ALL (1U << 0) /* every match, not the first */
#define URING_ASYNC_CANCEL_FD  (1U << 1) /* match on fd, not user_data */
/* ANCHOR_END: sqe */

/*** completion entries ***/

/* ANCHOR: cqe */
/* One completion queue entry, 16 bytes. */
struct uring_cqe {	    /* struct io_uring_cqe */
	uint64_t user_data; /* the SQE's, unchanged */
	int32_t res;	    /* what the syscall would return; -errno */
	uint32_t flags;	    /* URING_CQE_F_*, and the buffer id */
};

#define URING_CQE_F_BUFFER	   (1U << 0) /* the upper 16 bits: its id */
#define URING_CQE_F_MORE	   (1U << 1) /* the SQE stays armed */
#define URING_CQE_F_SOCK_NONEMPTY (1U << 2) /* more data is queued */
#define URING_CQE_BUFFER_SHIFT	   16	     /* flags >> 16: buffer id */
/* ANCHOR_END: cqe */

/*** the buffer ring ***/

/* ANCHOR: bufring */
/*
 * A provided buffer ring: an array of these, shared with the kernel,
 * which takes one whenever a recv with URING_SQE_BUFFER_SELECT has data.
 * The ring's tail lives in the first entry's resv: the 16 bits at byte 14.
 */
struct uring_buf {   /* struct io_uring_buf */
	uint64_t addr; /* the buffer */
	uint32_t len;  /* its size */
	uint16_t bid;  /* its id, given back in the CQE's flags */
	uint16_t resv; /* in entry 0: the ring's tail */
};

/* Where the tail lives: the resv of the first entry. */
#define URING_BUF_RING_TAIL_OFFSET 14

/* io_uring_register(2)'s argument for URING_REGISTER_PBUF_RING. */
struct uring_buf_reg {	       /* struct io_uring_buf_reg */
	uint64_t ring_addr;    /* the ring, page-aligned */
	uint32_t ring_entries; /* a power of two */
	uint16_t bgid;	       /* its group id: the SQE's buf_group */
	uint16_t pad;
	uint64_t resv[3];
};

#define URING_REGISTER_PBUF_RING   22 /* IORING_REGISTER_PBUF_RING */
#define URING_UNREGISTER_PBUF_RING 23 /* IORING_UNREGISTER_PBUF_RING */
/* ANCHOR_END: bufring */

/*** waiting ***/

/* ANCHOR: enter */
#define URING_ENTER_GETEVENTS (1U << 0) /* wait for min_complete */
#define URING_ENTER_EXT_ARG   (1U << 3) /* arg is a uring_getevents_arg */

/* A timespec as the kernel reads it: two 64-bit fields everywhere. */
struct uring_timespec {	  /* struct __kernel_timespec */
	int64_t tv_sec;	  /* seconds */
	int64_t tv_nsec;  /* nanoseconds */
};

/* io_uring_enter's argument with URING_ENTER_EXT_ARG. */
struct uring_getevents_arg { /* struct io_uring_getevents_arg */
	uint64_t sigmask;    /* a sigset_t *, or 0 */
	uint32_t sigmask_sz; /* its size */
	uint32_t pad;
	uint64_t ts; /* a struct uring_timespec *: the longest wait */
};
/* ANCHOR_END: enter */

/* The layouts the kernel expects, checked here on every build too. */
_Static_assert(sizeof(struct uring_sqe) == 64, "an SQE is 64 bytes");
_Static_assert(sizeof(struct uring_cqe) == 16, "a CQE is 16 bytes");
_Static_assert(sizeof(struct uring_params) == 120, "params are 120 bytes");
_Static_assert(sizeof(struct uring_buf) == 16, "a buffer entry is 16 bytes");
_Static_assert(offsetof(struct uring_sqe, user_data) == 32,
	       "user_data is at byte 32");

#endif /* URING_FFI_H */
