// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ClientHello's server name and the route it picks (userspace/route.c):
 * the extension parsed from bytes a client chose (every malformed length
 * refused, case folded, one trailing dot dropped), exact names before
 * "*." patterns, a pattern covering one label only.
 */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "route.h"

/* A server_name extension body holding one entry of type with name[0..n). */
static size_t sni_ext(unsigned char *buf, unsigned char type, const char *name, size_t n)
{
	buf[0] = (unsigned char)((n + 3) >> 8);
	buf[1] = (unsigned char)(n + 3);
	buf[2] = type;
	buf[3] = (unsigned char)(n >> 8);
	buf[4] = (unsigned char)n;
	memcpy(buf + 5, name, n);
	return n + 5;
}

TEST(sni_parsed_lowercase_without_trailing_dot)
{
	unsigned char ext[300];
	char out[GW_SNI_BUF];
	size_t n;

	n = sni_ext(ext, 0, "Api.Corp.TEST.", 14);
	ASSERT_EQ(0, gw_sni_parse(ext, n, out));
	EXPECT_STREQ("api.corp.test", out);
}

TEST(sni_malformed_refused)
{
	unsigned char ext[600];
	char out[GW_SNI_BUF], big[300];
	size_t n;

	n = sni_ext(ext, 0, "a.test", 6);
	/* The list's length one more, or one less, than the bytes there. */
	ext[1]++;
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	ext[1] -= 2;
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	ext[1]++;
	/* The name's length past the end. */
	ext[4] = 200;
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	/* Cut anywhere. */
	ext[4] = 6;
	for (size_t cut = 0; cut < n; cut++)
		EXPECT_NE(0, gw_sni_parse(ext, cut, out));
	/* A NUL, a space, a control byte or a byte past ASCII in the name. */
	n = sni_ext(ext, 0, "a\0b.test", 8);
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	n = sni_ext(ext, 0, "a b.test", 8);
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	n = sni_ext(ext, 0, "a\nb.test", 8);
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	n = sni_ext(ext, 0, "\xc3\xa9.test", 7);
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	/* Empty, a lone dot, longer than a DNS name can be. */
	n = sni_ext(ext, 0, "", 0);
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	n = sni_ext(ext, 0, ".", 1);
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	memset(big, 'a', sizeof(big));
	n = sni_ext(ext, 0, big, GW_SNI_MAX + 1);
	EXPECT_EQ(-EINVAL, gw_sni_parse(ext, n, out));
	n = sni_ext(ext, 0, big, GW_SNI_MAX);
	EXPECT_EQ(0, gw_sni_parse(ext, n, out));
	EXPECT_EQ(GW_SNI_MAX, strlen(out));
	/* A type other than host_name only: no name. */
	n = sni_ext(ext, 7, "a.test", 6);
	EXPECT_EQ(-ENOENT, gw_sni_parse(ext, n, out));
	EXPECT_STREQ("", out);
}

static char *api_names[] = { "api.corp.test", "*.api.corp.test" };
static char *wild_names[] = { "*.corp.test" };
static char *ledger_names[] = { "ledger.corp.test" };

static const struct gw_cfg_listener routed = {
	.routes = (struct gw_cfg_listener[]){
		{ .route = "wild", .server_names = wild_names, .n_server_names = 1 },
		{ .route = "api", .server_names = api_names, .n_server_names = 2 },
		{ .route = "ledger", .server_names = ledger_names, .n_server_names = 1 },
	},
	.n_routes = 3,
};

TEST(exact_before_pattern_one_label)
{
	EXPECT_EQ(1, gw_route_find(&routed, "api.corp.test"));
	EXPECT_EQ(2, gw_route_find(&routed, "ledger.corp.test"));
	/* "ledger" is exact in route 2, though route 0's pattern covers it too. */
	EXPECT_EQ(1, gw_route_find(&routed, "v2.api.corp.test"));
	EXPECT_EQ(0, gw_route_find(&routed, "other.corp.test"));
	/* A pattern covers one label: not two, not none. */
	EXPECT_EQ(-1, gw_route_find(&routed, "a.v2.api.corp.test"));
	EXPECT_EQ(-1, gw_route_find(&routed, "corp.test"));
	EXPECT_EQ(-1, gw_route_find(&routed, "test"));
	EXPECT_EQ(-1, gw_route_find(&routed, ".corp.test"));
	EXPECT_EQ(-1, gw_route_find(&routed, "api.corp.test.evil"));
	/* A client's literal "*" label is one label like any other. */
	EXPECT_EQ(1, gw_route_find(&routed, "*.api.corp.test"));
}

TEST(no_routes_no_match)
{
	const struct gw_cfg_listener none = { 0 };

	EXPECT_EQ(-1, gw_route_find(&none, "api.corp.test"));
}

TEST_HARNESS_MAIN
