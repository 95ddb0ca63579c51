// SPDX-License-Identifier: GPL-2.0-only
/*
 * util.c: the gw_sbuf printf appender. Growable (exact text over many
 * appends and through reallocations, length, NUL, gw_sbuf_free) and over
 * a fixed buffer (what fits is kept, -ENOSPC sticks, later appends do
 * nothing, nothing is written past the capacity, a capacity of 0), and
 * gw_sbuf_put, which leaves out a piece that does not fit whole; the
 * FNV-1a hash against its published values.
 */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "util.h"

TEST(growable_many_appends)
{
	static char want[200000];
	struct gw_sbuf sb = { 0 };
	size_t o = 0;
	unsigned int i;

	for (i = 0; i < 20000; i++) {
		gw_sbuf_printf(&sb, "%u:%s,", i, i % 7 ? "x" : "");
		o += snprintf(want + o, sizeof(want) - o, "%u:%s,", i, i % 7 ? "x" : "");
		if (i % 997 == 0) {
			ASSERT_EQ(0, sb.err);
			ASSERT_EQ(o, sb.len);
			ASSERT_EQ('\0', sb.buf[sb.len]);
			ASSERT_LT(sb.len, sb.cap);
		}
	}
	ASSERT_LT(o, sizeof(want) - 1);
	ASSERT_EQ(0, sb.err);
	ASSERT_NOT_NULL(sb.buf);
	EXPECT_EQ(o, sb.len);
	EXPECT_EQ(strlen(sb.buf), sb.len);
	EXPECT_STREQ(want, sb.buf);
	EXPECT_FALSE(sb.fixed);
	gw_sbuf_free(&sb);
	EXPECT_NULL(sb.buf);
	EXPECT_EQ(0, sb.len);
	EXPECT_EQ(0, sb.cap);
}

/* One append larger than any growth step, between small ones. */
TEST(growable_large_append)
{
	static char big[10000];
	struct gw_sbuf sb = { 0 };

	memset(big, 'B', sizeof(big) - 1);
	gw_sbuf_printf(&sb, "<%s", "start");
	gw_sbuf_printf(&sb, "%s", big);
	gw_sbuf_printf(&sb, "%d>", -42);
	ASSERT_EQ(0, sb.err);
	ASSERT_EQ(6 + sizeof(big) - 1 + 4, sb.len);
	EXPECT_EQ(0, strncmp(sb.buf, "<startBBB", 9));
	EXPECT_STREQ("BB-42>", sb.buf + sb.len - 6);
	EXPECT_EQ(sb.len, strlen(sb.buf));
	gw_sbuf_free(&sb);
}

/* An empty append still leaves a NUL-terminated (empty) text. */
TEST(growable_empty_text)
{
	struct gw_sbuf sb = { 0 };

	gw_sbuf_free(&sb);		/* never used: fine */
	gw_sbuf_printf(&sb, "%s", "");
	ASSERT_EQ(0, sb.err);
	ASSERT_NOT_NULL(sb.buf);
	EXPECT_STREQ("", sb.buf);
	EXPECT_EQ(0, sb.len);
	gw_sbuf_printf(&sb, "a%cb", 'x');
	EXPECT_STREQ("axb", sb.buf);
	EXPECT_EQ(3, sb.len);
	gw_sbuf_free(&sb);
}

TEST(fixed_truncation_keeps_what_fit)
{
	char mem[24];
	struct gw_sbuf sb;
	unsigned int i;

	memset(mem, '#', sizeof(mem));
	sb = GW_SBUF_FIXED(mem, 16);
	EXPECT_TRUE(sb.fixed);
	gw_sbuf_printf(&sb, "%s", "hello");
	EXPECT_EQ(0, sb.err);
	EXPECT_EQ(5, sb.len);
	gw_sbuf_printf(&sb, " %s%c%c", "world", '!', '!');
	EXPECT_EQ(0, sb.err);
	EXPECT_EQ(13, sb.len);
	EXPECT_STREQ("hello world!!", mem);

	/* 4 more do not fit in 16 - 13 - 1: two are kept. */
	gw_sbuf_printf(&sb, "XYZW");
	EXPECT_EQ(-ENOSPC, sb.err);
	EXPECT_EQ(15, sb.len);
	EXPECT_STREQ("hello world!!XY", mem);

	/* The failure sticks: nothing more, even what would fit. */
	gw_sbuf_printf(&sb, "%s", "");
	gw_sbuf_printf(&sb, "z");
	EXPECT_EQ(-ENOSPC, sb.err);
	EXPECT_EQ(15, sb.len);
	EXPECT_STREQ("hello world!!XY", mem);

	/* Never past the capacity. */
	for (i = 16; i < sizeof(mem); i++)
		EXPECT_EQ('#', mem[i]);

	/* Freeing a fixed appender leaves the caller's buffer alone. */
	gw_sbuf_free(&sb);
	EXPECT_NULL(sb.buf);
	EXPECT_STREQ("hello world!!XY", mem);
}

/* Exactly full is not an error; one more byte is. */
TEST(fixed_exact_fit)
{
	char mem[8];
	struct gw_sbuf sb;

	memset(mem, '#', sizeof(mem));
	sb = GW_SBUF_FIXED(mem, 6);
	gw_sbuf_printf(&sb, "%05d", 123);
	EXPECT_EQ(0, sb.err);
	EXPECT_EQ(5, sb.len);
	EXPECT_STREQ("00123", mem);
	gw_sbuf_printf(&sb, "%s", "");
	EXPECT_EQ(0, sb.err);
	gw_sbuf_printf(&sb, "4");
	EXPECT_EQ(-ENOSPC, sb.err);
	EXPECT_EQ(5, sb.len);
	EXPECT_STREQ("00123", mem);
	EXPECT_EQ('#', mem[6]);
}

/* A first append that does not fit at all keeps its beginning. */
TEST(fixed_first_append_too_long)
{
	char mem[8];
	struct gw_sbuf sb = GW_SBUF_FIXED(mem, 4);

	memset(mem, '#', sizeof(mem));
	gw_sbuf_printf(&sb, "%s", "abcdefgh");
	EXPECT_EQ(-ENOSPC, sb.err);
	EXPECT_EQ(3, sb.len);
	EXPECT_STREQ("abc", mem);
	EXPECT_EQ('#', mem[4]);
}

TEST(fixed_capacity_one_and_zero)
{
	char mem[4];
	struct gw_sbuf sb;

	memset(mem, '#', sizeof(mem));
	sb = GW_SBUF_FIXED(mem, 1);
	gw_sbuf_printf(&sb, "%s", "");
	EXPECT_EQ(0, sb.err);
	EXPECT_EQ(0, sb.len);
	EXPECT_STREQ("", mem);
	gw_sbuf_printf(&sb, "a");
	EXPECT_EQ(-ENOSPC, sb.err);
	EXPECT_EQ(0, sb.len);
	EXPECT_STREQ("", mem);
	EXPECT_EQ('#', mem[1]);

	/* Capacity 0: no room even for the NUL, nothing is written. */
	memset(mem, '#', sizeof(mem));
	sb = GW_SBUF_FIXED(mem, 0);
	gw_sbuf_printf(&sb, "%s", "");
	EXPECT_EQ(-ENOSPC, sb.err);
	EXPECT_EQ(0, sb.len);
	EXPECT_EQ('#', mem[0]);
	gw_sbuf_printf(&sb, "x");
	EXPECT_EQ(-ENOSPC, sb.err);
	EXPECT_EQ('#', mem[0]);
}

TEST(put_bytes_growable_and_fixed_whole_or_nothing)
{
	struct gw_sbuf sb = { 0 };
	char mem[8];
	unsigned int i;

	for (i = 0; i < 3000; i++)
		gw_sbuf_put(&sb, "ab\0c", 4);	/* bytes, a NUL among them */
	ASSERT_EQ(0, sb.err);
	ASSERT_EQ(12000, sb.len);
	EXPECT_EQ(0, memcmp(sb.buf + 11996, "ab\0c", 4));
	EXPECT_EQ('\0', sb.buf[sb.len]);
	gw_sbuf_free(&sb);

	memset(mem, '#', sizeof(mem));
	sb = GW_SBUF_FIXED(mem, sizeof(mem));
	gw_sbuf_put(&sb, "1234", 4);
	gw_sbuf_put(&sb, "5678", 4);	/* 4 + 4 + NUL > 8: left out whole */
	EXPECT_EQ(-ENOSPC, sb.err);
	EXPECT_EQ(4, sb.len);
	EXPECT_STREQ("1234", mem);
	gw_sbuf_put(&sb, "5", 1);	/* sticks */
	EXPECT_STREQ("1234", mem);
}

/* The published FNV-1a 32-bit test vectors; bytes past len do not count. */
TEST(fnv1a_known_values)
{
	EXPECT_EQ(0x811c9dc5u, gw_hash_fnv1a("", 0));
	EXPECT_EQ(0xe40c292cu, gw_hash_fnv1a("a", 1));
	EXPECT_EQ(0xbf9cf968u, gw_hash_fnv1a("foobar", 6));
	EXPECT_EQ(0xbf9cf968u, gw_hash_fnv1a("foobarbaz", 6));
}

TEST_HARNESS_MAIN
