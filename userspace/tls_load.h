/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a TLS context of either leg is made of (internal to tls.c and
 * tls_client.c): the shared cipher and protocol policy, and its files:
 * a certificate chain with its key, trust anchors and CRLs, each taken
 * from the build's parsed files (tls_files.h) and each problem reported
 * against its config key and line, "FILE:LINE: listeners[N].SECTION.KEY:
 * \"PATH\": what". The same words for the listener's server side
 * (section "tls") and its backend leg ("upstream.tls").
 */
#ifndef GW_TLS_LOAD_H
#define GW_TLS_LOAD_H

#include <time.h>
#include <openssl/ssl.h>

#include "config.h"
#include "util.h"

/* Only AEAD suites that kTLS can carry (SPEC.md), on both legs. */
#define GW_TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
			"TLS_CHACHA20_POLY1305_SHA256"
#define GW_TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
			 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
			 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct gw_tls_files;

/* Where problems of one context go. */
struct gw_tls_where {
	const struct gw_config *cfg;
	OSSL_LIB_CTX *libctx;		/* every object of the context is made in it */
	struct gw_tls_files *files;	/* the build's parsed files */
	int idx;			/* listeners[idx]; -1: a top-level section */
	const char *section;		/* "tls", "upstream.tls"; "metrics.tls" */
	struct gw_diag *diag;
	struct gw_diag *warn;
};

/* What a CRL file holds, for the metrics. */
struct gw_tls_crl_info {
	const char *file;		/* points into the config */
	time_t next_update;		/* earliest nextUpdate in the file, 0 = none */
};

/* One file a key names. */
struct gw_tls_keyfile {
	const char *path;
	struct gw_cfg_pos pos;
	const char *key;		/* "cert", "client_ca", ... */
};

/*
 * The policy both legs share, on a new context: TLS min_version to 1.3,
 * the suites above, security level 2, no renegotiation or compression,
 * a peer's FIN without close_notify taken as its end, partial writes
 * from a buffer that may move. 0, or -1 (out of memory).
 */
int gw_tls_ctx_policy(SSL_CTX *ctx, int min_version);

/* ASN1_TIME as time_t (0 if unreadable); "YYYY-MM-DDTHH:MM:SSZ". */
time_t gw_tls_asn1_time(const ASN1_TIME *t);
void gw_tls_fmt_time(time_t t, char *buf, size_t len);

/*
 * The chain of cert and the key of key into ctx; the key must match the
 * leaf. *not_after: the leaf's. An expired leaf is a warning ("what
 * certificate expired at ..."). 0, -EINVAL (reported) or -ENOMEM.
 */
int gw_tls_load_chain_key(const struct gw_tls_where *w, SSL_CTX *ctx,
			  const struct gw_tls_keyfile *cert, const struct gw_tls_keyfile *key,
			  const char *what, time_t *not_after);

/*
 * A listener's server certificates (tls.cert + key, or tls.certs) into ctx,
 * each as gw_tls_load_chain_key. Two of one key type are an error naming
 * both: OpenSSL keeps one per type and picks among the types per
 * handshake. *not_after: the earliest leaf expiry, certs[*soonest]'s.
 */
int gw_tls_load_server_certs(const struct gw_tls_where *w, SSL_CTX *ctx,
			     const struct gw_cfg_tls *t, time_t *not_after, unsigned int *soonest);

/*
 * Trust anchors of ca into store, and advertised as acceptable CA names
 * when advertise is not NULL (a server's CertificateRequest). *not_after:
 * the earliest expiry. A certificate that is not a CA is a warning.
 */
int gw_tls_load_cas(const struct gw_tls_where *w, X509_STORE *store, SSL_CTX *advertise,
		    const struct gw_tls_keyfile *ca, time_t *not_after);

struct gw_tickets;

/* The session ticket keys of file into *out. 0, -EINVAL (reported) or -ENOMEM. */
int gw_tls_load_tickets(const struct gw_tls_where *w, const struct gw_tls_keyfile *file,
			struct gw_tickets **out);

/*
 * The n CRL files of the key "crl" (at pos) into store, *infos one per
 * file (allocated, also when n is 0), and store's revocation flags for
 * check. 0, -EINVAL (every problem reported) or -ENOMEM.
 */
int gw_tls_load_crls(const struct gw_tls_where *w, X509_STORE *store, char *const *files,
		     unsigned int n, struct gw_cfg_pos pos, enum gw_crl_check check,
		     struct gw_tls_crl_info **infos);

/*
 * What revocation of a live connection needs of its verified chain: for
 * every certificate below the trust anchor, its issuer name and serial,
 * kept as DER in one allocation (a few hundred bytes instead of the
 * parsed objects' two kilobytes: every spliced connection holds one).
 * Each entry is [u16 name length][u16 serial length][name][serial].
 * Connections of one thread with equal chains share one (tcache.h).
 */
struct gw_certrefs {
	unsigned int n;
	unsigned int len;
	unsigned int refs;		/* shared by equal chains of one thread (tcache.h) */
	unsigned char data[];
};

struct gw_certrefs *gw_certrefs_from_chain(STACK_OF(X509) *chain);
void gw_certrefs_free(struct gw_certrefs *r);

/*
 * Is any certificate of refs on a CRL in store? The index of the first
 * revoked one (0 = the leaf), or -1. The CRLs are trusted as configured
 * (OpenSSL checks their signatures on every handshake that uses them).
 */
int gw_certrefs_revoked(X509_STORE *store, const struct gw_certrefs *refs);

#endif
