// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz target: identity extraction (identity.c) from any DER certificate
 * OpenSSL parses; the seeds are the test PKI's certificates.
 *
 * Invariants of a struct gw_identity (what policy, audit and the PROXY
 * header rely on): subject, issuer and serial are set; the serial is
 * upper-case hex, two digits a byte with no leading zero byte, "0" or
 * with a leading "-"; every attribute, SAN and string is a whole C string;
 * an IP SAN is a printable address that parses back; the SPIFFE ID is set
 * exactly when one URI SAN starts with "spiffe://" and is that entry; the
 * fingerprint is the SHA-256 of the DER the certificate encodes to; the
 * times are those of the certificate. A NULL result is allowed (fail
 * closed), only never a partial one.
 */
#include <arpa/inet.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "identity.h"

FZ_NO_COVERAGE static bool serial_ok(const char *s)
{
	size_t n;

	if (!strcmp(s, "0"))
		return true;
	if (*s == '-')
		s++;
	n = strlen(s);
	if (!n || n % 2 || (s[0] == '0' && s[1] == '0'))
		return false;
	return strspn(s, "0123456789ABCDEF") == n;
}

FZ_NO_COVERAGE static void check_identity(X509 *cert, const struct gw_identity *id)
{
	unsigned char md[EVP_MAX_MD_SIZE], addr[16];
	char hex[GW_SHA256_HEX_LEN];
	unsigned int i, mdlen = 0, n_spiffe = 0;
	const char *spiffe = NULL;
	struct tm tm;

	FZ_CHECK(id->subject && id->issuer && id->serial);
	FZ_CHECK(serial_ok(id->serial));
	for (i = 0; i < id->n_subject_attrs; i++)
		FZ_CHECK(id->subject_attrs[i].key && id->subject_attrs[i].key[0] &&
			 id->subject_attrs[i].value);
	FZ_CHECK(!id->n_subject_attrs || id->subject[0]);
	for (i = 0; i < id->n_san_dns; i++)
		FZ_CHECK(id->san_dns[i]);
	for (i = 0; i < id->n_san_ip; i++)
		FZ_CHECK(inet_pton(strchr(id->san_ip[i], ':') ? AF_INET6 : AF_INET,
				   id->san_ip[i], addr) == 1);
	for (i = 0; i < id->n_san_uri; i++) {
		FZ_CHECK(id->san_uri[i]);
		if (!strncmp(id->san_uri[i], "spiffe://", 9)) {
			n_spiffe++;
			spiffe = id->san_uri[i];
		}
	}
	FZ_CHECK(id->spiffe_id == (n_spiffe == 1 ? spiffe : NULL));

	FZ_CHECK(X509_digest(cert, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32);
	FZ_CHECK(!memcmp(md, id->sha256, 32));
	FZ_CHECK(strlen(gw_identity_sha256_hex(id, hex)) == GW_SHA256_HEX_LEN - 1);

	FZ_CHECK(ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) == 1);
	FZ_CHECK(timegm(&tm) == id->not_before);
	FZ_CHECK(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1);
	FZ_CHECK(timegm(&tm) == id->not_after);
}

/*
 * Certificates are parsed in a library context whose one provider has
 * SHA-256 and nothing else (it forwards to the default provider). Without
 * a key manager there, d2i_X509 keeps the public key as bytes instead of
 * decoding it: identity.c never looks at the key, and OpenSSL 3.0's key
 * decoders took nine tenths of every execution (34 against 330 us a
 * parse). X509_digest fetches SHA-256 from the certificate's context.
 */
static OSSL_LIB_CTX *libctx;

static void *sha_newctx(void *prov)
{
	(void)prov;
	return EVP_MD_CTX_new();
}

static void sha_freectx(void *c)
{
	EVP_MD_CTX_free(c);
}

static int sha_init(void *c, const OSSL_PARAM params[])
{
	(void)params;
	return EVP_DigestInit_ex(c, EVP_sha256(), NULL);
}

static int sha_update(void *c, const unsigned char *in, size_t n)
{
	return EVP_DigestUpdate(c, in, n);
}

static int sha_final(void *c, unsigned char *out, size_t *outl, size_t outsz)
{
	unsigned int n;

	if (outsz < 32 || !EVP_DigestFinal_ex(c, out, &n))
		return 0;
	*outl = n;
	return 1;
}

static int sha_get_params(OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_SIZE);
	if (p && !OSSL_PARAM_set_size_t(p, 32))
		return 0;
	p = OSSL_PARAM_locate(params, OSSL_DIGEST_PARAM_BLOCK_SIZE);
	return !p || OSSL_PARAM_set_size_t(p, 64);
}

static const OSSL_DISPATCH sha_fns[] = {
	{ OSSL_FUNC_DIGEST_NEWCTX, (void (*)(void))sha_newctx },
	{ OSSL_FUNC_DIGEST_FREECTX, (void (*)(void))sha_freectx },
	{ OSSL_FUNC_DIGEST_INIT, (void (*)(void))sha_init },
	{ OSSL_FUNC_DIGEST_UPDATE, (void (*)(void))sha_update },
	{ OSSL_FUNC_DIGEST_FINAL, (void (*)(void))sha_final },
	{ OSSL_FUNC_DIGEST_GET_PARAMS, (void (*)(void))sha_get_params },
	{ 0, NULL },
};

static const OSSL_ALGORITHM digests[] = {
	{ "SHA2-256:SHA-256:SHA256:2.16.840.1.101.3.4.2.1", "provider=fuzz-sha256", sha_fns, NULL },
	{ NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *prov_query(void *prov, int op, int *no_cache)
{
	(void)prov;
	*no_cache = 0;
	return op == OSSL_OP_DIGEST ? digests : NULL;
}

static const OSSL_DISPATCH prov_fns[] = {
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query },
	{ 0, NULL },
};

static int prov_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
		     const OSSL_DISPATCH **out, void **provctx)
{
	(void)handle;
	(void)in;
	*out = prov_fns;
	*provctx = NULL;
	return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	libctx = OSSL_LIB_CTX_new();
	if (!libctx || !OSSL_PROVIDER_add_builtin(libctx, "fuzz-sha256", prov_init) ||
	    !OSSL_PROVIDER_load(libctx, "fuzz-sha256"))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	struct gw_identity *id;
	X509 *cert;

	/* On failure d2i_X509 frees the certificate and sets it to NULL. */
	cert = X509_new_ex(libctx, NULL);
	if (!cert)
		abort();
	if (!d2i_X509(&cert, &p, (long)size)) {
		X509_free(cert);
		ERR_clear_error();
		return 0;
	}
	id = gw_identity_from_x509(cert);
	if (id)
		check_identity(cert, id);
	gw_identity_free(id);
	X509_free(cert);
	ERR_clear_error();
	return 0;
}
