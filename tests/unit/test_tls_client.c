// SPDX-License-Identifier: GPL-2.0-only
/*
 * tls_client.c's name check of a backend's certificate that verified:
 * verify_name exact (OpenSSL's X509_check_host on the DNS SANs, so a
 * wildcard certificate covers one label, the subject never counts) or a
 * "*." pattern over the DNS SANs, verify_spiffe_id as authorize's
 * spiffe_id, both when both are set; the answer names the key that failed.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "harness.h"
#include "identity.h"
#include "lib/pkigen.h"
#include "tls_client.h"

FIXTURE(nc) {
	EVP_PKEY *key;
	X509 *x;
	struct gw_identity *id;
	struct gw_cfg_upstream_tls t;
};

FIXTURE_SETUP(nc)
{
	memset(self, 0, sizeof(*self));
	self->key = gwt_ec_key();
	ASSERT_NOT_NULL(self->key);
}

FIXTURE_TEARDOWN(nc)
{
	gw_identity_free(self->id);
	X509_free(self->x);
	EVP_PKEY_free(self->key);
}

/* A backend certificate "CN=cn" with these SANs ("DNS:..." / "URI:..."). */
static void backend(HARNESS_CTX, FIXTURE_DATA(nc) *self, const char *cn,
		    const char *const *sans, unsigned int n)
{
	self->x = gwt_make_cert(cn, self->key, NULL, self->key, false, -60, 86400, 7);
	ASSERT_NOT_NULL(self->x);
	if (n)
		ASSERT_EQ(0, gwt_cert_set_sans(self->x, sans, n, self->key));
	self->id = gw_identity_from_x509(self->x);
	ASSERT_NOT_NULL(self->id);
}

static const char *check(FIXTURE_DATA(nc) *self, const char *name, const char *spiffe)
{
	self->t.verify_name = (char *)name;
	self->t.verify_spiffe_id = (char *)spiffe;
	return gw_tls_client_name_check(&self->t, self->x, self->id);
}

TEST_F(nc, exact_name_and_pattern)
{
	static const char *const sans[] = { "DNS:api.corp.test", "URI:spiffe://corp.test/prod/api" };

	backend(_ctx, self, "api", sans, 2);
	EXPECT_NULL(check(self, "api.corp.test", NULL));
	EXPECT_NULL(check(self, "API.Corp.Test", NULL));
	EXPECT_STREQ("verify_name", check(self, "ledger.corp.test", NULL));
	EXPECT_STREQ("verify_name", check(self, "corp.test", NULL));
	EXPECT_NULL(check(self, "*.corp.test", NULL));
	/* A pattern's star is one label. */
	EXPECT_STREQ("verify_name", check(self, "*.test", NULL));
}

TEST_F(nc, wildcard_certificate_covers_one_label)
{
	static const char *const sans[] = { "DNS:*.corp.test" };

	backend(_ctx, self, "wild", sans, 1);
	EXPECT_NULL(check(self, "api.corp.test", NULL));
	EXPECT_STREQ("verify_name", check(self, "a.b.corp.test", NULL));
	EXPECT_STREQ("verify_name", check(self, "corp.test", NULL));
}

/* Without a DNS SAN the subject's CN does not stand in for one. */
TEST_F(nc, common_name_never_counts)
{
	backend(_ctx, self, "api.corp.test", NULL, 0);
	EXPECT_STREQ("verify_name", check(self, "api.corp.test", NULL));
}

TEST_F(nc, spiffe_id_and_both_keys)
{
	static const char *const sans[] = { "DNS:api.corp.test", "URI:spiffe://corp.test/prod/api" };

	backend(_ctx, self, "api", sans, 2);
	EXPECT_NULL(check(self, NULL, "spiffe://corp.test/prod/api"));
	EXPECT_NULL(check(self, NULL, "spiffe://corp.test/prod/*"));
	EXPECT_STREQ("verify_spiffe_id", check(self, NULL, "spiffe://corp.test/dev/*"));
	EXPECT_STREQ("verify_spiffe_id", check(self, NULL, "spiffe://other.test/prod/api"));
	/* Both set: both must match, and the first that fails is named. */
	EXPECT_NULL(check(self, "api.corp.test", "spiffe://corp.test/prod/api"));
	EXPECT_STREQ("verify_spiffe_id", check(self, "api.corp.test", "spiffe://corp.test/prod/x"));
	EXPECT_STREQ("verify_name", check(self, "x.corp.test", "spiffe://corp.test/prod/api"));
}

/* Two URI SANs are no SPIFFE identity (an SVID has one). */
TEST_F(nc, two_spiffe_ids_match_nothing)
{
	static const char *const sans[] = { "URI:spiffe://corp.test/prod/a",
					    "URI:spiffe://corp.test/prod/b" };

	backend(_ctx, self, "two", sans, 2);
	EXPECT_STREQ("verify_spiffe_id", check(self, NULL, "spiffe://corp.test/prod/*"));
}

TEST_HARNESS_MAIN
