// SPDX-License-Identifier: GPL-2.0-only
/*
 * The policy of a TLS context of either leg, and loading its certificate
 * chain, key, trust anchors and CRLs with problems reported against the
 * config (tls_load.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls_files.h"
#include "tickets.h"
#include "tcache.h"
#include "tls_load.h"

int gw_tls_ctx_policy(SSL_CTX *ctx, int min_version)
{
	if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, GW_TLS13_SUITES) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, GW_TLS12_CIPHERS) != 1)
		return -1;
	SSL_CTX_set_security_level(ctx, 2);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
			    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

time_t gw_tls_asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

void gw_tls_fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	if (!strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) && len)
		buf[0] = '\0';
}

static void __attribute__((format(printf, 4, 5)))
problem(const struct gw_tls_where *w, struct gw_diag *d, const struct gw_tls_keyfile *f,
	const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (w->idx < 0)
		gw_diag_add(d, "%s:%u: %s.%s: \"%s\": %s", w->cfg->path, f->pos.line,
			    w->section, f->key, f->path, msg);
	else
		gw_diag_add(d, "%s:%u: listeners[%d].%s.%s: \"%s\": %s", w->cfg->path,
			    f->pos.line, w->idx, w->section, f->key, f->path, msg);
}

static void ssl_err_text(char *buf, size_t len)
{
	gw_ssl_errors(buf, len);
	if (!buf[0])
		gw_snprintf(buf, len, "no usable PEM data");
}

/*
 * The messages are those of SSL_CTX_use_certificate_chain_file and of
 * reading the key from the file.
 */
int gw_tls_load_chain_key(const struct gw_tls_where *w, SSL_CTX *ctx,
			  const struct gw_tls_keyfile *cert, const struct gw_tls_keyfile *key,
			  const char *what, time_t *not_after)
{
	char err[512], when[32];
	STACK_OF(X509) *rest;
	const char *why;
	EVP_PKEY *pkey;
	X509 *leaf;
	int ret;

	ret = gw_tls_files_chain(w->files, w->libctx, cert->path, &leaf, &rest, &why);
	if (ret == -ENOMEM)
		return ret;
	if (!ret && (SSL_CTX_use_certificate(ctx, leaf) != 1 ||
		     SSL_CTX_set1_chain(ctx, rest) != 1)) {
		ssl_err_text(err, sizeof(err));
		why = err;
		ret = -EINVAL;
	}
	if (ret) {
		problem(w, w->diag, cert, "cannot load certificate chain: %s",
			why[0] ? why : "no usable PEM data");
		return ret;
	}
	ret = gw_tls_files_key(w->files, w->libctx, key->path, &pkey, &why);
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		problem(w, w->diag, key, "cannot load private key: %s",
			why[0] ? why : "no usable PEM data");
		return ret;
	}
	if (X509_check_private_key(leaf, pkey) != 1) {
		ERR_clear_error();
		problem(w, w->diag, key, "private key does not match the certificate in \"%s\"",
			cert->path);
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
		ssl_err_text(err, sizeof(err));
		problem(w, w->diag, key, "cannot use private key: %s", err);
		return -EINVAL;
	}
	*not_after = gw_tls_asn1_time(X509_get0_notAfter(leaf));
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
		gw_tls_fmt_time(*not_after, when, sizeof(when));
		problem(w, w->warn, cert, "%s certificate expired at %s", what, when);
	}
	return 0;
}

/* The slot OpenSSL keeps leaf's certificate in: one per key type. */
static const char *key_type(X509 *leaf)
{
	EVP_PKEY *pk = X509_get0_pubkey(leaf);

	if (!pk)
		return "unknown";
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		return "RSA";
	case EVP_PKEY_RSA_PSS:
		return "RSA-PSS";
	case EVP_PKEY_EC:
		return "ECDSA";
	case EVP_PKEY_ED25519:
		return "Ed25519";
	case EVP_PKEY_ED448:
		return "Ed448";
	default:
		return OBJ_nid2sn(EVP_PKEY_get_base_id(pk));
	}
}

int gw_tls_load_server_certs(const struct gw_tls_where *w, SSL_CTX *ctx,
			     const struct gw_cfg_tls *t, time_t *not_after, unsigned int *soonest)
{
	const char *types[GW_CFG_MAX_CERTS] = { NULL };
	unsigned int i, j;
	int err;

	*not_after = 0;
	*soonest = 0;
	for (i = 0; i < t->n_certs && i < GW_CFG_MAX_CERTS; i++) {
		const struct gw_cfg_keypair *kp = &t->certs[i];
		const struct gw_tls_keyfile cert = { kp->cert, kp->pos_cert, kp->key_cert };
		const struct gw_tls_keyfile key = { kp->key, kp->pos_key, kp->key_key };
		time_t na;

		err = gw_tls_load_chain_key(w, ctx, &cert, &key, "server", &na);
		if (err)
			return err;
		/* The leaf just set is the current one of its slot. */
		types[i] = key_type(SSL_CTX_get0_certificate(ctx));
		for (j = 0; j < i; j++)
			if (!strcmp(types[i], types[j])) {
				problem(w, w->diag, &cert,
					"a second %s certificate: %s (\"%s\") is one already, and OpenSSL serves one per key type; to rotate, replace that file",
					types[i], t->certs[j].key_cert, t->certs[j].cert);
				return -EINVAL;
			}
		if (!i || na < *not_after) {
			*not_after = na;
			*soonest = i;
		}
	}
	return 0;
}

int gw_tls_load_tickets(const struct gw_tls_where *w, const struct gw_tls_keyfile *file,
			struct gw_tickets **out)
{
	const unsigned char *data;
	const char *why;
	char msg[256];
	size_t len;
	int err;

	err = gw_tls_files_bytes(w->files, file->path, &data, &len, &why);
	if (err == -ENOMEM)
		return err;
	if (err) {
		problem(w, w->diag, file, "%s", why);
		return err;
	}
	*out = gw_tickets_new(data, len, w->libctx, msg, sizeof(msg));
	if (!*out) {
		problem(w, w->diag, file, "%s", msg);
		return -EINVAL;
	}
	return 0;
}

int gw_tls_load_cas(const struct gw_tls_where *w, X509_STORE *store, SSL_CTX *advertise,
		    const struct gw_tls_keyfile *ca, time_t *not_after)
{
	STACK_OF(X509) *certs;
	const char *why;
	char err[512];
	int i, n, ret;

	ret = gw_tls_files_certs(w->files, w->libctx, ca->path, &certs, &why);
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		problem(w, w->diag, ca, "cannot open: %s", why[0] ? why : "no usable PEM data");
		return ret;
	}
	n = sk_X509_num(certs);
	for (i = 0; i < n; i++) {
		X509 *x = sk_X509_value(certs, i);
		time_t na = gw_tls_asn1_time(X509_get0_notAfter(x));

		if (!X509_check_ca(x))
			problem(w, w->warn, ca, "certificate %d is not a CA", i + 1);
		if (!*not_after || na < *not_after)
			*not_after = na;
		if (X509_STORE_add_cert(store, x) != 1 ||
		    (advertise && SSL_CTX_add_client_CA(advertise, x) != 1)) {
			ssl_err_text(err, sizeof(err));
			problem(w, w->diag, ca, "cannot add certificate: %s", err);
			return -EINVAL;
		}
	}
	if (!n) {
		problem(w, w->diag, ca, "no PEM certificate found");
		return -EINVAL;
	}
	return 0;
}

static int add_crl(const struct gw_tls_where *w, X509_STORE *store, X509_CRL *crl,
		   const struct gw_tls_keyfile *f, struct gw_tls_crl_info *info)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
	time_t nt = gw_tls_asn1_time(next);
	char when[32];

	info->file = f->path;
	if (nt && (!info->next_update || nt < info->next_update))
		info->next_update = nt;

	if (next && X509_cmp_current_time(next) < 0) {
		gw_tls_fmt_time(nt, when, sizeof(when));
		problem(w, w->warn, f,
			"CRL is past its nextUpdate (%s): handshakes that need it fail until it is refreshed",
			when);
	}
	if (X509_STORE_add_crl(store, crl) != 1)
		return -EINVAL;
	return 0;
}

/* One CRL file (PEM CRLs, or a single DER CRL) into store; info filled. */
static int load_crl_file(const struct gw_tls_where *w, X509_STORE *store,
			 const struct gw_tls_keyfile *crl, struct gw_tls_crl_info *info)
{
	STACK_OF(X509_CRL) *crls;
	const char *why;
	char err[512];
	int i, ret;

	ret = gw_tls_files_crls(w->files, w->libctx, crl->path, &crls, &why);
	if (ret == -ENOMEM)
		return ret;
	for (i = 0; !ret && i < sk_X509_CRL_num(crls); i++) {
		ret = add_crl(w, store, sk_X509_CRL_value(crls, i), crl, info);
		if (ret) {
			ssl_err_text(err, sizeof(err));
			why = err;
		}
	}
	if (ret)
		problem(w, w->diag, crl, "cannot load CRL: %s", why[0] ? why : "no usable PEM data");
	return ret;
}

int gw_tls_load_crls(const struct gw_tls_where *w, X509_STORE *store, char *const *files,
		     unsigned int n, struct gw_cfg_pos pos, enum gw_crl_check check,
		     struct gw_tls_crl_info **infos)
{
	unsigned long flags = 0;
	unsigned int i;
	int err = 0;

	*infos = calloc(n ? n : 1, sizeof(**infos));
	if (!*infos)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct gw_tls_keyfile crl = { files[i], pos, "crl" };

		err = load_crl_file(w, store, &crl, &(*infos)[i]) ?: err;
	}
	if (err)
		return err;
	if (check == GW_CRL_CHAIN)
		flags = X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
	else if (check == GW_CRL_LEAF)
		flags = X509_V_FLAG_CRL_CHECK;
	if (flags && X509_STORE_set_flags(store, flags) != 1)
		return -EINVAL;
	return 0;
}

/* ---- what revocation of a live connection needs (tls_load.h) ---- */

static bool certrefs_matches(const void *obj, const void *key)
{
	const struct gw_certrefs *a = obj, *b = key;

	return a->n == b->n && a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static void certrefs_put(void *obj)
{
	gw_certrefs_free(obj);
}

static const struct gw_tcache_ops certrefs_ops = {
	.matches = certrefs_matches,
	.put = certrefs_put,
	.refs = offsetof(struct gw_certrefs, refs),
};

/* r, or the equal one this thread already keeps (r freed). */
static struct gw_certrefs *certrefs_share(struct gw_certrefs *r)
{
	uint64_t h = gw_hash_fnv1a(r->data, r->len) | (uint64_t)r->n << 32;
	struct gw_certrefs *kept = gw_tcache_find(GW_TCACHE_CERTREFS, &certrefs_ops, h, r);

	if (kept) {
		free(r);
		return kept;
	}
	gw_tcache_add(GW_TCACHE_CERTREFS, &certrefs_ops, h, r);
	return r;
}

struct gw_certrefs *gw_certrefs_from_chain(STACK_OF(X509) *chain)
{
	int n = chain ? sk_X509_num(chain) : 0, i, nl, sl;
	struct gw_certrefs *r;
	unsigned char *p;
	size_t len = 0;

	/* The trust anchor at the end is not subject to a CRL. */
	if (n > 1 && X509_check_issued(sk_X509_value(chain, n - 1),
				       sk_X509_value(chain, n - 1)) == X509_V_OK)
		n--;
	for (i = 0; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);

		nl = i2d_X509_NAME(X509_get_issuer_name(x), NULL);
		sl = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), NULL);
		if (nl <= 0 || sl <= 0 || nl > 0xffff || sl > 0xffff)
			return NULL;
		len += 4 + (size_t)nl + (size_t)sl;
	}
	r = malloc(sizeof(*r) + len);
	if (!r)
		return NULL;
	r->n = (unsigned int)n;
	r->len = (unsigned int)len;
	r->refs = 1;
	p = r->data;
	for (i = 0; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);
		unsigned char *q = p + 4;

		nl = i2d_X509_NAME(X509_get_issuer_name(x), &q);
		sl = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &q);
		if (nl <= 0 || sl <= 0) {
			free(r);
			return NULL;
		}
		p[0] = (unsigned char)(nl >> 8);
		p[1] = (unsigned char)nl;
		p[2] = (unsigned char)(sl >> 8);
		p[3] = (unsigned char)sl;
		p = q;
	}
	return certrefs_share(r);
}

void gw_certrefs_free(struct gw_certrefs *r)
{
	if (r && !__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL))
		free(r);
}

/*
 * The CRLs were loaded from the operator's configuration; their
 * signatures are checked by OpenSSL on every handshake that uses them.
 * Here they are trusted as configured: a revocation in a loaded CRL closes
 * the live connections it names.
 */
int gw_certrefs_revoked(X509_STORE *store, const struct gw_certrefs *refs)
{
	const unsigned char *p, *q;
	STACK_OF(X509_OBJECT) *objs;
	int i, found = -1;
	unsigned int k;

	if (!refs || !store)
		return -1;
	objs = X509_STORE_get0_objects(store);
	p = refs->data;
	for (k = 0; k < refs->n && found < 0; k++) {
		size_t nl = (size_t)p[0] << 8 | p[1], sl = (size_t)p[2] << 8 | p[3];
		X509_NAME *issuer;
		ASN1_INTEGER *serial;

		/* Parsed back only here, on a reload: the names compare canonically. */
		q = p + 4;
		issuer = d2i_X509_NAME(NULL, &q, (long)nl);
		serial = d2i_ASN1_INTEGER(NULL, &q, (long)sl);
		p += 4 + nl + sl;
		for (i = 0; issuer && serial && i < sk_X509_OBJECT_num(objs); i++) {
			X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
			X509_REVOKED *rev;

			if (crl && !X509_NAME_cmp(X509_CRL_get_issuer(crl), issuer) &&
			    X509_CRL_get0_by_serial(crl, &rev, serial) == 1) {
				found = (int)k;
				break;
			}
		}
		X509_NAME_free(issuer);
		ASN1_INTEGER_free(serial);
	}
	return found;
}
