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
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls_files.h"
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
	gw_diag_add(d, "%s:%u: listeners[%d].%s.%s: \"%s\": %s", w->cfg->path, f->pos.line,
		    w->idx, w->section, f->key, f->path, msg);
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
