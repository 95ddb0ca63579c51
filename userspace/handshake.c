// SPDX-License-Identifier: GPL-2.0-only
/*
 * The server side of the mutual TLS handshake, nonblocking, and the Stage 2
 * decision taken inside it.
 *
 * Authorization runs in the certificate verification callback, right after
 * OpenSSL accepted the chain: a denial therefore fails the handshake itself
 * and the client gets an alert, and no byte is ever read from the client
 * as application data, let alone forwarded, before both stages passed.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#include "audit.h"
#include "authz.h"
#include "certpool.h"
#include "conn.h"
#include "datapath.h"
#include "ktls_handoff.h"
#include "handshake.h"
#include "ktls.h"
#include "log.h"
#include "metrics.h"
#include "source.h"
#include "tickets.h"
#include "tls_reason.h"
#include "upstream.h"

/* Certificates libssl read on this worker since the last handshake ended. */
static void count_certpool(struct gw_certpool *p)
{
	struct gw_certpool_stats st = gw_certpool_take_stats(p);

	if (st.reused)
		gw_metric_add("mtlsgw_client_certs_parsed_total", "result=\"reused\"",
			      (double)st.reused);
	if (st.parsed)
		gw_metric_add("mtlsgw_client_certs_parsed_total", "result=\"parsed\"",
			      (double)st.parsed);
}

/* mtlsgw_handshakes_total and the duration histogram. */
static void count_handshake(struct gw_conn *c, const char *result, const char *reason)
{
	char labels[256];

	if (!gw_metric_labels(labels, sizeof(labels), "listener", c->lc->name,
			      "?route", c->lc->route, "result", result, "reason", reason, NULL))
		gw_metric_add("mtlsgw_handshakes_total", labels, 1);
	if (c->vr.how != GW_VERIFY_NONE &&
	    !gw_metric_labels(labels, sizeof(labels), "listener", c->lc->name,
			      "?route", c->lc->route, "path",
			      c->vr.how == GW_VERIFY_CACHED ? "cached" :
			      c->vr.how == GW_VERIFY_RESUMED ? "resumed" : "full", NULL))
		gw_metric_add("mtlsgw_verify_cache_total", labels, 1);
	if (!gw_metric_labels(labels, sizeof(labels), "listener", c->lc->name,
			      "?route", c->lc->route, NULL))
		gw_metric_observe("mtlsgw_handshake_duration_seconds", labels,
				  (gw_now_ms() - c->t_start_ms) / 1000.0);
	count_certpool(gw_conn_certpool(c));
}

/* mtlsgw_tls_groups_total: which key exchange each accepted client used. */
static void count_group(const struct gw_conn *c)
{
	char labels[256];

	if (!gw_metric_labels(labels, sizeof(labels), "listener", c->lc->name,
			      "?route", c->lc->route,
			      "group", c->group, NULL))
		gw_metric_add("mtlsgw_tls_groups_total", labels, 1);
}

static void count_authz(const struct gw_conn *c, const char *rule, const char *decision)
{
	char labels[256];

	if (!gw_metric_labels(labels, sizeof(labels), "listener", c->lc->name,
			      "?route", c->lc->route,
			      "rule", rule, "decision", decision, NULL))
		gw_metric_add("mtlsgw_authz_decisions_total", labels, 1);
}

/*
 * Whether c->ident is the verified identity of the leaf this handshake
 * presented: gw_handshake_authz sets it only for a leaf whose chain
 * verified, and it must be that leaf (a session offered for resumption
 * may have been checked for another certificate than the one sent next).
 */
static bool ident_verified(const struct gw_conn *c)
{
	unsigned char md[32];
	unsigned int n = 0;

	return c->ident && c->vr.leaf &&
	       X509_digest(c->vr.leaf, EVP_sha256(), md, &n) && n == sizeof(md) &&
	       !memcmp(md, c->ident->sha256, sizeof(md));
}

/*
 * listeners[].routes[]: the route the ClientHello chose (tls.c) is c's
 * policy from there on: its rules, upstream, mode, limits and labels.
 */
static void follow_route(struct gw_conn *c)
{
	const char *sni;

	/* Without routes, the name OpenSSL took (for the audit log and conns). */
	if (!c->vr.route && !c->vr.sni &&
	    (sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name)) && *sni &&
	    strlen(sni) <= GW_SNI_MAX)
		c->vr.sni = strdup(sni);	/* none if out of memory: it is only shown */
	if (c->vr.route && c->tls != c->vr.route) {
		c->tls = c->vr.route;
		c->lc = c->vr.route->lc;
	}
}

static void handshake_fail(struct gw_conn *c, const char *reason, const char *detail)
{
	const struct gw_cfg_listener *lc = c->lc;
	bool authz = !strcmp(reason, "not_authorized");
	bool verified = ident_verified(c);

	count_handshake(c, "fail", reason);
	if (!verified) {
		/* What a certificate that failed verification claims, if one came. */
		gw_identity_free(c->ident);
		c->ident = c->vr.leaf ? gw_identity_from_x509(c->vr.leaf) : NULL;
	}
	gw_audit_emit(&GW_AUDIT_EVENT(.event = authz ? "authz_deny" : "handshake_fail",
		.conn_id = c->id, .listener = lc->name, .route = lc->route, .sni = c->vr.sni,
		.src = (struct sockaddr *)&c->src, .dst = (struct sockaddr *)&c->dst,
		.via = (struct sockaddr *)&c->via,
		.id = c->ident, .id_unverified = !verified,
		.decision = "deny", .reason = reason,
		.detail = detail && *detail ? detail : NULL));
	pr_debug("listener \"%s\": conn %llu: handshake failed: %s%s%s", lc->name,
		 (unsigned long long)c->id, reason, detail && *detail ? ": " : "",
		 detail ? detail : "");
	gw_conn_close(c, reason, false);
}

/* The key of an identity for its limits: its SPIFFE ID's SHA-256, else its fingerprint. */
static void identity_key(const struct gw_identity *id, unsigned char key[32])
{
	if (id->spiffe_id)
		SHA256((const unsigned char *)id->spiffe_id, strlen(id->spiffe_id), key);
	else
		memcpy(key, id->sha256, 32);
}

/*
 * limits.per_identity, once per connection (a resumption checked first
 * and verified in full after takes one token): false refuses it with
 * *reason. In audit mode it is counted and logged as would_deny.
 */
static bool identity_admitted(struct gw_conn *c, const char **reason)
{
	const struct gw_cfg_listener *lc = c->lc;
	bool audit = lc->mode == GW_MODE_AUDIT;
	enum gw_idl_verdict v;
	unsigned char key[32];
	char labels[160], fp[GW_SHA256_HEX_LEN];
	const char *label;

	if (!lc->limit_identities || c->idl_entry)
		return true;
	c->idl = gw_idlimit_get(lc->qname);
	if (!c->idl) {
		*reason = "internal_error";
		return false;
	}
	identity_key(c->ident, key);
	/* Named as the audit log names it. */
	label = c->ident->spiffe_id ? c->ident->spiffe_id : gw_identity_sha256_hex(c->ident, fp);
	v = gw_idlimit_acquire(c->idl, key, label, &lc->per_identity, gw_now_ms(), audit,
			       &c->idl_entry);
	if (v == GW_IDL_OK)
		return true;
	if (!gw_metric_labels(labels, sizeof(labels), "listener", lc->name, "?route", lc->route,
			      "limit", gw_idl_verdict_str(v), NULL))
		gw_metric_add("mtlsgw_identity_limited_total", labels, 1);
	if (v == GW_IDL_NOMEM) {
		*reason = "internal_error";
		return false;
	}
	if (!audit) {
		*reason = "identity_limit";
		return false;
	}
	gw_audit_emit(&GW_AUDIT_EVENT(.event = "authz_deny",
		.conn_id = c->id, .listener = lc->name, .route = lc->route, .sni = c->vr.sni,
		.src = (struct sockaddr *)&c->src, .dst = (struct sockaddr *)&c->dst,
		.via = (struct sockaddr *)&c->via, .id = c->ident,
		.decision = "would_deny", .reason = "identity_limit",
		.detail = v == GW_IDL_RATE ? "rate" : "connections"));
	return true;
}

/*
 * The hook tls.c calls after chain verification succeeded: extract the
 * identity once, then first-match over the listener's rules.
 */
bool gw_handshake_authz(SSL *ssl, X509 *leaf, const char **reason)
{
	struct gw_conn *c = gw_tls_ssl_conn(ssl);
	const struct gw_cfg_listener *lc;
	int rule;

	if (!c) {
		*reason = "internal_error";
		return false;
	}
	follow_route(c);
	lc = c->lc;
	/* Never the rules of a listener that has none of its own (no default route). */
	if (!lc->has_default) {
		*reason = "unknown_server_name";
		return false;
	}
	gw_identity_free(c->ident);
	c->ident = gw_identity_from_x509(leaf);
	if (!c->ident) {
		*reason = "internal_error";
		return false;
	}
	rule = gw_authz_decide(lc->rules, lc->n_rules, c->ident);
	if (rule != GW_AUTHZ_NO_MATCH) {
		c->rule = lc->rules[rule].name;
		if (!identity_admitted(c, reason))
			return false;
		count_authz(c, c->rule, "allow");
		return true;
	}
	if (lc->mode == GW_MODE_AUDIT) {
		c->would_deny = true;
		count_authz(c, "", "would_deny");
		gw_audit_emit(&GW_AUDIT_EVENT(.event = "authz_deny",
			.conn_id = c->id, .listener = lc->name,
			.route = lc->route, .sni = c->vr.sni,
			.src = (struct sockaddr *)&c->src,
			.dst = (struct sockaddr *)&c->dst,
			.via = (struct sockaddr *)&c->via, .id = c->ident,
			.decision = "would_deny", .reason = "not_authorized"));
		return true;
	}
	count_authz(c, "", "deny");
	*reason = "not_authorized";
	return false;
}

static void handshake_ok(struct gw_conn *c)
{
	const struct gw_cfg_listener *lc = c->lc;
	int one = 1;

	gw_conn_timer_stop(c);
	gw_conn_handshake_done(c);
	/* Its route is settled: its bytes count there too (metrics). */
	if (lc->route)
		c->ls_route = gw_ls_route_find(&c->ls->routes, &c->ls->n_routes, lc->route);
	count_handshake(c, "ok", "none");
	/*
	 * The client's Finished may be the last handshake record, with
	 * nothing of ours to carry the ACK (TLS 1.2 full handshakes, or
	 * tickets already sent): the kernel would delay it, and a client with
	 * Nagle on would hold its first request until then (40 ms).
	 * Acknowledge now.
	 */
	setsockopt(c->cev.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	c->state = GW_CONN_CONNECTING;
	c->tls_version = gw_tls_version_str(c->ssl);
	c->cipher = gw_tls_cipher_str(c->ssl);
	c->group = gw_tls_group_str(c->ssl);
	count_group(c);
	c->t_open_ms = gw_now_ms();
	/* Keep issuer and serial of the chain for revocation; drop the rest. */
	c->certrefs = gw_certrefs_from_chain(c->vr.chain);
	if (!c->certrefs)
		pr_warn("listener \"%s\": conn %llu: cannot record its chain; a CRL update will not close it",
			c->lc->name, (unsigned long long)c->id);
	sk_X509_pop_free(c->vr.chain, X509_free);
	c->vr.chain = NULL;
	X509_free(c->vr.leaf);
	c->vr.leaf = NULL;
	/* With upstream.tls both legs move together, once the backend's is up. */
	if (!c->lc->upstream.tls && gw_ktls_handoff(c) == GW_KTLS_HANDOFF_CLOSED)
		return;
	/* log.audit_failure: refuse: no byte flows without its conn_open line. */
	if (gw_audit_emit(&GW_AUDIT_EVENT(.event = "conn_open", .conn_id = c->id,
		.listener = lc->name, .route = lc->route, .sni = c->vr.sni,
		.src = (struct sockaddr *)&c->src,
		.dst = (struct sockaddr *)&c->dst,
		.via = (struct sockaddr *)&c->via, .id = c->ident,
		.tls_version = c->tls_version, .cipher = c->cipher, .group = c->group,
		.rule = c->rule, .decision = c->would_deny ? "would_deny" : "allow",
		.datapath = gw_conn_datapath(c))) && gw_audit_refusing()) {
		gw_conn_close(c, "audit_unavailable", true);
		return;
	}
	gw_conn_set_events(c, &c->cev, 0);
	/* Accepted under an older generation: check against the running one. */
	if (c->gen != c->ls->gen) {
		const char *why = gw_conn_recheck(c);

		if (why) {
			gw_conn_revoke(c, why);
			return;
		}
	}
	gw_upstream_connect(c);
}

/*
 * Before OpenSSL sees anything, look at the first byte: a client speaking
 * plain text gets closed with not_tls instead of a TLS alert it can't read.
 */
enum peek_result {
	PEEK_TLS,		/* the first byte starts a TLS handshake record */
	PEEK_WAIT,		/* nothing yet */
	PEEK_CLOSED,		/* not TLS, or gone: c was closed */
};

static enum peek_result peek_tls(struct gw_conn *c)
{
	unsigned char b;
	ssize_t n;

	n = recv(c->cev.fd, &b, 1, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return PEEK_WAIT;
	if (n < 0) {
		handshake_fail(c, "client_reset", strerror(errno));
		return PEEK_CLOSED;
	}
	if (n == 0) {
		handshake_fail(c, "client_closed", NULL);
		return PEEK_CLOSED;
	}
	if (b != GW_TLS_RECORD_HANDSHAKE) {
		handshake_fail(c, "not_tls", NULL);
		return PEEK_CLOSED;
	}
	c->tls_peeked = true;
	return PEEK_TLS;
}

/*
 * listeners[].proxy_protocol: the balancer's header first, then Stage 1
 * in userspace for the client it names. false: wait, or c was closed.
 */
static bool proxy_header(struct gw_conn *c)
{
	const char *reason, *detail;

	switch (gw_source_read_proxy(c, &reason, &detail)) {
	case GW_SOURCE_WAIT:
		gw_conn_set_events(c, &c->cev, EPOLLIN);
		return false;
	case GW_SOURCE_FAIL:
		handshake_fail(c, reason, detail);
		return false;
	case GW_SOURCE_DONE:
		break;
	}
	if (!gw_source_allowed(c->lc, c->id, (struct sockaddr *)&c->src,
			       (struct sockaddr *)&c->dst, (struct sockaddr *)&c->via)) {
		gw_conn_close(c, "source_denied", false);
		return false;
	}
	return true;
}

static void handshake_step(struct gw_conn *c)
{
	char detail[512];
	unsigned long err;
	int r;

	if (c->lc->proxy_accept && !c->pp.done && !proxy_header(c))
		return;
	if (!c->tls_peeked) {
		switch (peek_tls(c)) {
		case PEEK_TLS:
			break;
		case PEEK_WAIT:
			gw_conn_set_events(c, &c->cev, EPOLLIN);
			return;
		case PEEK_CLOSED:
			return;
		}
	}
	ERR_clear_error();
	gw_certpool_enter(gw_conn_certpool(c));
	gw_tickets_enter(c->tls->tickets);
	r = SSL_do_handshake(c->ssl);
	gw_tickets_leave();
	gw_certpool_leave();
	follow_route(c);
	if (r == 1) {
		handshake_ok(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		gw_conn_set_events(c, &c->cev, EPOLLIN);
		return;
	case SSL_ERROR_WANT_WRITE:
		gw_conn_set_events(c, &c->cev, EPOLLOUT);
		return;
	case SSL_ERROR_SYSCALL:
		err = ERR_peek_error();
		if (!err) {
			handshake_fail(c, errno ? "client_reset" : "client_closed",
				       errno ? strerror(errno) : NULL);
			return;
		}
		break;
	default:
		err = ERR_peek_error();
		break;
	}
	gw_tls_fail_detail(c->ssl, &c->vr, err, detail, sizeof(detail));
	handshake_fail(c, gw_tls_fail_reason(c->ssl, &c->vr, err), detail);
}

static void handshake_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_conn *c = gw_conn_of(ev, cev);

	(void)events;
	handshake_step(c);
}

static void handshake_timeout(struct gw_conn *c)
{
	handshake_fail(c, "handshake_timeout", c->lc->proxy_accept && !c->pp.done ?
		       "before the end of the PROXY v2 header" : NULL);
}

void gw_handshake_start(struct gw_conn *c)
{
	c->dp = &gw_dp_userspace;	/* until the kernel takes the session */
	c->cev.fn = handshake_event;
	/* A PROXY header is taken from the balancers only, and required. */
	if (c->lc->proxy_accept && !gw_source_is_balancer(c->lc, (struct sockaddr *)&c->src)) {
		handshake_fail(c, "proxy_source_untrusted", "not in proxy_protocol.from");
		return;
	}
	c->ssl = gw_tls_server_ssl(c->tls, c->cev.fd, &c->vr, c);
	if (!c->ssl) {
		static struct gw_ratelimit rl;
		char why[512];

		gw_ssl_errors(why, sizeof(why));
		pr_err_rl(&rl, "listener \"%s\": cannot create a TLS session: %s",
			  c->lc->name, why[0] ? why : "out of memory");
		handshake_fail(c, "internal_error", NULL);
		return;
	}
	gw_conn_timer_start(c, c->lc->tls.handshake_timeout_ms, handshake_timeout);
	handshake_step(c);
}
