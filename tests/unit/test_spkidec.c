// SPDX-License-Identifier: GPL-2.0-only
/*
 * spkidec.c: a certificate parsed as libssl parses a client's (d2i_X509
 * into a fresh X509) gets the same public key with the direct import as
 * with OpenSSL's decoder, for every kind of EC key a client may bring:
 * P-256, P-384 and P-521 are imported directly; a compressed point and
 * explicit curve parameters go to OpenSSL's decoder; an RSA key is never
 * touched; a point that is not on the curve gives no key either way, as
 * OpenSSL alone would.
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certpool.h"
#include "harness.h"
#include "lib/pkigen.h"
#include "spkidec.h"

enum way { FAST, DECODER, UNTOUCHED };

FIXTURE(spki) {
	EVP_PKEY *key;
	unsigned char *der;
	int len;
};

FIXTURE_VARIANT(spki) {
	const char *type;	/* "EC" or "RSA" */
	const char *curve;
	const char *format;	/* OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, or NULL */
	const char *encoding;	/* OSSL_PKEY_PARAM_EC_ENCODING, or NULL */
	enum way way;
};

FIXTURE_VARIANT_ADD(spki, p256) { .type = "EC", .curve = "P-256", .way = FAST };
FIXTURE_VARIANT_ADD(spki, p384) { .type = "EC", .curve = "P-384", .way = FAST };
FIXTURE_VARIANT_ADD(spki, p521) { .type = "EC", .curve = "P-521", .way = FAST };
FIXTURE_VARIANT_ADD(spki, p256_compressed) {
	.type = "EC", .curve = "P-256", .format = "compressed", .way = DECODER,
};
FIXTURE_VARIANT_ADD(spki, p256_explicit) {
	.type = "EC", .curve = "P-256", .encoding = "explicit", .way = DECODER,
};
FIXTURE_VARIANT_ADD(spki, secp256k1) { .type = "EC", .curve = "secp256k1", .way = DECODER };
FIXTURE_VARIANT_ADD(spki, rsa) { .type = "RSA", .way = UNTOUCHED };

FIXTURE_SETUP(spki)
{
	X509 *x;

	memset(self, 0, sizeof(*self));
	if (!strcmp(variant->type, "RSA"))
		self->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		self->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", variant->curve);
	ASSERT_NOT_NULL(self->key);
	if (variant->format)
		ASSERT_EQ(EVP_PKEY_set_utf8_string_param(self->key,
			  OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, variant->format), 1);
	if (variant->encoding)
		ASSERT_EQ(EVP_PKEY_set_utf8_string_param(self->key,
			  OSSL_PKEY_PARAM_EC_ENCODING, variant->encoding), 1);
	x = gwt_make_cert("leaf", self->key, NULL, self->key, false, -60, 86400, 7);
	ASSERT_NOT_NULL(x);
	self->len = i2d_X509(x, &self->der);
	X509_free(x);
	ASSERT_GT(self->len, 0);
	gw_spki_set_enabled(true);
}

FIXTURE_TEARDOWN(spki)
{
	gw_spki_set_enabled(true);
	OPENSSL_free(self->der);
	EVP_PKEY_free(self->key);
}

/* libssl's call: a fresh X509 to fill, the whole DER. */
static X509 *read_cert(const unsigned char *der, int len)
{
	const unsigned char *in = der;
	X509 *x = X509_new_ex(NULL, NULL);

	if (x && !d2i_X509(&x, &in, len))
		return NULL;
	return x;
}

TEST_F(spki, same_key_both_ways)
{
	struct gw_spki_stats s0 = gw_spki_stats(), s1;
	X509 *a, *b;

	a = read_cert(self->der, self->len);
	s1 = gw_spki_stats();
	gw_spki_set_enabled(false);
	b = read_cert(self->der, self->len);
	ASSERT_NOT_NULL(a);
	ASSERT_NOT_NULL(b);
	ASSERT_NOT_NULL(X509_get0_pubkey(a));
	ASSERT_EQ(EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)), 1);
	ASSERT_EQ(EVP_PKEY_eq(X509_get0_pubkey(a), self->key), 1);
	/* The key works: the certificate's own signature checks with it. */
	ASSERT_EQ(X509_verify(a, X509_get0_pubkey(a)), 1);
	ASSERT_TRUE(EVP_PKEY_is_a(X509_get0_pubkey(a), variant->type));
	X509_free(a);
	X509_free(b);
	if (!gw_spki_applies())
		SKIP("OpenSSL %s caches decoders itself: the direct import is off (keys compared)",
		     OpenSSL_version(OPENSSL_VERSION_STRING));
	ASSERT_EQ(s1.fast - s0.fast, variant->way == FAST ? 1u : 0u);
	ASSERT_EQ(s1.decoder - s0.decoder, variant->way == DECODER ? 1u : 0u);
}

/* The last byte of the point's y coordinate changed: no longer on the curve. */
TEST(point_off_the_curve_no_key)
{
	static const char *const curves[] = { "P-256", "P-384", "P-521" };
	unsigned char pub[256], *der = NULL, *at;
	struct gw_spki_stats s0, s1;
	size_t publen;
	EVP_PKEY *key;
	unsigned int c;
	int i, len;
	X509 *x, *a, *b;

	for (c = 0; c < sizeof(curves) / sizeof(curves[0]); c++) {
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[c]);
		ASSERT_NOT_NULL(key);
		x = gwt_make_cert("leaf", key, NULL, key, false, -60, 86400, 7);
		ASSERT_NOT_NULL(x);
		len = i2d_X509(x, &der);
		X509_free(x);
		ASSERT_GT(len, 0);
		ASSERT_EQ(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub,
							  sizeof(pub), &publen), 1);
		EVP_PKEY_free(key);
		at = NULL;
		for (i = 0; i + (int)publen <= len; i++)
			if (!memcmp(der + i, pub, publen))
				at = der + i;
		ASSERT_NOT_NULL(at);
		at[publen - 1] ^= 0x01;
		gw_spki_set_enabled(true);
		s0 = gw_spki_stats();
		a = read_cert(der, len);
		s1 = gw_spki_stats();
		gw_spki_set_enabled(false);
		b = read_cert(der, len);
		gw_spki_set_enabled(true);
		OPENSSL_free(der);
		der = NULL;
		/* The certificate parses; its key does not, either way. */
		ASSERT_NOT_NULL(a);
		ASSERT_NOT_NULL(b);
		ASSERT_NULL(X509_get0_pubkey(a));
		ASSERT_NULL(X509_get0_pubkey(b));
		X509_free(a);
		X509_free(b);
		if (gw_spki_applies()) {
			ASSERT_EQ(s1.fast - s0.fast, 0u);
			ASSERT_EQ(s1.decoder - s0.decoder, 1u);
		}
	}
}

TEST_HARNESS_MAIN
