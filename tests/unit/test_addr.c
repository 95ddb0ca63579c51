// SPDX-License-Identifier: GPL-2.0-only
/* addr.c: CIDR parse/format/match and numeric host:port parse/format. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "harness.h"
#include "util.h"
#include "addr.h"

/* A socket address from a numeric host, family picked by the presence of ':'. */
static struct sockaddr_storage mk_sa(const char *host, unsigned short port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(host, ':')) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			ss.ss_family = AF_UNSPEC;
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			ss.ss_family = AF_UNSPEC;
	}
	return ss;
}

static const struct {
	const char *in;
	int family;
	int prefix_len;
	const char *fmt;	/* gw_cidr_fmt of the result */
} cidr_good[] = {
	{ "10.0.0.0/8", AF_INET, 8, "10.0.0.0/8" },
	{ "0.0.0.0/0", AF_INET, 0, "0.0.0.0/0" },
	{ "172.16.0.0/12", AF_INET, 12, "172.16.0.0/12" },
	{ "10.128.0.0/9", AF_INET, 9, "10.128.0.0/9" },
	{ "192.168.1.1", AF_INET, 32, "192.168.1.1/32" },
	{ "192.168.1.1/32", AF_INET, 32, "192.168.1.1/32" },
	{ "255.255.255.254/31", AF_INET, 31, "255.255.255.254/31" },
	{ "2001:db8::/32", AF_INET6, 32, "2001:db8::/32" },
	{ "2001:DB8::/32", AF_INET6, 32, "2001:db8::/32" },
	{ "2001:db8:0:0:0:0:0:1/128", AF_INET6, 128, "2001:db8::1/128" },
	{ "::/0", AF_INET6, 0, "::/0" },
	{ "::1", AF_INET6, 128, "::1/128" },
	{ "fe80::/10", AF_INET6, 10, "fe80::/10" },
	{ "2001:db8::/127", AF_INET6, 127, "2001:db8::/127" },
	{ "::ffff:10.0.0.0/104", AF_INET6, 104, "::ffff:10.0.0.0/104" },
};

static const char *const cidr_bad[] = {
	"", "/", "/8", "10.0.0.0/", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/-1",
	"10.0.0.0/+8", "10.0.0.0/08", "10.0.0.0/8 ", " 10.0.0.0/8",
	"10.0.0.0 /8", "10.0.0.0/ 8", "10.0.0.0/8/8", "10.0.0/8",
	"10.0.0.0.0/8", "256.0.0.0/8", "010.0.0.0/8", "10.0.0.0/8x",
	"10.0.0.0/1000", "10.0.0.0/4294967304", "0x0a.0.0.0/8", "10.0.0.0\n",
	"192.168.1.1/31", "2001:db8::1/32", "2001:db8::/129", "::/", "::1/0x10",
	"2001:db8::/32%eth0", "fe80::1%eth0", "::ffff:10.0.0.1/104", ":::/0",
	"2001:db8::/32 ", "localhost", "example.com/24", "1.2.3.4:80", "[::1]",
	"[::1]/128", "*", "any",
};

/* A connection's compact address: IPv4 and IPv6 whole, anything else none. */
TEST(inaddr_keeps_inet_only)
{
	struct sockaddr_storage ss;
	union gw_inaddr a;
	socklen_t len;
	char buf[GW_SOCKADDR_STRLEN];

	ASSERT_EQ(0, gw_sockaddr_parse("192.0.2.7:8443", &ss, &len));
	memset(&a, 0xa5, sizeof(a));
	gw_inaddr_set(&a, &ss);
	ASSERT_EQ(AF_INET, a.sa.sa_family);
	ASSERT_EQ(0, gw_sockaddr_fmt(&a.sa, buf, sizeof(buf)));
	ASSERT_STREQ("192.0.2.7:8443", buf);
	ASSERT_EQ(0, gw_sockaddr_parse("[2001:db8::1:2]:443", &ss, &len));
	gw_inaddr_set(&a, &ss);
	ASSERT_EQ(AF_INET6, a.sa.sa_family);
	ASSERT_EQ(0, gw_sockaddr_fmt(&a.sa, buf, sizeof(buf)));
	ASSERT_STREQ("[2001:db8::1:2]:443", buf);
	ASSERT_EQ(0, memcmp(&a.in6, &ss, sizeof(a.in6)));
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	gw_inaddr_set(&a, &ss);
	ASSERT_EQ(0, a.sa.sa_family);
	ASSERT_TRUE(sizeof(a) <= 28);
}

TEST(cidr_parse_good)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cidr_good); i++) {
		struct gw_cidr c;
		char buf[GW_SOCKADDR_STRLEN];
		int err;

		memset(&c, 0xa5, sizeof(c));
		err = gw_cidr_parse(cidr_good[i].in, &c);
		if (err)
			TH_LOG("\"%s\"", cidr_good[i].in);
		ASSERT_EQ(0, err);
		EXPECT_EQ(cidr_good[i].family, c.family);
		EXPECT_EQ(cidr_good[i].prefix_len, c.prefix_len);
		ASSERT_EQ(0, gw_cidr_fmt(&c, buf, sizeof(buf)));
		EXPECT_STREQ(cidr_good[i].fmt, buf);
	}
}

TEST(cidr_parse_bad)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cidr_bad); i++) {
		struct gw_cidr c;
		int err = gw_cidr_parse(cidr_bad[i], &c);

		if (err != -EINVAL)
			TH_LOG("accepted \"%s\"", cidr_bad[i]);
		EXPECT_EQ(-EINVAL, err);
	}
	EXPECT_EQ(-EINVAL, gw_cidr_parse(NULL, NULL));
}

/* Host bits are zero in the stored address for an IPv4 prefix. */
TEST(cidr_parse_v4_bytes)
{
	struct gw_cidr c;

	ASSERT_EQ(0, gw_cidr_parse("10.128.0.0/9", &c));
	EXPECT_EQ(10, c.addr[0]);
	EXPECT_EQ(128, c.addr[1]);
	EXPECT_EQ(0, c.addr[2]);
	EXPECT_EQ(0, c.addr[3]);
}

TEST(cidr_fmt_truncation)
{
	struct gw_cidr c;
	char buf[10];	/* "10.0.0.0/8" needs 11 */

	ASSERT_EQ(0, gw_cidr_parse("10.0.0.0/8", &c));
	EXPECT_EQ(-ENOSPC, gw_cidr_fmt(&c, buf, sizeof(buf)));
	c.family = AF_UNIX;
	EXPECT_EQ(-EINVAL, gw_cidr_fmt(&c, buf, sizeof(buf)));
}

static const struct {
	const char *cidr;
	const char *addr;
	bool match;
} cidr_match[] = {
	{ "10.0.0.0/8", "10.0.0.0", true },
	{ "10.0.0.0/8", "10.255.255.255", true },
	{ "10.0.0.0/8", "11.0.0.0", false },
	{ "10.0.0.0/8", "9.255.255.255", false },
	{ "10.128.0.0/9", "10.128.0.1", true },
	{ "10.128.0.0/9", "10.127.255.255", false },
	{ "0.0.0.0/0", "1.2.3.4", true },
	{ "0.0.0.0/0", "255.255.255.255", true },
	{ "0.0.0.0/0", "::1", false },
	{ "192.168.1.1", "192.168.1.1", true },
	{ "192.168.1.1/32", "192.168.1.0", false },
	{ "192.168.1.1/32", "192.168.1.2", false },
	{ "2001:db8::/32", "2001:db8:ffff::1", true },
	{ "2001:db8::/32", "2001:db9::", false },
	/* Same leading bytes, other family: 32.1.13.184 = 20 01 0d b8. */
	{ "2001:db8::/32", "32.1.13.184", false },
	{ "32.1.13.184/32", "2001:db8::", false },
	{ "::/0", "2001:db8::1", true },
	{ "::/0", "1.2.3.4", false },
	{ "::1/128", "::1", true },
	{ "::1", "::2", false },
	{ "::1", "::", false },
	{ "2001:db8::/127", "2001:db8::1", true },
	{ "2001:db8::/127", "2001:db8::2", false },
	/* A v4 client on a dual-stack socket is matched as IPv4. */
	{ "10.0.0.0/8", "::ffff:10.1.2.3", true },
	{ "10.0.0.0/8", "::ffff:11.1.2.3", false },
	{ "1.2.3.4", "::ffff:1.2.3.4", true },
	{ "0.0.0.0/0", "::ffff:1.2.3.4", true },
	/* ...and only as IPv4: IPv6 prefixes never cover it. */
	{ "::/0", "::ffff:1.2.3.4", false },
	{ "::ffff:10.0.0.0/104", "::ffff:10.1.1.1", false },
	/* The deprecated v4-compatible form is plain IPv6. */
	{ "10.0.0.0/8", "::10.1.2.3", false },
};

TEST(cidr_match_table)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cidr_match); i++) {
		struct sockaddr_storage ss = mk_sa(cidr_match[i].addr, 443);
		struct gw_cidr c;
		bool m;

		ASSERT_NE(AF_UNSPEC, ss.ss_family);
		ASSERT_EQ(0, gw_cidr_parse(cidr_match[i].cidr, &c));
		m = gw_cidr_match(&c, (struct sockaddr *)&ss);
		if (m != cidr_match[i].match)
			TH_LOG("%s vs %s", cidr_match[i].cidr, cidr_match[i].addr);
		EXPECT_EQ(cidr_match[i].match, m);
	}
}

TEST(cidr_match_odd_inputs)
{
	struct sockaddr_storage ss = mk_sa("10.1.2.3", 1);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct gw_cidr c;

	ASSERT_EQ(0, gw_cidr_parse("0.0.0.0/0", &c));
	EXPECT_FALSE(gw_cidr_match(&c, NULL));
	EXPECT_FALSE(gw_cidr_match(NULL, (struct sockaddr *)&ss));
	EXPECT_FALSE(gw_cidr_match(&c, (struct sockaddr *)&sun));
	/* A corrupted prefix length never widens the match. */
	c.prefix_len = 200;
	EXPECT_FALSE(gw_cidr_match(&c, (struct sockaddr *)&ss));
}

TEST(cidr_match_any)
{
	struct sockaddr_storage a = mk_sa("2001:db8::5", 1);
	struct sockaddr_storage b = mk_sa("192.168.0.1", 1);
	struct sockaddr_storage m = mk_sa("::ffff:10.9.9.9", 1);
	struct gw_cidr c[2];

	ASSERT_EQ(0, gw_cidr_parse("10.0.0.0/8", &c[0]));
	ASSERT_EQ(0, gw_cidr_parse("2001:db8::/32", &c[1]));
	EXPECT_TRUE(gw_cidr_match_any(c, 2, (struct sockaddr *)&a));
	EXPECT_TRUE(gw_cidr_match_any(c, 2, (struct sockaddr *)&m));
	EXPECT_FALSE(gw_cidr_match_any(c, 2, (struct sockaddr *)&b));
	EXPECT_FALSE(gw_cidr_match_any(c, 1, (struct sockaddr *)&a));
	EXPECT_FALSE(gw_cidr_match_any(c, 0, (struct sockaddr *)&a));
}

/* host:port round trips, one variant per address shape. */
FIXTURE(sockaddr) {
	struct sockaddr_storage ss;
	socklen_t len;
};

FIXTURE_VARIANT(sockaddr) {
	const char *in;
	int family;
	const char *fmt;	/* gw_sockaddr_fmt of the parsed value */
	const char *host;	/* gw_sockaddr_fmt_host */
	unsigned short port;
};

FIXTURE_VARIANT_ADD(sockaddr, v4) {
	.in = "1.2.3.4:80", .family = AF_INET,
	.fmt = "1.2.3.4:80", .host = "1.2.3.4", .port = 80,
};

FIXTURE_VARIANT_ADD(sockaddr, v4_any_port0) {
	.in = "0.0.0.0:0", .family = AF_INET,
	.fmt = "0.0.0.0:0", .host = "0.0.0.0", .port = 0,
};

FIXTURE_VARIANT_ADD(sockaddr, v4_max) {
	.in = "255.255.255.255:65535", .family = AF_INET,
	.fmt = "255.255.255.255:65535", .host = "255.255.255.255", .port = 65535,
};

FIXTURE_VARIANT_ADD(sockaddr, v6_loopback) {
	.in = "[::1]:8443", .family = AF_INET6,
	.fmt = "[::1]:8443", .host = "::1", .port = 8443,
};

FIXTURE_VARIANT_ADD(sockaddr, v6_any) {
	.in = "[::]:443", .family = AF_INET6,
	.fmt = "[::]:443", .host = "::", .port = 443,
};

FIXTURE_VARIANT_ADD(sockaddr, v6_long) {
	.in = "[2001:DB8:0:0:0:0:0:1]:1", .family = AF_INET6,
	.fmt = "[2001:db8::1]:1", .host = "2001:db8::1", .port = 1,
};

FIXTURE_VARIANT_ADD(sockaddr, v6_mapped) {
	.in = "[::ffff:1.2.3.4]:80", .family = AF_INET6,
	.fmt = "1.2.3.4:80", .host = "1.2.3.4", .port = 80,
};

FIXTURE_SETUP(sockaddr)
{
	memset(&self->ss, 0xa5, sizeof(self->ss));
	self->len = 0;
	ASSERT_EQ(0, gw_sockaddr_parse(variant->in, &self->ss, &self->len));
}

FIXTURE_TEARDOWN(sockaddr)
{
}

TEST_F(sockaddr, parse)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&self->ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&self->ss;

	ASSERT_EQ(variant->family, self->ss.ss_family);
	if (variant->family == AF_INET) {
		EXPECT_EQ(sizeof(struct sockaddr_in), self->len);
		EXPECT_EQ(variant->port, ntohs(sin->sin_port));
		/* The rest of the storage is zeroed, not left over. */
		EXPECT_EQ(0, sin->sin_zero[0]);
	} else {
		EXPECT_EQ(sizeof(struct sockaddr_in6), self->len);
		EXPECT_EQ(variant->port, ntohs(sin6->sin6_port));
		EXPECT_EQ(0, sin6->sin6_flowinfo);
		EXPECT_EQ(0, sin6->sin6_scope_id);
	}
}

TEST_F(sockaddr, fmt)
{
	char buf[GW_SOCKADDR_STRLEN];

	ASSERT_EQ(0, gw_sockaddr_fmt((struct sockaddr *)&self->ss, buf, sizeof(buf)));
	EXPECT_STREQ(variant->fmt, buf);
	ASSERT_EQ(0, gw_sockaddr_fmt_host((struct sockaddr *)&self->ss, buf, sizeof(buf)));
	EXPECT_STREQ(variant->host, buf);
}

/* fmt output parses back to an address that formats the same. */
TEST_F(sockaddr, round_trip)
{
	struct sockaddr_storage again;
	char a[GW_SOCKADDR_STRLEN], b[GW_SOCKADDR_STRLEN];
	socklen_t len;

	ASSERT_EQ(0, gw_sockaddr_fmt((struct sockaddr *)&self->ss, a, sizeof(a)));
	ASSERT_EQ(0, gw_sockaddr_parse(a, &again, &len));
	ASSERT_EQ(0, gw_sockaddr_fmt((struct sockaddr *)&again, b, sizeof(b)));
	EXPECT_STREQ(a, b);
	if (strcmp(variant->in, variant->fmt))
		return;	/* canonicalised (mapped, upper case): fmt differs */
	EXPECT_EQ(self->len, len);
	EXPECT_MEMEQ(&self->ss, &again, len);
}

TEST_F(sockaddr, fmt_truncation)
{
	char buf[4];

	EXPECT_EQ(-ENOSPC, gw_sockaddr_fmt((struct sockaddr *)&self->ss, buf, sizeof(buf)));
	EXPECT_EQ(-ENOSPC, gw_sockaddr_fmt_host((struct sockaddr *)&self->ss, buf, 2));
}

static const char *const sockaddr_bad[] = {
	"", ":", "1.2.3.4", "1.2.3.4:", ":80", "[]:80", "[::1]", "[::1]:",
	"::1:80", "::1", "[::1]80", "[::1]:80:", "[::1:80", "::1]:80",
	"[[::1]]:80", "1.2.3.4:65536", "1.2.3.4:99999", "1.2.3.4:123456",
	"1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4:080", "1.2.3.4: 80",
	" 1.2.3.4:80", "1.2.3.4:80 ", "1.2.3.4 :80", "1.2.3.4:0x50",
	"localhost:80", "example.com:443", "[localhost]:80", "[1.2.3.4]:80",
	"1.2.3:80", "01.2.3.4:80", "[fe80::1%eth0]:80", "*:80", "0:80",
	"1.2.3.4:80\n",
};

TEST(sockaddr_parse_bad)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sockaddr_bad); i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		int err = gw_sockaddr_parse(sockaddr_bad[i], &ss, &len);

		if (err != -EINVAL)
			TH_LOG("accepted \"%s\"", sockaddr_bad[i]);
		EXPECT_EQ(-EINVAL, err);
	}
	EXPECT_EQ(-EINVAL, gw_sockaddr_parse(NULL, NULL, NULL));
}

TEST(sockaddr_fmt_other_family)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[GW_SOCKADDR_STRLEN];

	EXPECT_EQ(-EAFNOSUPPORT, gw_sockaddr_fmt((struct sockaddr *)&sun, buf, sizeof(buf)));
	EXPECT_EQ(-EAFNOSUPPORT, gw_sockaddr_fmt_host((struct sockaddr *)&sun, buf, sizeof(buf)));
	EXPECT_EQ(-EINVAL, gw_sockaddr_fmt(NULL, buf, sizeof(buf)));
}

/* The length out-parameter is optional. */
TEST(sockaddr_parse_null_len)
{
	struct sockaddr_storage ss;

	EXPECT_EQ(0, gw_sockaddr_parse("[::1]:1", &ss, NULL));
	EXPECT_EQ(AF_INET6, ss.ss_family);
}

TEST_HARNESS_MAIN
