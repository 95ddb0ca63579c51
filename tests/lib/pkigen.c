// SPDX-License-Identifier: GPL-2.0-only
/* Certificates made in memory for unit tests (pkigen.h). */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pkigen.h"

EVP_PKEY *gwt_ec_key(void)
{
	return EVP_EC_gen("P-256");
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* names[i] of type types[i] (GEN_URI, GEN_DNS), byte for byte, as the SAN; x signed again. */
static int set_sans(X509 *x, const int *types, const char *const *names, unsigned int n,
		    EVP_PKEY *signer)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	unsigned int i;
	int ok = 0;

	for (i = 0; gens && i < n; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		if (!gn || !s || !ASN1_STRING_set(s, names[i], -1) || !sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			ASN1_IA5STRING_free(s);
			goto out;
		}
		GENERAL_NAME_set0_value(gn, types[i], s);
	}
	ok = gens && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_REPLACE) == 1 &&
	     X509_sign(x, signer, EVP_sha256()) > 0;
out:
	GENERAL_NAMES_free(gens);
	return ok ? 0 : -1;
}

int gwt_cert_set_uri_sans(X509 *x, const char *const *uris, unsigned int n, EVP_PKEY *signer)
{
	int types[16];
	unsigned int i;

	if (n > 16)
		return -1;
	for (i = 0; i < n; i++)
		types[i] = GEN_URI;
	return set_sans(x, types, uris, n, signer);
}

int gwt_cert_set_sans(X509 *x, const char *const *sans, unsigned int n, EVP_PKEY *signer)
{
	const char *names[16];
	int types[16];
	unsigned int i;

	if (n > 16)
		return -1;
	for (i = 0; i < n; i++) {
		if (!strncmp(sans[i], "DNS:", 4))
			types[i] = GEN_DNS;
		else if (!strncmp(sans[i], "URI:", 4))
			types[i] = GEN_URI;
		else
			return -1;
		names[i] = sans[i] + 4;
	}
	return set_sans(x, types, names, n, signer);
}

X509 *gwt_make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *signer,
		    bool ca, long from, long to, long serial)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	if (!x || !name)
		goto fail;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	if (add_ext(x, issuer, NID_subject_key_identifier, "hash") ||
	    add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") ||
	    add_ext(x, issuer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
	    add_ext(x, issuer, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" :
					      "critical,digitalSignature") ||
	    (!ca && add_ext(x, issuer, NID_ext_key_usage, "clientAuth")))
		goto fail;
	if (!X509_sign(x, signer, EVP_sha256()))
		goto fail;
	X509_NAME_free(name);
	return x;
fail:
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

