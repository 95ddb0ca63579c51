// SPDX-License-Identifier: GPL-2.0-only
/*
 * A listener's authorize rules and upstream, which each of its routes has
 * too, and its routes[] (config_routes.h). A route is validated into a
 * struct gw_cfg_listener of its own: its keys, and a copy of what it
 * takes from the listener, so that everything after the configuration
 * (TLS contexts, Stage 2, the upstream, limits) serves a route as it
 * serves a listener.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_index.h"
#include "config_routes.h"
#include "config_tls.h"

static void vrule(struct gw_cv_ctx *v, const char *p, const struct gw_raw_rule *r,
		  struct gw_authz_rule *out)
{
	const struct gw_raw_subject *s = r->subject;
	unsigned int i;

	out->name = gw_cv_strdup(v, r->name);
	if (!r->name[0])
		gw_cv_err(v, gw_kp(p, "name").s, "empty rule name");
	out->spiffe_id = gw_cv_strlist(v, r->spiffe_id, r->spiffe_id_count);
	out->n_spiffe_id = out->spiffe_id ? r->spiffe_id_count : 0;
	out->san_dns = gw_cv_strlist(v, r->san_dns, r->san_dns_count);
	out->n_san_dns = out->san_dns ? r->san_dns_count : 0;
	for (i = 0; i < r->spiffe_id_count; i++)
		if (strncmp(r->spiffe_id[i], "spiffe://", 9))
			gw_cv_err(v, gw_kpi(p, "spiffe_id", i).s,
				  "\"%s\" does not start with \"spiffe://\"", r->spiffe_id[i]);
	for (i = 0; i < r->san_dns_count; i++)
		if (!r->san_dns[i][0])
			gw_cv_err(v, gw_kpi(p, "san_dns", i).s, "empty DNS name pattern");
	if (s) {
		out->subject.CN = gw_cv_strdup(v, s->CN);
		out->subject.O = gw_cv_strdup(v, s->O);
		out->subject.OU = gw_cv_strdup(v, s->OU);
		out->subject.C = gw_cv_strdup(v, s->C);
		out->subject.ST = gw_cv_strdup(v, s->ST);
		out->subject.L = gw_cv_strdup(v, s->L);
	}
	if (r->fingerprint_sha256_count) {
		out->fingerprint_sha256 = gw_cv_calloc(v, r->fingerprint_sha256_count,
						       sizeof(*out->fingerprint_sha256));
		out->n_fingerprint_sha256 = out->fingerprint_sha256 ?
					    r->fingerprint_sha256_count : 0;
	}
	for (i = 0; i < out->n_fingerprint_sha256; i++)
		if (gw_cv_fingerprint(r->fingerprint_sha256[i], out->fingerprint_sha256[i]))
			gw_cv_err(v, gw_kpi(p, "fingerprint_sha256", i).s,
				  "\"%s\" is not a SHA-256 fingerprint (64 hex digits, optionally as 32 pairs separated by colons)",
				  r->fingerprint_sha256[i]);
	if (!r->spiffe_id_count && !r->san_dns_count && !r->fingerprint_sha256_count &&
	    !(s && (s->CN || s->O || s->OU || s->C || s->ST || s->L)))
		gw_cv_err(v, p, "rule \"%s\" has no criterion (spiffe_id, san_dns, subject or fingerprint_sha256); it would match every certificate",
			  r->name);
}
void gw_cfg_vupstream(struct gw_cv_ctx *v, const char *up, const struct gw_raw_upstream *u,
		      struct gw_cfg_upstream *out)
{
	static const char *const proxies[] = { "off", "v2" };
	const struct gw_raw_upstream_tls *t = u->tls;
	struct gw_kpath utp = gw_kp(up, "tls");
	int x;

	out->address_str = gw_cv_strdup(v, u->address);
	gw_cv_sockaddr(v, gw_kp(up, "address").s, u->address, &out->addr, &out->addr_len);
	x = gw_cv_choice(v, gw_kp(up, "proxy_protocol").s, u->proxy_protocol, proxies, 2, GW_PROXY_OFF);
	out->proxy_protocol = x < 0 ? GW_PROXY_OFF : (enum gw_proxy_protocol)x;
	gw_cv_duration(v, gw_kp(up, "connect_timeout").s, u->connect_timeout, 5000, true,
		       &out->connect_timeout_ms);
	if (!t)
		return;
	out->tls = calloc(1, sizeof(*out->tls));
	if (!out->tls) {
		v->oom = true;
		return;
	}
	gw_cfg_vupstream_tls(v, utp.s, t, out->tls);
}

void gw_cfg_vrules(struct gw_cv_ctx *v, const char *p, const struct gw_raw_rule *raw,
		   unsigned int n, struct gw_cfg_listener *l)
{
	struct gw_ci_keys names;
	unsigned int i;

	l->rules = gw_cv_calloc(v, n, sizeof(*l->rules));
	l->n_rules = l->rules ? n : 0;
	if (!n)
		gw_cv_err(v, gw_kp(p, "authorize").s, "needs at least one rule (no rule denies everyone)");
	if (gw_ci_keys_init(&names, l->n_rules))
		v->oom = true;
	for (i = 0; i < l->n_rules; i++) {
		struct gw_kpath rp = gw_kpi(p, "authorize", i);
		const char *name = raw[i].name;
		unsigned int j;

		vrule(v, rp.s, &raw[i], &l->rules[i]);
		if (!names.slot)
			continue;
		for (j = gw_ci_keys_add(&names, i, name, strlen(name)); j != i;
		     j = gw_ci_keys_next(&names, j))
			gw_cv_err(v, gw_kp(rp.s, "name").s,
				  "rule name \"%s\" is already used by authorize[%u]", name, j);
	}
	gw_ci_keys_free(&names);
}

static void *memdup_cv(struct gw_cv_ctx *v, const void *src, size_t n, size_t size)
{
	void *p;

	if (!src || !n)
		return NULL;
	p = gw_cv_calloc(v, n, size);
	if (p)
		memcpy(p, src, n * size);
	return p;
}

/* What route r takes from its listener l as it is. */
static void inherit(struct gw_cv_ctx *v, const struct gw_cfg_listener *l,
		    struct gw_cfg_listener *r)
{
	r->name = gw_cv_strdup(v, l->name);
	r->idx = l->idx;
	r->listen_str = gw_cv_strdup(v, l->listen_str);
	r->listen = l->listen;
	r->listen_len = l->listen_len;
	r->allow_any = l->allow_any;
	r->allow_sources = memdup_cv(v, l->allow_sources, l->n_allow_sources,
				     sizeof(*l->allow_sources));
	r->n_allow_sources = r->allow_sources ? l->n_allow_sources : 0;
	r->proxy_accept = l->proxy_accept;
	r->proxy_from = memdup_cv(v, l->proxy_from, l->n_proxy_from, sizeof(*l->proxy_from));
	r->n_proxy_from = r->proxy_from ? l->n_proxy_from : 0;
	r->max_connections = l->max_connections;
	r->max_handshakes = l->max_handshakes;
	r->max_connection_lifetime_ms = l->max_connection_lifetime_ms;
	r->idle_timeout_ms = l->idle_timeout_ms;
	r->close_on_expiry = l->close_on_expiry;
	r->has_default = true;
}

static void vroute(struct gw_cv_ctx *v, unsigned int j, const struct gw_raw_route *raw,
		   const struct gw_cfg_listener *l, struct gw_cfg_listener *r)
{
	static const char *const modes[] = { "enforce", "audit" };
	struct gw_kpath rp = gw_kpi(gw_kpi("", "listeners", (unsigned int)l->idx).s, "routes", j);
	struct gw_kpath tp = gw_kp(rp.s, "tls");
	char kp[32];
	unsigned int i;
	int x;

	inherit(v, l, r);
	gw_snprintf(kp, sizeof(kp), "routes[%u].", j);
	r->kp = gw_cv_strdup(v, kp);
	r->route = gw_cv_strdup(v, raw->name);
	if (!gw_cv_valid_name(raw->name))
		gw_cv_err(v, gw_kp(rp.s, "name").s, "\"%s\": use 1 to 64 of A-Z a-z 0-9 _ . -",
			  raw->name);
	else if (!strcasecmp(raw->name, "default"))
		gw_cv_err(v, gw_kp(rp.s, "name").s,
			  "\"default\" is the listener's own keys (its default route); name this route otherwise");
	if (l->name && r->route) {
		size_t n = strlen(l->name) + strlen(r->route) + 2;

		r->qname = gw_cv_calloc(v, n, 1);
		if (r->qname)
			gw_snprintf(r->qname, n, "%s/%s", l->name, r->route);
	}
	if (!raw->server_names_count)
		gw_cv_err(v, gw_kp(rp.s, "server_names").s,
			  "needs at least one name (exact, or a \"*.\" pattern)");
	r->server_names = gw_cv_strlist(v, raw->server_names, raw->server_names_count);
	r->n_server_names = r->server_names ? raw->server_names_count : 0;
	for (i = 0; i < r->n_server_names; i++) {
		char *s = r->server_names[i];

		if (!s || !gw_cv_dns_name(s, true)) {
			gw_cv_err(v, gw_kpi(rp.s, "server_names", i).s,
				  "\"%s\" is not a DNS name or a \"*.\" pattern", raw->server_names[i]);
			continue;
		}
		for (; *s; s++)
			*s = (char)tolower((unsigned char)*s);
	}

	gw_cfg_vroute_tls(v, tp.s, raw->tls, &l->tls, &r->tls);
	gw_cfg_vrules(v, rp.s, raw->authorize, raw->authorize_count, r);
	gw_cfg_vupstream(v, gw_kp(rp.s, "upstream").s, raw->upstream, &r->upstream);
	x = gw_cv_choice(v, gw_kp(rp.s, "mode").s, raw->mode, modes, 2, l->mode);
	r->mode = x < 0 ? l->mode : (enum gw_mode)x;
	if (raw->limits && raw->limits->per_identity) {
		const struct gw_raw_per_identity *pi = raw->limits->per_identity;

		gw_cv_per_identity(v, gw_kp(rp.s, "limits.per_identity").s, pi->connections,
				   pi->rate, pi->burst, &r->per_identity);
		r->limit_identities = true;
	} else {
		r->per_identity = l->per_identity;
		r->limit_identities = l->limit_identities;
	}
}

/* Where server name g of the listener's routes (all in one sequence) is. */
struct vname {
	unsigned int route, i;
};

/* No server name twice, in any case, across the routes of l. */
static void vname_overlaps(struct gw_cv_ctx *v, const struct gw_cfg_listener *l)
{
	struct gw_kpath lp = gw_kpi("", "listeners", (unsigned int)l->idx);
	struct gw_ci_keys keys;
	struct vname *at;
	unsigned int n = 0, g = 0, j, i;

	for (j = 0; j < l->n_routes; j++)
		n += l->routes[j].n_server_names;
	at = gw_cv_calloc(v, n, sizeof(*at));
	if (!at)
		return;
	if (gw_ci_keys_init(&keys, n)) {
		v->oom = true;
		free(at);
		return;
	}
	for (j = 0; j < l->n_routes; j++) {
		const struct gw_cfg_listener *r = &l->routes[j];

		for (i = 0; i < r->n_server_names; i++, g++) {
			const char *s = r->server_names[i];
			unsigned int e;

			at[g].route = j;
			at[g].i = i;
			if (!s)
				continue;
			for (e = gw_ci_keys_add(&keys, g, s, strlen(s)); e != g;
			     e = gw_ci_keys_next(&keys, e)) {
				const struct vname *w = &at[e];
				struct gw_kpath ep = gw_kpi(gw_kpi(lp.s, "routes", w->route).s,
							    "server_names", w->i);

				gw_cv_err(v, gw_kpi(gw_kpi(lp.s, "routes", j).s, "server_names", i).s,
					  "\"%s\" is route \"%s\"'s already (%s, line %u); each server name belongs to one route",
					  s, l->routes[w->route].route, ep.s, gw_lm_line(v->lm, ep.s));
			}
		}
	}
	gw_ci_keys_free(&keys);
	free(at);
}

void gw_cfg_vroutes(struct gw_cv_ctx *v, const char *p, const struct gw_raw_route *raw,
		    unsigned int n, struct gw_cfg_listener *l)
{
	struct gw_ci_keys names;
	unsigned int j;

	if (!n)
		return;
	l->routes = gw_cv_calloc(v, n, sizeof(*l->routes));
	if (!l->routes)
		return;
	l->n_routes = n;
	if (gw_ci_keys_init(&names, n))
		v->oom = true;
	for (j = 0; j < n; j++) {
		unsigned int e;

		vroute(v, j, &raw[j], l, &l->routes[j]);
		if (!names.slot)
			continue;
		for (e = gw_ci_keys_add(&names, j, raw[j].name, strlen(raw[j].name)); e != j;
		     e = gw_ci_keys_next(&names, e))
			gw_cv_err(v, gw_kp(gw_kpi(p, "routes", j).s, "name").s,
				  "route name \"%s\" is already used by routes[%u]", raw[j].name, e);
	}
	gw_ci_keys_free(&names);
	vname_overlaps(v, l);
}
