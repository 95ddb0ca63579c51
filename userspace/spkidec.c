// SPDX-License-Identifier: GPL-2.0-only
/*
 * EC public keys of certificates without OpenSSL 3.0's decoder set-up
 * (spkidec.h).
 *
 * Concurrency: the hand-over between the two replaced calls (pending)
 * and the counts are thread-local; the pointers to OpenSSL's own
 * functions are found once (pthread_once); the switch is an atomic.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "spkidec.h"

/* SubjectPublicKeyInfo (RFC 5280, 4.1); OpenSSL's template macros want a typedef. */
typedef struct gw_spki_st {
	X509_ALGOR *algor;
	ASN1_BIT_STRING *key;
} GW_SPKI;

ASN1_SEQUENCE(GW_SPKI) = {
	ASN1_SIMPLE(GW_SPKI, algor, X509_ALGOR),
	ASN1_SIMPLE(GW_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(GW_SPKI)

typedef OSSL_DECODER_CTX *new_for_pkey_fn(EVP_PKEY **pkey, const char *input_type,
					  const char *input_struct, const char *keytype,
					  int selection, OSSL_LIB_CTX *libctx,
					  const char *propquery);
typedef int from_data_fn(OSSL_DECODER_CTX *ctx, const unsigned char **pdata,
			 size_t *pdata_len);

static new_for_pkey_fn *real_new_for_pkey;
static from_data_fn *real_from_data;
static bool applies;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool disabled;		/* gw_spki_set_enabled(false) */

/* The empty context handed to x509_pubkey_ex_d2i_ex, and what it asked for. */
struct pending {
	OSSL_DECODER_CTX *ctx;
	EVP_PKEY **pkey;
	OSSL_LIB_CTX *libctx;
	const char *propq;
};

static __thread bool parsing;
static __thread struct pending pending;
static __thread struct gw_spki_stats stats;

static void find_real(void)
{
	unsigned long v = OpenSSL_version_num();

	real_new_for_pkey = (new_for_pkey_fn *)dlsym(RTLD_NEXT, "OSSL_DECODER_CTX_new_for_pkey");
	real_from_data = (from_data_fn *)dlsym(RTLD_NEXT, "OSSL_DECODER_from_data");
	applies = real_new_for_pkey && real_from_data &&
		  v >= 0x30000000UL && v < 0x30100000UL;
}

bool gw_spki_applies(void)
{
	pthread_once(&once, find_real);
	return applies;
}

void gw_spki_set_enabled(bool on)
{
	__atomic_store_n(&disabled, !on, __ATOMIC_RELAXED);
}

void gw_spki_enter(void)
{
	parsing = true;
}

void gw_spki_leave(void)
{
	parsing = false;
	pending.ctx = NULL;
}

struct gw_spki_stats gw_spki_stats(void)
{
	return stats;
}

/* The named curves taken directly: name, bytes of an uncompressed point. */
static const char *curve_of(const ASN1_OBJECT *oid, int *point_len)
{
	switch (OBJ_obj2nid(oid)) {
	case NID_X9_62_prime256v1:
		*point_len = 1 + 2 * 32;
		return SN_X9_62_prime256v1;
	case NID_secp384r1:
		*point_len = 1 + 2 * 48;
		return SN_secp384r1;
	case NID_secp521r1:
		*point_len = 1 + 2 * 66;
		return SN_secp521r1;
	default:
		return NULL;
	}
}

/* The whole SubjectPublicKeyInfo in [*pdata, +*plen) -> a key in *p->pkey. */
static bool import(const struct pending *p, const unsigned char **pdata, size_t *plen)
{
	const unsigned char *q = *pdata;
	const ASN1_OBJECT *alg;
	const void *param;
	EVP_PKEY_CTX *pc = NULL;
	EVP_PKEY *pk = NULL;
	const char *curve;
	GW_SPKI *s = NULL;
	int ptype, point_len;
	OSSL_PARAM params[3];
	bool ok = false;

	if (*plen > LONG_MAX)
		return false;
	s = (GW_SPKI *)ASN1_item_d2i(NULL, &q, (long)*plen, ASN1_ITEM_rptr(GW_SPKI));
	if (!s || (size_t)(q - *pdata) != *plen)
		goto out;
	X509_ALGOR_get0(&alg, &ptype, &param, s->algor);
	if (OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey || ptype != V_ASN1_OBJECT)
		goto out;
	curve = curve_of(param, &point_len);
	/* An uncompressed point, no bits left over in the BIT STRING. */
	if (!curve || (s->key->flags & 0x07) || s->key->length != point_len ||
	    s->key->data[0] != POINT_CONVERSION_UNCOMPRESSED)
		goto out;
	pc = EVP_PKEY_CTX_new_from_name(p->libctx, "EC", p->propq);
	if (!pc || EVP_PKEY_fromdata_init(pc) <= 0)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)curve, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      s->key->data, (size_t)point_len);
	params[2] = OSSL_PARAM_construct_end();
	/* The import decodes the point and refuses one that is not on the curve. */
	if (EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	*p->pkey = pk;
	*pdata = q;
	*plen = 0;
	ok = true;
out:
	EVP_PKEY_CTX_free(pc);
	ASN1_item_free((ASN1_VALUE *)s, ASN1_ITEM_rptr(GW_SPKI));
	return ok;
}

/* Replaces libcrypto's for the whole process (spkidec.h). */
OSSL_DECODER_CTX *OSSL_DECODER_CTX_new_for_pkey(EVP_PKEY **pkey, const char *input_type,
						const char *input_struct, const char *keytype,
						int selection, OSSL_LIB_CTX *libctx,
						const char *propquery)
{
	OSSL_DECODER_CTX *ctx;

	pthread_once(&once, find_real);
	if (parsing && applies && !__atomic_load_n(&disabled, __ATOMIC_RELAXED) &&
	    !pending.ctx && pkey && selection == EVP_PKEY_PUBLIC_KEY &&
	    input_type && !strcmp(input_type, "DER") &&
	    input_struct && !strcmp(input_struct, "SubjectPublicKeyInfo") &&
	    keytype && !strcmp(keytype, SN_X9_62_id_ecPublicKey)) {
		ctx = OSSL_DECODER_CTX_new();
		if (ctx) {
			pending = (struct pending){ .ctx = ctx, .pkey = pkey,
						    .libctx = libctx, .propq = propquery };
			return ctx;
		}
	}
	if (!real_new_for_pkey)
		return NULL;
	return real_new_for_pkey(pkey, input_type, input_struct, keytype, selection,
				 libctx, propquery);
}

/* Replaces libcrypto's for the whole process (spkidec.h). */
int OSSL_DECODER_from_data(OSSL_DECODER_CTX *ctx, const unsigned char **pdata,
			   size_t *pdata_len)
{
	struct pending p = pending;
	OSSL_DECODER_CTX *dec;
	int ok;

	pthread_once(&once, find_real);
	if (!real_from_data)
		return 0;
	if (!ctx || ctx != p.ctx)
		return real_from_data(ctx, pdata, pdata_len);
	pending.ctx = NULL;
	if (pdata && *pdata && pdata_len && import(&p, pdata, pdata_len)) {
		stats.fast++;
		return 1;
	}
	/* Not ours to take: OpenSSL's decoder, as it would have been asked. */
	stats.decoder++;
	dec = real_new_for_pkey(p.pkey, "DER", "SubjectPublicKeyInfo", SN_X9_62_id_ecPublicKey,
				EVP_PKEY_PUBLIC_KEY, p.libctx, p.propq);
	if (!dec)
		return 0;
	ok = real_from_data(dec, pdata, pdata_len);
	OSSL_DECODER_CTX_free(dec);
	return ok;
}
