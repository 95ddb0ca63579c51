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
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, "id", &lim, 0, false, &e[i]));
	ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, k, "id", &lim, 0, false, &e[3]));
	ASSERT_NULL(e[3]);
	gw_idlimit_release(t, e[0], 0);
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, "id", &lim, 0, false, &e[0]));
	ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, k, "id", &lim, 0, false, &e[3]));
	/* Audit mode counts it anyway and says what enforce would do. */
	ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, k, "id", &lim, 0, true, &e[3]));
	ASSERT_NOT_NULL(e[3]);
	for (i = 0; i < 4; i++)
		gw_idlimit_release(t, e[i], 0);
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
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, ka, "id", &lim, 0, false, &a));
	ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, ka, "id", &lim, 0, false, &x));
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, kb, "id", &lim, 0, false, &b));
	gw_idlimit_release(t, a, 0);
	gw_idlimit_release(t, b, 0);
	/* Another listener's table knows neither. */
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(gw_idlimit_get("other"), ka, "id", &lim, 0, false, &a));
	gw_idlimit_release(gw_idlimit_get("other"), a, 0);
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
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, "id", &lim, 1000, false, &e));
		gw_idlimit_release(t, e, 0);
	}
	ASSERT_EQ(GW_IDL_RATE, gw_idlimit_acquire(t, k, "id", &lim, 1000, false, &e));
	/* ...a token every 500 ms: none at 1499, one at 1500, one more at 2000. */
	ASSERT_EQ(GW_IDL_RATE, gw_idlimit_acquire(t, k, "id", &lim, 1499, false, &e));
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, "id", &lim, 1500, false, &e));
	gw_idlimit_release(t, e, 0);
	ASSERT_EQ(GW_IDL_RATE, gw_idlimit_acquire(t, k, "id", &lim, 1500, false, &e));
	ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, "id", &lim, 2000, false, &e));
	gw_idlimit_release(t, e, 0);
	/* A long pause refills to the burst, not beyond. */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, "id", &lim, 60000, false, &e));
		gw_idlimit_release(t, e, 0);
	}
	ASSERT_EQ(GW_IDL_RATE, gw_idlimit_acquire(t, k, "id", &lim, 60000, false, &e));
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
		if (gw_idlimit_acquire(w->t, k, "id", &lim, 0, false, &held[n]) == GW_IDL_OK)
			n++;
	w->ok = n;
	pthread_barrier_wait(w->all_tried);
	for (i = 0; i < n; i++)
		gw_idlimit_release(w->t, held[i], 0);
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
			ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(w[0].t, k, "id", &lim, 0, false, &e[i]));
		ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(w[0].t, k, "id", &lim, 0, false, &e[5]));
		for (i = 0; i < 5; i++)
			gw_idlimit_release(w[0].t, e[i], 0);
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
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, "id", &lim, 0, false, &live[i]));
	}
	for (i = 0; i < 100000; i++) {
		key_of(i, k);
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, k, "id", &lim, i, false, &e));
		gw_idlimit_release(t, e, 0);
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
		ASSERT_EQ(GW_IDL_CONNECTIONS, gw_idlimit_acquire(t, k, "id", &lim, 200000, false, &e));
		gw_idlimit_release(t, live[i], 0);
	}
	gw_idlimit_free_all();
}

TEST(top_orders_by_live_then_rate)
{
	struct gw_idl_limits lim = { 0 };
	struct gw_idlimit *t = gw_idlimit_get("top");
	struct gw_idl_entry *a[3], *b, *c;
	struct gw_idl_top top[4];
	unsigned char ka[32], kb[32], kc[32];
	char long_label[200];
	int i;

	key_of(40, ka);
	key_of(41, kb);
	key_of(42, kc);
	/* a: 3 live; b: 1 live, 5 opened; c: none live, 10 opened and 1 KiB. */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, ka, "spiffe://a", &lim, 1000, false, &a[i]));
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, kb, "spiffe://b", &lim, 1000, false, &b));
		if (i < 4)
			gw_idlimit_release(t, b, 0);
	}
	/* A name longer than kept is cut whole characters first ("é" is 2 bytes). */
	memset(long_label, 0, sizeof(long_label));
	for (i = 0; i < 60; i++)
		memcpy(long_label + 2 * i, "\xc3\xa9", 2);
	for (i = 0; i < 10; i++) {
		ASSERT_EQ(GW_IDL_OK, gw_idlimit_acquire(t, kc, long_label, &lim, 1000, false, &c));
		gw_idlimit_release(t, c, 100);
	}
	ASSERT_EQ(3, gw_idlimit_top(t, 2000, top, 4));
	EXPECT_STREQ("spiffe://a", top[0].label);
	EXPECT_EQ(3, top[0].conns);
	EXPECT_STREQ("spiffe://b", top[1].label);
	EXPECT_EQ(1, top[1].conns);
	EXPECT_EQ(5, top[1].opens);
	EXPECT_EQ(0, top[2].conns);
	EXPECT_EQ(10, top[2].opens);
	EXPECT_EQ(1000, top[2].bytes);
	EXPECT_EQ(94, strlen(top[2].label));
	/* 10 opens over the 11 s the windows cover now. */
	EXPECT_TRUE(top[2].per_second > 0.9 && top[2].per_second < 0.92);
	/* Only the first 2 asked for. */
	ASSERT_EQ(2, gw_idlimit_top(t, 2000, top, 2));
	/* Half a minute later no new ones: 0 per second. */
	ASSERT_EQ(3, gw_idlimit_top(t, 31000, top, 4));
	EXPECT_TRUE(top[2].per_second == 0);
	for (i = 0; i < 3; i++)
		gw_idlimit_release(t, a[i], 0);
	gw_idlimit_release(t, b, 0);
}

TEST_HARNESS_MAIN
