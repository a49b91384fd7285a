/*
 * ring.h - an io_uring instance: its two rings, a buffer ring, and the
 * ordering rules that make sharing them with the kernel safe.
 *
 * The submission queue (SQ) and the completion queue (CQ) are arrays in
 * memory the kernel and the program both map. Each has a head and a tail;
 * the producer writes entries, then moves the tail; the consumer reads
 * entries, then moves the head. We produce SQEs and consume CQEs; the
 * kernel does the opposite. A buffer ring is a third such array: we
 * produce empty buffers, the kernel consumes them when data arrives.
 *
 * Every index that the other side writes is read with an acquire load,
 * and every index that we write for the other side is stored with a
 * release store (ring.c's load_acquire and store_release, and nowhere
 * else): entries are written before the tail that publishes them, and
 * read before the head that gives their slots back.
 *
 * Like the other modules, nothing here prints or exits: functions return
 * -1 with errno set, and ring_open names the failing step in *what.
 */
#ifndef RING_H
#define RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uring_ffi.h"

/* ANCHOR: ring */
/* One io_uring: the two rings as we see them. */
struct ring {
	int fd;		      /* from io_uring_setup */
	unsigned setup_flags; /* the URING_SETUP_* the kernel accepted */
	/* The submission queue. */
	uint32_t *sq_head;  /* the kernel's: entries it has consumed */
	uint32_t *sq_tail;  /* ours: entries published */
	uint32_t *sq_flags; /* the kernel's: URING_SQ_* */
	uint32_t sq_mask;   /* entries - 1 */
	uint32_t sq_entries; /* slots */
	uint32_t sq_local;   /* our tail, ahead of *sq_tail until published */
	uint32_t sq_seen;    /* *sq_tail as we last published it */
	struct uring_sqe *sqes; /* the entries */
	/* The completion queue. */
	uint32_t *cq_head;     /* ours: entries consumed */
	uint32_t *cq_tail;     /* the kernel's: entries posted */
	uint32_t *cq_overflow; /* the kernel's: completions it had to drop */
	uint32_t cq_mask;      /* entries - 1 */
	uint32_t cq_entries;   /* slots */
	uint32_t cq_local;     /* our head */
	uint32_t cq_known;     /* the kernel's tail, as last loaded */
	struct uring_cqe *cqes; /* the entries */
	/* The mappings, for ring_close. */
	void *rings;	   /* SQ and CQ rings (one map: FEAT_SINGLE_MMAP) */
	size_t rings_len;  /* its length */
	size_t sqes_len;   /* the SQE array's length */
	uint64_t overflows; /* waits that found the CQ overflowed */
};

/* A provided buffer ring: count buffers of size bytes each, group bgid. */
struct bufring {
	struct uring_buf *bufs; /* the ring shared with the kernel */
	char *mem;		/* the buffers themselves, count * size */
	size_t map_len;		/* the ring's mapping */
	uint32_t count;		/* entries (a power of two) */
	uint32_t size;		/* bytes per buffer */
	uint16_t bgid;		/* its group id */
	uint16_t tail;		/* our tail, ahead of the shared one until
				   published */
	bool dirty;		/* tail moved since the last publish */
};
/* ANCHOR_END: ring */

/*
 * ring_open: an io_uring with room for entries submissions (a power of
 * two) and four times as many completions. Asks for SINGLE_ISSUER and
 * DEFER_TASKRUN (completions run only when we wait), and falls back step
 * by step to what the kernel accepts. Needs FEAT_NODROP and FEAT_EXT_ARG
 * (Linux 5.11). On failure returns -1, errno set, *what the step.
 */
int ring_open(struct ring *r, unsigned entries, const char **what);

/* ring_close: unmap and close. */
void ring_close(struct ring *r);

/*
 * ring_sqe: a zeroed submission entry to fill, published by the next
 * ring_wait. When the SQ is full, what is queued is submitted first; NULL
 * (errno set) if even that fails.
 */
struct uring_sqe *ring_sqe(struct ring *r);

/*
 * ring_wait: submit what is queued and wait until a completion is there
 * or timeout_ms pass (-1: no limit; 0: do not sleep). Returns 0 (an
 * expired timeout too), or -1 with errno set (EINTR: a signal handler
 * ran).
 */
int ring_wait(struct ring *r, int timeout_ms);

/* ring_next: copy out the next completion and free its slot; false if none. */
bool ring_next(struct ring *r, struct uring_cqe *cqe);

/* ring_ready: is a completion waiting in the CQ, not yet read? */
bool ring_ready(struct ring *r);

/*
 * bufring_open: count buffers of size bytes (count a power of two, at
 * most 32768), registered with r as group bgid, all given to the kernel.
 */
int bufring_open(struct bufring *b, struct ring *r, uint32_t count,
		 uint32_t size, uint16_t bgid);

/* bufring_get: buffer bid's bytes. */
char *bufring_get(const struct bufring *b, uint16_t bid);

/* bufring_put: give buffer bid back; the kernel sees it once published. */
void bufring_put(struct bufring *b, uint16_t bid);

/* bufring_publish: store the tail, so the kernel sees the buffers put. */
void bufring_publish(struct bufring *b);

/* bufring_close: unregister and unmap. */
void bufring_close(struct bufring *b, struct ring *r);

#endif /* RING_H */
