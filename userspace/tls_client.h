/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The backend leg's TLS: a client context per listener and worker, built
 * from upstream.tls with the listener's server context (tls.c) and never
 * modified afterwards, so a reload swaps both together.
 *
 * The backend's chain must verify to upstream.tls.ca, with its CRLs when
 * crl is set, with the serverAuth purpose; then its leaf must match
 * verify_name (a DNS SAN: an exact name as OpenSSL's X509_check_host
 * compares it, or a "*." pattern matched against each DNS SAN as
 * authorize's san_dns) and verify_spiffe_id (as authorize's spiffe_id).
 * Both, when both are set. The gateway's own chain and key answer the
 * backend's CertificateRequest. Cipher policy: the listener's.
 *
 * Sessions (unless session_reuse is false, nginx's
 * proxy_ssl_session_reuse off): the last resumable session the backend gave (a TLS 1.3
 * ticket, a TLS 1.2 session) is offered on the next connection, on any
 * worker: the contexts of one listener share it (HAProxy keeps one per
 * server and thread). It dies with the contexts: a reload, which may
 * change anything above, starts without one.
 */
#ifndef GW_TLS_CLIENT_H
#define GW_TLS_CLIENT_H

#include <stdbool.h>
#include <time.h>
#include <openssl/ssl.h>

#include "config.h"
#include "identity.h"
#include "tls_load.h"

struct gw_tls_client {
	SSL_CTX *ctx;
	const struct gw_cfg_upstream_tls *cfg;	/* in the generation's config */
	time_t cert_not_after;		/* the gateway's client certificate */
	time_t ca_not_after;		/* earliest trust anchor expiry */
	struct gw_tls_crl_info *crls;	/* one per upstream.tls.crl file */
	unsigned int n_crls;
	struct gw_upstream_session *session;	/* offered to the next connection */
};

/* What verification of one backend found; cleared by gw_tls_upstream_vr_free. */
struct gw_upstream_vr {
	const char *reason;		/* upstream_cert_invalid, upstream_name_mismatch */
	int x509_err;			/* X509_V_ERR_* of a chain that did not verify */
	int depth;			/* where in the chain */
	const char *mismatch;		/* "verify_name" or "verify_spiffe_id" that failed */
	struct gw_identity *ident;	/* the backend's leaf, once its chain verified */
};

/* Problems to diag (listeners[N].upstream.tls.KEY), as gw_tls_server_new. */
struct gw_tls_client *gw_tls_client_new(const struct gw_config *cfg,
					 const struct gw_cfg_listener *l, OSSL_LIB_CTX *libctx,
					 struct gw_tls_files *files,
					 struct gw_diag *diag, struct gw_diag *warn);
void gw_tls_client_free(struct gw_tls_client *tc);
/* Share first's session (first: the same listener in another worker). */
void gw_tls_client_share(struct gw_tls_client *tc, struct gw_tls_client *first);

/*
 * A client SSL on the connected socket fd, in connect state, with the
 * server name and the kept session; vr is filled while it verifies.
 */
SSL *gw_tls_client_ssl(struct gw_tls_client *tc, int fd, struct gw_upstream_vr *vr,
		       const SSL_SESSION **offered);

/*
 * The handshake that offered offered (gw_tls_client_ssl) failed: offer it
 * no more. A backend that cannot resume (a server without a session ID
 * context answers internal_error) then costs one failed connection per
 * session it hands out, not every other one; upstream.tls.session_reuse:
 * false costs none.
 */
void gw_tls_client_forget(struct gw_tls_client *tc, const SSL_SESSION *offered);

/* Whether the upstream of ssl (a backend leg) keeps sessions for reuse. */
bool gw_tls_client_keeps_sessions(SSL *ssl);

/* Free what vr holds. */
void gw_upstream_vr_free(struct gw_upstream_vr *vr);

/*
 * Does the leaf match verify_name and verify_spiffe_id? id: its identity.
 * NULL if it does, else the key it does not match.
 */
const char *gw_tls_client_name_check(const struct gw_cfg_upstream_tls *t, X509 *leaf,
				     const struct gw_identity *id);

/*
 * Is a certificate of the backend chain refs (taken at its handshake) on a
 * CRL of tc (upstream.tls.crl of a new generation)? As gw_certrefs_revoked.
 */
int gw_tls_client_revoked(const struct gw_tls_client *tc, const struct gw_certrefs *refs);

#endif
