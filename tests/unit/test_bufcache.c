// SPDX-License-Identifier: GPL-2.0-only
/*
 * bufcache.c: a record-sized block given back is the next one handed
 * out, for the datapath and for OpenSSL's allocations alike; no more
 * than GW_BUFCACHE_KEEP are kept per class; other sizes are never kept;
 * a realloc keeps the bytes. Each test runs in its own process, where
 * OpenSSL has allocated nothing yet, so the hooks can be installed.
 */
#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>

#include "bufcache.h"
#include "harness.h"

#define RECORD_WBUF 16584	/* OpenSSL 3.0's write buffer */
#define RECORD_RBUF 16712	/* its read buffer */
#define HANDSHAKE_BUF 21848	/* its handshake buffer: not a class */

static void need_keeping(HARNESS_CTX)
{
	if (!gw_bufcache_keeps())
		SKIP("built with AddressSanitizer: nothing is kept, every free is seen");
}

TEST(block_given_back_is_handed_out_again)
{
	struct gw_bufcache_stats s0, s1;
	void *a, *b;

	need_keeping(_ctx);
	s0 = gw_bufcache_stats();
	a = gw_bufcache_alloc(64 * 1024);
	ASSERT_NOT_NULL(a);
	memset(a, 0x5a, 64 * 1024);
	gw_bufcache_free(a);
	b = gw_bufcache_alloc(64 * 1024);
	s1 = gw_bufcache_stats();
	ASSERT_TRUE(a == b);
	ASSERT_EQ(s1.kept - s0.kept, 1u);
	ASSERT_EQ(s1.reused - s0.reused, 1u);
	/* A record buffer is a block of the other class, not this one. */
	a = gw_bufcache_alloc(RECORD_WBUF);
	ASSERT_TRUE(a != b);
	gw_bufcache_free(a);
	gw_bufcache_free(b);
}

TEST(kept_blocks_are_bounded)
{
	void *p[GW_BUFCACHE_KEEP + 4];
	struct gw_bufcache_stats s0, s1;
	unsigned int i;

	need_keeping(_ctx);
	s0 = gw_bufcache_stats();
	for (i = 0; i < GW_BUFCACHE_KEEP + 4; i++) {
		p[i] = gw_bufcache_alloc(RECORD_RBUF);
		ASSERT_NOT_NULL(p[i]);
	}
	for (i = 0; i < GW_BUFCACHE_KEEP + 4; i++)
		gw_bufcache_free(p[i]);
	s1 = gw_bufcache_stats();
	ASSERT_EQ(s1.kept - s0.kept, (uint64_t)GW_BUFCACHE_KEEP);
	ASSERT_EQ(s1.freed - s0.freed, 4u);
}

/*
 * Sizes away from the classes are never kept (a block is known by its
 * usable size, so one a few bytes over a class size would be, and would
 * serve as well).
 */
TEST(other_sizes_are_never_kept)
{
	static const size_t sizes[] = { 1, 1024, 16 * 1024 - 1, HANDSHAKE_BUF, 40 * 1024,
					128 * 1024, 1 << 20 };
	struct gw_bufcache_stats s0 = gw_bufcache_stats(), s1;
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p = gw_bufcache_alloc(sizes[i]);

		ASSERT_NOT_NULL(p);
		memset(p, 0, sizes[i]);
		gw_bufcache_free(p);
	}
	s1 = gw_bufcache_stats();
	ASSERT_EQ(s1.kept, s0.kept);
	ASSERT_EQ(s1.allocated, s0.allocated);
}

/* OpenSSL's record buffers come from the cache once the hooks are in. */
TEST(openssl_allocations_go_through_the_cache)
{
	struct gw_bufcache_stats s0, s1;
	unsigned char *a, *b;
	int err;

	need_keeping(_ctx);
	err = gw_bufcache_install();
	if (err == -EBUSY)
		SKIP("OpenSSL allocated before the test: the hooks cannot be installed");
	ASSERT_EQ(err, 0);
	s0 = gw_bufcache_stats();
	a = OPENSSL_malloc(RECORD_WBUF);
	ASSERT_NOT_NULL(a);
	OPENSSL_free(a);
	b = OPENSSL_malloc(RECORD_RBUF);
	s1 = gw_bufcache_stats();
	ASSERT_TRUE(a == b);
	ASSERT_EQ(s1.reused - s0.reused, 1u);
	/* realloc: smaller stays in place, larger moves with the bytes. */
	memset(b, 0xa5, RECORD_RBUF);
	a = OPENSSL_realloc(b, 100);
	ASSERT_TRUE(a == b);
	b = OPENSSL_realloc(a, 1 << 20);
	ASSERT_NOT_NULL(b);
	ASSERT_EQ(b[0], 0xa5);
	ASSERT_EQ(b[RECORD_RBUF - 1], 0xa5);
	OPENSSL_free(b);
}

TEST_HARNESS_MAIN
