// SPDX-License-Identifier: GPL-2.0-only
/*
 * vcache.c against OpenSSL's own X509_verify_cert, on a PKI made in
 * memory: root -> intermediate -> leaves. Whatever the cache decides must
 * be what a full verification decides; where it cannot be sure (a path
 * that just expired, a leaf from another issuer) it must step aside.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "lib/pkigen.h"
#include "vcache.h"

FIXTURE(vc) {
	EVP_PKEY *root_key, *int_key, *leaf_key, *other_key;
	X509 *root, *inter, *leaf;
	X509_STORE *store;
	struct gw_vcache *vc;
};

FIXTURE_SETUP(vc)
{
	memset(self, 0, sizeof(*self));
	self->root_key = gwt_ec_key();
	self->int_key = gwt_ec_key();
	self->leaf_key = gwt_ec_key();
	self->other_key = gwt_ec_key();
	ASSERT_NOT_NULL(self->other_key);
	self->root = gwt_make_cert("root", self->root_key, NULL, self->root_key, true, -60, 86400, 1);
	ASSERT_NOT_NULL(self->root);
	self->inter = gwt_make_cert("intermediate", self->int_key, self->root, self->root_key,
				true, -60, 86400, 2);
	ASSERT_NOT_NULL(self->inter);
	self->leaf = gwt_make_cert("leaf", self->leaf_key, self->inter, self->int_key,
			       false, -60, 3600, 3);
	ASSERT_NOT_NULL(self->leaf);
	self->store = X509_STORE_new();
	ASSERT_NOT_NULL(self->store);
	ASSERT_EQ(1, X509_STORE_add_cert(self->store, self->root));
	X509_STORE_set_purpose(self->store, X509_PURPOSE_SSL_CLIENT);
	self->vc = gw_vcache_new();
	ASSERT_NOT_NULL(self->vc);
}

FIXTURE_TEARDOWN(vc)
{
	gw_vcache_free(self->vc);
	X509_STORE_free(self->store);
	X509_free(self->leaf);
	X509_free(self->inter);
	X509_free(self->root);
	EVP_PKEY_free(self->root_key);
	EVP_PKEY_free(self->int_key);
	EVP_PKEY_free(self->leaf_key);
	EVP_PKEY_free(self->other_key);
}

/*
 * One verification as libssl sets it up for a client: leaf and what the
 * client sent (leaf, intermediate). Returns the cache's answer (1, 0, -1)
 * and, with full, OpenSSL's (1 or 0) after a miss; *err gets the error.
 */
static int verify(FIXTURE_DATA(vc) *self, X509 *leaf, X509 *sent_inter, bool full, int *err)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *sent = sk_X509_new_null();
	int ret;

	sk_X509_push(sent, leaf);
	sk_X509_push(sent, sent_inter);
	X509_STORE_CTX_init(ctx, self->store, leaf, sent);
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(ctx), 2);
	ret = gw_vcache_verify(self->vc, ctx);
	if (ret < 0 && full) {
		ret = X509_verify_cert(ctx) > 0;
		if (ret)
			gw_vcache_add(self->vc, ctx);
		ret = ret ? 11 : 10;	/* full path: 10 + outcome */
	}
	if (ret == 1 || ret == 11)
		/* The verified chain is whole: leaf, intermediate, root. */
		ret = sk_X509_num(X509_STORE_CTX_get0_chain(ctx)) == 3 ? ret : 99;
	*err = X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(sent);
	return ret;
}

TEST_F(vc, second_leaf_is_decided_by_the_cache)
{
	X509 *leaf2 = gwt_make_cert("leaf2", self->other_key, self->inter, self->int_key,
				false, -60, 3600, 4);
	int err;

	ASSERT_NOT_NULL(leaf2);
	ASSERT_EQ(-1, verify(self, self->leaf, self->inter, false, &err));
	ASSERT_EQ(11, verify(self, self->leaf, self->inter, true, &err));
	ASSERT_EQ(1, verify(self, self->leaf, self->inter, false, &err));
	ASSERT_EQ(1, verify(self, leaf2, self->inter, false, &err));
	ASSERT_EQ(X509_V_OK, err);
	X509_free(leaf2);
}

/* Spoil the signature bytes of x behind the cache's back. */
static void spoil_signature(X509 *x)
{
	const ASN1_BIT_STRING *sig;

	X509_get0_signature(&sig, NULL, x);
	((ASN1_BIT_STRING *)sig)->data[sig->length - 1] ^= 0x01;
}

/*
 * A leaf's signature is checked once per certificate: the same object
 * again, or another object with the same DER (a leaf the worker's pool
 * no longer holds, parsed again), is not checked again; a certificate
 * whose signature bytes differ is, and fails. A failed signature is
 * never remembered.
 */
TEST_F(vc, leaf_signature_checked_once_per_certificate)
{
	X509 *forged = gwt_make_cert("forged", self->other_key, self->inter, self->other_key,
				     false, -60, 3600, 5);
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *copy, *spoiled;
	int err, len;

	ASSERT_NOT_NULL(forged);
	ASSERT_EQ(11, verify(self, self->leaf, self->inter, true, &err));
	ASSERT_EQ(1, verify(self, self->leaf, self->inter, false, &err));
	ASSERT_EQ(1, gw_vcache_signatures_checked(self->vc));
	ASSERT_EQ(1, verify(self, self->leaf, self->inter, false, &err));
	len = i2d_X509(self->leaf, &der);
	ASSERT_LT(0, len);
	p = der;
	copy = d2i_X509(NULL, &p, len);
	p = der;
	spoiled = d2i_X509(NULL, &p, len);
	OPENSSL_free(der);
	ASSERT_NOT_NULL(copy);
	ASSERT_NOT_NULL(spoiled);
	ASSERT_EQ(1, verify(self, copy, self->inter, false, &err));
	ASSERT_EQ(1, gw_vcache_signatures_checked(self->vc));
	spoil_signature(spoiled);
	ASSERT_EQ(0, verify(self, spoiled, self->inter, false, &err));
	ASSERT_EQ(X509_V_ERR_CERT_SIGNATURE_FAILURE, err);
	ASSERT_EQ(0, verify(self, spoiled, self->inter, false, &err));
	ASSERT_EQ(3, gw_vcache_signatures_checked(self->vc));
	ASSERT_EQ(0, verify(self, forged, self->inter, false, &err));
	ASSERT_EQ(0, verify(self, forged, self->inter, false, &err));
	ASSERT_EQ(X509_V_ERR_CERT_SIGNATURE_FAILURE, err);
	ASSERT_EQ(5, gw_vcache_signatures_checked(self->vc));
	X509_free(copy);
	X509_free(spoiled);
	X509_free(forged);
}

/*
 * A fleet of returning clients under one issuer: every leaf is
 * remembered, not the last few (the cache used to keep 8 per path, so 32
 * clients in turn had their signatures checked on every handshake).
 */
TEST_F(vc, many_returning_leaves_each_checked_once)
{
	enum { N = 32 };
	X509 *leaf[N];
	int err, i;

	ASSERT_EQ(11, verify(self, self->leaf, self->inter, true, &err));
	for (i = 0; i < N; i++) {
		leaf[i] = gwt_make_cert("fleet", self->leaf_key, self->inter, self->int_key,
					false, -60, 3600, 100 + i);
		ASSERT_NOT_NULL(leaf[i]);
		ASSERT_EQ(1, verify(self, leaf[i], self->inter, false, &err));
	}
	ASSERT_EQ(N, gw_vcache_signatures_checked(self->vc));
	for (i = 0; i < N; i++)
		EXPECT_EQ(1, verify(self, leaf[i], self->inter, false, &err));
	EXPECT_EQ(N, gw_vcache_signatures_checked(self->vc));
	for (i = 0; i < N; i++)
		X509_free(leaf[i]);
}

/* What was remembered under a path is not taken for the path that replaces it. */
TEST_F(vc, replaced_path_checks_signatures_again)
{
	X509_STORE_CTX *ctx;
	STACK_OF(X509) *sent;
	int err;

	ASSERT_EQ(11, verify(self, self->leaf, self->inter, true, &err));
	ASSERT_EQ(1, verify(self, self->leaf, self->inter, false, &err));
	/* The same path verified in full again: a new entry in its place. */
	ctx = X509_STORE_CTX_new();
	sent = sk_X509_new_null();
	ASSERT_NOT_NULL(ctx);
	sk_X509_push(sent, self->leaf);
	sk_X509_push(sent, self->inter);
	ASSERT_EQ(1, X509_STORE_CTX_init(ctx, self->store, self->leaf, sent));
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(ctx), 2);
	ASSERT_EQ(1, X509_verify_cert(ctx));
	gw_vcache_add(self->vc, ctx);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(sent);
	ASSERT_EQ(1, gw_vcache_signatures_checked(self->vc));
	ASSERT_EQ(1, verify(self, self->leaf, self->inter, false, &err));
	ASSERT_EQ(2, gw_vcache_signatures_checked(self->vc));
	ASSERT_EQ(1, verify(self, self->leaf, self->inter, false, &err));
	ASSERT_EQ(2, gw_vcache_signatures_checked(self->vc));
}

TEST_F(vc, forged_leaf_fails_its_signature)
{
	/* Names the intermediate as issuer but is signed by another key. */
	X509 *forged = gwt_make_cert("forged", self->other_key, self->inter, self->other_key,
				 false, -60, 3600, 5);
	int err;

	ASSERT_NOT_NULL(forged);
	ASSERT_EQ(11, verify(self, self->leaf, self->inter, true, &err));
	ASSERT_EQ(0, verify(self, forged, self->inter, false, &err));
	ASSERT_EQ(X509_V_ERR_CERT_SIGNATURE_FAILURE, err);
	/* OpenSSL says the same. */
	gw_vcache_free(self->vc);
	self->vc = NULL;
	ASSERT_EQ(10, verify(self, forged, self->inter, true, &err));
	ASSERT_EQ(X509_V_ERR_CERT_SIGNATURE_FAILURE, err);
	X509_free(forged);
}

TEST_F(vc, expired_and_not_yet_valid_leaves_same_error_as_openssl)
{
	X509 *old = gwt_make_cert("old", self->other_key, self->inter, self->int_key,
			      false, -7200, -3600, 6);
	X509 *young = gwt_make_cert("young", self->other_key, self->inter, self->int_key,
				false, 3600, 7200, 7);
	int err;

	ASSERT_NOT_NULL(old);
	ASSERT_NOT_NULL(young);
	ASSERT_EQ(11, verify(self, self->leaf, self->inter, true, &err));
	ASSERT_EQ(0, verify(self, old, self->inter, false, &err));
	ASSERT_EQ(X509_V_ERR_CERT_HAS_EXPIRED, err);
	ASSERT_EQ(0, verify(self, young, self->inter, false, &err));
	ASSERT_EQ(X509_V_ERR_CERT_NOT_YET_VALID, err);
	X509_free(old);
	X509_free(young);
}

TEST_F(vc, leaf_of_another_issuer_is_not_decided)
{
	/* Sent with the same intermediate, but issued by the root itself. */
	X509 *stray = gwt_make_cert("stray", self->other_key, self->root, self->root_key,
				false, -60, 3600, 8);
	int err;

	ASSERT_NOT_NULL(stray);
	ASSERT_EQ(11, verify(self, self->leaf, self->inter, true, &err));
	ASSERT_EQ(-1, verify(self, stray, self->inter, false, &err));
	X509_free(stray);
}

TEST_F_TIMEOUT(vc, path_that_expires_is_verified_in_full_again, 30)
{
	/* An intermediate that expires two seconds from now. */
	X509 *brief = gwt_make_cert("intermediate", self->int_key, self->root, self->root_key,
				true, -60, 2, 9);
	int err;

	ASSERT_NOT_NULL(brief);
	ASSERT_EQ(11, verify(self, self->leaf, brief, true, &err));
	ASSERT_EQ(1, verify(self, self->leaf, brief, false, &err));
	sleep(3);
	ASSERT_EQ(-1, verify(self, self->leaf, brief, false, &err));
	ASSERT_EQ(10, verify(self, self->leaf, brief, true, &err));
	ASSERT_EQ(X509_V_ERR_CERT_HAS_EXPIRED, err);
	X509_free(brief);
}

TEST_F(vc, revoked_leaf_on_a_cached_path)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_new();
	int err;

	ASSERT_NOT_NULL(crl);
	ASSERT_NOT_NULL(rev);
	ASSERT_NOT_NULL(t);
	/* The intermediate's CRL lists serial 3 (self->leaf); the root's lists none. */
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(self->inter));
	X509_gmtime_adj(t, -60);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_gmtime_adj(t, 86400);
	X509_CRL_set1_nextUpdate(crl, t);
	{
		ASN1_INTEGER *serial = ASN1_INTEGER_new();

		ASSERT_NOT_NULL(serial);
		ASN1_INTEGER_set(serial, 3);
		X509_REVOKED_set_serialNumber(rev, serial);
		ASN1_INTEGER_free(serial);
	}
	X509_gmtime_adj(t, -30);
	X509_REVOKED_set_revocationDate(rev, t);
	X509_CRL_add0_revoked(crl, rev);
	X509_CRL_sort(crl);
	ASSERT_NE(0, X509_CRL_sign(crl, self->int_key, EVP_sha256()));
	ASSERT_EQ(1, X509_STORE_add_crl(self->store, crl));
	X509_STORE_set_flags(self->store, X509_V_FLAG_CRL_CHECK);
	{
		X509 *good = gwt_make_cert("good", self->other_key, self->inter, self->int_key,
				       false, -60, 3600, 10);

		ASSERT_NOT_NULL(good);
		ASSERT_EQ(11, verify(self, good, self->inter, true, &err));
		ASSERT_EQ(0, verify(self, self->leaf, self->inter, false, &err));
		ASSERT_EQ(X509_V_ERR_CERT_REVOKED, err);
		ASSERT_EQ(1, verify(self, good, self->inter, false, &err));
		X509_free(good);
	}
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
}

TEST_HARNESS_MAIN
