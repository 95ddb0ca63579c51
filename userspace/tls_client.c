// SPDX-License-Identifier: GPL-2.0-only
/*
 * The backend leg's TLS client contexts: mutual TLS to the backend, its
 * certificate verified and its name checked (tls_client.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "authz.h"
#include "ktls.h"
#include "tls_client.h"

/* The latest resumable session, shared by one listener's contexts in every worker. */
struct gw_upstream_session {
	pthread_mutex_t lock;
	SSL_SESSION *s;			/* NULL = none yet */
	unsigned int refs;
};

static struct gw_upstream_session *session_new(void)
{
	struct gw_upstream_session *us = calloc(1, sizeof(*us));

	if (!us)
		return NULL;
	pthread_mutex_init(&us->lock, NULL);
	us->refs = 1;
	return us;
}

static void session_put(struct gw_upstream_session *us)
{
	if (!us || __atomic_sub_fetch(&us->refs, 1, __ATOMIC_ACQ_REL))
		return;
	SSL_SESSION_free(us->s);
	pthread_mutex_destroy(&us->lock);
	free(us);
}

static int ssl_idx_vr = -1;
static int ctx_idx_tc = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void idx_init(void)
{
	ssl_idx_vr = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx_idx_tc = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

const char *gw_tls_client_name_check(const struct gw_cfg_upstream_tls *t, X509 *leaf,
				     const struct gw_identity *id)
{
	unsigned int i;
	bool ok;

	if (t->verify_name) {
		if (strncmp(t->verify_name, "*.", 2)) {
			ok = X509_check_host(leaf, t->verify_name, 0,
					     X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
					     X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
		} else {
			for (i = 0, ok = false; !ok && i < id->n_san_dns; i++)
				ok = gw_authz_dns_match(t->verify_name, id->san_dns[i]);
		}
		if (!ok)
			return "verify_name";
	}
	if (t->verify_spiffe_id &&
	    !(id->spiffe_id && gw_authz_spiffe_match(t->verify_spiffe_id, id->spiffe_id)))
		return "verify_spiffe_id";
	return NULL;
}

/*
 * OpenSSL's verdict on each certificate of the backend's chain; at the
 * leaf of a chain that verified, the name. A refusal sends the backend a
 * bad_certificate alert and ends the handshake.
 */
static int verify_cb(int ok, X509_STORE_CTX *xctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct gw_upstream_vr *vr = ssl ? SSL_get_ex_data(ssl, ssl_idx_vr) : NULL;
	const struct gw_tls_client *tc = ssl ?
		SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx_tc) : NULL;
	X509 *leaf = X509_STORE_CTX_get_current_cert(xctx);

	if (!vr || !tc)
		return 0;
	if (!ok) {
		if (!vr->reason) {
			vr->reason = "upstream_cert_invalid";
			vr->x509_err = X509_STORE_CTX_get_error(xctx);
			vr->depth = X509_STORE_CTX_get_error_depth(xctx);
		}
		return 0;
	}
	if (X509_STORE_CTX_get_error_depth(xctx) != 0 || !leaf)
		return 1;
	gw_identity_free(vr->ident);
	vr->ident = gw_identity_from_x509(leaf);
	if (!vr->ident) {
		vr->reason = "upstream_cert_invalid";
		vr->x509_err = X509_V_ERR_OUT_OF_MEM;
		return 0;
	}
	vr->mismatch = gw_tls_client_name_check(tc->cfg, leaf, vr->ident);
	if (vr->mismatch) {
		vr->reason = "upstream_name_mismatch";
		X509_STORE_CTX_set_error(xctx, X509_V_ERR_HOSTNAME_MISMATCH);
		return 0;
	}
	return 1;
}

/* A new session from the backend: keep the latest, for the next connection. */
static int sess_new_cb(SSL *ssl, SSL_SESSION *ss)
{
	struct gw_tls_client *tc = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx_tc);

	SSL_SESSION *old;

	if (!tc || !tc->cfg->session_reuse || !SSL_SESSION_is_resumable(ss))
		return 0;
	pthread_mutex_lock(&tc->session->lock);
	old = tc->session->s;
	tc->session->s = ss;
	pthread_mutex_unlock(&tc->session->lock);
	SSL_SESSION_free(old);
	return 1;	/* the reference is ours */
}

bool gw_tls_client_keeps_sessions(SSL *ssl)
{
	struct gw_tls_client *tc = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_idx_tc);

	return tc && tc->cfg->session_reuse;
}

static int setup_verify(struct gw_tls_client *tc, const struct gw_cfg_upstream_tls *t,
			const struct gw_tls_where *w)
{
	const struct gw_tls_keyfile ca = { t->ca, t->pos_ca, "ca" };
	X509_STORE *store;
	int err;

	store = X509_STORE_new();
	if (!store)
		return -ENOMEM;
	SSL_CTX_set_cert_store(tc->ctx, store);
	err = gw_tls_load_cas(w, store, NULL, &ca, &tc->ca_not_after);
	tc->n_crls = t->n_crl;
	err = gw_tls_load_crls(w, store, t->crl, t->n_crl, t->pos_crl, t->crl_check,
			       &tc->crls) ?: err;
	if (err)
		return err;
	if (X509_STORE_set_purpose(store, X509_PURPOSE_SSL_SERVER) != 1 ||
	    SSL_CTX_set_purpose(tc->ctx, X509_PURPOSE_SSL_SERVER) != 1)
		return -EINVAL;
	SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_PEER, verify_cb);
	return 0;
}

struct gw_tls_client *gw_tls_client_new(const struct gw_config *cfg,
					 const struct gw_cfg_listener *l, OSSL_LIB_CTX *libctx,
					 struct gw_tls_files *files,
					 struct gw_diag *diag, struct gw_diag *warn)
{
	const struct gw_cfg_upstream_tls *t = l->upstream.tls;
	const struct gw_tls_keyfile cert = { t->cert, t->pos_cert, "cert" };
	const struct gw_tls_keyfile key = { t->key, t->pos_key, "key" };
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
	struct gw_tls_client *tc;
	int err;

	gw_snprintf(section, sizeof(section), "%supstream.tls", l->kp ? l->kp : "");
	pthread_once(&idx_once, idx_init);
	tc = calloc(1, sizeof(*tc));
	if (!tc || ssl_idx_vr < 0 || ctx_idx_tc < 0)
		goto out_nomem;
	tc->cfg = t;
	tc->session = session_new();
	tc->ctx = SSL_CTX_new_ex(libctx, NULL, TLS_client_method());
	if (!tc->session || !tc->ctx || SSL_CTX_set_ex_data(tc->ctx, ctx_idx_tc, tc) != 1 ||
	    gw_tls_ctx_policy(tc->ctx, t->min_version))
		goto out_nomem;
	SSL_CTX_set_session_cache_mode(tc->ctx, SSL_SESS_CACHE_CLIENT |
				       SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(tc->ctx, sess_new_cb);
	/* The traffic secrets, for the move of the backend leg to kTLS. */
	gw_ktls_enable_keylog(tc->ctx);

	err = gw_tls_load_chain_key(&w, tc->ctx, &cert, &key, "client", &tc->cert_not_after);
	err = setup_verify(tc, t, &w) ?: err;
	if (err)
		goto out_free;
	return tc;

out_nomem:
	gw_diag_add(diag, "%s: listeners[%d]: cannot set up the upstream TLS context",
		    cfg->path, w.idx);
out_free:
	ERR_clear_error();
	gw_tls_client_free(tc);
	return NULL;
}

void gw_tls_client_free(struct gw_tls_client *tc)
{
	if (!tc)
		return;
	session_put(tc->session);
	SSL_CTX_free(tc->ctx);
	free(tc->crls);
	free(tc);
}

void gw_tls_client_share(struct gw_tls_client *tc, struct gw_tls_client *first)
{
	session_put(tc->session);
	__atomic_add_fetch(&first->session->refs, 1, __ATOMIC_RELAXED);
	tc->session = first->session;
}

void gw_tls_client_forget(struct gw_tls_client *tc, const SSL_SESSION *offered)
{
	SSL_SESSION *drop = NULL;

	if (!offered)
		return;
	pthread_mutex_lock(&tc->session->lock);
	if (tc->session->s == offered) {
		drop = tc->session->s;
		tc->session->s = NULL;
	}
	pthread_mutex_unlock(&tc->session->lock);
	SSL_SESSION_free(drop);
}

SSL *gw_tls_client_ssl(struct gw_tls_client *tc, int fd, struct gw_upstream_vr *vr,
		       const SSL_SESSION **offered)
{
	SSL *ssl = SSL_new(tc->ctx);
	SSL_SESSION *ss;
	int ok;

	*offered = NULL;
	if (!ssl)
		return NULL;
	pthread_mutex_lock(&tc->session->lock);
	ss = tc->session->s;
	if (ss && !SSL_SESSION_up_ref(ss))
		ss = NULL;
	pthread_mutex_unlock(&tc->session->lock);
	*offered = ss;
	ok = SSL_set_fd(ssl, fd) == 1 && SSL_set_ex_data(ssl, ssl_idx_vr, vr) == 1 &&
	     (!tc->cfg->server_name ||
	      SSL_set_tlsext_host_name(ssl, tc->cfg->server_name) == 1) &&
	     (!ss || SSL_set_session(ssl, ss) == 1);
	SSL_SESSION_free(ss);
	if (!ok) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

void gw_upstream_vr_free(struct gw_upstream_vr *vr)
{
	gw_identity_free(vr->ident);
	memset(vr, 0, sizeof(*vr));
}

int gw_tls_client_revoked(const struct gw_tls_client *tc, const struct gw_certrefs *refs)
{
	return gw_certrefs_revoked(SSL_CTX_get_cert_store(tc->ctx), refs);
}
