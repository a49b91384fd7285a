/*
 * slab_check.c - the slot+generation logic of a chapter's slab.c, checked.
 *
 * A stale event (one epoll_wait returned for a connection that an earlier
 * event of the same batch closed) cannot be produced on demand from
 * outside a server: under one-shot, and with nothing that closes one
 * connection from another's handler, chapter 06 never even gets one. So
 * the tests check the rule that makes it harmless instead: a token stops
 * finding anything once its value is removed, and keeps not finding it when
 * the slot is reused by a new value. Compiled by tests/06-reading.bats
 * against the chapter's slab.c:
 *
 *	cc -I chapters/06-reading common/slab_check.c \
 *	   chapters/06-reading/slab.c -o slab_check && ./slab_check
 *
 * Prints one line per check that fails, then "slab_check: N checks, F
 * failures"; exits 1 if F is not 0.
 */
#include <stdint.h>
#include <stdio.h>

#include "slab.h"

static unsigned checks, failures;

static void check(int ok, const char *what)
{
	checks++;
	if (!ok) {
		failures++;
		printf("FAIL %s\n", what);
	}
}

/* index_of: the slot index a token names (its low 32 bits, slab.h). */
static uint32_t index_of(uint64_t token)
{
	return (uint32_t)token;
}

int main(void)
{
	struct slab s = {0};
	int x, y, many[100];
	uint64_t tx, ty, t[100];

	check(slab_get(&s, 0) == NULL, "an empty slab finds nothing");
	check(slab_insert(&s, NULL) == 0, "NULL cannot be stored");

	/* The batch: event 1 closes X, event 2 accepts Y into X's slot. */
	tx = slab_insert(&s, &x);
	check(tx != 0, "a token is never 0");
	check(slab_get(&s, tx) == &x, "a token finds its value");
	check(slab_remove(&s, tx) == &x, "remove returns the value");
	check(slab_get(&s, tx) == NULL, "a removed token finds nothing");
	ty = slab_insert(&s, &y);
	check(index_of(ty) == index_of(tx), "the freed slot is reused first");
	check(ty != tx, "the reused slot has a new generation");
	/* Event 3 still carries X's token: it must not reach Y. */
	check(slab_get(&s, tx) == NULL, "an old token misses the new value");
	check(slab_remove(&s, tx) == NULL, "an old token removes nothing");
	check(slab_get(&s, ty) == &y, "the new value is still there");
	check(slab_len(&s) == 1, "one value stored");

	/* Growth keeps every token valid, and every token distinct. */
	for (int i = 0; i < 100; i++)
		t[i] = slab_insert(&s, &many[i]);
	for (int i = 0; i < 100; i++) {
		check(t[i] != 0 && slab_get(&s, t[i]) == &many[i],
		      "tokens survive growth");
		for (int j = 0; j < i; j++)
			check(t[i] != t[j], "tokens are distinct");
	}
	check(slab_get(&s, ty) == &y, "an old value survives growth");
	check(slab_get(&s, (uint64_t)1 << 32 | 1000000) == NULL,
	      "an index past the end finds nothing");
	for (int i = 0; i < 100; i++)
		slab_remove(&s, t[i]);
	slab_remove(&s, ty);
	check(slab_len(&s) == 0, "empty again");
	for (int i = 0; i < 100; i++)
		check(slab_get(&s, t[i]) == NULL, "no old token finds anything");
	slab_free(&s);

	printf("slab_check: %u checks, %u failures\n", checks, failures);
	return failures != 0;
}
