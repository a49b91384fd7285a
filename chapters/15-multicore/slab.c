/*
 * slab.c - the slot array of slab.h.
 *
 * Free slots form a list threaded through the array (each free slot holds
 * the index of the next), so insert and remove are a few assignments, and
 * the most recently freed slot is the first reused, as a freed descriptor
 * number is (open(2) takes the lowest free one). The array doubles when
 * full; the values are pointers, so moving the slots moves no context.
 *
 * Nothing here prints or exits; the only failure is running out of memory.
 *
 * Sections: tokens, growth, operations.
 */
#include <errno.h>
#include <stdlib.h>

#include "slab.h"

#define SLAB_MIN_CAP 16 /* the first allocation, in slots */

/*** tokens ***/

/* ANCHOR: tokens */
static uint64_t token_of(uint32_t index, uint32_t gen)
{
	return (uint64_t)gen << 32 | index;
}

/*
 * find: the slot token names, if it still holds that token's value; else
 * NULL. Index out of range, a free slot and an old generation all say no.
 */
static struct slab_slot *find(const struct slab *s, uint64_t token)
{
	uint32_t index = (uint32_t)token, gen = (uint32_t)(token >> 32);
	struct slab_slot *slot;

	if (index >= s->cap)
		return NULL;
	slot = &s->slots[index];
	if (!slot->value || slot->gen != gen)
		return NULL;
	return slot;
}
/* ANCHOR_END: tokens */

/*** growth ***/

/* grow: double the slots (or make the first ones); the new ones are free. */
static int grow(struct slab *s)
{
	uint32_t cap = s->cap ? s->cap * 2 : SLAB_MIN_CAP;
	struct slab_slot *slots;

	/*
	 * SLAB_NONE is not an index, so fewer than SLAB_NONE slots. Their
	 * bytes fit a 64-bit size_t (the only kind this tutorial runs on).
	 */
	if (s->cap >= SLAB_NONE / 2) {
		errno = ENOMEM;
		return -1;
	}
	slots = realloc(s->slots, (size_t)cap * sizeof(*slots));
	if (!slots)
		return -1; /* realloc set errno; the old slots are intact */
	/* Thread the new slots onto the free list, lowest index first. */
	for (uint32_t i = s->cap; i < cap; i++)
		slots[i] = (struct slab_slot){
		    .value = NULL,
		    .gen = 1,
		    .next = i + 1 < cap ? i + 1 : SLAB_NONE,
		};
	s->free = s->cap; /* grow runs only when no slot was free */
	s->slots = slots;
	s->cap = cap;
	return 0;
}

/*** operations ***/

/* ANCHOR: insert */
uint64_t slab_insert(struct slab *s, void *value)
{
	struct slab_slot *slot;
	uint32_t index;

	if (!value) {
		errno = EINVAL;
		return 0;
	}
	if (s->cap == 0)
		s->free = SLAB_NONE;
	if (s->free == SLAB_NONE && grow(s) == -1)
		return 0;
	index = s->free;
	slot = &s->slots[index];
	s->free = slot->next;
	slot->value = value;
	s->len++;
	return token_of(index, slot->gen);
}
/* ANCHOR_END: insert */

void *slab_get(const struct slab *s, uint64_t token)
{
	struct slab_slot *slot = find(s, token);

	return slot ? slot->value : NULL;
}

/* ANCHOR: remove */
void *slab_remove(struct slab *s, uint64_t token)
{
	struct slab_slot *slot = find(s, token);
	void *value;

	if (!slot)
		return NULL;
	value = slot->value;
	slot->value = NULL;
	/*
	 * The next value in this slot gets a new generation, so this token
	 * (and any copy of it still in an event) never matches again. After
	 * 2^32 - 1 reuses of one slot it wraps, skipping 0; an old event
	 * only lives until the end of its batch, so that is plenty.
	 */
	if (++slot->gen == 0)
		slot->gen = 1;
	slot->next = s->free;
	s->free = (uint32_t)(slot - s->slots);
	s->len--;
	return value;
}
/* ANCHOR_END: remove */

size_t slab_len(const struct slab *s)
{
	return s->len;
}

void slab_free(struct slab *s)
{
	free(s->slots);
	*s = (struct slab){0};
}
