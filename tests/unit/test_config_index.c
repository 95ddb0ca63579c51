// SPDX-License-Identifier: GPL-2.0-only
/*
 * config_index.c: its answers are exactly those of comparing every entry
 * with every earlier one, in the same order, on random inputs built to
 * collide: keys from a small alphabet, steered destinations from a few
 * nested prefixes and narrow port ranges, and some destinations left as a
 * failed parse leaves them; those the caller marks as not parsed
 * (AF_UNSPEC) pair with nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "config_index.h"
#include "util.h"

/* xorshift32: the same inputs on every run. */
static unsigned int rnd(unsigned int *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

TEST(keys_link_every_earlier_equal_key)
{
	enum { N = 3000 };
	static char keys[N][4];
	struct gw_ci_keys k;
	unsigned int seed = 1, i, j, b;

	for (i = 0; i < N; i++) {
		/* Lengths 1..3 over "ab": equal keys and prefixes of each other. */
		unsigned int len = 1 + rnd(&seed) % 3;

		for (j = 0; j < len; j++)
			keys[i][j] = "ab"[rnd(&seed) % 2];
	}
	ASSERT_EQ(0, gw_ci_keys_init(&k, N));
	for (i = 0; i < N; i++) {
		j = gw_ci_keys_add(&k, i, keys[i], strlen(keys[i]));
		/* The index's list is the plain scan's list. */
		for (b = 0; b < i; b++) {
			if (strcmp(keys[b], keys[i]))
				continue;
			ASSERT_EQ(b, j);
			j = gw_ci_keys_next(&k, j);
		}
		ASSERT_EQ(i, j);
	}
	gw_ci_keys_free(&k);
}

/* A destination from a few nested IPv4 and IPv6 prefixes, or a broken one. */
static void random_steer(unsigned int *seed, struct gw_steer *d)
{
	static const unsigned char lens[] = { 0, 8, 16, 23, 24, 30, 31, 32 };
	unsigned int r = rnd(seed), len, i;

	memset(d, 0, sizeof(*d));
	if (r % 20 == 0) {
		/* As a failed parse leaves it: no family, or ports reversed, or host bits. */
		d->dst.family = (r >> 8) % 3 == 0 ? 0 : AF_INET;
		d->dst.prefix_len = (unsigned char)(rnd(seed) % 33);
		d->dst.addr[0] = 10;
		d->dst.addr[3] = (unsigned char)rnd(seed);
		d->lo = (unsigned short)(rnd(seed) % 40);
		d->hi = (unsigned short)(rnd(seed) % 40);
		return;
	}
	d->dst.family = r % 4 ? AF_INET : AF_INET6;
	len = lens[rnd(seed) % sizeof(lens)];
	if (d->dst.family == AF_INET6)
		len = len * 4;
	d->dst.prefix_len = (unsigned char)len;
	d->dst.addr[0] = d->dst.family == AF_INET ? 10 : 0x20;
	d->dst.addr[1] = (unsigned char)(rnd(seed) % 2);
	d->dst.addr[2] = (unsigned char)(rnd(seed) % 2);
	d->dst.addr[3] = (unsigned char)(rnd(seed) % 4);
	d->dst.addr[15] = (unsigned char)(rnd(seed) % 2);
	for (i = len; i < 128; i++)
		d->dst.addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
	d->lo = (unsigned short)(rnd(seed) % 40);
	d->hi = (unsigned short)(d->lo + rnd(seed) % 4);
}

TEST(steer_pairs_are_the_plain_checks)
{
	static const unsigned int sizes[] = { 0, 1, 2, 50, 700, 2000 };
	static struct gw_steer d[2000];
	unsigned int seed = 7, t;

	for (t = 0; t < ARRAY_SIZE(sizes); t++) {
		unsigned int n = sizes[t], a, b, i;
		struct gw_ci_pair *pairs;
		size_t n_pairs, k = 0;

		for (i = 0; i < n; i++)
			random_steer(&seed, &d[i]);
		ASSERT_EQ(0, gw_ci_steer_overlaps(d, n, &pairs, &n_pairs));
		for (b = 0; b < n; b++)
			for (a = 0; a < b; a++) {
				if (d[a].dst.family == AF_UNSPEC || d[b].dst.family == AF_UNSPEC ||
				    !gw_steer_overlap(&d[a], &d[b]))
					continue;
				if (k >= n_pairs || pairs[k].later != b || pairs[k].earlier != a)
					TH_LOG("n %u: pair %zu: want (%u, %u)", n, k, b, a);
				ASSERT_LT(k, n_pairs);
				ASSERT_EQ(b, pairs[k].later);
				ASSERT_EQ(a, pairs[k].earlier);
				k++;
			}
		ASSERT_EQ(k, n_pairs);
		TH_LOG("%u destinations: %zu overlapping pairs", n, n_pairs);
		free(pairs);
	}
}

/* 1,000 that did not parse: no pair, where each pair of them "overlaps". */
TEST(unparsed_destinations_pair_with_nothing)
{
	static struct gw_steer d[1001];
	struct gw_ci_pair *pairs;
	size_t n_pairs;

	memset(d, 0, sizeof(d));
	d[1000].dst.family = AF_INET;
	d[1000].lo = d[1000].hi = 443;
	ASSERT_TRUE(gw_steer_overlap(&d[0], &d[1]));
	ASSERT_EQ(0, gw_ci_steer_overlaps(d, 1001, &pairs, &n_pairs));
	EXPECT_EQ(0, n_pairs);
	free(pairs);
}

TEST_HARNESS_MAIN
