// SPDX-License-Identifier: GPL-2.0-only
/*
 * Verified issuer paths (vcache.h). The leaf checks follow the order of
 * OpenSSL 3.0's X509_verify_cert, so a refused leaf gets the same
 * X509_V_ERR_* (and so the same alert and audit reason) either way:
 * leaf key strength, extensions and purpose, signature algorithm
 * strength, revocation, signature, validity period.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "vcache.h"

#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

#define VC_ENTRIES 64
#define VC_MAX_CRLS 4
/*
 * Leaves whose signature checked out, per cache: as many as two workers'
 * certificate pools hold (512 slots each), in sets of four by digest so
 * that two leaves landing on one set both stay (a table of single slots
 * lost one leaf of 32 in about 40 % of runs). A slot holds the leaf's
 * SHA-256, not the leaf: 40 KiB for the table, where references kept up
 * to 1,024 parsed certificates (7 MiB) alive after their connections.
 */
#define VC_SIGNED 1024
#define VC_SIGNED_WAYS 4	/* a set per digest; a new leaf takes the set's ways in turn */

struct vc_entry {
	bool used;
	unsigned char key[32];		/* SHA-256 over the sent certificates' SHA-256 */
	STACK_OF(X509) *path;		/* issuer of the leaf .. trust anchor */
	X509_CRL *crl[VC_MAX_CRLS];	/* CRLs of the leaf's issuer */
	unsigned int n_crl;
	time_t not_before, not_after;	/* every certificate and CRL of the path valid */
	uint64_t gen;			/* this path's generation: unique in the cache, from 1 */
};

/*
 * A leaf whose signature by the issuer of the path of generation gen
 * checked out (generations are never given twice, so gen names the path
 * whatever entry held it): the SHA-256 of its DER, signature included, so
 * equal digests are the same signed bytes. gen 0: an empty slot.
 */
struct vc_signed {
	unsigned char md[32];
	uint64_t gen;
};

/* VC_SIGNED_WAYS slots; next: the way the next new leaf of the set takes. */
struct vc_signed_set {
	struct vc_signed way[VC_SIGNED_WAYS];
	unsigned int next;
};

struct gw_vcache {
	/* Lookups share it, gw_vcache_add takes it exclusively. */
	pthread_rwlock_t lock;
	unsigned int refs;		/* atomic: every worker's context of a listener */
	struct vc_entry e[VC_ENTRIES];
	unsigned int next;		/* round-robin replacement */
	uint64_t gen;			/* the last entry generation given */
	EVP_MD *sha256;
	/* Leaves signed as checked: VC_SIGNED slots in sets by digest, from the first. */
	pthread_mutex_t signed_lock;
	struct vc_signed_set *signed_;
	uint64_t sig_checks;		/* atomic: leaf signatures checked (X509_verify) */
};

/* Security bits per auth level 1..5, as OpenSSL's x509_vfy.c has them. */
static const int minbits[] = { 80, 112, 128, 192, 256 };

/* Verification options the fast path does not model: verify in full. */
#define VC_UNMODELLED_FLAGS (X509_V_FLAG_POLICY_CHECK | X509_V_FLAG_EXPLICIT_POLICY | \
			     X509_V_FLAG_INHIBIT_ANY | X509_V_FLAG_INHIBIT_MAP | \
			     X509_V_FLAG_USE_DELTAS | X509_V_FLAG_EXTENDED_CRL_SUPPORT | \
			     X509_V_FLAG_X509_STRICT | X509_V_FLAG_USE_CHECK_TIME | \
			     X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_PARTIAL_CHAIN | \
			     X509_V_FLAG_ALLOW_PROXY_CERTS | X509_V_FLAG_SUITEB_128_LOS)

struct gw_vcache *gw_vcache_new(void)
{
	struct gw_vcache *vc = calloc(1, sizeof(*vc));

	if (!vc)
		return NULL;
	vc->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!vc->sha256) {
		free(vc);
		return NULL;
	}
	pthread_rwlock_init(&vc->lock, NULL);
	pthread_mutex_init(&vc->signed_lock, NULL);
	vc->refs = 1;
	return vc;
}

struct gw_vcache *gw_vcache_get(struct gw_vcache *vc)
{
	__atomic_fetch_add(&vc->refs, 1, __ATOMIC_RELAXED);
	return vc;
}

static void entry_clear(struct vc_entry *e)
{
	unsigned int i;

	sk_X509_pop_free(e->path, X509_free);
	for (i = 0; i < e->n_crl; i++)
		X509_CRL_free(e->crl[i]);
	memset(e, 0, sizeof(*e));
}

void gw_vcache_free(struct gw_vcache *vc)
{
	unsigned int i;

	if (!vc || __atomic_sub_fetch(&vc->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (i = 0; i < VC_ENTRIES; i++)
		entry_clear(&vc->e[i]);
	free(vc->signed_);
	EVP_MD_free(vc->sha256);
	pthread_mutex_destroy(&vc->signed_lock);
	pthread_rwlock_destroy(&vc->lock);
	free(vc);
}

static time_t asn1_time(const ASN1_TIME *t, time_t dflt)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return dflt;
	return timegm(&tm);
}

/* The key: the certificates the client sent besides its leaf, in order. */
static int chain_key(struct gw_vcache *vc, X509_STORE_CTX *xctx, unsigned char key[32])
{
	STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(xctx);
	X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;
	EVP_MD_CTX *ctx;
	int i, ret = -1;

	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, vc->sha256, NULL) != 1)
		goto out;
	for (i = 0; i < sk_X509_num(sent); i++) {
		X509 *x = sk_X509_value(sent, i);

		if (x == leaf)
			continue;
		if (X509_digest(x, vc->sha256, md, &len) != 1 ||
		    EVP_DigestUpdate(ctx, md, len) != 1)
			goto out;
	}
	len = 32;
	if (EVP_DigestFinal_ex(ctx, key, &len) == 1)
		ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Extensions whose meaning the fast path does not model. */
static bool cert_unmodelled(X509 *x, bool is_ca)
{
	uint32_t fl = X509_get_extension_flags(x);

	if (fl & (EXFLAG_INVALID | EXFLAG_CRITICAL | EXFLAG_PROXY | EXFLAG_INVALID_POLICY))
		return true;
	if (X509_get_ext_by_NID(x, NID_sbgp_ipAddrBlock, -1) >= 0 ||
	    X509_get_ext_by_NID(x, NID_sbgp_autonomousSysNum, -1) >= 0)
		return true;
	return is_ca && (X509_get_ext_by_NID(x, NID_name_constraints, -1) >= 0 ||
			 X509_get_ext_by_NID(x, NID_policy_constraints, -1) >= 0 ||
			 X509_get_ext_by_NID(x, NID_inhibit_any_policy, -1) >= 0 ||
			 X509_get_ext_by_NID(x, NID_policy_mappings, -1) >= 0);
}

static bool param_unmodelled(X509_VERIFY_PARAM *param)
{
	return (X509_VERIFY_PARAM_get_flags(param) & VC_UNMODELLED_FLAGS) ||
	       X509_VERIFY_PARAM_get0_host(param, 0) || X509_VERIFY_PARAM_get0_email(param);
}

static int level_bits(int level)
{
	if (level <= 0)
		return 0;
	if (level > (int)(sizeof(minbits) / sizeof(minbits[0])))
		level = sizeof(minbits) / sizeof(minbits[0]);
	return minbits[level - 1];
}

static struct vc_entry *lookup(struct gw_vcache *vc, const unsigned char key[32])
{
	unsigned int i;

	for (i = 0; i < VC_ENTRIES; i++)
		if (vc->e[i].used && !memcmp(vc->e[i].key, key, 32))
			return &vc->e[i];
	return NULL;
}

/*
 * The checks X509_verify_cert makes of a leaf under an already verified
 * path. X509_V_OK, an X509_V_ERR_*, or -1 to verify in full.
 */
static int leaf_checks(struct gw_vcache *vc, X509 *leaf, const struct vc_entry *e,
		       unsigned long flags, int bits, bool signed_ok, time_t now)
{
	X509 *issuer = sk_X509_value(e->path, 0);
	int secbits = -1, cmp;
	unsigned int i;

	if (bits && EVP_PKEY_get_security_bits(X509_get0_pubkey(leaf)) < bits)
		return X509_V_ERR_EE_KEY_TOO_SMALL;
	if (X509_check_purpose(leaf, X509_PURPOSE_SSL_CLIENT, 0) != 1)
		return X509_V_ERR_INVALID_PURPOSE;
	if (bits && (!X509_get_signature_info(leaf, NULL, NULL, &secbits, NULL) ||
		     secbits < bits))
		return X509_V_ERR_CA_MD_TOO_WEAK;
	if (flags & X509_V_FLAG_CRL_CHECK) {
		/* Every CRL of the issuer is asked: revoked on any is revoked. */
		for (i = 0; i < e->n_crl; i++) {
			X509_REVOKED *rev;

			if (X509_CRL_get0_by_serial(e->crl[i], &rev,
						    X509_get0_serialNumber(leaf)) == 1)
				return X509_V_ERR_CERT_REVOKED;
		}
	}
	if (!signed_ok) {
		__atomic_add_fetch(&vc->sig_checks, 1, __ATOMIC_RELAXED);
		if (X509_verify(leaf, X509_get0_pubkey(issuer)) != 1)
			return X509_V_ERR_CERT_SIGNATURE_FAILURE;
	}
	cmp = X509_cmp_time(X509_get0_notBefore(leaf), &now);
	if (cmp == 0)
		return -1;
	if (cmp > 0)
		return X509_V_ERR_CERT_NOT_YET_VALID;
	cmp = X509_cmp_time(X509_get0_notAfter(leaf), &now);
	if (cmp == 0)
		return -1;
	if (cmp < 0)
		return X509_V_ERR_CERT_HAS_EXPIRED;
	return X509_V_OK;
}

/* leaf and the entry's path, each referenced once more. */
static STACK_OF(X509) *full_chain(X509 *leaf, const struct vc_entry *e)
{
	STACK_OF(X509) *chain = sk_X509_new_reserve(NULL, sk_X509_num(e->path) + 1);
	int i;

	if (!chain)
		return NULL;
	X509_up_ref(leaf);
	sk_X509_push(chain, leaf);
	for (i = 0; i < sk_X509_num(e->path); i++) {
		X509_up_ref(sk_X509_value(e->path, i));
		sk_X509_push(chain, sk_X509_value(e->path, i));
	}
	return chain;
}

/* A leaf's set: by its digest. */
static struct vc_signed_set *signed_set(struct gw_vcache *vc, const unsigned char *md)
{
	uint64_t h;

	memcpy(&h, md, sizeof(h));
	return &vc->signed_[h % (VC_SIGNED / VC_SIGNED_WAYS)];
}

/* Under signed_lock: the leaf's slot in its set for generation gen, or NULL. */
static struct vc_signed *signed_find(struct vc_signed_set *set, const unsigned char *md,
				     uint64_t gen)
{
	unsigned int i;

	for (i = 0; i < VC_SIGNED_WAYS; i++)
		if (set->way[i].gen == gen && !memcmp(set->way[i].md, md, sizeof(set->way[i].md)))
			return &set->way[i];
	return NULL;
}

static bool leaf_signed(struct gw_vcache *vc, const struct vc_entry *e, const unsigned char *md)
{
	bool yes;

	pthread_mutex_lock(&vc->signed_lock);
	yes = vc->signed_ && signed_find(signed_set(vc, md), md, e->gen);
	pthread_mutex_unlock(&vc->signed_lock);
	return yes;
}

static void remember_signed(struct gw_vcache *vc, const struct vc_entry *e, const unsigned char *md)
{
	struct vc_signed_set *set;
	struct vc_signed *s;

	pthread_mutex_lock(&vc->signed_lock);
	if (!vc->signed_)
		vc->signed_ = calloc(VC_SIGNED / VC_SIGNED_WAYS, sizeof(*vc->signed_));
	if (vc->signed_) {
		set = signed_set(vc, md);
		if (!signed_find(set, md, e->gen)) {
			s = &set->way[set->next++ % VC_SIGNED_WAYS];
			memcpy(s->md, md, sizeof(s->md));
			s->gen = e->gen;
		}
	}
	pthread_mutex_unlock(&vc->signed_lock);
}

static int verify_locked(struct gw_vcache *vc, X509_STORE_CTX *xctx, const unsigned char *key)
{
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(xctx);
	X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
	unsigned char md[32];
	unsigned int mdlen = 0;
	STACK_OF(X509) *chain;
	struct vc_entry *e;
	time_t now = time(NULL);
	bool known;
	int err;

	e = lookup(vc, key);
	if (!e)
		return -1;
	/*
	 * Something on the path expired or a CRL is stale: OpenSSL says
	 * what (the entry is replaced when it verifies the path again).
	 */
	if (now < e->not_before || now >= e->not_after)
		return -1;
	if (X509_check_issued(sk_X509_value(e->path, 0), leaf) != X509_V_OK)
		return -1;
	if (X509_digest(leaf, vc->sha256, md, &mdlen) != 1 || mdlen != sizeof(md))
		return -1;
	known = leaf_signed(vc, e, md);
	err = leaf_checks(vc, leaf, e, X509_VERIFY_PARAM_get_flags(param),
			  level_bits(X509_VERIFY_PARAM_get_auth_level(param)), known, now);
	if (err < 0)
		return -1;
	if (err == X509_V_OK && !known)
		remember_signed(vc, e, md);
	if (err != X509_V_OK) {
		X509_STORE_CTX_set_current_cert(xctx, leaf);
		X509_STORE_CTX_set_error_depth(xctx, 0);
		X509_STORE_CTX_set_error(xctx, err);
		return 0;
	}
	chain = full_chain(leaf, e);
	if (!chain)
		return -1;
	X509_STORE_CTX_set0_verified_chain(xctx, chain);
	X509_STORE_CTX_set_error(xctx, X509_V_OK);
	return 1;
}

int gw_vcache_verify(struct gw_vcache *vc, X509_STORE_CTX *xctx)
{
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(xctx);
	X509 *leaf = X509_STORE_CTX_get0_cert(xctx);
	unsigned char key[32];
	int ret;

	if (!vc || !leaf || param_unmodelled(param) || cert_unmodelled(leaf, false) ||
	    chain_key(vc, xctx, key))
		return -1;
	pthread_rwlock_rdlock(&vc->lock);
	ret = verify_locked(vc, xctx, key);
	pthread_rwlock_unlock(&vc->lock);
	return ret;
}

/*
 * The leaf issuer's CRLs and the validity window of every CRL that speaks
 * for a certificate of the path. false: a CRL the fast path cannot
 * model, or no usable CRL for the leaf's issuer although one is required.
 */
static bool add_crls(struct vc_entry *e, X509_STORE_CTX *xctx, bool need)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(X509_STORE_CTX_get0_store(xctx));
	X509 *issuer = sk_X509_value(e->path, 0);
	int i, j;

	for (i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
		bool ours = false;

		if (!crl)
			continue;
		for (j = 0; j < sk_X509_num(e->path) && !ours; j++)
			ours = !X509_NAME_cmp(X509_CRL_get_issuer(crl),
					      X509_get_subject_name(sk_X509_value(e->path, j)));
		if (!ours)
			continue;
		if (X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1) >= 0 ||
		    X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0 ||
		    X509_CRL_get_ext_by_NID(crl, NID_freshest_crl, -1) >= 0 ||
		    X509_CRL_get_ext_by_critical(crl, 1, -1) >= 0)
			return false;
		if (X509_cmp_time(X509_CRL_get0_lastUpdate(crl), NULL) >= 0)
			return false;
		e->not_before = MAX(e->not_before, asn1_time(X509_CRL_get0_lastUpdate(crl), 0));
		e->not_after = MIN(e->not_after,
				   asn1_time(X509_CRL_get0_nextUpdate(crl), e->not_after));
		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) ||
		    X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1)
			continue;
		if (e->n_crl == VC_MAX_CRLS)
			return false;
		X509_CRL_up_ref(crl);
		e->crl[e->n_crl++] = crl;
	}
	return e->n_crl || !need;
}

void gw_vcache_add(struct gw_vcache *vc, X509_STORE_CTX *xctx)
{
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(xctx);
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xctx);
	struct vc_entry tmp = { .not_after = (time_t)INT64_MAX }, *e;
	int i, n = sk_X509_num(chain);

	if (!vc || n < 2 || param_unmodelled(param) || chain_key(vc, xctx, tmp.key))
		return;
	tmp.path = sk_X509_new_reserve(NULL, n - 1);
	if (!tmp.path)
		return;
	for (i = 1; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);

		if (cert_unmodelled(x, true))
			goto drop;
		tmp.not_before = MAX(tmp.not_before, asn1_time(X509_get0_notBefore(x), 0));
		tmp.not_after = MIN(tmp.not_after,
				    asn1_time(X509_get0_notAfter(x), tmp.not_after));
		X509_up_ref(x);
		sk_X509_push(tmp.path, x);
	}
	if (!add_crls(&tmp, xctx, X509_VERIFY_PARAM_get_flags(param) & X509_V_FLAG_CRL_CHECK))
		goto drop;
	pthread_rwlock_wrlock(&vc->lock);
	e = lookup(vc, tmp.key);
	if (!e) {
		e = &vc->e[vc->next];
		vc->next = (vc->next + 1) % VC_ENTRIES;
	}
	entry_clear(e);
	*e = tmp;
	e->used = true;
	e->gen = ++vc->gen;
	pthread_rwlock_unlock(&vc->lock);
	return;
drop:
	entry_clear(&tmp);
}

int gw_vcache_check_leaf(struct gw_vcache *vc, X509 *leaf, unsigned long flags,
			 int auth_level, STACK_OF(X509) **chain)
{
	time_t now = time(NULL);
	unsigned int i;
	int err = -1;

	if (!vc || !leaf || (flags & VC_UNMODELLED_FLAGS) || cert_unmodelled(leaf, false))
		return -1;
	pthread_rwlock_rdlock(&vc->lock);
	for (i = 0; i < VC_ENTRIES; i++) {
		struct vc_entry *e = &vc->e[i];

		if (!e->used || now < e->not_before || now >= e->not_after ||
		    X509_check_issued(sk_X509_value(e->path, 0), leaf) != X509_V_OK)
			continue;
		/*
		 * The leaf comes from our own ticket (encrypted and MACed with
		 * the listener's key): its signature was checked when the
		 * session was made. Everything that can change is checked.
		 */
		err = leaf_checks(vc, leaf, e, flags, level_bits(auth_level), true, now);
		if (err == X509_V_OK) {
			*chain = full_chain(leaf, e);
			err = *chain ? X509_V_OK : -1;
		}
		break;
	}
	pthread_rwlock_unlock(&vc->lock);
	return err;
}

uint64_t gw_vcache_signatures_checked(const struct gw_vcache *vc)
{
	return __atomic_load_n(&vc->sig_checks, __ATOMIC_RELAXED);
}
