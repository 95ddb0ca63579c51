// SPDX-License-Identifier: GPL-2.0-only
/*
 * The per-identity limit table (userspace/idlimit.c): exact at the
 * boundary, identities independent, the token bucket on a given clock,
 * one count over several threads, and 100,000 identities within the
 * documented memory bound.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "idlimit.h"

/* A distinct key per n (the table only needs 32 bytes that differ). */
static void key_of(unsigned int n, unsigned char key[32])
{
	unsigned int i;

	for (i = 0; i < 32; i++)
		key[i] = (unsigned char)((n * 2654435761u) >> (8 * (i % 4))) ^ (unsigned char)i;
	memcpy(key + 28, &n, sizeof(n));
}

TEST(connections_exact_at_the_boundary)
{
	struct gw_idl_limits lim = { .connections = 3 };
	struct gw_idlimit *t = gw_idlimit_get("boundary");
	struct gw_idl_entry *e[4];
	unsigned char k[32];
	int i;

	ASSERT_NOT_NULL(t);
	key_of(1, k);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, &lim, 0, false, &e[i]));
	ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, k, &lim, 0, false, &e[3]));
	ASSERT_NULL(e[3]);
	gw_idlimit_release(t, e[0]);
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, &lim, 0, false, &e[0]));
	ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, k, &lim, 0, false, &e[3]));
	/* Audit mode counts it anyway and says what enforce would do. */
	ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, k, &lim, 0, true, &e[3]));
	ASSERT_NOT_NULL(e[3]);
	for (i = 0; i < 4; i++)
		gw_idlimit_release(t, e[i]);
	ASSERT_EQ(1, gw_idlimit_tracked(t));
}

TEST(identities_are_independent)
{
	struct gw_idl_limits lim = { .connections = 1, .rate = 1, .burst = 1 };
	struct gw_idlimit *t = gw_idlimit_get("independent");
	struct gw_idl_entry *a, *b, *x;
	unsigned char ka[32], kb[32];

	key_of(10, ka);
	key_of(11, kb);
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, ka, &lim, 0, false, &a));
	ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, ka, &lim, 0, false, &x));
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, kb, &lim, 0, false, &b));
	gw_idlimit_release(t, a);
	gw_idlimit_release(t, b);
	/* Another listener's table knows neither. */
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(gw_idlimit_get("other"), ka, &lim, 0, false, &a));
	gw_idlimit_release(gw_idlimit_get("other"), a);
}

TEST(rate_is_a_token_bucket)
{
	struct gw_idl_limits lim = { .rate = 2, .burst = 3 };
	struct gw_idlimit *t = gw_idlimit_get("rate");
	struct gw_idl_entry *e;
	unsigned char k[32];
	int i;

	key_of(20, k);
	/* The burst at once, then nothing... */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, &lim, 1000, false, &e));
		gw_idlimit_release(t, e);
	}
	ASSERT_EQ(GW_IDL_RATE, gw_idlimit_acquire(t, k, &lim, 1000, false, &e));
	/* ...a token every 500 ms: none at 1499, one at 1500, one more at 2000. */
	ASSERT_EQ(GW_IDL_RATE, gw_idlimit_acquire(t, k, &lim, 1499, false, &e));
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, &lim, 1500, false, &e));
	gw_idlimit_release(t, e);
	ASSERT_EQ(GW_IDL_RATE, gw_idlimit_acquire(t, k, &lim, 1500, false, &e));
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, &lim, 2000, false, &e));
	gw_idlimit_release(t, e);
	/* A long pause refills to the burst, not beyond. */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, &lim, 60000, false, &e));
		gw_idlimit_release(t, e);
	}
	ASSERT_EQ(GW_IDL_RATE, gw_idlimit_acquire(t, k, &lim, 60000, false, &e));
}

struct worker_arg {
	struct gw_idlimit *t;
	pthread_barrier_t *all_tried;
	unsigned int ok;
};

/*
 * 10,000 tries to hold a connection of the one identity; each lets go
 * only once every thread is done trying.
 */
static void *worker(void *p)
{
	struct gw_idl_limits lim = { .connections = 5 };
	struct worker_arg *w = p;
	struct gw_idl_entry *held[10000];
	unsigned char k[32];
	unsigned int i, n = 0;

	key_of(30, k);
	for (i = 0; i < 10000; i++)
		if (gw_idlimit_acquire(w->t, k, &lim, 0, false, &held[n]) == GW_IDL_OK)
			n++;
	w->ok = n;
	pthread_barrier_wait(w->all_tried);
	for (i = 0; i < n; i++)
		gw_idlimit_release(w->t, held[i]);
	return NULL;
}

TEST(one_count_across_threads)
{
	struct worker_arg w[4];
	pthread_barrier_t all_tried;
	pthread_t th[4];
	unsigned int i, total = 0;

	ASSERT_EQ(0, pthread_barrier_init(&all_tried, NULL, 4));
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker_arg){ .t = gw_idlimit_get("threads"), .all_tried = &all_tried };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, worker, &w[i]));
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ok;
	}
	pthread_barrier_destroy(&all_tried);
	/* Whichever threads got them: 5 held at once, not one more... */
	ASSERT_EQ(5, total);
	/* ...and all released: 5 more now. */
	{
		struct gw_idl_limits lim = { .connections = 5 };
		struct gw_idl_entry *e[6];
		unsigned char k[32];

		key_of(30, k);
		for (i = 0; i < 5; i++)
			ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(w[0].t, k, &lim, 0, false, &e[i]));
		ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(w[0].t, k, &lim, 0, false, &e[5]));
		for (i = 0; i < 5; i++)
			gw_idlimit_release(w[0].t, e[i]);
	}
}

TEST(hundred_thousand_identities_within_the_bound)
{
	struct gw_idl_limits lim = { .connections = 1, .rate = 10, .burst = 10 };
	struct gw_idlimit *t = gw_idlimit_get("many");
	struct gw_idl_entry *live[100], *e;
	unsigned char k[32];
	size_t bound;
	unsigned int i;

	/* 100 identities stay connected throughout. */
	for (i = 0; i < 100; i++) {
		key_of(1000000 + i, k);
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, &lim, 0, false, &live[i]));
	}
	for (i = 0; i < 100000; i++) {
		key_of(i, k);
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, &lim, i, false, &e));
		gw_idlimit_release(t, e);
	}
	ASSERT_EQ(GW_IDL_MAX_IDLE + 100, gw_idlimit_tracked(t));
	/* The bound of idlimit.h: entries, and at most two bucket pointers each. */
	bound = (GW_IDL_MAX_IDLE + 100) * (gw_idlimit_entry_bytes() + 2 * sizeof(void *));
	TH_LOG("%u identities tracked in %zu bytes (bound %zu)", gw_idlimit_tracked(t),
	       gw_idlimit_bytes(t), bound);
	ASSERT_GE(bound, gw_idlimit_bytes(t));
	/* The live ones were never dropped: still at their limit. */
	for (i = 0; i < 100; i++) {
		key_of(1000000 + i, k);
		ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, k, &lim, 200000, false, &e));
		gw_idlimit_release(t, live[i]);
	}
	gw_idlimit_free_all();
}

TEST_HARNESS_MAIN
