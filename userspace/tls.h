/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The only module that configures OpenSSL contexts.
 *
 * A struct gw_tls_server is the complete TLS state of one listener: its
 * SSL_CTX with the server chain and key, the client trust store with the
 * CRLs, the verification policy and the cipher policy. It is built whole
 * from a validated listener config and never modified afterwards, so a
 * reload can build a new one and swap it in.
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stdbool.h>
#include <time.h>
#include <openssl/ssl.h>

#include "config.h"
#include "route.h"
#include "sesscache.h"
#include "tls_client.h"
#include "tls_load.h"
#include "vcache.h"
#include "util.h"

/*
 * The most a client's Certificate message may hold: its own certificate,
 * verify_depth intermediates (OpenSSL's depth counts intermediates) and
 * the trust anchor, which clients may send too. More cannot verify; the
 * message is refused before libssl parses any of it (tls.c): a parse
 * costs about a fifth of a whole handshake.
 */
static inline int gw_tls_max_client_certs(int verify_depth)
{
	return verify_depth + 2;
}

/*
 * And in bytes, 8 KiB per certificate (SSL_CTX_set_max_cert_list): four
 * times a large RSA-4096 certificate, 40 KiB at the default
 * verify_depth of 3. A message announced longer is refused from its
 * header, before it is read.
 */
#define GW_TLS_CERT_BYTES (8 * 1024)

/*
 * Certificates in a Certificate handshake message (header included), in
 * the TLS 1.2 or the TLS 1.3 format, counted without parsing any; -1 if
 * the message is malformed (libssl refuses it then).
 */
int gw_tls_cert_msg_count(const unsigned char *msg, size_t len, bool tls13);

struct gw_tls_server {
	SSL_CTX *ctx;
	OSSL_LIB_CTX *libctx;		/* ctx's, NULL = the default */
	time_t server_not_after;	/* the earliest of its server certificates */
	unsigned int server_soonest;	/* that one's index in tls.certs */
	time_t ca_not_after;		/* earliest trust anchor expiry */
	struct gw_tls_crl_info *crls;	/* one per tls.crl file */
	unsigned int n_crls;
	struct gw_vcache *vcache;	/* verified issuer paths (vcache.h) */
	struct gw_sesscache *sessions;	/* resumable sessions (sesscache.h) */
	struct gw_tickets *tickets;	/* tls.session_tickets.key_file, NULL = none (tickets.h) */
	struct gw_tls_client *upstream;	/* upstream.tls, NULL = plain TCP (tls_client.h) */
	const struct gw_cfg_listener *lc;	/* the policy it serves: a listener or a route */
	unsigned char sid_ctx[32];	/* its sessions' context: SHA-256 of lc->qname */
	/*
	 * listeners[].routes[]: the context of each route, owned by the
	 * listener's (this one, whose handshakes start here and move to
	 * one of these in the ClientHello callback).
	 */
	struct gw_tls_server **routes;
	unsigned int n_routes;
	unsigned char expiry_warned;	/* gen.c: 1 = 72 h before expiry warned, 2 = 24 h */
};

/*
 * Verification outcome of one client certificate, filled by the
 * certificate verification callback (see gw_tls_set_verify_hook).
 */
struct gw_verify_result {
	const char *reason;		/* stable token, NULL while fine */
	int x509_err;			/* X509_V_ERR_* or 0 */
	int depth;
	unsigned int certs_sent;	/* refused for more certificates than that */
	X509 *leaf;			/* the client's leaf, owned; may be NULL */
	enum {
		GW_VERIFY_NONE,		/* no certificate verified (yet) */
		GW_VERIFY_FULL,		/* OpenSSL's X509_verify_cert */
		GW_VERIFY_CACHED,	/* leaf checks under a cached path */
		GW_VERIFY_RESUMED,	/* a resumed session's peer, checked again */
	} how;
	unsigned int tickets_sent;	/* NewSessionTicket records written */
	STACK_OF(X509) *chain;		/* the verified chain, owned; success only */
	/*
	 * The route the ClientHello chose (NULL: none yet, or a listener
	 * without routes) and the server name it sent ("" = none), lowercase.
	 */
	struct gw_tls_server *route;
	char *sni;			/* NULL: none; gw_verify_result_free frees it */
};

/* Free what vr holds (leaf, chain, server name); vr itself is the caller's. */
void gw_verify_result_free(struct gw_verify_result *vr);

/*
 * Is any certificate of refs on a CRL loaded in ts? Returns the index of
 * the first revoked one (0 = the leaf), or -1.
 */
int gw_tls_revoked(const struct gw_tls_server *ts, const struct gw_certrefs *refs);

/*
 * Called after OpenSSL's chain verification succeeded, with the verified
 * leaf. Returns true to accept; false refuses the handshake (the client
 * gets an alert) and must set *reason.
 */
typedef bool (*gw_tls_authz_fn)(SSL *ssl, X509 *leaf, const char **reason);

/* One-time global setup: ex_data indexes. 0 or -ENOMEM. */
int gw_tls_init(gw_tls_authz_fn authz);

struct gw_tls_files;

/*
 * Build the server TLS state for one listener. Loads and checks the chain,
 * key, client CAs and every CRL; problems go to diag as
 * "FILE:LINE: key: what" against the config file and NULL is returned.
 * Warnings (expired server certificate, CRL past nextUpdate) go to warn.
 *
 * libctx: the OpenSSL library context of everything the TLS context is
 * made of (NULL: the default one). A worker's own keeps its handshakes
 * off the locks of the others' (name maps, method stores, decoders).
 * files: the build's cache of parsed files (tls_files.h), shared by
 * every listener and worker of one generation.
 */
struct gw_tls_server *gw_tls_server_new(const struct gw_config *cfg,
					 const struct gw_cfg_listener *l, OSSL_LIB_CTX *libctx,
					 struct gw_tls_files *files,
					 struct gw_diag *diag, struct gw_diag *warn);
void gw_tls_server_free(struct gw_tls_server *ts);

/*
 * The context of the route named route of the listener whose context is
 * ts; route NULL (a listener without routes) or "default" both mean the
 * listener's own keys, so that a connection keeps its policy when routes
 * are added or all removed. NULL if it has no such route (any more).
 */
struct gw_tls_server *gw_tls_server_route(struct gw_tls_server *ts, const char *route);

/* Take old's session cache (a reload that keeps it, gen.h) instead of ts's own. */
void gw_tls_server_adopt_sessions(struct gw_tls_server *ts, struct gw_tls_server *old);

/*
 * Use first's verification cache and session cache (first: the same
 * listener in another worker), so a session resumes on any worker; and
 * its backend session, so any worker resumes with the backend.
 */
void gw_tls_server_share_caches(struct gw_tls_server *ts, struct gw_tls_server *first);

/* New server SSL for an accepted socket; result attached with ex_data. */
SSL *gw_tls_server_ssl(struct gw_tls_server *ts, int fd,
		       struct gw_verify_result *vr, void *conn);
void *gw_tls_ssl_conn(const SSL *ssl);
/*
 * The same with its own authorization hook (*authz, which must outlive
 * the SSL) instead of gw_tls_init's: the metrics endpoint's clients.
 */
SSL *gw_tls_server_ssl_authz(struct gw_tls_server *ts, int fd, struct gw_verify_result *vr,
			     void *conn, const gw_tls_authz_fn *authz);

/* "TLSv1.3" / "TLS_AES_128_GCM_SHA256" / "x25519" for audit lines. */
const char *gw_tls_version_str(const SSL *ssl);
const char *gw_tls_cipher_str(const SSL *ssl);
const char *gw_tls_group_str(SSL *ssl);

/*
 * tls.groups when the config leaves it out: X25519MLKEM768 (post-quantum
 * hybrid) first where the linked OpenSSL has it (3.5 on), then X25519,
 * then P-256.
 */
const char *gw_tls_default_groups(void);

#endif
