/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Indexes for the configuration's checks across entries (internal to
 * config*.c; prefix gw_ci_): which earlier entries share a key (rule
 * names, listener names and addresses), and which pairs of steered
 * destinations overlap. Each answers in time proportional to the entries
 * plus what it finds, where comparing every entry with every earlier one
 * took seconds for a few thousand listeners or rules.
 *
 * Both report in the order a check of each entry against all the earlier
 * ones, first to last, would: the messages do not depend on the index.
 * Layered on addr.h; knows nothing of key paths or messages.
 */
#ifndef GW_CONFIG_INDEX_H
#define GW_CONFIG_INDEX_H

#include <stddef.h>

#include "addr.h"

/*
 * Entries 0, 1, 2, ... by a key (bytes the caller keeps alive while the
 * index lives), linking each to the earlier entries with an equal key.
 */
struct gw_ci_keys {
	unsigned int *slot;		/* open addressing: first entry with a key + 1; 0 = free */
	unsigned int n_slots;		/* a power of two, at least 2 n */
	struct gw_ci_entry *e;		/* per entry */
	unsigned int n;			/* entries the index was made for */
};

/* An index for n entries. 0 or -ENOMEM. */
int gw_ci_keys_init(struct gw_ci_keys *k, unsigned int n);
void gw_ci_keys_free(struct gw_ci_keys *k);

/*
 * Add entry i (each of 0..n-1 once, in that order) with key[0..len). Returns
 * the first entry with an equal key, i itself when there was none. The
 * others follow by gw_ci_keys_next() in ascending order, up to i:
 *   for (j = gw_ci_keys_add(k, i, key, len); j != i; j = gw_ci_keys_next(k, j))
 */
unsigned int gw_ci_keys_add(struct gw_ci_keys *k, unsigned int i, const void *key, size_t len);
unsigned int gw_ci_keys_next(const struct gw_ci_keys *k, unsigned int j);

/* Two overlapping destinations: indices into the caller's array. */
struct gw_ci_pair {
	unsigned int later, earlier;
};

/*
 * Every pair of the n destinations d[] that gw_steer_overlap() says
 * overlap, sorted by later, then earlier. 0, with *pairs (free() it) and
 * *n_pairs; or -ENOMEM. A destination of family AF_UNSPEC (the caller's
 * mark for one that did not parse) is in no pair: all zero, any two of
 * them would "overlap", n^2 / 2 pairs for n mistakes already reported.
 */
int gw_ci_steer_overlaps(const struct gw_steer *d, unsigned int n,
			 struct gw_ci_pair **pairs, size_t *n_pairs);

#endif
