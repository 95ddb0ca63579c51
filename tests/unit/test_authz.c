// SPDX-License-Identifier: GPL-2.0-only
/*
 * authz.c: the SPIFFE and DNS pattern matchers (security edge cases first),
 * rule AND/OR semantics, first-match order and default deny.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"
#include "authz.h"

struct pat_case {
	const char *pattern;
	const char *id;
	bool match;
};

static const struct pat_case spiffe_cases[] = {
	/* One path segment, never a subtree, an empty segment or a prefix. */
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/prod/a", true },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/prod/payments", true },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/prod/a/b", false },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/prod/", false },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/prod", false },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/production/x", false },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/prod//a", false },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/prod/a/", false },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/pro/a", false },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test.evil/prod/a", false },
	{ "spiffe://corp.test/prod/*", "spiffe://evil.test/corp.test/prod/a", false },
	{ "spiffe://corp.test/prod/*", "spiffe://evil.test/spiffe://corp.test/prod/a", false },
	{ "spiffe://corp.test/prod/*", "xspiffe://corp.test/prod/a", false },
	/* Exact comparison: no case folding anywhere. */
	{ "spiffe://corp.test/prod/*", "SPIFFE://corp.test/prod/a", false },
	{ "spiffe://corp.test/prod/*", "spiffe://CORP.test/prod/a", false },
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/PROD/a", false },
	/* Literal patterns. */
	{ "spiffe://corp.test/prod/a", "spiffe://corp.test/prod/a", true },
	{ "spiffe://corp.test/prod/a", "spiffe://corp.test/prod/ab", false },
	{ "spiffe://corp.test/prod/a", "spiffe://corp.test/prod/a/", false },
	{ "spiffe://corp.test/prod/a", "spiffe://corp.test/prod", false },
	{ "spiffe://corp.test/prod/a", "spiffe://corp.test/prod/A", false },
	{ "spiffe://corp.test/prod/a?", "spiffe://corp.test/prod/ab", false },
	{ "spiffe://corp.test/prod/a?", "spiffe://corp.test/prod/a?", true },
	{ "spiffe://corp.test/prod/[ab]", "spiffe://corp.test/prod/a", false },
	/* A star in the middle or in the trust domain segment. */
	{ "spiffe://corp.test/*/payments", "spiffe://corp.test/prod/payments", true },
	{ "spiffe://corp.test/*/payments", "spiffe://corp.test/prod/x/payments", false },
	{ "spiffe://corp.test/*/payments", "spiffe://corp.test//payments", false },
	{ "spiffe://*/prod/a", "spiffe://corp.test/prod/a", true },
	{ "spiffe://*/prod/a", "spiffe:///prod/a", false },
	{ "spiffe://corp.test/*", "spiffe://corp.test/prod/a", false },
	{ "spiffe://corp.test/*", "spiffe://corp.test", false },
	/* Partial segments: a star is one or more characters. */
	{ "spiffe://corp.test/prod/pay*", "spiffe://corp.test/prod/payments", true },
	{ "spiffe://corp.test/prod/pay*", "spiffe://corp.test/prod/pay", false },
	{ "spiffe://corp.test/prod/pay*", "spiffe://corp.test/prod/pay/x", false },
	{ "spiffe://corp.test/prod/*-api", "spiffe://corp.test/prod/x-api", true },
	{ "spiffe://corp.test/prod/*-api", "spiffe://corp.test/prod/-api", false },
	{ "spiffe://corp.test/prod/*-api", "spiffe://corp.test/prod/x-api-v2", false },
	{ "spiffe://corp.test/prod/*-api", "spiffe://corp.test/prod/x-api-api", true },
	{ "spiffe://corp.test/prod/*a*b*", "spiffe://corp.test/prod/xaybz", true },
	{ "spiffe://corp.test/prod/*a*b*", "spiffe://corp.test/prod/xabz", false },
	{ "spiffe://corp.test/prod/*a*b*", "spiffe://corp.test/prod/aaybbz", true },
	{ "spiffe://corp.test/prod/*a*b*", "spiffe://corp.test/prod/ab", false },
	{ "spiffe://corp.test/prod/**", "spiffe://corp.test/prod/a", false },
	{ "spiffe://corp.test/prod/**", "spiffe://corp.test/prod/ab", true },
	{ "spiffe://corp.test/prod/**", "spiffe://corp.test/prod/a/b", false },
	/* A bare star is one segment. */
	{ "*", "abc", true },
	{ "*", "spiffe://corp.test/a", false },
	{ "*", "a/", false },
	/* A star in the ID is just a character. */
	{ "spiffe://corp.test/prod/*", "spiffe://corp.test/prod/*", true },
	{ "spiffe://corp.test/prod/a", "spiffe://corp.test/prod/*", false },
	/* Empty never matches. */
	{ "", "", false },
	{ "", "spiffe://corp.test/a", false },
	{ "*", "", false },
	{ "spiffe://corp.test/prod/*", "", false },
};

static const struct pat_case dns_cases[] = {
	/* One label, never zero or two, never a suffix of another label. */
	{ "*.corp.test", "a.corp.test", true },
	{ "*.corp.test", "payments.corp.test", true },
	{ "*.corp.test", "corp.test", false },
	{ "*.corp.test", "a.b.corp.test", false },
	{ "*.corp.test", "evilcorp.test", false },
	{ "*.corp.test", "a.evilcorp.test", false },
	{ "*.corp.test", ".corp.test", false },
	{ "*.corp.test", "a..corp.test", false },
	{ "*.corp.test", "a.corp.test.", false },
	{ "*.corp.test", "a.corp.test.evil", false },
	{ "*.corp.test", "a.corp.tes", false },
	{ "*.corp.test", "a.corp.testx", false },
	{ "*.corp.test", "a.corp", false },
	/* Case-insensitive, ASCII only. */
	{ "*.corp.test", "API.Corp.TEST", true },
	{ "*.CORP.test", "x.corp.Test", true },
	{ "api.corp.test", "API.CORP.TEST", true },
	{ "\xc4.corp.test", "\xe4.corp.test", false },
	{ "*.corp.test", "\xc3\xa4.corp.test", true },
	/* Literal names. */
	{ "api.corp.test", "api.corp.test", true },
	{ "api.corp.test", "api.corp.test.", false },
	{ "api.corp.test", "xapi.corp.test", false },
	{ "api.corp.test", "api.corp", false },
	{ "api.corp.test", "x.api.corp.test", false },
	/* Bare star: exactly one label. */
	{ "*", "localhost", true },
	{ "*", "a.b", false },
	{ "*", "a.", false },
	{ "*", ".", false },
	/* Partial labels and stars in other positions. */
	{ "*-api.corp.test", "pay-api.corp.test", true },
	{ "*-api.corp.test", "-api.corp.test", false },
	{ "*-api.corp.test", "pay-api.x.corp.test", false },
	{ "api-*.corp.test", "api-v2.corp.test", true },
	{ "api-*.corp.test", "api-.corp.test", false },
	{ "a.*.corp.test", "a.b.corp.test", true },
	{ "a.*.corp.test", "a.b.c.corp.test", false },
	{ "a.*.corp.test", "a.corp.test", false },
	{ "*.*.corp.test", "a.b.corp.test", true },
	{ "*.*.corp.test", "a.corp.test", false },
	{ "*.test", "corp.test", true },
	{ "*.test", "a.corp.test", false },
	/* Empty never matches. */
	{ "", "", false },
	{ "", "a", false },
	{ "*", "", false },
};

static void run_cases(HARNESS_CTX, const struct pat_case *c, unsigned int n,
		      bool (*fn)(const char *, const char *))
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		bool m = fn(c[i].pattern, c[i].id);

		if (m != c[i].match)
			TH_LOG("\"%s\" vs \"%s\"", c[i].pattern, c[i].id);
		EXPECT_EQ(c[i].match, m);
	}
}

TEST(spiffe_patterns)
{
	run_cases(_ctx, spiffe_cases, ARRAY_SIZE(spiffe_cases), gw_authz_spiffe_match);
	EXPECT_FALSE(gw_authz_spiffe_match(NULL, "spiffe://corp.test/a"));
	EXPECT_FALSE(gw_authz_spiffe_match("spiffe://corp.test/*", NULL));
}

TEST(dns_patterns)
{
	run_cases(_ctx, dns_cases, ARRAY_SIZE(dns_cases), gw_authz_dns_match);
	EXPECT_FALSE(gw_authz_dns_match(NULL, "a.corp.test"));
	EXPECT_FALSE(gw_authz_dns_match("*.corp.test", NULL));
}

/*
 * Hostile input: a star-heavy pattern against a long near-miss and a deep
 * path must finish quickly (the per-test timeout catches a blow-up) and
 * without recursion.
 */
TEST(patterns_hostile_input)
{
	const size_t n = 64 * 1024;
	char *id = malloc(n + 1), *deep = malloc(2 * n + 1), *pat = malloc(2 * 64 + 2);
	size_t i;

	ASSERT_NOT_NULL(id);
	ASSERT_NOT_NULL(deep);
	ASSERT_NOT_NULL(pat);
	memset(id, 'a', n);
	id[n] = '\0';
	for (i = 0; i < 64; i++) {
		pat[2 * i] = '*';
		pat[2 * i + 1] = 'a';
	}
	pat[128] = 'b';
	pat[129] = '\0';
	EXPECT_FALSE(gw_authz_spiffe_match(pat, id));
	EXPECT_FALSE(gw_authz_dns_match(pat, id));
	id[n - 1] = 'b';
	EXPECT_TRUE(gw_authz_spiffe_match(pat, id));

	for (i = 0; i < n; i++) {
		deep[2 * i] = 'a';
		deep[2 * i + 1] = '/';
	}
	deep[2 * n - 1] = '\0';
	EXPECT_FALSE(gw_authz_spiffe_match("*/*", deep));
	EXPECT_TRUE(gw_authz_spiffe_match(deep, deep));
	free(pat);
	free(deep);
	free(id);
}

/*
 * A peer: spiffe://corp.test/prod/payments, two DNS names, a subject with
 * two OUs, and a fingerprint of 0x11 bytes.
 */
FIXTURE(authz) {
	struct gw_name_attr attrs[6];
	char *dns[2];
	char *uri[1];
	struct gw_identity id;
	unsigned char other_fp[32];
};

FIXTURE_SETUP(authz)
{
	static const struct gw_name_attr attrs[] = {
		{ "C", "US" }, { "L", "Berlin" }, { "O", "Corp" },
		{ "OU", "prod" }, { "OU", "payments" }, { "CN", "payments" },
	};

	memcpy(self->attrs, attrs, sizeof(attrs));
	self->dns[0] = "payments.corp.test";
	self->dns[1] = "pay.internal";
	self->uri[0] = "spiffe://corp.test/prod/payments";
	memset(&self->id, 0, sizeof(self->id));
	self->id.subject_attrs = self->attrs;
	self->id.n_subject_attrs = ARRAY_SIZE(attrs);
	self->id.san_dns = self->dns;
	self->id.n_san_dns = 2;
	self->id.san_uri = self->uri;
	self->id.n_san_uri = 1;
	self->id.spiffe_id = self->uri[0];
	memset(self->id.sha256, 0x11, sizeof(self->id.sha256));
	memset(self->other_fp, 0x22, sizeof(self->other_fp));
}

FIXTURE_TEARDOWN(authz)
{
}

TEST_F(authz, spiffe_criterion)
{
	char *yes[] = { "spiffe://other.test/*", "spiffe://corp.test/prod/*" };
	char *no[] = { "spiffe://corp.test/dev/*", "spiffe://corp.test/*" };
	struct gw_authz_rule r = { .name = "r" };

	r.spiffe_id = yes;
	r.n_spiffe_id = 2;
	EXPECT_TRUE(gw_authz_rule_matches(&r, &self->id));
	r.n_spiffe_id = 1;	/* only the first pattern */
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
	r.spiffe_id = no;
	r.n_spiffe_id = 2;
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));

	/* No (or an ambiguous) SPIFFE ID: the URI SAN alone does not count. */
	r.spiffe_id = yes;
	self->id.spiffe_id = NULL;
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
}

TEST_F(authz, san_dns_criterion)
{
	char *second[] = { "*.other.test", "*.internal" };
	char *none[] = { "*.test", "corp.test", "*.payments.corp.test" };
	struct gw_authz_rule r = { .name = "r" };

	r.san_dns = second;
	r.n_san_dns = 2;
	EXPECT_TRUE(gw_authz_rule_matches(&r, &self->id));
	r.san_dns = none;
	r.n_san_dns = 3;
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
	self->id.n_san_dns = 0;
	r.san_dns = second;
	r.n_san_dns = 2;
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
}

TEST_F(authz, subject_criterion)
{
	static const struct {
		struct gw_subject_match m;
		bool match;
	} t[] = {
		{ { .O = "Corp" }, true },
		{ { .OU = "prod" }, true },
		{ { .OU = "payments" }, true },		/* second OU counts too */
		{ { .O = "Corp", .OU = "payments", .CN = "payments" }, true },
		{ { .C = "US", .L = "Berlin" }, true },
		{ { .OU = "dev" }, false },
		{ { .O = "Corp", .OU = "dev" }, false },	/* AND */
		{ { .CN = "Payments" }, false },		/* exact case */
		{ { .O = "Corp " }, false },
		{ { .O = "Cor" }, false },
		{ { .O = "prod" }, false },			/* value of another key */
		{ { .CN = "prod" }, false },
		{ { .ST = "Berlin" }, false },			/* key absent */
		{ { .ST = "" }, false },
		{ { .C = "" }, false },
	};
	struct gw_authz_rule r = { .name = "r" };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		bool m;

		r.subject = t[i].m;
		m = gw_authz_rule_matches(&r, &self->id);
		if (m != t[i].match)
			TH_LOG("case %u", i);
		EXPECT_EQ(t[i].match, m);
	}
}

TEST_F(authz, fingerprint_criterion)
{
	unsigned char fps[2][32];
	struct gw_authz_rule r = { .name = "r", .fingerprint_sha256 = fps };

	memcpy(fps[0], self->other_fp, 32);
	memcpy(fps[1], self->id.sha256, 32);
	r.n_fingerprint_sha256 = 2;
	EXPECT_TRUE(gw_authz_rule_matches(&r, &self->id));
	r.n_fingerprint_sha256 = 1;
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
	/* One differing byte, at the end, is enough to miss. */
	memcpy(fps[0], self->id.sha256, 32);
	fps[0][31] ^= 0x01;
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
}

/* Every criterion that is set must hold. */
TEST_F(authz, criteria_and)
{
	char *spiffe[] = { "spiffe://corp.test/prod/*" };
	char *dns_yes[] = { "*.corp.test" }, *dns_no[] = { "*.evil.test" };
	unsigned char fp[1][32];
	struct gw_authz_rule r = {
		.name = "r",
		.spiffe_id = spiffe, .n_spiffe_id = 1,
		.san_dns = dns_yes, .n_san_dns = 1,
		.subject = { .O = "Corp", .OU = "prod" },
		.fingerprint_sha256 = fp, .n_fingerprint_sha256 = 1,
	};

	memcpy(fp[0], self->id.sha256, 32);
	EXPECT_TRUE(gw_authz_rule_matches(&r, &self->id));

	r.san_dns = dns_no;
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
	r.san_dns = dns_yes;

	r.subject.OU = "dev";
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
	r.subject.OU = "prod";

	memcpy(fp[0], self->other_fp, 32);
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
	memcpy(fp[0], self->id.sha256, 32);

	self->id.spiffe_id = "spiffe://corp.test/dev/payments";
	EXPECT_FALSE(gw_authz_rule_matches(&r, &self->id));
}

/* A rule without criteria, or with a count but no list, matches nothing. */
TEST_F(authz, malformed_rules_match_nothing)
{
	struct gw_authz_rule empty = { .name = "empty" };
	struct gw_authz_rule no_list = { .name = "no-list", .n_spiffe_id = 1 };
	struct gw_authz_rule no_fp = { .name = "no-fp", .n_fingerprint_sha256 = 1 };
	char *nul_entry[] = { NULL };
	struct gw_authz_rule null_pat = {
		.name = "null-pattern", .san_dns = nul_entry, .n_san_dns = 1,
	};

	EXPECT_FALSE(gw_authz_rule_matches(&empty, &self->id));
	EXPECT_FALSE(gw_authz_rule_matches(&no_list, &self->id));
	EXPECT_FALSE(gw_authz_rule_matches(&no_fp, &self->id));
	EXPECT_FALSE(gw_authz_rule_matches(&null_pat, &self->id));
	EXPECT_FALSE(gw_authz_rule_matches(NULL, &self->id));
	EXPECT_FALSE(gw_authz_rule_matches(&empty, NULL));
	EXPECT_EQ(GW_AUTHZ_NO_MATCH, gw_authz_decide(&empty, 1, &self->id));
}

TEST_F(authz, first_match_wins)
{
	char *dev[] = { "spiffe://corp.test/dev/*" };
	char *prod[] = { "spiffe://corp.test/prod/*" };
	char *any_dns[] = { "*.corp.test" };
	struct gw_authz_rule rules[] = {
		{ .name = "dev", .spiffe_id = dev, .n_spiffe_id = 1 },
		{ .name = "prod", .spiffe_id = prod, .n_spiffe_id = 1 },
		{ .name = "dns", .san_dns = any_dns, .n_san_dns = 1 },
		{ .name = "corp", .subject = { .O = "Corp" } },
	};

	struct gw_authz_rule reordered[] = { rules[3], rules[0], rules[1] };

	/* prod, dns and corp all match; the earliest one is chosen. */
	EXPECT_EQ(1, gw_authz_decide(rules, ARRAY_SIZE(rules), &self->id));
	EXPECT_EQ(0, gw_authz_decide(reordered, ARRAY_SIZE(reordered), &self->id));
	EXPECT_EQ(0, gw_authz_decide(rules + 2, 2, &self->id));
	EXPECT_EQ(GW_AUTHZ_NO_MATCH, gw_authz_decide(rules, 1, &self->id));

	self->id.spiffe_id = "spiffe://corp.test/dev/x";
	EXPECT_EQ(0, gw_authz_decide(rules, ARRAY_SIZE(rules), &self->id));
}

TEST_F(authz, default_deny)
{
	char *dev[] = { "spiffe://corp.test/dev/*" };
	struct gw_authz_rule rules[] = {
		{ .name = "dev", .spiffe_id = dev, .n_spiffe_id = 1 },
		{ .name = "other-org", .subject = { .O = "Other" } },
	};

	EXPECT_TRUE(GW_AUTHZ_NO_MATCH < 0);
	EXPECT_EQ(GW_AUTHZ_NO_MATCH, gw_authz_decide(rules, ARRAY_SIZE(rules), &self->id));
	EXPECT_EQ(GW_AUTHZ_NO_MATCH, gw_authz_decide(rules, 0, &self->id));
	EXPECT_EQ(GW_AUTHZ_NO_MATCH, gw_authz_decide(NULL, 0, &self->id));
	EXPECT_EQ(GW_AUTHZ_NO_MATCH, gw_authz_decide(rules, ARRAY_SIZE(rules), NULL));
}

TEST_HARNESS_MAIN
