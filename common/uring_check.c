/*
 * uring_check.c - does chapter 16's hand-written uring_ffi.h agree with
 * the kernel's <linux/io_uring.h>?
 *
 * Both headers are included here (ours names everything uring_/URING_, so
 * they do not collide), and every constant, every structure's size and
 * every field's offset and size is compared. Prints one line per item
 * checked and exits 1 on any difference.
 *
 *	make -C common uring_check && common/uring_check
 *	cc -std=gnu11 -I DIR common/uring_check.c   (DIR/uring_ffi.h instead)
 */
/* syscall(2), which uring_ffi.h calls, is a GNU extension. */
#define _GNU_SOURCE

#include "uring_ffi.h"

#include <linux/io_uring.h>
#include <linux/time_types.h>
#include <stdio.h>

static int bad;

/* same: print one comparison; remember a mismatch. */
static void same(const char *what, unsigned long long ours,
		 unsigned long long sys)
{
	printf("%-44s ours %#-12llx system %#-12llx %s\n", what, ours, sys,
	       ours == sys ? "ok" : "DIFFERENT");
	bad |= ours != sys;
}

/* A constant: ours against the kernel's. */
#define CONST(ours, sys) same(#ours, (ours), (sys))
/* A structure's size. */
#define SIZE(ours, sys) same("sizeof(" #ours ")", sizeof(ours), sizeof(sys))
/* A field: where it starts and how long it is. */
#define FIELD(ours, of, sys, sof)                                              \
	do {                                                                   \
		same("offsetof(" #ours ", " #of ")", offsetof(ours, of),       \
		     offsetof(sys, sof));                                      \
		same("sizeof(" #ours "." #of ")", sizeof(((ours *)0)->of),     \
		     sizeof(((sys *)0)->sof));                                 \
	} while (0)

static void check_constants(void)
{
	CONST(URING_NR_SETUP, __NR_io_uring_setup);
	CONST(URING_NR_ENTER, __NR_io_uring_enter);
	CONST(URING_NR_REGISTER, __NR_io_uring_register);
	CONST(URING_SETUP_CQSIZE, IORING_SETUP_CQSIZE);
	CONST(URING_SETUP_SUBMIT_ALL, IORING_SETUP_SUBMIT_ALL);
	CONST(URING_SETUP_COOP_TASKRUN, IORING_SETUP_COOP_TASKRUN);
	CONST(URING_SETUP_SINGLE_ISSUER, IORING_SETUP_SINGLE_ISSUER);
	CONST(URING_SETUP_DEFER_TASKRUN, IORING_SETUP_DEFER_TASKRUN);
	CONST(URING_FEAT_SINGLE_MMAP, IORING_FEAT_SINGLE_MMAP);
	CONST(URING_FEAT_NODROP, IORING_FEAT_NODROP);
	CONST(URING_FEAT_EXT_ARG, IORING_FEAT_EXT_ARG);
	CONST(URING_OFF_SQ_RING, IORING_OFF_SQ_RING);
	CONST(URING_OFF_CQ_RING, IORING_OFF_CQ_RING);
	CONST(URING_OFF_SQES, IORING_OFF_SQES);
	CONST(URING_SQ_CQ_OVERFLOW, IORING_SQ_CQ_OVERFLOW);
	CONST(URING_SQ_TASKRUN, IORING_SQ_TASKRUN);
	CONST(URING_OP_POLL_ADD, IORING_OP_POLL_ADD);
	CONST(URING_OP_SENDMSG, IORING_OP_SENDMSG);
	CONST(URING_OP_ACCEPT, IORING_OP_ACCEPT);
	CONST(URING_OP_ASYNC_CANCEL, IORING_OP_ASYNC_CANCEL);
	CONST(URING_OP_READ, IORING_OP_READ);
	CONST(URING_OP_RECV, IORING_OP_RECV);
	CONST(URING_SQE_BUFFER_SELECT, IOSQE_BUFFER_SELECT);
	CONST(URING_ACCEPT_MULTISHOT, IORING_ACCEPT_MULTISHOT);
	CONST(URING_RECV_MULTISHOT, IORING_RECV_MULTISHOT);
	CONST(URING_ASYNC_CANCEL_ALL, IORING_ASYNC_CANCEL_ALL);
	CONST(URING_ASYNC_CANCEL_FD, IORING_ASYNC_CANCEL_FD);
	CONST(URING_CQE_F_BUFFER, IORING_CQE_F_BUFFER);
	CONST(URING_CQE_F_MORE, IORING_CQE_F_MORE);
	CONST(URING_CQE_F_SOCK_NONEMPTY, IORING_CQE_F_SOCK_NONEMPTY);
	CONST(URING_CQE_BUFFER_SHIFT, IORING_CQE_BUFFER_SHIFT);
	CONST(URING_REGISTER_PBUF_RING, IORING_REGISTER_PBUF_RING);
	CONST(URING_UNREGISTER_PBUF_RING, IORING_UNREGISTER_PBUF_RING);
	CONST(URING_ENTER_GETEVENTS, IORING_ENTER_GETEVENTS);
	CONST(URING_ENTER_EXT_ARG, IORING_ENTER_EXT_ARG);
	CONST(URING_BUF_RING_TAIL_OFFSET,
	      offsetof(struct io_uring_buf_ring, tail));
}

static void check_params(void)
{
	typedef struct uring_sq_offsets sq;
	typedef struct io_sqring_offsets ksq;
	typedef struct uring_cq_offsets cq;
	typedef struct io_cqring_offsets kcq;
	typedef struct uring_params p;
	typedef struct io_uring_params kp;

	SIZE(sq, ksq);
	FIELD(sq, head, ksq, head);
	FIELD(sq, tail, ksq, tail);
	FIELD(sq, ring_mask, ksq, ring_mask);
	FIELD(sq, ring_entries, ksq, ring_entries);
	FIELD(sq, flags, ksq, flags);
	FIELD(sq, dropped, ksq, dropped);
	FIELD(sq, array, ksq, array);
	FIELD(sq, resv1, ksq, resv1);
	FIELD(sq, user_addr, ksq, resv2);
	SIZE(cq, kcq);
	FIELD(cq, head, kcq, head);
	FIELD(cq, tail, kcq, tail);
	FIELD(cq, ring_mask, kcq, ring_mask);
	FIELD(cq, ring_entries, kcq, ring_entries);
	FIELD(cq, overflow, kcq, overflow);
	FIELD(cq, cqes, kcq, cqes);
	FIELD(cq, flags, kcq, flags);
	FIELD(cq, resv1, kcq, resv1);
	FIELD(cq, user_addr, kcq, resv2);
	SIZE(p, kp);
	FIELD(p, sq_entries, kp, sq_entries);
	FIELD(p, cq_entries, kp, cq_entries);
	FIELD(p, flags, kp, flags);
	FIELD(p, sq_thread_cpu, kp, sq_thread_cpu);
	FIELD(p, sq_thread_idle, kp, sq_thread_idle);
	FIELD(p, features, kp, features);
	FIELD(p, wq_fd, kp, wq_fd);
	FIELD(p, resv, kp, resv);
	FIELD(p, sq_off, kp, sq_off);
	FIELD(p, cq_off, kp, cq_off);
}

static void check_entries(void)
{
	typedef struct uring_sqe s;
	typedef struct io_uring_sqe ks;
	typedef struct uring_cqe c;
	typedef struct io_uring_cqe kc;

	SIZE(s, ks);
	FIELD(s, opcode, ks, opcode);
	FIELD(s, flags, ks, flags);
	FIELD(s, ioprio, ks, ioprio);
	FIELD(s, fd, ks, fd);
	FIELD(s, off, ks, off);
	FIELD(s, addr, ks, addr);
	FIELD(s, len, ks, len);
	FIELD(s, op_flags, ks, msg_flags);
	FIELD(s, op_flags, ks, accept_flags);
	FIELD(s, op_flags, ks, cancel_flags);
	FIELD(s, op_flags, ks, poll32_events);
	FIELD(s, user_data, ks, user_data);
	FIELD(s, buf_group, ks, buf_group);
	FIELD(s, personality, ks, personality);
	FIELD(s, file_index, ks, file_index);
	FIELD(s, addr3, ks, addr3);
	FIELD(s, pad2, ks, __pad2);
	SIZE(c, kc);
	FIELD(c, user_data, kc, user_data);
	FIELD(c, res, kc, res);
	FIELD(c, flags, kc, flags);
}

static void check_buffers(void)
{
	typedef struct uring_buf b;
	typedef struct io_uring_buf kb;
	typedef struct uring_buf_reg r;
	typedef struct io_uring_buf_reg kr;
	typedef struct uring_getevents_arg a;
	typedef struct io_uring_getevents_arg ka;
	typedef struct uring_timespec t;
	typedef struct __kernel_timespec kt;

	SIZE(b, kb);
	FIELD(b, addr, kb, addr);
	FIELD(b, len, kb, len);
	FIELD(b, bid, kb, bid);
	FIELD(b, resv, kb, resv);
	SIZE(r, kr);
	FIELD(r, ring_addr, kr, ring_addr);
	FIELD(r, ring_entries, kr, ring_entries);
	FIELD(r, bgid, kr, bgid);
	FIELD(r, pad, kr, pad);
	FIELD(r, resv, kr, resv);
	SIZE(a, ka);
	FIELD(a, sigmask, ka, sigmask);
	FIELD(a, sigmask_sz, ka, sigmask_sz);
	FIELD(a, pad, ka, pad);
	FIELD(a, ts, ka, ts);
	SIZE(t, kt);
	FIELD(t, tv_sec, kt, tv_sec);
	FIELD(t, tv_nsec, kt, tv_nsec);
}

int main(void)
{
	check_constants();
	check_params();
	check_entries();
	check_buffers();
	return bad;
}
