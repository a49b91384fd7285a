/*
 * slab.h - a slot array whose tokens are a slot index and a generation.
 *
 * The server keeps one context per connection and finds it by the token
 * epoll hands back with each event. Contexts live in an array of slots,
 * reused as connections come and go, and a token packs two numbers:
 *
 *	bits 63..32  the slot's generation, bumped every time the slot is
 *	             emptied, never 0
 *	bits 31..0   the slot's index
 *
 * A lookup is an array index and one comparison. A token that outlived
 * its connection (an event already returned by epoll_wait for a source
 * closed since) names a slot whose generation has moved on, so the lookup
 * says "nobody" even if a new connection lives in that slot now, on the
 * same descriptor number. A bare descriptor or a bare index would name the
 * new connection, and hand it the old one's event.
 *
 * The slab stores pointers and never owns what they point to. A zeroed
 * struct slab is empty; it allocates on the first insert. Token 0 is never
 * a slab token (no generation is 0), so a program may keep it for itself.
 *
 * Sections: the slab, operations.
 */
#ifndef SLAB_H
#define SLAB_H

#include <stddef.h>
#include <stdint.h>

/*** the slab ***/

/* ANCHOR: slab */
struct slab_slot {
	void *value;	/* what the slot holds; NULL: the slot is free */
	uint32_t gen;	/* the generation of the value in it (or the next) */
	uint32_t next;	/* while free: the next free slot, or SLAB_NONE */
};

struct slab {
	struct slab_slot *slots; /* cap slots; NULL until the first insert */
	uint32_t cap;		 /* slots allocated */
	uint32_t len;		 /* slots holding a value */
	uint32_t free;		 /* the first free slot, or SLAB_NONE */
};

#define SLAB_NONE UINT32_MAX /* the end of the free list */
/* ANCHOR_END: slab */

/*** operations ***/

/* ANCHOR: api */
/*
 * slab_insert: store value (not NULL) in a free slot. Returns its token
 * (never 0), or 0 with errno ENOMEM (nothing stored) or EINVAL.
 */
uint64_t slab_insert(struct slab *s, void *value);

/*
 * slab_get: the value stored under token, or NULL if the token is not one
 * the slab handed out, or its value has been removed since.
 */
void *slab_get(const struct slab *s, uint64_t token);

/*
 * slab_remove: take token's value out, returning it (NULL if slab_get
 * would have said NULL). The slot's generation moves on, so the token
 * will never find anything again.
 */
void *slab_remove(struct slab *s, uint64_t token);

/* slab_len: how many values are stored. */
size_t slab_len(const struct slab *s);

/* slab_free: release the slots (not the values); s is empty again. */
void slab_free(struct slab *s);
/* ANCHOR_END: api */

#endif /* SLAB_H */
