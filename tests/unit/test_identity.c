// SPDX-License-Identifier: GPL-2.0-only
/*
 * identity.c: certificates are built in memory with the OpenSSL API, sent
 * through DER and back (as a peer's certificate would be), and every
 * extracted field is checked against what was put in.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "util.h"
#include "identity.h"

#define T_NOT_BEFORE	((time_t)1700000000)	/* 2023-11-14T22:13:20Z, UTCTime */
#define T_NOT_AFTER	((time_t)2556144000)	/* 2051-01-01T00:00:00Z, GeneralizedTime */

struct san {
	int type;		/* GEN_DNS, GEN_URI, GEN_IPADD */
	const char *val;
	int len;		/* -1: strlen(val) */
};

/* Add one subjectAltName extension holding the n names. 0 or -1. */
static int add_san(X509 *x, const struct san *sans, unsigned int n, unsigned long flags)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	unsigned int i;
	int ret = -1;

	if (!gens)
		return -1;
	for (i = 0; i < n; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_STRING *s = sans[i].type == GEN_IPADD ?
				 ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
		int len = sans[i].len < 0 ? (int)strlen(sans[i].val) : sans[i].len;

		if (!gn || !s || !ASN1_STRING_set(s, sans[i].val, len)) {
			GENERAL_NAME_free(gn);
			ASN1_STRING_free(s);
			goto out_free_gens;
		}
		GENERAL_NAME_set0_value(gn, sans[i].type, s);
		if (!sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			goto out_free_gens;
		}
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, flags) == 1)
		ret = 0;
out_free_gens:
	GENERAL_NAMES_free(gens);
	return ret;
}

static int add_name(X509_NAME *name, const char *field, const char *value)
{
	return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
					  (const unsigned char *)value, -1, -1, 0) == 1 ? 0 : -1;
}

FIXTURE(identity) {
	EVP_PKEY *key;
	X509 *cert;		/* being built */
	X509 *parsed;		/* cert after a DER round trip */
	struct gw_identity *id;
};

FIXTURE_SETUP(identity)
{
	X509_NAME *issuer;

	self->key = EVP_EC_gen("P-256");
	ASSERT_NOT_NULL(self->key);
	self->cert = X509_new();
	ASSERT_NOT_NULL(self->cert);
	ASSERT_EQ(1, X509_set_version(self->cert, X509_VERSION_3));
	ASSERT_EQ(1, X509_set_pubkey(self->cert, self->key));
	ASSERT_EQ(1, ASN1_INTEGER_set(X509_get_serialNumber(self->cert), 1));
	ASSERT_NOT_NULL(ASN1_TIME_set(X509_getm_notBefore(self->cert), T_NOT_BEFORE));
	ASSERT_NOT_NULL(ASN1_TIME_set(X509_getm_notAfter(self->cert), T_NOT_AFTER));
	issuer = X509_get_issuer_name(self->cert);
	ASSERT_EQ(0, add_name(issuer, "O", "Corp"));
	ASSERT_EQ(0, add_name(issuer, "CN", "Corp Issuing CA"));
}

FIXTURE_TEARDOWN(identity)
{
	gw_identity_free(self->id);
	X509_free(self->parsed);
	X509_free(self->cert);
	EVP_PKEY_free(self->key);
}

/*
 * Sign cert, send it through DER into *parsed as a peer's certificate would
 * arrive, and extract the identity from that.
 */
static struct gw_identity *extract(X509 *cert, EVP_PKEY *key, X509 **parsed)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;

	if (!X509_sign(cert, key, EVP_sha256()))
		return NULL;
	len = i2d_X509(cert, &der);
	if (len <= 0)
		return NULL;
	p = der;
	*parsed = d2i_X509(NULL, &p, len);
	OPENSSL_free(der);
	if (!*parsed)
		return NULL;
	return gw_identity_from_x509(*parsed);
}

#define EXTRACT(self) \
	((self)->id = extract((self)->cert, (self)->key, &(self)->parsed))

TEST_F(identity, all_fields)
{
	static const unsigned char serial[20] = {
		0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
		0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xa0, 0xb0, 0xc0, 0xff,
	};
	static const unsigned char ip4[4] = { 10, 1, 2, 3 };
	static const unsigned char ip6[16] = {	/* 2001:db8::1 */
		0x20, 0x01, 0x0d, 0xb8, [15] = 0x01,
	};
	X509_NAME *subj = X509_get_subject_name(self->cert);
	unsigned char md[32];
	unsigned int mdlen, i;
	char hex[96], fp[GW_SHA256_HEX_LEN], *o = hex;
	BIGNUM *bn;
	const struct gw_identity *id;

	const struct san sans[] = {
		{ GEN_DNS, "payments.corp.test", -1 },
		{ GEN_URI, "spiffe://corp.test/prod/payments", -1 },
		{ GEN_IPADD, (const char *)ip4, 4 },
		{ GEN_DNS, "*.api.corp.test", -1 },
		{ GEN_URI, "https://corp.test/payments", -1 },
		{ GEN_IPADD, (const char *)ip6, 16 },
	};

	ASSERT_EQ(0, add_name(subj, "C", "US"));
	ASSERT_EQ(0, add_name(subj, "L", "Z\xc3\xbcrich"));
	ASSERT_EQ(0, add_name(subj, "O", "Corp"));
	ASSERT_EQ(0, add_name(subj, "OU", "prod"));
	ASSERT_EQ(0, add_name(subj, "OU", "payments-team"));
	ASSERT_EQ(0, add_name(subj, "CN", "payments"));
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ASSERT_NOT_NULL(bn);
	ASSERT_NOT_NULL(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(self->cert)));
	BN_free(bn);
	ASSERT_EQ(0, add_san(self->cert, sans, ARRAY_SIZE(sans), X509V3_ADD_DEFAULT));

	id = EXTRACT(self);
	ASSERT_NOT_NULL(id);

	EXPECT_STREQ("CN=payments,OU=payments-team,OU=prod,O=Corp,L=Z\xc3\xbcrich,C=US",
		     id->subject);
	EXPECT_STREQ("CN=Corp Issuing CA,O=Corp", id->issuer);

	ASSERT_EQ(6, id->n_subject_attrs);
	EXPECT_STREQ("C", id->subject_attrs[0].key);
	EXPECT_STREQ("US", id->subject_attrs[0].value);
	EXPECT_STREQ("L", id->subject_attrs[1].key);
	EXPECT_STREQ("Z\xc3\xbcrich", id->subject_attrs[1].value);
	EXPECT_STREQ("O", id->subject_attrs[2].key);
	EXPECT_STREQ("Corp", id->subject_attrs[2].value);
	EXPECT_STREQ("OU", id->subject_attrs[3].key);
	EXPECT_STREQ("prod", id->subject_attrs[3].value);
	EXPECT_STREQ("OU", id->subject_attrs[4].key);
	EXPECT_STREQ("payments-team", id->subject_attrs[4].value);
	EXPECT_STREQ("CN", id->subject_attrs[5].key);
	EXPECT_STREQ("payments", id->subject_attrs[5].value);

	/* 20 bytes with the high bit set: DER adds a 00 that is not shown. */
	EXPECT_STREQ("800102030405060708090A0B0C0D0E0FA0B0C0FF", id->serial);

	ASSERT_EQ(1, X509_digest(self->cert, EVP_sha256(), md, &mdlen));
	ASSERT_EQ(32, mdlen);
	EXPECT_MEMEQ(md, id->sha256, 32);
	for (i = 0; i < 32; i++)
		o += sprintf(o, i ? ":%02X" : "%02X", md[i]);
	EXPECT_STREQ(hex, gw_identity_sha256_hex(id, fp));
	EXPECT_EQ(95, strlen(fp));

	ASSERT_EQ(2, id->n_san_dns);
	EXPECT_STREQ("payments.corp.test", id->san_dns[0]);
	EXPECT_STREQ("*.api.corp.test", id->san_dns[1]);
	ASSERT_EQ(2, id->n_san_uri);
	EXPECT_STREQ("spiffe://corp.test/prod/payments", id->san_uri[0]);
	EXPECT_STREQ("https://corp.test/payments", id->san_uri[1]);
	ASSERT_EQ(2, id->n_san_ip);
	EXPECT_STREQ("10.1.2.3", id->san_ip[0]);
	EXPECT_STREQ("2001:db8::1", id->san_ip[1]);

	ASSERT_NOT_NULL(id->spiffe_id);
	EXPECT_TRUE(id->spiffe_id == id->san_uri[0]);	/* points into san_uri */

	EXPECT_EQ(T_NOT_BEFORE, id->not_before);
	EXPECT_EQ(T_NOT_AFTER, id->not_after);
}

/* The identity is a copy: it outlives the certificate. */
TEST_F(identity, outlives_cert)
{
	const struct san uri = { GEN_URI, "spiffe://corp.test/a", -1 };

	ASSERT_EQ(0, add_name(X509_get_subject_name(self->cert), "CN", "a"));
	ASSERT_EQ(0, add_san(self->cert, &uri, 1, X509V3_ADD_DEFAULT));
	ASSERT_NOT_NULL(EXTRACT(self));
	X509_free(self->parsed);
	X509_free(self->cert);
	self->parsed = self->cert = NULL;
	EXPECT_STREQ("CN=a", self->id->subject);
	EXPECT_STREQ("spiffe://corp.test/a", self->id->spiffe_id);
}

TEST_F(identity, serials)
{
	static const struct {
		long v;
		const char *hex;
	} t[] = {
		{ 0, "0" },
		{ 1, "01" },
		{ 0x0a, "0A" },
		{ 0x7f, "7F" },
		{ 0x80, "80" },		/* DER 00 80 */
		{ 0x1234, "1234" },
		{ 0xabcde, "0ABCDE" },
		{ -0x1f, "-1F" },
		{ -0x100, "-0100" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		gw_identity_free(self->id);
		X509_free(self->parsed);
		self->id = NULL;
		self->parsed = NULL;
		ASSERT_EQ(1, ASN1_INTEGER_set(X509_get_serialNumber(self->cert), t[i].v));
		ASSERT_NOT_NULL(EXTRACT(self));
		if (strcmp(t[i].hex, self->id->serial))
			TH_LOG("serial %ld", t[i].v);
		EXPECT_STREQ(t[i].hex, self->id->serial);
	}
}

TEST_F(identity, no_san_empty_subject)
{
	const struct gw_identity *id = EXTRACT(self);

	ASSERT_NOT_NULL(id);
	EXPECT_STREQ("", id->subject);
	EXPECT_EQ(0, id->n_subject_attrs);
	EXPECT_EQ(0, id->n_san_dns);
	EXPECT_EQ(0, id->n_san_uri);
	EXPECT_EQ(0, id->n_san_ip);
	EXPECT_NULL(id->spiffe_id);
	EXPECT_STREQ("01", id->serial);
}

TEST_F(identity, spiffe_none)
{
	const struct san sans[] = {
		{ GEN_URI, "https://corp.test/x", -1 },
		{ GEN_URI, "SPIFFE://corp.test/upper", -1 },	/* scheme is exact */
		{ GEN_URI, "spiffe:/corp.test/one-slash", -1 },
		{ GEN_DNS, "spiffe://corp.test/in-dns", -1 },
	};

	ASSERT_EQ(0, add_san(self->cert, sans, ARRAY_SIZE(sans), X509V3_ADD_DEFAULT));
	ASSERT_NOT_NULL(EXTRACT(self));
	EXPECT_EQ(3, self->id->n_san_uri);
	EXPECT_NULL(self->id->spiffe_id);
}

TEST_F(identity, spiffe_single_among_others)
{
	const struct san sans[] = {
		{ GEN_URI, "https://corp.test/x", -1 },
		{ GEN_URI, "spiffe://corp.test/prod/b", -1 },
		{ GEN_URI, "urn:example:1", -1 },
	};

	ASSERT_EQ(0, add_san(self->cert, sans, ARRAY_SIZE(sans), X509V3_ADD_DEFAULT));
	ASSERT_NOT_NULL(EXTRACT(self));
	EXPECT_STREQ("spiffe://corp.test/prod/b", self->id->spiffe_id);
	EXPECT_TRUE(self->id->spiffe_id == self->id->san_uri[1]);
}

/* Two SPIFFE IDs are ambiguous: none is chosen, policy sees no ID. */
TEST_F(identity, spiffe_two)
{
	const struct san sans[] = {
		{ GEN_URI, "spiffe://corp.test/prod/a", -1 },
		{ GEN_URI, "spiffe://corp.test/prod/b", -1 },
	};

	ASSERT_EQ(0, add_san(self->cert, sans, ARRAY_SIZE(sans), X509V3_ADD_DEFAULT));
	ASSERT_NOT_NULL(EXTRACT(self));
	EXPECT_EQ(2, self->id->n_san_uri);
	EXPECT_NULL(self->id->spiffe_id);
}

/*
 * RFC 2253 escapes (',' and '+'; OpenSSL leaves an inner '=' alone) in the
 * subject string; attribute values stay raw.
 */
TEST_F(identity, escaping)
{
	X509_NAME *subj = X509_get_subject_name(self->cert);

	ASSERT_EQ(0, add_name(subj, "O", "Corp, Inc."));
	ASSERT_EQ(0, add_name(subj, "CN", "a+b=c"));
	ASSERT_NOT_NULL(EXTRACT(self));
	EXPECT_STREQ("CN=a\\+b=c,O=Corp\\, Inc.", self->id->subject);
	EXPECT_STREQ("Corp, Inc.", self->id->subject_attrs[0].value);
	EXPECT_STREQ("a+b=c", self->id->subject_attrs[1].value);
}

/* Non-UTF8 string types are converted; unknown attributes keyed by OID. */
TEST_F(identity, string_types_and_oids)
{
	static const unsigned char bmp[] = { 0x00, 'Z', 0x00, 0xfc, 0x00, 'r' };
	X509_NAME *subj = X509_get_subject_name(self->cert);
	ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);

	ASSERT_NOT_NULL(obj);
	ASSERT_EQ(1, X509_NAME_add_entry_by_txt(subj, "O", V_ASN1_BMPSTRING,
						bmp, sizeof(bmp), -1, 0));
	ASSERT_EQ(1, X509_NAME_add_entry_by_OBJ(subj, obj, MBSTRING_UTF8,
						(const unsigned char *)"xyz", -1, -1, 0));
	ASSERT_EQ(1, X509_NAME_add_entry_by_txt(subj, "CN", V_ASN1_PRINTABLESTRING,
						(const unsigned char *)"svc", -1, -1, 0));
	ASN1_OBJECT_free(obj);
	ASSERT_NOT_NULL(EXTRACT(self));
	ASSERT_EQ(3, self->id->n_subject_attrs);
	EXPECT_STREQ("O", self->id->subject_attrs[0].key);
	EXPECT_STREQ("Z\xc3\xbcr", self->id->subject_attrs[0].value);
	EXPECT_STREQ("1.3.6.1.4.1.99999.1", self->id->subject_attrs[1].key);
	EXPECT_STREQ("xyz", self->id->subject_attrs[1].value);
	EXPECT_STREQ("CN", self->id->subject_attrs[2].key);
	EXPECT_STREQ("svc", self->id->subject_attrs[2].value);
	EXPECT_NOT_NULL(strstr(self->id->subject, "O=Z\xc3\xbcr"));
}

/*
 * Values that would be truncated as C strings must not reach policy:
 * "admin\0.evil" would otherwise compare equal to "admin".
 */
TEST_F(identity, nul_in_cn_rejected)
{
	ASSERT_EQ(1, X509_NAME_add_entry_by_txt(X509_get_subject_name(self->cert),
						"CN", V_ASN1_UTF8STRING,
						(const unsigned char *)"admin\0.evil",
						11, -1, 0));
	EXPECT_NULL(EXTRACT(self));
	EXPECT_NOT_NULL(self->parsed);
}

TEST_F(identity, nul_in_dns_rejected)
{
	const struct san dns = { GEN_DNS, "good.corp.test\0.evil.test", 25 };

	ASSERT_EQ(0, add_san(self->cert, &dns, 1, X509V3_ADD_DEFAULT));
	EXPECT_NULL(EXTRACT(self));
	EXPECT_NOT_NULL(self->parsed);
}

TEST_F(identity, nul_in_uri_rejected)
{
	const struct san uri = { GEN_URI, "spiffe://corp.test/a\0/b", 23 };

	ASSERT_EQ(0, add_san(self->cert, &uri, 1, X509V3_ADD_DEFAULT));
	EXPECT_NULL(EXTRACT(self));
	EXPECT_NOT_NULL(self->parsed);
}

TEST_F(identity, bad_ip_length_rejected)
{
	const struct san ip = { GEN_IPADD, "\x0a\x00\x00\x01\x02", 5 };

	ASSERT_EQ(0, add_san(self->cert, &ip, 1, X509V3_ADD_DEFAULT));
	EXPECT_NULL(EXTRACT(self));
	EXPECT_NOT_NULL(self->parsed);
}

/* Two SAN extensions: which one counts is ambiguous, so neither does. */
TEST_F(identity, duplicate_san_extension_rejected)
{
	const struct san a = { GEN_URI, "spiffe://corp.test/a", -1 };
	const struct san b = { GEN_URI, "spiffe://corp.test/b", -1 };

	ASSERT_EQ(0, add_san(self->cert, &a, 1, X509V3_ADD_DEFAULT));
	ASSERT_EQ(0, add_san(self->cert, &b, 1, X509V3_ADD_APPEND));
	EXPECT_NULL(EXTRACT(self));
	EXPECT_NOT_NULL(self->parsed);
}

TEST(free_null)
{
	gw_identity_free(NULL);
	EXPECT_NULL(gw_identity_from_x509(NULL));
}

TEST_HARNESS_MAIN
