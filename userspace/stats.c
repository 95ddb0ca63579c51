// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-listener sums over the workers and the metrics snapshot (stats.h).
 * The primary collects them by running a function in each peer's thread
 * (pool.h), so no counter is read while its owner changes it.
 */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "datapath.h"
#include "metrics.h"
#include "pool.h"
#include "stage1.h"
#include "idlimit.h"
#include "stats.h"

static const char *const s1_verdict_names[GW_S1_NR_VERDICTS] = {
	[GW_S1_PASS_OTHER] = "pass_other",
	[GW_S1_PASS_ALLOWED] = "pass_allowed",
	[GW_S1_DROP] = "drop",
	[GW_S1_AUDIT_PASS] = "audit_pass",
	[GW_S1_DROP_FRAGMENT] = "drop_fragment",
	[GW_S1_DROP_MALFORMED] = "drop_malformed",
};

static bool sum_is(const struct gw_ls_sum *sum, const struct gw_listener *ls)
{
	return sum->removed == ls->removed && !strcmp(sum->name, ls->cfg->name);
}

static struct gw_ls_sum *sum_get(struct gw_ls_sums *s, const struct gw_listener *ls)
{
	struct gw_ls_sum *grown;
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (sum_is(&s->v[i], ls))
			return &s->v[i];
	grown = realloc(s->v, (s->n + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	s->v = grown;
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	s->v[s->n].name = strdup(ls->cfg->name);
	if (!s->v[s->n].name)
		return NULL;
	s->v[s->n].removed = ls->removed;
	return &s->v[s->n++];
}

/* Add from (a route's counters) into to's share of the same route. */
static void sum_route_add(struct gw_ls_sum *to, const struct gw_ls_route *from)
{
	int i = gw_ls_route_find(&to->routes, &to->n_routes, from->name);
	struct gw_ls_route *r;

	if (i < 0)
		return;
	r = &to->routes[i];
	r->bytes_in += from->bytes_in;
	r->bytes_out += from->bytes_out;
	r->active[0] += from->active[0];
	r->active[1] += from->active[1];
}

static void sums_add(struct gw_worker *w, void *arg)
{
	struct gw_ls_sums *s = arg;
	struct gw_listener *ls;
	struct gw_conn *c;
	unsigned int i;
	int r;

	s->conns += w->n_conns;
	for (ls = w->listeners; ls; ls = ls->next) {
		struct gw_ls_sum *sum = sum_get(s, ls);

		if (!sum)
			continue;
		sum->conns += ls->n_conns;
		sum->handshakes += ls->n_handshakes;
		sum->bytes_in += ls->bytes_in;
		sum->bytes_out += ls->bytes_out;
		for (i = 0; i < ls->n_routes; i++)
			sum_route_add(sum, &ls->routes[i]);
	}
	/* One pass over the connections, whatever the number of listeners. */
	for (c = w->all; c; c = c->all_next) {
		struct gw_ls_sum *sum;

		if (c->state < GW_CONN_CONNECTING)
			continue;
		sum = sum_get(s, c->ls);
		if (!sum)
			continue;
		sum->active[c->dp && c->dp->ktls]++;
		r = c->lc->route ? gw_ls_route_find(&sum->routes, &sum->n_routes, c->lc->route) : -1;
		if (r >= 0)
			sum->routes[r].active[c->dp && c->dp->ktls]++;
	}
}

void gw_ls_sums_collect(struct gw_worker *pw, struct gw_ls_sums *s)
{
	memset(s, 0, sizeof(*s));
	sums_add(pw, s);
	gw_pool_each(pw, sums_add, s);
}

const struct gw_ls_sum *gw_ls_sums_find(const struct gw_ls_sums *s, const struct gw_listener *ls)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (sum_is(&s->v[i], ls))
			return &s->v[i];
	return NULL;
}

void gw_ls_sums_free(struct gw_ls_sums *s)
{
	unsigned int i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].routes);
	}
	free(s->v);
}

/* A gauge of listener (and route, NULL: none) with one more label k = v. */
static void set_gauge(const char *name, const char *listener, const char *route, const char *k,
		      const char *v, double value)
{
	char labels[512];

	if (!gw_metric_labels(labels, sizeof(labels), "listener", listener, "?route", route,
			      k, v, NULL))
		gw_metric_set(name, labels, value);
}

/* connections_active and bytes_total of a listener, or of one of its routes. */
static void conn_gauges(const char *listener, const char *route, const double active[2],
			uint64_t bytes_in, uint64_t bytes_out)
{
	set_gauge("mtlsgw_connections_active", listener, route, "datapath", "userspace", active[0]);
	set_gauge("mtlsgw_connections_active", listener, route, "datapath", "splice", active[1]);
	set_gauge("mtlsgw_bytes_total", listener, route, "direction", "in", (double)bytes_in);
	set_gauge("mtlsgw_bytes_total", listener, route, "direction", "out", (double)bytes_out);
}

/* Connections and bytes per listener name (a removed listener's go to a new one of its name). */
static void snapshot_listeners(struct gw_worker *pw)
{
	struct gw_ls_sums sums;
	unsigned int i, k, r;

	gw_ls_sums_collect(pw, &sums);
	for (i = 0; i < sums.n; i++) {
		const struct gw_ls_sum *sum = &sums.v[i];

		for (k = 0; k < i && strcmp(sums.v[k].name, sum->name); k++)
			;
		if (k < i) {
			sums.v[k].active[0] += sum->active[0];
			sums.v[k].active[1] += sum->active[1];
			sums.v[k].bytes_in += sum->bytes_in;
			sums.v[k].bytes_out += sum->bytes_out;
			for (r = 0; r < sum->n_routes; r++)
				sum_route_add(&sums.v[k], &sum->routes[r]);
			sums.v[i].name[0] = '\0';
		}
	}
	for (i = 0; i < sums.n; i++) {
		const struct gw_ls_sum *sum = &sums.v[i];

		if (!sum->name[0])
			continue;
		/* A routed listener's series are its routes' (they add up to it). */
		for (r = 0; r < sum->n_routes; r++)
			conn_gauges(sum->name, sum->routes[r].name, sum->routes[r].active,
				    sum->routes[r].bytes_in, sum->routes[r].bytes_out);
		if (!sum->n_routes)
			conn_gauges(sum->name, NULL, sum->active, sum->bytes_in, sum->bytes_out);
	}
	gw_ls_sums_free(&sums);
}

static void tracked_gauge(const char *table, struct gw_idlimit *t, void *arg)
{
	char labels[256], listener[65];
	const char *route = gw_idlimit_name_split(table, listener);

	(void)arg;
	if (!gw_metric_labels(labels, sizeof(labels), "listener", listener, "?route", route, NULL))
		gw_metric_set("mtlsgw_identities_tracked", labels, gw_idlimit_tracked(t));
}

/* One gauge of a listener's or route's (its TLS context ts), labelled so. */
static void tls_gauge(const struct gw_tls_server *ts, const char *name, const char *k,
		      const char *v, double value)
{
	set_gauge(name, ts->lc->name, ts->lc->route, k, v, value);
}

/* Certificate and CRL dates of ts: its server side, then its upstream.tls. */
static void tls_gauges(const struct gw_tls_server *ts)
{
	const struct gw_tls_client *tc = ts->upstream;
	unsigned int k;

	if (!ts->lc->has_default)	/* a listener whose routes have it all */
		return;
	tls_gauge(ts, "mtlsgw_cert_not_after_timestamp_seconds", "kind", "server",
		  (double)ts->server_not_after);
	tls_gauge(ts, "mtlsgw_cert_not_after_timestamp_seconds", "kind", "ca",
		  (double)ts->ca_not_after);
	for (k = 0; k < ts->n_crls; k++)
		if (ts->crls[k].next_update)
			tls_gauge(ts, "mtlsgw_crl_next_update_timestamp_seconds", "file",
				  ts->crls[k].file, (double)ts->crls[k].next_update);
	if (!tc)
		return;
	tls_gauge(ts, "mtlsgw_cert_not_after_timestamp_seconds", "kind", "upstream",
		  (double)tc->cert_not_after);
	tls_gauge(ts, "mtlsgw_cert_not_after_timestamp_seconds", "kind", "upstream_ca",
		  (double)tc->ca_not_after);
	for (k = 0; k < tc->n_crls; k++)
		if (tc->crls[k].next_update)
			tls_gauge(ts, "mtlsgw_crl_next_update_timestamp_seconds", "file",
				  tc->crls[k].file, (double)tc->crls[k].next_update);
}

void gw_stats_snapshot(struct gw_worker *pw, struct gw_stage1 *s1)
{
	const struct gw_config *cfg = pw->gen->cfg;
	unsigned int i, k, r;

	gw_metric_reset("mtlsgw_connections_active");
	gw_metric_reset("mtlsgw_cert_not_after_timestamp_seconds");
	gw_metric_reset("mtlsgw_crl_next_update_timestamp_seconds");
	snapshot_listeners(pw);
	gw_idlimit_each_table(tracked_gauge, NULL);
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct gw_tls_server *ts = gw_gen_tls(pw->gen, 0, i);
		const char *name = cfg->listeners[i].name;

		tls_gauges(ts);
		for (r = 0; r < ts->n_routes; r++)
			tls_gauges(ts->routes[r]);
		for (k = 0; s1 && k < GW_S1_NR_VERDICTS; k++) {
			struct gw_s1_counter cnt;

			if (!gw_stage1_counter(s1, i, k, &cnt))
				set_gauge("mtlsgw_stage1_packets_total", name, NULL,
					  "verdict", s1_verdict_names[k], (double)cnt.packets);
		}
	}
}
