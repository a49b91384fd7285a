/*
 * table.c - the token table of table.h: open addressing, linear probing.
 *
 * An entry lives in the first free slot at or after its home slot (the
 * key's hash, modulo the capacity), wrapping around at the end. A lookup
 * starts at the home slot and walks forward until it finds the key or an
 * empty slot. The table is kept at most half full, so the walk is short.
 *
 * Nothing here prints or exits; the only failure is running out of memory.
 *
 * Sections: hashing, lookup, growth, insert and remove.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "table.h"

#define TABLE_MIN_CAP 16 /* the first allocation, in slots */

/*** hashing ***/

/* ANCHOR: home */
/*
 * hash: scramble the key's bits (MurmurHash3's 64-bit finalizer). Tokens
 * are consecutive integers; without this they would still spread well, but
 * keys with a common stride (every 16th token, say) would all share a few
 * home slots. Mixing makes every bit of the key matter.
 */
static uint64_t hash(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	key *= 0xc4ceb9fe1a85ec53ULL;
	key ^= key >> 33;
	return key;
}

/* home: the slot where a key's walk starts (cap is a power of two). */
static size_t home(const struct table *t, uint64_t key)
{
	return (size_t)hash(key) & (t->cap - 1);
}
/* ANCHOR_END: home */

/*** lookup ***/

/* ANCHOR: find */
/*
 * find: the slot holding key, or the empty slot where the walk for it ends
 * (where it would be inserted). The table must have a slot and at least one
 * empty one, which the half-full rule guarantees.
 */
static size_t find(const struct table *t, uint64_t key)
{
	size_t i = home(t, key);

	while (t->slots[i].value && t->slots[i].key != key)
		i = (i + 1) & (t->cap - 1);
	return i;
}
/* ANCHOR_END: find */

void *table_get(const struct table *t, uint64_t key)
{
	if (t->len == 0)
		return NULL;
	return t->slots[find(t, key)].value;
}

size_t table_len(const struct table *t)
{
	return t->len;
}

/*** growth ***/

/* grow: move every entry into a table of twice the slots (or the first). */
static int grow(struct table *t)
{
	struct table old = *t;
	size_t cap = old.cap ? old.cap * 2 : TABLE_MIN_CAP;

	if (cap < old.cap || cap > SIZE_MAX / sizeof(*t->slots)) {
		errno = ENOMEM;
		return -1;
	}
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots) {
		*t = old; /* calloc set errno; the old table is intact */
		return -1;
	}
	t->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].value)
			t->slots[find(t, old.slots[i].key)] = old.slots[i];
	free(old.slots);
	return 0;
}

/*** insert and remove ***/

int table_insert(struct table *t, uint64_t key, void *value)
{
	size_t i;

	if (!value) {
		errno = EINVAL;
		return -1;
	}
	/* At most half full after this insert, or double first. */
	if ((t->len + 1) * 2 > t->cap && grow(t) == -1)
		return -1;
	i = find(t, key);
	if (t->slots[i].value) {
		errno = EEXIST;
		return -1;
	}
	t->slots[i] = (struct table_slot){.key = key, .value = value};
	t->len++;
	return 0;
}

/* ANCHOR: remove */
/*
 * between: is h in the cyclic range (from, to]? That is: walking forward
 * from slot from, do we reach h no later than slot to?
 */
static bool between(size_t from, size_t h, size_t to)
{
	if (from <= to)
		return from < h && h <= to;
	return from < h || h <= to; /* the range wraps around the end */
}

/*
 * table_remove: empty the key's slot, then close the gap. An entry further
 * along may have walked past this slot when it was inserted; if the slot
 * stayed empty, a lookup for that entry would stop here and miss it. So
 * each following entry (up to the next empty slot) whose home is not
 * between the gap and itself moves back into the gap, and its old slot
 * becomes the new gap (Knuth's Algorithm R, TAOCP 6.4).
 */
void *table_remove(struct table *t, uint64_t key)
{
	size_t gap, j, mask = t->cap - 1;
	void *value;

	if (t->len == 0)
		return NULL;
	gap = find(t, key);
	value = t->slots[gap].value;
	if (!value)
		return NULL;
	for (j = (gap + 1) & mask; t->slots[j].value; j = (j + 1) & mask) {
		if (between(gap, home(t, t->slots[j].key), j))
			continue; /* still reachable from its home */
		t->slots[gap] = t->slots[j];
		gap = j;
	}
	t->slots[gap] = (struct table_slot){0};
	t->len--;
	return value;
}
/* ANCHOR_END: remove */

void table_free(struct table *t)
{
	free(t->slots);
	*t = (struct table){0};
}
