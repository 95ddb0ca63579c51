// SPDX-License-Identifier: GPL-2.0-only
/*
 * listener.c: gw_limit_share, each worker's share of a listener's
 * max_connections and max_handshakes. The shares add up to the limit
 * exactly, differ by at most one, and the lower indices get the remainder.
 */
#include <limits.h>
#include <stdint.h>

#include "harness.h"
#include "util.h"
#include "listener.h"

/* Sum, spread and order of the shares of limit among n. */
static void check_shares(HARNESS_CTX, unsigned int limit, unsigned int n)
{
	unsigned int i, lo = UINT_MAX, hi = 0, prev = UINT_MAX;
	uint64_t sum = 0;

	for (i = 0; i < n; i++) {
		unsigned int s = gw_limit_share(limit, n, i);

		sum += s;
		if (s < lo)
			lo = s;
		if (s > hi)
			hi = s;
		if (s > prev)
			TH_LOG("limit %u, %u workers: share %u of index %u above the one before",
			       limit, n, s, i);
		ASSERT_LE(s, prev);
		prev = s;
	}
	if (sum != limit || hi - lo > 1)
		TH_LOG("limit %u, %u workers: sum %llu, shares %u..%u",
		       limit, n, (unsigned long long)sum, lo, hi);
	ASSERT_EQ((uint64_t)limit, sum);
	ASSERT_LE(hi - lo, 1);
	ASSERT_EQ(limit / n, lo);
}

TEST(shares_add_up_to_the_limit)
{
	static const unsigned int limits[] = {
		0, 1, 2, 3, 5, 7, 10, 63, 64, 65, 99, 100, 127, 1000, 1001, 4096,
		10000, 65535, 1000000, INT_MAX, UINT_MAX - 1, UINT_MAX,
	};
	static const unsigned int workers[] = { 1, 2, 3, 4, 5, 7, 8, 12, 16, 31, 32,
						 64, 96, 100, 127, 256, 1000 };
	unsigned int i, k;

	for (i = 0; i < ARRAY_SIZE(limits); i++)
		for (k = 0; k < ARRAY_SIZE(workers); k++)
			check_shares(_ctx, limits[i], workers[k]);
}

TEST(shares_add_up_random_pairs)
{
	uint64_t x = 0x243F6A8885A308D3ULL;	/* fixed seed */
	unsigned int i;

	for (i = 0; i < 3000; i++) {
		unsigned int limit, n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		limit = (unsigned int)(x >> 32) % (i % 2 ? 100000u : 200u);
		n = 1 + (unsigned int)x % 300;
		check_shares(_ctx, limit, n);
	}
}

TEST(one_worker_gets_everything)
{
	EXPECT_EQ(0, gw_limit_share(0, 1, 0));
	EXPECT_EQ(1, gw_limit_share(1, 1, 0));
	EXPECT_EQ(10000, gw_limit_share(10000, 1, 0));
	EXPECT_EQ(UINT_MAX, gw_limit_share(UINT_MAX, 1, 0));
}

/* Fewer than one per worker: the first limit workers get one, the rest none. */
TEST(limit_below_workers)
{
	static const unsigned int want[8] = { 1, 1, 1, 0, 0, 0, 0, 0 };
	unsigned int i;

	for (i = 0; i < 8; i++)
		EXPECT_EQ(want[i], gw_limit_share(3, 8, i));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(0, gw_limit_share(0, 8, i));
	EXPECT_EQ(1, gw_limit_share(1, 64, 0));
	for (i = 1; i < 64; i++)
		EXPECT_EQ(0, gw_limit_share(1, 64, i));
}

/* The usual case, spelled out: 10000 over 3 and 1000 over 6. */
TEST(remainder_goes_to_the_first_workers)
{
	EXPECT_EQ(3334, gw_limit_share(10000, 3, 0));
	EXPECT_EQ(3333, gw_limit_share(10000, 3, 1));
	EXPECT_EQ(3333, gw_limit_share(10000, 3, 2));
	EXPECT_EQ(167, gw_limit_share(1000, 6, 0));
	EXPECT_EQ(167, gw_limit_share(1000, 6, 3));
	EXPECT_EQ(166, gw_limit_share(1000, 6, 4));
	EXPECT_EQ(166, gw_limit_share(1000, 6, 5));
	EXPECT_EQ(250, gw_limit_share(1000, 4, 3));
}

TEST_HARNESS_MAIN
