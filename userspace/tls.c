// SPDX-License-Identifier: GPL-2.0-only
/*
 * OpenSSL server contexts for the listeners and the client certificate
 * policy they enforce.
 *
 * Client verification, in order (OpenSSL's X509_verify_cert, then ours):
 *  - first, before libssl parses them: no more certificates than
 *    verify_depth allows (handshake_msg), no more bytes (max_cert_list);
 *  - chain to a client_ca trust anchor through client-sent intermediates,
 *    at most verify_depth intermediates;
 *  - validity period of every certificate;
 *  - CRLs for the leaf (crl_check: leaf) or every level (chain); a missing
 *    or stale CRL fails closed;
 *  - the clientAuth purpose (EKU) on the leaf and its issuers;
 *  - security level 2: RSA/DSA/DH >= 2048 bits, no SHA-1 signatures;
 *  - ours: the leaf must not be a CA (OpenSSL's sslclient purpose lets
 *    CA:TRUE through), then the listener's authorization rules.
 * Every refusal records a stable reason token and ends in a TLS alert.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certpool.h"
#include "ktls.h"
#include "tickets.h"
#include "tls.h"
#include "tls_files.h"
#include "tls_load.h"

static int ssl_idx_conn = -1;
static int ssl_idx_vr = -1;
static int ssl_idx_authz = -1;
static int ctx_idx_ts = -1;
static gw_tls_authz_fn tls_authz;

int gw_tls_init(gw_tls_authz_fn authz)
{
	ssl_idx_conn = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ssl_idx_vr = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ssl_idx_authz = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx_idx_ts = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ssl_idx_conn < 0 || ssl_idx_vr < 0 || ssl_idx_authz < 0 || ctx_idx_ts < 0)
		return -ENOMEM;
	tls_authz = authz;
	return 0;
}

/* The authorization hook of ssl: its own (gw_tls_server_ssl_authz), else the global one. */
static bool authorize(SSL *ssl, X509 *leaf, const char **reason)
{
	/* A pointer to the function: ex_data holds object pointers only. */
	const gw_tls_authz_fn *own = SSL_get_ex_data(ssl, ssl_idx_authz);
	gw_tls_authz_fn fn = own ? *own : tls_authz;

	return !fn || fn(ssl, leaf, reason);
}

static struct gw_verify_result *ssl_vr(SSL *ssl)
{
	return SSL_get_ex_data(ssl, ssl_idx_vr);
}

void *gw_tls_ssl_conn(const SSL *ssl)
{
	return SSL_get_ex_data(ssl, ssl_idx_conn);
}

/*
 * A client chain of n certificates is longer than any this listener can
 * verify: refused as OpenSSL refuses too many intermediates, with the
 * number for the audit line.
 */
static bool chain_too_long(SSL *ssl, struct gw_verify_result *vr, int n)
{
	if (n <= gw_tls_max_client_certs(SSL_get_verify_depth(ssl)))
		return false;
	vr->x509_err = X509_V_ERR_CERT_CHAIN_TOO_LONG;
	vr->depth = n - 1;
	vr->certs_sent = (unsigned int)n;
	return true;
}

/* Per-certificate callback inside X509_verify_cert: remember the first error. */
static int verify_cb(int ok, X509_STORE_CTX *xctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct gw_verify_result *vr = ssl ? ssl_vr(ssl) : NULL;

	if (!ok && vr && !vr->x509_err) {
		vr->x509_err = X509_STORE_CTX_get_error(xctx);
		vr->depth = X509_STORE_CTX_get_error_depth(xctx);
	}
	return ok;
}

/*
 * Replaces OpenSSL's call to X509_verify_cert for client certificates:
 * OpenSSL's full verification first, then the checks OpenSSL does not do
 * (a CA certificate as client) and authorization. Failing here makes
 * OpenSSL send the alert matching the X509 error we set.
 */
static int cert_verify_cb(X509_STORE_CTX *xctx, void *arg)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct gw_verify_result *vr = ssl ? ssl_vr(ssl) : NULL;
	struct gw_tls_server *ts = arg;
	const char *reason = NULL;
	X509 *leaf;
	int ret;

	if (!vr)
		return 0;
	if (vr->how == GW_VERIFY_RESUMED) {
		/* A ticket was accepted but the client is verified after all. */
		X509_free(vr->leaf);
		vr->leaf = NULL;
		sk_X509_pop_free(vr->chain, X509_free);
		vr->chain = NULL;
	}
	leaf = X509_STORE_CTX_get0_cert(xctx);
	if (leaf && !vr->leaf && X509_up_ref(leaf))
		vr->leaf = leaf;
	/*
	 * Before any work on the chain (the certificates the client sent,
	 * leaf included). handshake_msg refused such a chain already, before
	 * it was parsed, wherever a worker's certificate pool is active.
	 */
	if (chain_too_long(ssl, vr, sk_X509_num(X509_STORE_CTX_get0_untrusted(xctx)))) {
		X509_STORE_CTX_set_error(xctx, X509_V_ERR_CERT_CHAIN_TOO_LONG);
		return 0;
	}
	/* A path verified before: only the leaf's own checks (vcache.h). */
	ret = gw_vcache_verify(ts->vcache, xctx);
	vr->how = ret < 0 ? GW_VERIFY_FULL : GW_VERIFY_CACHED;
	if (ret < 0) {
		ret = X509_verify_cert(xctx) > 0;
		if (ret)
			gw_vcache_add(ts->vcache, xctx);
	}
	if (!ret) {
		if (!vr->x509_err) {
			vr->x509_err = X509_STORE_CTX_get_error(xctx);
			vr->depth = X509_STORE_CTX_get_error_depth(xctx);
		}
		return 0;
	}
	if (X509_check_ca(leaf)) {
		X509_STORE_CTX_set_error(xctx, X509_V_ERR_INVALID_NON_CA);
		vr->x509_err = X509_V_ERR_INVALID_NON_CA;
		vr->reason = "ca_as_client";
		return 0;
	}
	if (!authorize(ssl, leaf, &reason)) {
		X509_STORE_CTX_set_error(xctx, X509_V_ERR_APPLICATION_VERIFICATION);
		vr->reason = reason ? reason : "not_authorized";
		return 0;
	}
	if (!vr->chain)
		vr->chain = X509_STORE_CTX_get1_chain(xctx);
	return 1;
}

/*
 * A client resumes a session (TLS 1.3 PSK or TLS 1.2 session ID): OpenSSL
 * would take the session as it was. We check its certificate again as of
 * now, under the listener's cached issuer path: validity, revocation by
 * the CRLs loaded now, purpose, strength, then authorization. Anything
 * short of that (no cached path, a refusal) and the session is not
 * offered, so the client is verified in full and refused, if it must be,
 * with the usual alert and audit line. Sessions die with their SSL_CTX: a
 * reload or restart turns every client back to a full handshake.
 */
static bool resume_check(SSL *ssl, struct gw_tls_server *ts, X509 *leaf)
{
	struct gw_verify_result *vr = ssl_vr(ssl);
	STACK_OF(X509) *chain = NULL;
	const char *reason = NULL;
	unsigned long flags;

	if (!vr || !leaf || vr->how != GW_VERIFY_NONE)
		return false;
	flags = X509_VERIFY_PARAM_get_flags(X509_STORE_get0_param(SSL_CTX_get_cert_store(ts->ctx))) |
		X509_VERIFY_PARAM_get_flags(SSL_get0_param(ssl));
	if (gw_vcache_check_leaf(ts->vcache, leaf, flags, SSL_get_security_level(ssl),
				 &chain) != X509_V_OK)
		return false;
	if (X509_check_ca(leaf) || !authorize(ssl, leaf, &reason)) {
		sk_X509_pop_free(chain, X509_free);
		return false;
	}
	X509_up_ref(leaf);
	vr->leaf = leaf;
	vr->chain = chain;
	vr->how = GW_VERIFY_RESUMED;
	/*
	 * A client that resumes gets one new TLS 1.3 ticket for the one it
	 * used, not two: a stateless ticket costs OpenSSL 3.0 an encode, a
	 * decode (the client's certificate parsed again) and another encode,
	 * and a cached one takes a slot. Its first ticket is there for the
	 * connection it runs alongside.
	 */
	SSL_set_num_tickets(ssl, 1);
	return true;
}

static struct gw_tls_server *ssl_ts(SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx_ts);
}

/*
 * A session resumes only on the route (or listener) that issued it: its
 * context is that route's (OpenSSL checks it as well, in most paths; a
 * ticket sealed with the listener's one key file would decrypt on any
 * route).
 */
static bool same_route(const struct gw_tls_server *ts, const SSL_SESSION *ss)
{
	unsigned int len = 0;
	const unsigned char *sid = SSL_SESSION_get0_id_context(ss, &len);

	return len == sizeof(ts->sid_ctx) && !memcmp(sid, ts->sid_ctx, len);
}

/*
 * OpenSSL offers each new session: a TLS 1.3 ticket or TLS 1.2 session ID.
 * The client's leaf is the session's peer, except after a resumption (the
 * cache's sessions have none): then the one resume_check found.
 */
static int sess_new_cb(SSL *ssl, SSL_SESSION *ss)
{
	struct gw_tls_server *ts = ssl_ts(ssl);
	struct gw_verify_result *vr = ssl_vr(ssl);
	X509 *leaf = SSL_SESSION_get0_peer(ss);

	if (!leaf && vr)
		leaf = vr->leaf;
	if (ts && leaf)
		gw_sesscache_add(ts->sessions, ss, leaf);
	return 0;	/* the cache made its own copy: OpenSSL drops its reference */
}

/*
 * A client offers a session ID (TLS 1.2) or a stateful ticket (TLS 1.3).
 * One that fails the check is forgotten.
 */
static SSL_SESSION *sess_get_cb(SSL *ssl, const unsigned char *id, int len, int *copy)
{
	struct gw_tls_server *ts = ssl_ts(ssl);
	SSL_SESSION *ss;
	X509 *leaf;

	*copy = 0;	/* the reference we return is OpenSSL's */
	if (!ts || len <= 0)
		return NULL;
	ss = gw_sesscache_find(ts->sessions, id, (unsigned int)len, &leaf);
	if (ss && (!same_route(ts, ss) || !resume_check(ssl, ts, leaf))) {
		gw_sesscache_remove(ts->sessions, id, (unsigned int)len);
		SSL_SESSION_free(ss);
		ss = NULL;
	}
	X509_free(leaf);
	return ss;
}

/* tls.session_tickets.key_file: the fleet's keys (tickets.h). */
static int ticket_key_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
			 EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct gw_tls_server *ts = ssl_ts(ssl);

	return ts && ts->tickets ? gw_tickets_crypt(ts->tickets, name, iv, cctx, hctx, enc) : -1;
}

/*
 * Each stateless ticket carries the client's leaf in its application
 * data, and the session in it goes without (tickets.h says why). No leaf:
 * a ticket that will not resume.
 */
static int ticket_gen_cb(SSL *ssl, void *arg)
{
	struct gw_verify_result *vr = ssl_vr(ssl);
	unsigned char *der = NULL;
	int n;

	(void)arg;
	if (!vr || !vr->leaf || (n = i2d_X509(vr->leaf, &der)) <= 0)
		return 1;
	n = SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), der, (size_t)n);
	OPENSSL_free(der);
	return n == 1;
}

/*
 * The client's leaf out of a ticket: its application data, parsed through
 * the worker's certificate pool (a client seen before is a lookup). The
 * session itself never has one here: it was decoded without (tickets.h).
 * A reference, or NULL.
 */
static X509 *ticket_leaf(const struct gw_tls_server *ts, SSL_SESSION *ss)
{
	const unsigned char *p;
	void *data = NULL;
	size_t len = 0;
	X509 *x;

	if (SSL_SESSION_get0_ticket_appdata(ss, &data, &len) != 1 || !data || !len ||
	    len > LONG_MAX)
		return NULL;
	x = X509_new_ex(ts->libctx, NULL);
	p = data;
	if (!x || !d2i_X509(&x, &p, (long)len) || p != (const unsigned char *)data + len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/*
 * A stateless ticket decrypted into ss: its client resumes only if it
 * passes the checks in force now (CRLs, authorization), as a cached
 * session's does; otherwise a full handshake, and a new ticket.
 */
static SSL_TICKET_RETURN ticket_dec_cb(SSL *ssl, SSL_SESSION *ss, const unsigned char *name,
				       size_t name_len, SSL_TICKET_STATUS status, void *arg)
{
	struct gw_tls_server *ts = ssl_ts(ssl);	/* the route's, not the listener's (arg) */
	X509 *leaf;
	bool ok;

	(void)name;
	(void)name_len;
	(void)arg;
	switch (status) {
	case SSL_TICKET_SUCCESS:
	case SSL_TICKET_SUCCESS_RENEW:
		if (!ts || !same_route(ts, ss))
			return SSL_TICKET_RETURN_IGNORE_RENEW;
		leaf = ticket_leaf(ts, ss);
		ok = resume_check(ssl, ts, leaf);
		X509_free(leaf);
		if (!ok)
			return SSL_TICKET_RETURN_IGNORE_RENEW;
		return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE :
		       SSL_TICKET_RETURN_USE_RENEW;
	case SSL_TICKET_FATAL_ERR_MALLOC:
	case SSL_TICKET_FATAL_ERR_OTHER:
		return SSL_TICKET_RETURN_ABORT;
	default:				/* none, empty, not ours */
		return SSL_TICKET_RETURN_IGNORE_RENEW;
	}
}

static size_t get24(const unsigned char *p)
{
	return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
}

int gw_tls_cert_msg_count(const unsigned char *msg, size_t len, bool tls13)
{
	size_t off = 4, l;
	int n = 0;

	/* type, 24-bit length; TLS 1.3: certificate_request_context<0..255> */
	if (len < 4 || get24(msg + 1) != len - 4)
		return -1;
	if (tls13) {
		if (len - off < 1 || len - off - 1 < msg[off])
			return -1;
		off += 1 + msg[off];
	}
	/* certificate_list<0..2^24-1>: the rest of the message */
	if (len - off < 3 || get24(msg + off) != len - off - 3)
		return -1;
	off += 3;
	while (off < len) {
		/* cert_data<1..2^24-1>; TLS 1.3: extensions<0..2^16-1> after each */
		if (len - off < 3 || (l = get24(msg + off)) > len - off - 3)
			return -1;
		off += 3 + l;
		if (tls13) {
			if (len - off < 2 || (l = (size_t)msg[off] << 8 | msg[off + 1]) > len - off - 2)
				return -1;
			off += 2 + l;
		}
		n++;
	}
	return n;
}

/*
 * Every handshake message, ours and the client's, before OpenSSL acts on
 * it:
 *  - count the NewSessionTicket messages we send: in TLS 1.3 each is a
 *    record under the application traffic key, so the kernel's TX
 *    sequence number starts after them (ktls.c);
 *  - the client's Certificate message: libssl parses every certificate
 *    in it before verification begins, each parse about a fifth of a
 *    whole handshake (certpool.h): 60 junk certificates after a valid
 *    chain cost 9 times a normal handshake, 200 cost 40 times. More
 *    than verify_depth allows are refused here, and the pool parses
 *    none of them: libssl fails the message as undecodable and the
 *    client gets a decode_error alert.
 */
static void handshake_msg(int write_p, int version, int content_type, const void *buf,
			  size_t len, SSL *ssl, void *arg)
{
	struct gw_verify_result *vr = arg;
	const unsigned char *m = buf;

	if (content_type != SSL3_RT_HANDSHAKE || !len)
		return;
	if (write_p && m[0] == SSL3_MT_NEWSESSION_TICKET)
		vr->tickets_sent++;
	if (!write_p && m[0] == SSL3_MT_CERTIFICATE &&
	    chain_too_long(ssl, vr, gw_tls_cert_msg_count(m, len, version == TLS1_3_VERSION)))
		gw_certpool_refuse();
}

int gw_tls_revoked(const struct gw_tls_server *ts, const struct gw_certrefs *refs)
{
	return gw_certrefs_revoked(SSL_CTX_get_cert_store(ts->ctx), refs);
}

static int setup_verify(struct gw_tls_server *ts, const struct gw_cfg_tls *t,
			const struct gw_tls_where *w)
{
	const struct gw_tls_keyfile ca = { t->client_ca, t->pos_client_ca, "client_ca" };
	X509_STORE *store;
	int err = 0;

	store = X509_STORE_new();
	if (!store)
		return -ENOMEM;
	/* The SSL_CTX owns the store from here on. */
	SSL_CTX_set_cert_store(ts->ctx, store);
	/* None: a listener whose routes have their own (its handshakes move there). */
	if (t->client_ca)
		err = gw_tls_load_cas(w, store, ts->ctx, &ca, &ts->ca_not_after);
	ts->n_crls = t->n_crl;
	err = gw_tls_load_crls(w, store, t->crl, t->n_crl, t->pos_crl, t->crl_check,
			       &ts->crls) ?: err;
	if (err)
		return err;
	if (X509_STORE_set_purpose(store, X509_PURPOSE_SSL_CLIENT) != 1 ||
	    SSL_CTX_set_purpose(ts->ctx, X509_PURPOSE_SSL_CLIENT) != 1)
		return -EINVAL;
	/* OpenSSL's depth counts intermediates: leaf = 0, trust anchor excluded. */
	SSL_CTX_set_verify_depth(ts->ctx, t->verify_depth);
	SSL_CTX_set_max_cert_list(ts->ctx, (long)gw_tls_max_client_certs(t->verify_depth) *
				  GW_TLS_CERT_BYTES);
	SSL_CTX_set_verify(ts->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT |
			   SSL_VERIFY_CLIENT_ONCE, verify_cb);
	ts->vcache = gw_vcache_new();
	if (!ts->vcache)
		return -ENOMEM;
	SSL_CTX_set_cert_verify_callback(ts->ctx, cert_verify_cb, ts);
	return 0;
}

void gw_tls_server_adopt_sessions(struct gw_tls_server *ts, struct gw_tls_server *old)
{
	gw_sesscache_free(ts->sessions);
	ts->sessions = gw_sesscache_get(old->sessions);
}

void gw_tls_server_share_caches(struct gw_tls_server *ts, struct gw_tls_server *first)
{
	unsigned int j;

	for (j = 0; j < ts->n_routes && j < first->n_routes; j++)
		gw_tls_server_share_caches(ts->routes[j], first->routes[j]);
	gw_vcache_free(ts->vcache);
	ts->vcache = gw_vcache_get(first->vcache);
	gw_tls_server_adopt_sessions(ts, first);
	if (ts->upstream && first->upstream)
		gw_tls_client_share(ts->upstream, first->upstream);
}

/* One listener's or route's context. */
static struct gw_tls_server *server_new(const struct gw_config *cfg,
					const struct gw_cfg_listener *l, OSSL_LIB_CTX *libctx,
					struct gw_tls_files *files,
					struct gw_diag *diag, struct gw_diag *warn)
{
	const struct gw_cfg_tls *t = &l->tls;
	char section[48];
	struct gw_tls_where w = {
		.cfg = cfg,
		.libctx = libctx,
		.files = files,
		.idx = l->idx,
		.section = section,
		.diag = diag,
		.warn = warn,
	};
	struct gw_tls_server *ts;
	int err;

	gw_snprintf(section, sizeof(section), "%s", l == cfg->metrics_tls ? "metrics.tls" : "tls");
	if (l->kp && *l->kp)
		gw_snprintf(section, sizeof(section), "%stls", l->kp);
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return NULL;
	ts->libctx = libctx;
	ts->lc = l;
	ts->ctx = SSL_CTX_new_ex(libctx, NULL, TLS_server_method());
	if (!ts->ctx)
		goto out_nomem;
	if (gw_tls_ctx_policy(ts->ctx, t->min_version) ||
	    SSL_CTX_set1_groups_list(ts->ctx, t->groups ? t->groups : gw_tls_default_groups()) != 1)
		goto out_nomem;
	SSL_CTX_set_options(ts->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
#ifdef SSL_OP_NO_RX_CERTIFICATE_COMPRESSION
	/*
	 * OpenSSL 3.2+ (Debian 13) accepts a client's certificates compressed
	 * (RFC 8879), and an OpenSSL 3.5 client sends them so: a
	 * CompressedCertificate message, which handshake_msg cannot count
	 * before libssl inflates and parses every certificate in it. A
	 * client's chain is a few kilobytes once per connection; refuse the
	 * compressed form and keep the refusal before parsing.
	 */
	SSL_CTX_set_options(ts->ctx, SSL_OP_NO_RX_CERTIFICATE_COMPRESSION);
#endif
	/*
	 * Resumption from a server-side session cache shared by the workers
	 * (sesscache.h): in TLS 1.3 two
	 * tickets per connection, as OpenSSL, nginx and HAProxy send (a
	 * client running connections in parallel uses each once), each the
	 * ID of a cached session; in TLS 1.2 the session ID. With a ticket
	 * key file instead: stateless tickets (TLS 1.3 and 1.2) that every
	 * gateway holding the file accepts, and no cache.
	 */
	ts->sessions = gw_sesscache_new(t->session_cache_size);
	if (!ts->sessions || SSL_CTX_set_ex_data(ts->ctx, ctx_idx_ts, ts) != 1)
		goto out_nomem;
	SSL_CTX_set_num_tickets(ts->ctx, 2);
	if (t->ticket_key_file) {
		SSL_CTX_clear_options(ts->ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_session_cache_mode(ts->ctx, SSL_SESS_CACHE_OFF);
		if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ts->ctx, ticket_key_cb) != 1 ||
		    SSL_CTX_set_session_ticket_cb(ts->ctx, ticket_gen_cb, ticket_dec_cb, ts) != 1)
			goto out_nomem;
	} else {
		SSL_CTX_set_options(ts->ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_session_cache_mode(ts->ctx, SSL_SESS_CACHE_SERVER |
					       SSL_SESS_CACHE_NO_INTERNAL |
					       SSL_SESS_CACHE_NO_AUTO_CLEAR);
		SSL_CTX_sess_set_new_cb(ts->ctx, sess_new_cb);
		SSL_CTX_sess_set_get_cb(ts->ctx, sess_get_cb);
	}
	SSL_CTX_set_timeout(ts->ctx, (long)(t->session_lifetime_ms / 1000));
	/* Sessions of one listener or route resume only there (and OpenSSL insists). */
	if (!EVP_Digest(l->qname, strlen(l->qname), ts->sid_ctx, NULL, EVP_sha256(), NULL) ||
	    SSL_CTX_set_session_id_context(ts->ctx, ts->sid_ctx, sizeof(ts->sid_ctx)) != 1)
		goto out_nomem;
	/* TLS 1.3 traffic secrets for a kTLS handoff (ktls.c). */
	gw_ktls_enable_keylog(ts->ctx);

	err = gw_tls_load_server_certs(&w, ts->ctx, t, &ts->server_not_after, &ts->server_soonest);
	err = setup_verify(ts, t, &w) ?: err;
	if (t->ticket_key_file) {
		const struct gw_tls_keyfile tk = {
			t->ticket_key_file, t->pos_ticket_key, "session_tickets.key_file"
		};

		err = gw_tls_load_tickets(&w, &tk, &ts->tickets) ?: err;
	}
	if (l->upstream.tls) {
		ts->upstream = gw_tls_client_new(cfg, l, libctx, files, diag, warn);
		if (!ts->upstream)
			err = -EINVAL;
	}
	if (err)
		goto out_free;
	return ts;

out_nomem:
	gw_diag_add(diag, "%s: listeners[%d]: cannot set up TLS context", cfg->path, w.idx);
out_free:
	ERR_clear_error();
	gw_tls_server_free(ts);
	return NULL;
}

/*
 * listeners[].routes[]: the ClientHello's server name picks the route
 * whose context the handshake goes on in (its certificate, the CA names
 * of its CertificateRequest, its trust store and CRLs, its sessions, its
 * rules), before the server has sent a byte. A name no route has, or
 * none, goes to the listener's own keys (the default route), or is
 * refused with unrecognized_name where there is none. Set on the
 * listener's context and each route's: a second ClientHello (after a
 * HelloRetryRequest) comes to the route's and must name the same route.
 */
static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
	struct gw_tls_server *lts = arg, *ts = NULL;
	struct gw_verify_result *vr = ssl_vr(ssl);
	const unsigned char *ext;
	char name[GW_SNI_BUF];
	size_t len;
	int r = -1;

	*al = SSL_AD_INTERNAL_ERROR;
	if (!vr)
		return SSL_CLIENT_HELLO_ERROR;
	name[0] = '\0';
	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1) {
		r = gw_sni_parse(ext, len, name);
		if (r == -EINVAL) {
			vr->reason = "bad_server_name";
			*al = SSL_AD_DECODE_ERROR;
			return SSL_CLIENT_HELLO_ERROR;
		}
		r = r ? -1 : gw_route_find(lts->lc, name);
	}
	if (r >= 0)
		ts = lts->routes[r];
	else if (lts->lc->has_default)
		ts = lts;
	if (vr->route && vr->route != ts) {
		vr->reason = "bad_server_name";
		*al = SSL_AD_ILLEGAL_PARAMETER;
		return SSL_CLIENT_HELLO_ERROR;
	}
	/* Called again after a HelloRetryRequest: the second ClientHello's name. */
	free(vr->sni);
	vr->sni = name[0] ? strdup(name) : NULL;
	if (name[0] && !vr->sni)
		return SSL_CLIENT_HELLO_ERROR;
	if (!ts) {
		vr->reason = "unknown_server_name";
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (SSL_get_SSL_CTX(ssl) != ts->ctx && SSL_set_SSL_CTX(ssl, ts->ctx) != ts->ctx)
		return SSL_CLIENT_HELLO_ERROR;
	vr->route = ts;
	return SSL_CLIENT_HELLO_SUCCESS;
}

struct gw_tls_server *gw_tls_server_new(const struct gw_config *cfg,
					 const struct gw_cfg_listener *l, OSSL_LIB_CTX *libctx,
					 struct gw_tls_files *files,
					 struct gw_diag *diag, struct gw_diag *warn)
{
	struct gw_tls_server *ts = server_new(cfg, l, libctx, files, diag, warn);
	unsigned int j;
	int err = 0;

	if (!ts || !l->n_routes)
		return ts;
	ts->routes = calloc(l->n_routes, sizeof(*ts->routes));
	if (!ts->routes)
		goto out_free;
	ts->n_routes = l->n_routes;
	SSL_CTX_set_client_hello_cb(ts->ctx, client_hello_cb, ts);
	for (j = 0; j < l->n_routes; j++) {
		ts->routes[j] = server_new(cfg, &l->routes[j], libctx, files, diag, warn);
		if (!ts->routes[j])
			err = -EINVAL;
		else
			SSL_CTX_set_client_hello_cb(ts->routes[j]->ctx, client_hello_cb, ts);
	}
	if (!err)
		return ts;
out_free:
	if (!err)
		gw_diag_add(diag, "%s: listeners[%d]: cannot set up TLS context", cfg->path, l->idx);
	gw_tls_server_free(ts);
	return NULL;
}

struct gw_tls_server *gw_tls_server_route(struct gw_tls_server *ts, const char *route)
{
	unsigned int j;

	/* The listener's own keys, whether it had or has routes or not. */
	if (!route || !strcmp(route, "default"))
		return ts->lc->has_default ? ts : NULL;
	for (j = 0; j < ts->n_routes; j++)
		if (!strcmp(ts->routes[j]->lc->route, route))
			return ts->routes[j];
	return NULL;
}

void gw_tls_server_free(struct gw_tls_server *ts)
{
	unsigned int j;

	if (!ts)
		return;
	for (j = 0; ts->routes && j < ts->n_routes; j++)
		gw_tls_server_free(ts->routes[j]);
	free(ts->routes);
	SSL_CTX_free(ts->ctx);
	gw_tls_client_free(ts->upstream);
	gw_vcache_free(ts->vcache);
	gw_sesscache_free(ts->sessions);
	gw_tickets_free(ts->tickets);
	free(ts->crls);
	free(ts);
}

SSL *gw_tls_server_ssl(struct gw_tls_server *ts, int fd,
		       struct gw_verify_result *vr, void *conn)
{
	return gw_tls_server_ssl_authz(ts, fd, vr, conn, NULL);
}

SSL *gw_tls_server_ssl_authz(struct gw_tls_server *ts, int fd, struct gw_verify_result *vr,
			     void *conn, const gw_tls_authz_fn *authz)
{
	SSL *ssl = SSL_new(ts->ctx);

	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_ex_data(ssl, ssl_idx_conn, conn) != 1 ||
	    SSL_set_ex_data(ssl, ssl_idx_authz, (void *)authz) != 1 ||
	    SSL_set_ex_data(ssl, ssl_idx_vr, vr) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_msg_callback(ssl, handshake_msg);
	SSL_set_msg_callback_arg(ssl, vr);
	SSL_set_accept_state(ssl);
	return ssl;
}

const char *gw_tls_version_str(const SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *gw_tls_group_str(SSL *ssl)
{
	const char *name = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));

	return name ? name : "none";
}

static const char *default_groups;

static void default_groups_init(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	default_groups = ctx && SSL_CTX_set1_groups_list(ctx, "X25519MLKEM768:X25519:P-256") == 1 ?
			 "X25519MLKEM768:X25519:P-256" : "X25519:P-256";
	SSL_CTX_free(ctx);
	ERR_clear_error();
}

const char *gw_tls_default_groups(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, default_groups_init);
	return default_groups;
}

const char *gw_tls_cipher_str(const SSL *ssl)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);

	return c ? SSL_CIPHER_get_name(c) : "none";
}

void gw_verify_result_free(struct gw_verify_result *vr)
{
	X509_free(vr->leaf);
	sk_X509_pop_free(vr->chain, X509_free);
	free(vr->sni);
	vr->leaf = NULL;
	vr->chain = NULL;
	vr->sni = NULL;
}
