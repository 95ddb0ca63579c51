// SPDX-License-Identifier: GPL-2.0-only
/*
 * s1_summary.c: the pure part of the stage1_drops summaries. The prefix a
 * sampled source counts for (/24, /64), the top-N table (counting, one
 * entry per prefix and verdict, the least-seen entry making room) and its
 * JSON body (exact text, whole entries only, emptied afterwards).
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "util.h"
#include "s1_summary.h"

static struct gw_s1_event ev4(const char *ip)
{
	struct gw_s1_event e = { .family = 4, .verdict = GW_S1_DROP };

	inet_pton(AF_INET, ip, e.saddr);
	return e;
}

static struct gw_s1_event ev6(const char *ip)
{
	struct gw_s1_event e = { .family = 6, .verdict = GW_S1_DROP };

	inet_pton(AF_INET6, ip, e.saddr);
	return e;
}

static struct gw_cidr pfx4(const char *ip)
{
	struct gw_s1_event e = ev4(ip);
	struct gw_cidr p;

	gw_s1_prefix_of(&e, &p);
	return p;
}

static struct gw_cidr pfx6(const char *ip)
{
	struct gw_s1_event e = ev6(ip);
	struct gw_cidr p;

	gw_s1_prefix_of(&e, &p);
	return p;
}

static unsigned int used(const struct gw_s1_top *t)
{
	unsigned int i, n = 0;

	for (i = 0; i < GW_S1_TOP; i++)
		n += t->v[i].samples != 0;
	return n;
}

/* The entry for p and verdict, or NULL. */
static const struct gw_s1_source *find(const struct gw_s1_top *t, const struct gw_cidr *p,
				       uint8_t verdict)
{
	unsigned int i;

	for (i = 0; i < GW_S1_TOP; i++)
		if (t->v[i].samples && t->v[i].verdict == verdict &&
		    t->v[i].prefix.family == p->family &&
		    t->v[i].prefix.prefix_len == p->prefix_len &&
		    !memcmp(t->v[i].prefix.addr, p->addr, sizeof(p->addr)))
			return &t->v[i];
	return NULL;
}

TEST(prefix_of_ipv4_is_slash24)
{
	static const unsigned char want[16] = { 192, 0, 2, 0 };
	struct gw_s1_event e = ev4("192.0.2.77");
	struct gw_cidr p;
	char s[64];

	/* Whatever follows the IPv4 address in saddr does not count. */
	memset(e.saddr + 4, 0xAA, 12);
	memset(&p, 0x55, sizeof(p));
	gw_s1_prefix_of(&e, &p);
	EXPECT_EQ(AF_INET, p.family);
	EXPECT_EQ(24, p.prefix_len);
	EXPECT_MEMEQ(want, p.addr, sizeof(want));
	ASSERT_EQ(0, gw_cidr_fmt(&p, s, sizeof(s)));
	EXPECT_STREQ("192.0.2.0/24", s);

	/* Host byte 255 and host byte 0 share the prefix. */
	p = pfx4("10.20.30.255");
	ASSERT_EQ(0, gw_cidr_fmt(&p, s, sizeof(s)));
	EXPECT_STREQ("10.20.30.0/24", s);
	EXPECT_MEMEQ(pfx4("10.20.30.0").addr, p.addr, sizeof(p.addr));
}

TEST(prefix_of_ipv6_is_slash64)
{
	static const unsigned char want[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x02,
	};
	struct gw_cidr p;
	char s[64];

	p = pfx6("2001:db8:1:2:3:4:5:6");
	EXPECT_EQ(AF_INET6, p.family);
	EXPECT_EQ(64, p.prefix_len);
	EXPECT_MEMEQ(want, p.addr, sizeof(want));
	ASSERT_EQ(0, gw_cidr_fmt(&p, s, sizeof(s)));
	EXPECT_STREQ("2001:db8:1:2::/64", s);

	p = pfx6("fe80::1");
	ASSERT_EQ(0, gw_cidr_fmt(&p, s, sizeof(s)));
	EXPECT_STREQ("fe80::/64", s);
}

TEST(top_add_counts_per_prefix_and_verdict)
{
	struct gw_s1_top t;
	struct gw_cidr a = pfx4("198.51.100.1"), a2 = pfx4("198.51.100.200");
	struct gw_cidr b = pfx6("2001:db8::1");
	const struct gw_s1_source *s;
	unsigned int i;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < 3; i++)
		gw_s1_top_add(&t, &a, GW_S1_DROP);
	gw_s1_top_add(&t, &a2, GW_S1_DROP);		/* same /24 */
	gw_s1_top_add(&t, &a, GW_S1_AUDIT_PASS);	/* other verdict */
	gw_s1_top_add(&t, &b, GW_S1_DROP);
	gw_s1_top_add(&t, &b, GW_S1_DROP);

	EXPECT_EQ(3, used(&t));
	s = find(&t, &a, GW_S1_DROP);
	ASSERT_NOT_NULL(s);
	EXPECT_EQ(4, s->samples);
	s = find(&t, &a, GW_S1_AUDIT_PASS);
	ASSERT_NOT_NULL(s);
	EXPECT_EQ(1, s->samples);
	s = find(&t, &b, GW_S1_DROP);
	ASSERT_NOT_NULL(s);
	EXPECT_EQ(2, s->samples);
	EXPECT_NULL(find(&t, &b, GW_S1_AUDIT_PASS));
}

/*
 * A full table: prefix k (10.0.k.0/24) seen k + 2 times, except 10.0.5.0
 * seen once. A new prefix takes 10.0.5.0's slot; the others stay with
 * their counts. Then the newcomer, now the least seen, makes room again.
 */
TEST(full_table_replaces_least_seen)
{
	struct gw_s1_top t;
	struct gw_cidr p[GW_S1_TOP], x = pfx4("203.0.113.9"), y = pfx6("2001:db8:ffff::1");
	const struct gw_s1_source *s;
	unsigned int k, j;
	char ip[32];

	memset(&t, 0, sizeof(t));
	for (k = 0; k < GW_S1_TOP; k++) {
		snprintf(ip, sizeof(ip), "10.0.%u.1", k);
		p[k] = pfx4(ip);
		for (j = 0; j < (k == 5 ? 1 : k + 2); j++)
			gw_s1_top_add(&t, &p[k], GW_S1_DROP);
	}
	ASSERT_EQ(GW_S1_TOP, used(&t));

	for (j = 0; j < 3; j++)	/* counted, not a new entry */
		gw_s1_top_add(&t, &p[GW_S1_TOP - 1], GW_S1_DROP);
	s = find(&t, &p[GW_S1_TOP - 1], GW_S1_DROP);
	ASSERT_NOT_NULL(s);
	EXPECT_EQ(GW_S1_TOP + 1 + 3, s->samples);

	gw_s1_top_add(&t, &x, GW_S1_DROP);
	EXPECT_EQ(GW_S1_TOP, used(&t));
	EXPECT_NULL(find(&t, &p[5], GW_S1_DROP));
	s = find(&t, &x, GW_S1_DROP);
	ASSERT_NOT_NULL(s);
	EXPECT_EQ(1, s->samples);
	for (k = 0; k < GW_S1_TOP; k++) {
		if (k == 5)
			continue;
		s = find(&t, &p[k], GW_S1_DROP);
		if (!s)
			TH_LOG("10.0.%u.0/24 lost", k);
		ASSERT_NOT_NULL(s);
		EXPECT_EQ(k + 2 + (k == GW_S1_TOP - 1 ? 3 : 0), s->samples);
	}

	gw_s1_top_add(&t, &y, GW_S1_AUDIT_PASS);
	EXPECT_NULL(find(&t, &x, GW_S1_DROP));
	EXPECT_NOT_NULL(find(&t, &y, GW_S1_AUDIT_PASS));
	/* The most-seen are all still there. */
	for (k = 6; k < GW_S1_TOP; k++)
		EXPECT_NOT_NULL(find(&t, &p[k], GW_S1_DROP));
}

TEST(json_exact_text)
{
	struct gw_s1_top t;
	struct gw_cidr a = pfx4("10.1.2.3"), b = pfx6("2001:db8:0:7::99");
	char buf[512];
	unsigned int i;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < 3; i++)
		gw_s1_top_add(&t, &a, GW_S1_DROP);
	gw_s1_top_add(&t, &b, GW_S1_AUDIT_PASS);
	gw_s1_top_json(&t, buf, sizeof(buf));
	EXPECT_STREQ("{\"prefix\":\"10.1.2.0/24\",\"samples\":3},"
		     "{\"prefix\":\"2001:db8:0:7::/64\",\"samples\":1}", buf);

	/* Emptied: a second call gives nothing. */
	EXPECT_EQ(0, used(&t));
	memset(buf, 'x', sizeof(buf));
	gw_s1_top_json(&t, buf, sizeof(buf));
	EXPECT_STREQ("", buf);
}

TEST(json_empty_table)
{
	struct gw_s1_top t;
	char buf[8];

	memset(&t, 0, sizeof(t));
	memset(buf, 'x', sizeof(buf));
	gw_s1_top_json(&t, buf, sizeof(buf));
	EXPECT_STREQ("", buf);
}

/*
 * Every buffer size from 1 to the full text: the longest run of whole
 * entries that fits, never part of one, nothing written past len, and the
 * table empty afterwards either way.
 */
TEST(json_small_buffer_whole_entries_only)
{
	static const char *const entry[] = {
		"{\"prefix\":\"192.0.2.0/24\",\"samples\":2}",
		"{\"prefix\":\"198.51.100.0/24\",\"samples\":1}",
		"{\"prefix\":\"2001:db8:1::/64\",\"samples\":1}",
	};
	char full[512], want[512], buf[600];
	size_t len, full_len;
	unsigned int i;

	snprintf(full, sizeof(full), "%s,%s,%s", entry[0], entry[1], entry[2]);
	full_len = strlen(full);
	for (len = 1; len <= full_len + 1; len++) {
		struct gw_s1_top t;
		struct gw_cidr a = pfx4("192.0.2.1"), b = pfx4("198.51.100.1");
		struct gw_cidr c = pfx6("2001:db8:1::1");

		memset(&t, 0, sizeof(t));
		gw_s1_top_add(&t, &a, GW_S1_DROP);
		gw_s1_top_add(&t, &a, GW_S1_DROP);
		gw_s1_top_add(&t, &b, GW_S1_DROP);
		gw_s1_top_add(&t, &c, GW_S1_DROP);

		want[0] = '\0';
		for (i = 0; i < ARRAY_SIZE(entry); i++) {
			size_t o = strlen(want), add = (o ? 1 : 0) + strlen(entry[i]);

			if (o + add + 1 > len)
				break;
			if (o)
				want[o++] = ',';
			memcpy(want + o, entry[i], strlen(entry[i]) + 1);
		}
		memset(buf, 'x', sizeof(buf));
		gw_s1_top_json(&t, buf, len);
		if (strcmp(want, buf))
			TH_LOG("len %zu", len);
		ASSERT_STREQ(want, buf);
		for (i = len; i < sizeof(buf); i++)
			ASSERT_EQ('x', buf[i]);
		ASSERT_EQ(0, used(&t));
	}
}

TEST_HARNESS_MAIN
