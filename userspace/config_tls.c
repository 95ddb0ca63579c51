// SPDX-License-Identifier: GPL-2.0-only
/*
 * The tls and upstream.tls sections of a listener, and the tls keys a
 * route sets over its listener's (config_tls.h): each value checked by
 * config_values.c, and the rules across keys (a crl_check without CRLs,
 * an upstream without a name to verify).
 */
#include <string.h>
#include <openssl/ssl.h>

#include "config_tls.h"

static const char *const crl_checks[] = { "chain", "leaf", "off" };
static const char *const versions[] = { "1.2", "1.3" };
static const char *const bools[] = { "false", "true" };

/* RFC 8446 4.6.1: a ticket lives at most 7 days. */
#define MAX_LIFETIME_MS (7 * 24 * 3600 * 1000ULL)

static void vsession_tickets(struct gw_cv_ctx *v, const char *sp,
			     const struct gw_raw_session_tickets *st, struct gw_cfg_tls *out)
{
	gw_cv_uint(v, gw_kp(sp, "cache_size").s, st ? st->cache_size : NULL, GW_CFG_SESSION_CACHE,
		   1, 10000000, &out->session_cache_size);
	if (!gw_cv_duration(v, gw_kp(sp, "lifetime").s, st ? st->lifetime : NULL,
			    GW_CFG_SESSION_LIFETIME_MS, true, &out->session_lifetime_ms) &&
	    (out->session_lifetime_ms < 1000 || out->session_lifetime_ms > MAX_LIFETIME_MS))
		gw_cv_err(v, gw_kp(sp, "lifetime").s,
			  "from 1s to 7d (RFC 8446: a client keeps a ticket 7 days at most)");
	if (!st || !st->key_file)
		return;
	out->ticket_key_file = gw_cv_file(v, gw_kp(sp, "key_file").s, st->key_file, true);
	out->pos_ticket_key.line = gw_lm_line(v->lm, gw_kp(sp, "key_file").s);
}

/* One keypair: key paths under tp named "cert"/"key" or "certs[i].cert"/"…key". */
static void vkeypair(struct gw_cv_ctx *v, const char *tp, const char *prefix,
		     const char *cert, const char *key, struct gw_cfg_keypair *out)
{
	gw_snprintf(out->key_cert, sizeof(out->key_cert), "%scert", prefix);
	gw_snprintf(out->key_key, sizeof(out->key_key), "%skey", prefix);
	out->cert = gw_cv_file(v, gw_kp(tp, out->key_cert).s, cert, false);
	out->key = gw_cv_file(v, gw_kp(tp, out->key_key).s, key, true);
	out->pos_cert.line = gw_lm_line(v->lm, gw_kp(tp, out->key_cert).s);
	out->pos_key.line = gw_lm_line(v->lm, gw_kp(tp, out->key_key).s);
}

/*
 * tls.cert + tls.key, or tls.certs: one of the two forms, complete. Which
 * key type each certificate is, and that no two share one, is known only
 * once the files are read (tls.c).
 */
static void vcerts(struct gw_cv_ctx *v, const char *tp, const struct gw_raw_tls *t,
		   struct gw_cfg_tls *out)
{
	unsigned int i;
	char prefix[16];

	if (t->certs && (t->cert || t->key)) {
		gw_cv_err(v, gw_kp(tp, "certs").s,
			  "set either cert and key or certs, not both (certs: [{cert, key}, ...] takes one chain per key type)");
		return;
	}
	if (!t->certs) {
		if (!t->cert || !t->key) {
			gw_cv_err(v, gw_kp(tp, t->cert ? "key" : "cert").s,
				  "required key is missing%s", t->cert || t->key ? "" :
				  " (or certs: [{cert, key}, ...])");
			return;
		}
		out->certs = gw_cv_calloc(v, 1, sizeof(*out->certs));
		if (!out->certs)
			return;
		out->n_certs = 1;
		vkeypair(v, tp, "", t->cert, t->key, &out->certs[0]);
		return;
	}
	if (!t->certs_count || t->certs_count > GW_CFG_MAX_CERTS) {
		gw_cv_err(v, gw_kp(tp, "certs").s,
			  "%u entries: from 1 to %d, one per key type (RSA, RSA-PSS, ECDSA, Ed25519, Ed448)",
			  t->certs_count, GW_CFG_MAX_CERTS);
		return;
	}
	out->certs = gw_cv_calloc(v, t->certs_count, sizeof(*out->certs));
	if (!out->certs)
		return;
	out->n_certs = t->certs_count;
	for (i = 0; i < t->certs_count; i++) {
		gw_snprintf(prefix, sizeof(prefix), "certs[%u].", i);
		vkeypair(v, tp, prefix, t->certs[i].cert, t->certs[i].key, &out->certs[i]);
	}
}

static void vclient_ca(struct gw_cv_ctx *v, const char *tp, const char *val,
		       struct gw_cfg_tls *out)
{
	if (!val)
		return;
	out->client_ca = gw_cv_file(v, gw_kp(tp, "client_ca").s, val, false);
	out->pos_client_ca.line = gw_lm_line(v->lm, gw_kp(tp, "client_ca").s);
}

/*
 * crl_check (NULL: dflt, its default or the listener's) against the crl
 * files there are, reported with report.
 */
static void vcrl_check(struct gw_cv_ctx *v, const char *tp, const char *crl_check,
		       enum gw_crl_check dflt, bool report, struct gw_cfg_tls *out)
{
	int x;

	x = gw_cv_choice(v, gw_kp(tp, "crl_check").s, crl_check, crl_checks, 3, dflt);
	out->crl_check = x < 0 ? dflt : (enum gw_crl_check)x;
	if (report && x >= 0 && out->crl_check != GW_CRL_OFF && !out->n_crl)
		gw_cv_err(v, crl_check ? gw_kp(tp, "crl_check").s : tp,
			  "crl_check: %s needs at least one crl file; set crl_check: off to run without revocation checks",
			  crl_check ? crl_check : out->crl_check == GW_CRL_LEAF ? "leaf" :
			  "chain (the default)");
}

void gw_cfg_vtls(struct gw_cv_ctx *v, const char *tp, const struct gw_raw_tls *t,
		 bool need_keys, struct gw_cfg_tls *out)
{
	static const struct gw_raw_tls none;
	int x;

	if (!t)
		t = &none;
	if (need_keys || t->cert || t->key || t->certs)
		vcerts(v, tp, t, out);
	if (!t->client_ca && need_keys)
		gw_cv_err(v, gw_kp(tp, "client_ca").s, "required key is missing");
	vclient_ca(v, tp, t->client_ca, out);
	gw_cv_files(v, gw_kp(tp, "crl").s, &out->crl, &out->n_crl, &out->pos_crl.line);
	/* Without need_keys the routes' own are what is checked. */
	vcrl_check(v, tp, t->crl_check, GW_CRL_CHAIN, need_keys, out);
	gw_cv_uint(v, gw_kp(tp, "verify_depth").s, t->verify_depth, 3, 1, 16, &out->verify_depth);
	/* A plain 1.2 in YAML arrives here as the string "1.2" as well. */
	x = gw_cv_choice(v, gw_kp(tp, "min_version").s, t->min_version, versions, 2, 0);
	out->min_version = x == 1 ? TLS1_3_VERSION : TLS1_2_VERSION;
	gw_cv_duration(v, gw_kp(tp, "handshake_timeout").s, t->handshake_timeout, 5000, true,
		       &out->handshake_timeout_ms);
	out->groups = gw_cv_tls_groups(v, gw_kp(tp, "groups").s, t->groups, t->groups_count);
	vsession_tickets(v, gw_kp(tp, "session_tickets").s, t->session_tickets, out);
}

/* l's certs, copied into out (empty). */
static void copy_certs(struct gw_cv_ctx *v, const struct gw_cfg_tls *l, struct gw_cfg_tls *out)
{
	unsigned int i;

	if (!l->n_certs)
		return;
	out->certs = gw_cv_calloc(v, l->n_certs, sizeof(*out->certs));
	for (i = 0; out->certs && i < l->n_certs; i++) {
		out->certs[i] = l->certs[i];
		out->certs[i].cert = gw_cv_strdup(v, l->certs[i].cert);
		out->certs[i].key = gw_cv_strdup(v, l->certs[i].key);
	}
	out->n_certs = out->certs ? l->n_certs : 0;
}

void gw_cfg_vroute_tls(struct gw_cv_ctx *v, const char *tp, const struct gw_raw_route_tls *t,
		       const struct gw_cfg_tls *l, struct gw_cfg_tls *out)
{
	bool own_certs = t && (t->cert || t->key || t->certs);
	bool crl = t && gw_lm_find(v->lm, gw_kp(tp, "crl").s);

	/* The listener's settings; each file key either the route's or a copy of the listener's. */
	*out = *l;
	out->certs = NULL;
	out->n_certs = 0;
	out->client_ca = NULL;
	out->crl = NULL;
	out->n_crl = 0;
	out->groups = gw_cv_strdup(v, l->groups);
	out->ticket_key_file = gw_cv_strdup(v, l->ticket_key_file);
	if (own_certs) {
		const struct gw_raw_tls c = {
			.cert = t->cert, .key = t->key, .certs = t->certs,
			.certs_count = t->certs_count,
		};

		vcerts(v, tp, &c, out);
	} else if (l->n_certs) {
		copy_certs(v, l, out);
	} else {
		gw_cv_err(v, gw_kp(tp, "cert").s,
			  "required key is missing: the listener has no tls.cert for its routes to take");
	}
	if (t && t->client_ca)
		vclient_ca(v, tp, t->client_ca, out);
	else if (l->client_ca)
		out->client_ca = gw_cv_strdup(v, l->client_ca);
	else
		gw_cv_err(v, gw_kp(tp, "client_ca").s,
			  "required key is missing: the listener has no tls.client_ca for its routes to take");
	/* A route's own CRLs are checked (chain) unless it says otherwise. */
	if (crl) {
		gw_cv_files(v, gw_kp(tp, "crl").s, &out->crl, &out->n_crl, &out->pos_crl.line);
	} else if (l->n_crl) {
		out->crl = gw_cv_strlist(v, l->crl, l->n_crl);
		out->n_crl = out->crl ? l->n_crl : 0;
	}
	vcrl_check(v, tp, t ? t->crl_check : NULL, crl ? GW_CRL_CHAIN : l->crl_check, true, out);
}

void gw_cfg_vupstream_tls(struct gw_cv_ctx *v, const char *utp,
			  const struct gw_raw_upstream_tls *t, struct gw_cfg_upstream_tls *out)
{
	int x;

	out->cert = gw_cv_file(v, gw_kp(utp, "cert").s, t->cert, false);
	out->key = gw_cv_file(v, gw_kp(utp, "key").s, t->key, true);
	out->ca = gw_cv_file(v, gw_kp(utp, "ca").s, t->ca, false);
	out->pos_cert.line = gw_lm_line(v->lm, gw_kp(utp, "cert").s);
	out->pos_key.line = gw_lm_line(v->lm, gw_kp(utp, "key").s);
	out->pos_ca.line = gw_lm_line(v->lm, gw_kp(utp, "ca").s);
	gw_cv_files(v, gw_kp(utp, "crl").s, &out->crl, &out->n_crl, &out->pos_crl.line);
	/* Revocation is checked when CRLs are given; asked for without any, an error. */
	x = gw_cv_choice(v, gw_kp(utp, "crl_check").s, t->crl_check, crl_checks, 3,
			 out->n_crl ? GW_CRL_CHAIN : GW_CRL_OFF);
	out->crl_check = x < 0 ? GW_CRL_OFF : (enum gw_crl_check)x;
	if (x >= 0 && out->crl_check != GW_CRL_OFF && !out->n_crl)
		gw_cv_err(v, gw_kp(utp, "crl_check").s,
			  "crl_check: %s needs at least one crl file; omit crl_check to run without revocation checks",
			  t->crl_check);
	x = gw_cv_choice(v, gw_kp(utp, "min_version").s, t->min_version, versions, 2, 0);
	out->min_version = x == 1 ? TLS1_3_VERSION : TLS1_2_VERSION;
	out->session_reuse = gw_cv_choice(v, gw_kp(utp, "session_reuse").s, t->session_reuse,
					  bools, 2, 1) != 0;

	out->server_name = gw_cv_strdup(v, t->server_name);
	if (t->server_name && !gw_cv_dns_name(t->server_name, false))
		gw_cv_err(v, gw_kp(utp, "server_name").s,
			  "\"%s\" is not a DNS name; omit the key to send no server name",
			  t->server_name);
	out->verify_name = gw_cv_strdup(v, t->verify_name);
	if (t->verify_name && !gw_cv_dns_name(t->verify_name, true))
		gw_cv_err(v, gw_kp(utp, "verify_name").s,
			  "\"%s\" is not a DNS name or a \"*.\" pattern", t->verify_name);
	out->verify_spiffe_id = gw_cv_strdup(v, t->verify_spiffe_id);
	if (t->verify_spiffe_id && strncmp(t->verify_spiffe_id, "spiffe://", 9))
		gw_cv_err(v, gw_kp(utp, "verify_spiffe_id").s,
			  "\"%s\" does not start with spiffe://", t->verify_spiffe_id);
	if (!t->verify_name && !t->verify_spiffe_id)
		gw_cv_err(v, utp,
			  "set verify_name or verify_spiffe_id (or both): the backend's certificate must name what it is; there is no option that skips this");
}

