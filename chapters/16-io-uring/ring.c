/*
 * ring.c - setting up an io_uring and talking to it, for ring.h.
 *
 * Sections: ordering, setup, submitting, waiting, completing, the buffer
 * ring.
 */
/* mmap(2)'s MAP_POPULATE, MAP_ANONYMOUS and syscall(2): GNU extensions. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ring.h"

/*** ordering ***/

/* ANCHOR: ordering */
/*
 * The only two ways this program touches an index it shares with the
 * kernel. An acquire load of the kernel's tail (or head) means that the
 * entries the kernel wrote before it moved that index are visible to the
 * reads that follow; a release store of our tail (or head) means that the
 * entries we wrote (or finished reading) before it are done before the
 * kernel can see the index move. On x86_64 both are plain moves that the
 * compiler may not reorder; on aarch64 they are LDAR and STLR, because
 * there the CPU itself reorders plain loads and stores, and a compiler
 * barrier alone would not stop it.
 */
static uint32_t load_acquire(uint32_t *p)
{
	return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
}

static void store_release(uint32_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_release);
}

/* The buffer ring's tail is 16 bits: the same rule, its own width. */
static void store_release16(uint16_t *p, uint16_t v)
{
	atomic_store_explicit((_Atomic uint16_t *)p, v, memory_order_release);
}
/* ANCHOR_END: ordering */

/*** setup ***/

/* ANCHOR: setup */
/*
 * The setup flags asked for, best first. SINGLE_ISSUER (6.0) promises
 * that one thread submits; DEFER_TASKRUN (6.1) then lets completions be
 * run only when that thread waits, not by interrupting it. COOP_TASKRUN
 * (5.19) is the lesser form. An older kernel says EINVAL to a flag it
 * does not know: try the next. CQSIZE and SUBMIT_ALL (5.18) go with all.
 */
static const unsigned setup_steps[] = {
	URING_SETUP_SINGLE_ISSUER | URING_SETUP_DEFER_TASKRUN,
	URING_SETUP_SINGLE_ISSUER | URING_SETUP_COOP_TASKRUN,
	URING_SETUP_COOP_TASKRUN,
	0,
};

/* setup: io_uring_setup with the first flags the kernel accepts. */
static int setup(struct uring_params *p, unsigned entries, const char **what)
{
	size_t n = sizeof(setup_steps) / sizeof(setup_steps[0]);

	for (size_t i = 0; i < n; i++) {
		int fd;

		memset(p, 0, sizeof(*p));
		p->flags = setup_steps[i] | URING_SETUP_CQSIZE |
			   (i + 1 < n ? URING_SETUP_SUBMIT_ALL : 0);
		p->cq_entries = 4 * entries;
		fd = uring_setup(entries, p);
		if (fd >= 0)
			return fd;
		if (errno != EINVAL)
			break;
	}
	/* io_uring_setup(2): EPERM when the sysctl forbids it. */
	if (errno == EPERM)
		*what = "io_uring_setup (see sysctl kernel.io_uring_disabled)";
	else if (errno == ENOSYS)
		*what = "io_uring_setup (no io_uring here: kernel or seccomp)";
	else
		*what = "io_uring_setup";
	return -1;
}
/* ANCHOR_END: setup */

/* map: the rings and the SQE array into our memory. */
static int map(struct ring *r, const struct uring_params *p)
{
	size_t sq_len = p->sq_off.array + p->sq_entries * sizeof(uint32_t);
	size_t cq_len = p->cq_off.cqes + p->cq_entries * sizeof(struct uring_cqe);
	char *base;
	uint32_t *array;

	/* FEAT_SINGLE_MMAP (5.4): one mapping holds both rings. */
	r->rings_len = sq_len > cq_len ? sq_len : cq_len;
	r->rings = mmap(NULL, r->rings_len, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_POPULATE, r->fd, URING_OFF_SQ_RING);
	if (r->rings == MAP_FAILED)
		return -1;
	r->sqes_len = p->sq_entries * sizeof(struct uring_sqe);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, URING_OFF_SQES);
	if (r->sqes == MAP_FAILED) {
		munmap(r->rings, r->rings_len);
		return -1;
	}
	base = r->rings;
	r->sq_head = (uint32_t *)(void *)(base + p->sq_off.head);
	r->sq_tail = (uint32_t *)(void *)(base + p->sq_off.tail);
	r->sq_flags = (uint32_t *)(void *)(base + p->sq_off.flags);
	r->sq_mask = *(uint32_t *)(void *)(base + p->sq_off.ring_mask);
	r->sq_entries = p->sq_entries;
	r->cq_head = (uint32_t *)(void *)(base + p->cq_off.head);
	r->cq_tail = (uint32_t *)(void *)(base + p->cq_off.tail);
	r->cq_overflow = (uint32_t *)(void *)(base + p->cq_off.overflow);
	r->cq_mask = *(uint32_t *)(void *)(base + p->cq_off.ring_mask);
	r->cq_entries = p->cq_entries;
	r->cqes = (struct uring_cqe *)(void *)(base + p->cq_off.cqes);
	/*
	 * The SQ ring holds indexes into the SQE array, not SQEs: slot i
	 * always names SQE i here, so an SQE is filled in place.
	 */
	array = (uint32_t *)(void *)(base + p->sq_off.array);
	for (uint32_t i = 0; i < p->sq_entries; i++)
		array[i] = i;
	r->sq_local = r->sq_seen = *r->sq_tail;
	r->cq_local = r->cq_known = *r->cq_head;
	return 0;
}

int ring_open(struct ring *r, unsigned entries, const char **what)
{
	const unsigned need = URING_FEAT_SINGLE_MMAP | URING_FEAT_NODROP |
			      URING_FEAT_EXT_ARG;
	struct uring_params p;

	memset(r, 0, sizeof(*r));
	r->fd = setup(&p, entries, what);
	if (r->fd == -1)
		return -1;
	r->setup_flags = p.flags;
	if ((p.features & need) != need) {
		*what = "io_uring: this kernel lacks NODROP or EXT_ARG (5.11)";
		close(r->fd);
		errno = EOPNOTSUPP;
		return -1;
	}
	if (map(r, &p) == -1) {
		*what = "mmap (io_uring)";
		close(r->fd);
		return -1;
	}
	return 0;
}

void ring_close(struct ring *r)
{
	munmap(r->sqes, r->sqes_len);
	munmap(r->rings, r->rings_len);
	close(r->fd);
}

/*** submitting ***/

/* ANCHOR: submit */
/* publish: store our tail, so the kernel sees the SQEs filled since. */
static void publish(struct ring *r)
{
	if (r->sq_seen != r->sq_local) {
		store_release(r->sq_tail, r->sq_local);
		r->sq_seen = r->sq_local;
	}
}

/* unsubmitted: SQEs published or filled that the kernel has not taken. */
static uint32_t unsubmitted(struct ring *r)
{
	return r->sq_local - load_acquire(r->sq_head);
}

struct uring_sqe *ring_sqe(struct ring *r)
{
	struct uring_sqe *sqe;

	if (unsubmitted(r) == r->sq_entries) {
		/* Full: hand what is queued to the kernel, without waiting. */
		publish(r);
		if (uring_enter(r->fd, unsubmitted(r), 0, 0, NULL, 0) == -1 &&
		    errno != EINTR)
			return NULL;
		if (unsubmitted(r) == r->sq_entries) {
			errno = EBUSY;
			return NULL;
		}
	}
	sqe = &r->sqes[r->sq_local & r->sq_mask];
	memset(sqe, 0, sizeof(*sqe));
	r->sq_local++;
	return sqe;
}
/* ANCHOR_END: submit */

/*** waiting ***/

/* ANCHOR: wait */
int ring_wait(struct ring *r, int timeout_ms)
{
	struct uring_timespec ts = {0, 0};
	struct uring_getevents_arg arg = {0};
	unsigned flags = URING_ENTER_GETEVENTS | URING_ENTER_EXT_ARG;
	unsigned want = 1;

	publish(r);
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (int64_t)(timeout_ms % 1000) * 1000000;
		arg.ts = (uint64_t)(uintptr_t)&ts;
	}
	/* Completions already posted, or no time to sleep: do not wait. */
	if (timeout_ms == 0 || r->cq_local != load_acquire(r->cq_tail))
		want = 0;
	/* Completions the CQ had no room for wait in the kernel's list. */
	if (load_acquire(r->sq_flags) & URING_SQ_CQ_OVERFLOW)
		r->overflows++;
	if (uring_enter(r->fd, unsubmitted(r), want, flags, &arg,
			sizeof(arg)) == -1) {
		/* io_uring_enter(2): ETIME, the timeout passed; EBUSY, the
		 * overflow list must be reaped before more is submitted. */
		if (errno == ETIME || errno == EBUSY)
			return 0;
		return -1;
	}
	return 0;
}
/* ANCHOR_END: wait */

/*** completing ***/

/* ANCHOR: complete */
bool ring_next(struct ring *r, struct uring_cqe *cqe)
{
	if (r->cq_local == r->cq_known) {
		r->cq_known = load_acquire(r->cq_tail);
		if (r->cq_local == r->cq_known)
			return false;
	}
	*cqe = r->cqes[r->cq_local & r->cq_mask];
	/* Read, so the slot is the kernel's again. */
	store_release(r->cq_head, ++r->cq_local);
	return true;
}
/* ANCHOR_END: complete */

bool ring_ready(struct ring *r)
{
	r->cq_known = load_acquire(r->cq_tail);
	return r->cq_local != r->cq_known;
}

/*** the buffer ring ***/

/* ANCHOR: bufring */
int bufring_open(struct bufring *b, struct ring *r, uint32_t count,
		 uint32_t size, uint16_t bgid)
{
	struct uring_buf_reg reg = {0};

	memset(b, 0, sizeof(*b));
	b->count = count;
	b->size = size;
	b->bgid = bgid;
	/* The ring must be page-aligned: its own anonymous mapping. */
	b->map_len = count * sizeof(struct uring_buf);
	b->bufs = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->bufs == MAP_FAILED)
		return -1;
	/*
	 * MAP_POPULATE: the buffers' memory is faulted in now. The kernel
	 * fills them in turn, whichever connection the bytes are for, so
	 * all of them are soon in use: a cost of the server, paid once, at
	 * start, not one that grows with the connections.
	 */
	b->mem = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (b->mem == MAP_FAILED) {
		munmap(b->bufs, b->map_len);
		return -1;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)b->bufs;
	reg.ring_entries = count;
	reg.bgid = bgid;
	if (uring_register(r->fd, URING_REGISTER_PBUF_RING, &reg, 1) == -1) {
		munmap(b->mem, (size_t)count * size);
		munmap(b->bufs, b->map_len);
		return -1;
	}
	for (uint32_t i = 0; i < count; i++)
		bufring_put(b, (uint16_t)i);
	bufring_publish(b);
	return 0;
}

char *bufring_get(const struct bufring *b, uint16_t bid)
{
	return b->mem + (size_t)bid * b->size;
}

void bufring_put(struct bufring *b, uint16_t bid)
{
	struct uring_buf *e = &b->bufs[b->tail & (b->count - 1)];

	e->addr = (uint64_t)(uintptr_t)bufring_get(b, bid);
	e->len = b->size;
	e->bid = bid;
	b->tail++;
	b->dirty = true;
}

void bufring_publish(struct bufring *b)
{
	char *tail = (char *)b->bufs + URING_BUF_RING_TAIL_OFFSET;

	if (!b->dirty)
		return;
	store_release16((uint16_t *)(void *)tail, b->tail);
	b->dirty = false;
}

void bufring_close(struct bufring *b, struct ring *r)
{
	struct uring_buf_reg reg = {.bgid = b->bgid};

	uring_register(r->fd, URING_UNREGISTER_PBUF_RING, &reg, 1);
	munmap(b->mem, (size_t)b->count * b->size);
	munmap(b->bufs, b->map_len);
}
/* ANCHOR_END: bufring */
