// SPDX-License-Identifier: GPL-2.0-only
/*
 * gen.c: gw_gen_recheck, the decision whether a live connection survives
 * a reload or a CRL update. Revocation closes in any mode; a removed
 * listener closes nothing; source and rule changes close only in enforce
 * mode, source first. Listener and identity are built by hand.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "harness.h"
#include "util.h"
#include "addr.h"
#include "authz.h"
#include "config.h"
#include "gen.h"
#include "identity.h"

static struct sockaddr_storage src4(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	inet_pton(AF_INET, ip, &sin->sin_addr);
	return ss;
}

static struct sockaddr_storage src6(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(40000);
	inet_pton(AF_INET6, ip, &sin6->sin6_addr);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

/*
 * Listener: enforce, sources 10.0.0.0/8 and 2001:db8::/32, one rule
 * "prod" (spiffe://corp.test/prod/ and one segment). Peer:
 * spiffe://corp.test/prod/payments.
 */
FIXTURE(recheck) {
	struct gw_cidr sources[2];
	char *prod[1];
	struct gw_authz_rule rules[1];
	struct gw_cfg_listener lc;
	char *uri[1];
	struct gw_identity id;
	struct sockaddr_storage in4, out4, in6, out6;
};

FIXTURE_SETUP(recheck)
{
	ASSERT_EQ(0, gw_cidr_parse("10.0.0.0/8", &self->sources[0]));
	ASSERT_EQ(0, gw_cidr_parse("2001:db8::/32", &self->sources[1]));
	self->prod[0] = "spiffe://corp.test/prod/*";
	self->rules[0] = (struct gw_authz_rule){
		.name = "prod", .spiffe_id = self->prod, .n_spiffe_id = 1,
	};
	self->lc.name = "edge";
	self->lc.mode = GW_MODE_ENFORCE;
	self->lc.allow_sources = self->sources;
	self->lc.n_allow_sources = 2;
	self->lc.allow_any = false;
	self->lc.rules = self->rules;
	self->lc.n_rules = 1;

	self->uri[0] = "spiffe://corp.test/prod/payments";
	self->id.san_uri = self->uri;
	self->id.n_san_uri = 1;
	self->id.spiffe_id = self->uri[0];

	self->in4 = src4("10.1.2.3");
	self->out4 = src4("192.0.2.1");
	self->in6 = src6("2001:db8:5::1");
	self->out6 = src6("2001:db9::1");
}

FIXTURE_TEARDOWN(recheck)
{
}

/* Still allowed: nothing to close. */
TEST_F(recheck, allowed_connection_stays)
{
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->in4), &self->id));
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->in6), &self->id));
}

/* A listener gone from the configuration: its connections finish. */
TEST_F(recheck, removed_listener_closes_nothing)
{
	EXPECT_NULL(gw_gen_recheck(NULL, -1, SA(self->out4), &self->id));
	EXPECT_NULL(gw_gen_recheck(NULL, 0, SA(self->out4), &self->id));
	EXPECT_NULL(gw_gen_recheck(NULL, 2, SA(self->in4), &self->id));
}

TEST_F(recheck, revoked_in_any_mode)
{
	static const enum gw_mode modes[] = { GW_MODE_ENFORCE, GW_MODE_AUDIT };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		self->lc.mode = modes[i];
		EXPECT_STREQ("revoked", gw_gen_recheck(&self->lc, 0, SA(self->in4), &self->id));
		EXPECT_STREQ("issuer_revoked",
			     gw_gen_recheck(&self->lc, 1, SA(self->in4), &self->id));
		EXPECT_STREQ("issuer_revoked",
			     gw_gen_recheck(&self->lc, 2, SA(self->in4), &self->id));
		/* Revocation wins over a denied source. */
		EXPECT_STREQ("revoked", gw_gen_recheck(&self->lc, 0, SA(self->out4), &self->id));
	}
}

/* Audit mode never closes a connection for its source or its rules. */
TEST_F(recheck, audit_mode_keeps_denied)
{
	self->lc.mode = GW_MODE_AUDIT;
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->out4), &self->id));
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->out6), &self->id));
	self->prod[0] = "spiffe://corp.test/dev/*";
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->in4), &self->id));
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->out4), &self->id));
}

TEST_F(recheck, enforce_source_denied)
{
	EXPECT_STREQ("source_denied", gw_gen_recheck(&self->lc, -1, SA(self->out4), &self->id));
	EXPECT_STREQ("source_denied", gw_gen_recheck(&self->lc, -1, SA(self->out6), &self->id));
	/* The source is checked first. */
	self->prod[0] = "spiffe://corp.test/dev/*";
	EXPECT_STREQ("source_denied", gw_gen_recheck(&self->lc, -1, SA(self->out4), &self->id));
	/* No prefix at all, and not allow_any: nothing is allowed. */
	self->lc.n_allow_sources = 0;
	EXPECT_STREQ("source_denied", gw_gen_recheck(&self->lc, -1, SA(self->in4), &self->id));
	/* allow_any ignores the list. */
	self->lc.allow_any = true;
	self->prod[0] = "spiffe://corp.test/prod/*";
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->out4), &self->id));
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->out6), &self->id));
}

TEST_F(recheck, enforce_not_authorized)
{
	char *dev[] = { "spiffe://corp.test/dev/*" };
	char *dns[] = { "*.corp.test" };
	struct gw_authz_rule two[] = {
		{ .name = "dev", .spiffe_id = dev, .n_spiffe_id = 1 },
		{ .name = "prod", .spiffe_id = self->prod, .n_spiffe_id = 1 },
	};

	/* The rule changed under the connection. */
	self->rules[0].spiffe_id = dev;
	EXPECT_STREQ("not_authorized", gw_gen_recheck(&self->lc, -1, SA(self->in4), &self->id));
	EXPECT_STREQ("not_authorized", gw_gen_recheck(&self->lc, -1, SA(self->in6), &self->id));
	self->lc.allow_any = true;
	EXPECT_STREQ("not_authorized", gw_gen_recheck(&self->lc, -1, SA(self->out4), &self->id));

	/* No rules: default deny. */
	self->lc.n_rules = 0;
	EXPECT_STREQ("not_authorized", gw_gen_recheck(&self->lc, -1, SA(self->in4), &self->id));

	/* A rule the peer does not meet (no DNS SAN). */
	self->rules[0] = (struct gw_authz_rule){ .name = "dns", .san_dns = dns, .n_san_dns = 1 };
	self->lc.n_rules = 1;
	EXPECT_STREQ("not_authorized", gw_gen_recheck(&self->lc, -1, SA(self->in4), &self->id));

	/* Any matching rule, not only the first, keeps it. */
	self->lc.rules = two;
	self->lc.n_rules = 2;
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(self->in4), &self->id));
	self->lc.n_rules = 1;
	EXPECT_STREQ("not_authorized", gw_gen_recheck(&self->lc, -1, SA(self->in4), &self->id));
}

/* An IPv4-mapped IPv6 source (dual-stack socket) matches IPv4 prefixes. */
TEST_F(recheck, mapped_ipv4_source)
{
	struct sockaddr_storage in = src6("::ffff:10.9.8.7"), out = src6("::ffff:192.0.2.1");

	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(in), &self->id));
	EXPECT_STREQ("source_denied", gw_gen_recheck(&self->lc, -1, SA(out), &self->id));
	/* Only the IPv4 prefix: the mapped address still matches it. */
	self->lc.n_allow_sources = 1;
	EXPECT_NULL(gw_gen_recheck(&self->lc, -1, SA(in), &self->id));
	EXPECT_STREQ("source_denied", gw_gen_recheck(&self->lc, -1, SA(self->in6), &self->id));
}

TEST_HARNESS_MAIN
