/*
 * table.h - a hash table from 64-bit tokens to pointers.
 *
 * The server keeps one context per connection and finds it by the token
 * epoll hands back with each event: this is the C counterpart of the source
 * post's HashMap<u64, RequestContext>. Tokens are never reused, so they
 * cannot index an array; a hash table finds any of them in a step or two.
 *
 * Open addressing with linear probing: one array of slots, at most half
 * full, doubled when it would be more. Removal shifts later entries back
 * instead of leaving tombstones, so lookups never slow down with churn.
 * The table stores pointers and never owns what they point to. A zeroed
 * struct table is empty; it allocates on the first insert.
 *
 * New in chapter 04: all of it.
 *
 * Sections: the table, operations.
 */
#ifndef TABLE_H
#define TABLE_H

#include <stddef.h>
#include <stdint.h>

/*** the table ***/

/* ANCHOR: table */
struct table_slot {
	uint64_t key; /* the token */
	void *value;  /* what it maps to; NULL marks an empty slot */
};

struct table {
	struct table_slot *slots; /* cap slots; NULL until the first insert */
	size_t cap;		  /* 0, or a power of two */
	size_t len;		  /* how many slots hold an entry */
};
/* ANCHOR_END: table */

/*** operations ***/

/* ANCHOR: api */
/* table_get: the value stored under key, or NULL. */
void *table_get(const struct table *t, uint64_t key);

/*
 * table_insert: store value (not NULL) under key, which must be absent.
 * Returns 0, or -1 with errno ENOMEM (nothing stored), EEXIST or EINVAL.
 */
int table_insert(struct table *t, uint64_t key, void *value);

/* table_remove: take key out; returns its value, or NULL if absent. */
void *table_remove(struct table *t, uint64_t key);

/* table_len: how many entries. */
size_t table_len(const struct table *t);

/* table_free: release the slots (not the values); t is empty again. */
void table_free(struct table *t);
/* ANCHOR_END: api */

#endif /* TABLE_H */
