// SPDX-License-Identifier: GPL-2.0-only
/*
 * Administration (admin.h): status, conns and kill over every worker, and
 * the Prometheus endpoint. Runs in the primary's loop; the peers' parts
 * are read or changed in their own threads through gw_pool_each().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>

#include "addr.h"
#include "admin.h"
#include "authz.h"
#include "conn.h"
#include "idlimit.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "sockdiag.h"
#include "stage1.h"
#include "stats.h"
#include "steer.h"
#include "tls_reason.h"

static const char *conn_state_str(enum gw_conn_state s)
{
	switch (s) {
	case GW_CONN_HANDSHAKE:
		return "handshake";
	case GW_CONN_CONNECTING:
		return "connecting";
	case GW_CONN_FORWARDING:
		return "forwarding";
	default:
		return "closed";
	}
}

static void status_listener(struct gw_admin *a, struct gw_sbuf *b, struct gw_listener *ls,
			    const struct gw_ls_sum *sum)
{
	const struct gw_cfg_listener *lc = ls->cfg;
	struct gw_worker *w = a->w;
	unsigned int conns = sum ? sum->conns : ls->n_conns, j;

	if (ls->removed) {
		gw_sbuf_printf(b, "listener %s: removed, %u connections finishing\n",
			       lc->name, conns);
		return;
	}
	gw_sbuf_printf(b, "listener %s: %s mode %s datapath %s connections %u handshakes %u bytes_in %llu bytes_out %llu\n",
		       lc->name, lc->listen_str, gw_mode_str(lc->mode),
		       gw_worker_splice_tier(w, w->gen->cfg, ~0u) ? "splice" : "userspace", conns, sum ? sum->handshakes : ls->n_handshakes,
		       (unsigned long long)(sum ? sum->bytes_in : ls->bytes_in),
		       (unsigned long long)(sum ? sum->bytes_out : ls->bytes_out));
	for (j = 0; j < lc->n_steer; j++) {
		const struct gw_steer *st = &lc->steer[j];
		char pfx[64];

		if (!gw_cidr_fmt(&st->dst, pfx, sizeof(pfx)))
			gw_sbuf_printf(b, "  steer %s:%u-%u\n", pfx, st->lo, st->hi);
	}
	if (a->steer && lc->n_steer) {
		struct gw_steer_hits h;

		if (!gw_steer_hits(a->steer, ls->slot, &h))
			gw_sbuf_printf(b, "  steer hits %llu (no socket %llu)\n",
				       (unsigned long long)h.assigned,
				       (unsigned long long)h.no_socket);
	}
	for (j = 0; j < lc->n_interfaces; j++) {
		const char *m = gw_stage1_mode(a->s1, lc->interfaces[j]);

		gw_sbuf_printf(b, "  stage1 %s: %s\n", lc->interfaces[j],
			       m ? m : "not attached (userspace check only)");
	}
}

void gw_admin_status(struct gw_admin *a, struct gw_sbuf *b)
{
	struct gw_worker *w = a->w;
	const struct gw_config *cfg = w->gen->cfg;
	struct gw_listener *ls;
	struct gw_ls_sums sums;

	gw_ls_sums_collect(w, &sums);
	gw_sbuf_printf(b, "mtlsgw %s\n", GW_VERSION);
	gw_sbuf_printf(b, "uptime: %llu s\n",
		       (unsigned long long)((gw_now_ms() - a->t_start_ms) / 1000));
	gw_sbuf_printf(b, "config: %s (generation %llu)\n", cfg->path,
		       (unsigned long long)w->gen->id);
	gw_sbuf_printf(b, "kernel: %s\n", a->kernel_info);
	gw_sbuf_printf(b, "stage1: %s\n", a->s1 ? "eBPF loaded" : "userspace check only");
	gw_sbuf_printf(b, "workers: %u\n", w->n_workers);
	gw_sbuf_printf(b, "connections: %u\n", sums.conns);
	for (ls = w->listeners; ls; ls = ls->next)
		status_listener(a, b, ls, gw_ls_sums_find(&sums, ls));
	gw_ls_sums_free(&sums);
}

/* ---- conns ---- */

/*
 * The kernel's view of each live client socket, matched by SO_COOKIE
 * through an open-addressing table built once per call: linear in
 * sockets + connections (a walk of the connections per socket took 1.5 s
 * at 4,000 connections).
 */
struct kview {
	struct gw_sockdiag *d;		/* one per live connection, list order */
	unsigned int n;
	uint64_t *keys;			/* cookie per table slot, 0 = empty */
	unsigned int *idx;		/* its connection's position in d */
	unsigned int mask;
};

static unsigned int kview_slot(const struct kview *kv, uint64_t cookie)
{
	/* Cookies are sequential: spread them with a multiplicative hash. */
	return (unsigned int)((cookie * 0x9e3779b97f4a7c15ULL) >> 32) & kv->mask;
}

static int kview_init(struct kview *kv, const struct gw_conn *all, unsigned int n)
{
	const struct gw_conn *c;
	unsigned int size = 16, i, h;

	while (size < 2 * n)
		size *= 2;
	kv->n = n;
	kv->mask = size - 1;
	kv->d = calloc(n, sizeof(*kv->d));
	kv->keys = calloc(size, sizeof(*kv->keys));
	kv->idx = calloc(size, sizeof(*kv->idx));
	if (!kv->d || !kv->keys || !kv->idx)
		return -ENOMEM;
	for (c = all, i = 0; c && i < n; c = c->all_next, i++) {
		if (!c->cookie)
			continue;
		for (h = kview_slot(kv, c->cookie); kv->keys[h]; h = (h + 1) & kv->mask)
			;
		kv->keys[h] = c->cookie;
		kv->idx[h] = i;
	}
	return 0;
}

static void kview_free(struct kview *kv)
{
	free(kv->d);
	free(kv->keys);
	free(kv->idx);
}

static void kview_one(const struct gw_sockdiag *d, void *ctx)
{
	struct kview *kv = ctx;
	unsigned int h;

	for (h = kview_slot(kv, d->cookie); kv->keys[h]; h = (h + 1) & kv->mask) {
		if (kv->keys[h] == d->cookie) {
			kv->d[kv->idx[h]] = *d;
			return;
		}
	}
}

struct conns_req {
	struct gw_sbuf *b;
	bool json;
	bool said_err;
};

/* One row as JSON: every string through the writer (a certificate chose them). */
static void conn_row_json(struct gw_sbuf *b, const struct gw_worker *w, const struct gw_conn *c,
			  const struct gw_sockdiag *d, uint64_t now, const char *src,
			  const char *via, const char *who, const char *ulp)
{
	struct gw_json j;

	gw_json_init(&j, b);
	gw_json_begin(&j);
	gw_json_u64(&j, "id", c->id);
	gw_json_u64(&j, "worker", w->index);
	gw_json_str(&j, "listener", c->lc->name);
	if (c->lc->route)
		gw_json_str(&j, "route", c->lc->route);
	if (c->vr.sni)
		gw_json_str(&j, "sni", c->vr.sni);
	gw_json_str(&j, "src", src);
	if (via[0])
		gw_json_str(&j, "via", via);
	gw_json_str(&j, "state", conn_state_str(c->state));
	gw_json_str(&j, "identity", who);
	gw_json_str(&j, "serial", c->ident ? c->ident->serial : "");
	gw_json_str(&j, "tls_version", c->tls_version ? c->tls_version : "");
	gw_json_str(&j, "cipher", c->cipher ? c->cipher : "");
	gw_json_str(&j, "group", c->group ? c->group : "");
	gw_json_str(&j, "datapath", gw_conn_datapath(c));
	gw_json_u64(&j, "bytes_in", c->bytes_in);
	gw_json_u64(&j, "bytes_out", c->bytes_out);
	gw_json_u64(&j, "age_ms", now - c->t_start_ms);
	gw_json_obj_begin(&j, "kernel");
	gw_json_bool(&j, "found", d != NULL);
	gw_json_u64(&j, "tcp_state", d ? d->state : 0);
	gw_json_u64(&j, "bytes_received", d ? d->bytes_received : 0);
	gw_json_u64(&j, "bytes_acked", d ? d->bytes_acked : 0);
	gw_json_u64(&j, "rtt_us", d ? d->rtt_us : 0);
	gw_json_str(&j, "ulp", ulp);
	gw_json_end(&j);
	if (c->b_tls_version && c->uvr.ident) {
		const struct gw_identity *up = c->uvr.ident;
		char hex[GW_SHA256_HEX_LEN];

		gw_json_obj_begin(&j, "upstream");
		gw_json_str(&j, "identity", up->spiffe_id ? up->spiffe_id : up->subject);
		gw_json_str(&j, "subject", up->subject);
		gw_json_str(&j, "spiffe_id", up->spiffe_id);
		gw_json_str(&j, "sha256", gw_identity_sha256_hex(up, hex));
		gw_json_str(&j, "tls_version", c->b_tls_version);
		gw_json_str(&j, "cipher", c->b_cipher);
		gw_json_bool(&j, "resumed", c->b_resumed);
		gw_json_end(&j);
	}
	gw_json_end(&j);
	if (gw_json_err(&j) && !b->err)
		b->err = gw_json_err(&j);
	gw_json_free(&j);
}

/* s escaped for a terminal into buf, cut with "..." if it does not fit. */
static void text_cell(char *buf, size_t size, const char *s)
{
	size_t n;

	if (!gw_text_escape(buf, size, s))
		return;
	n = strlen(buf);
	/* Room for "...", cut at a character boundary. */
	while (n && (n > size - 4 || (buf[n] & 0xc0) == 0x80))
		n--;
	memcpy(buf + n, "...", 4);
}

static void conn_row(struct gw_sbuf *b, const struct gw_worker *w, const struct gw_conn *c,
		     const struct gw_sockdiag *d, uint64_t now, bool json)
{
	char src[GW_SOCKADDR_STRLEN] = "?", via[GW_SOCKADDR_STRLEN] = "";
	char ulp[64] = "-", who_text[256], up_text[256] = "", sni_text[GW_SNI_BUF * 4 + 4] = "";
	const char *who = c->ident ? (c->ident->spiffe_id ? c->ident->spiffe_id :
				      c->ident->subject) : "-";

	gw_sockaddr_fmt((const struct sockaddr *)&c->src, src, sizeof(src));
	if (gw_sockaddr_fmt((const struct sockaddr *)&c->via, via, sizeof(via)))
		via[0] = '\0';
	if (d && d->ulp[0])
		gw_snprintf(ulp, sizeof(ulp), "%s %s %s", d->ulp,
			    gw_sockdiag_tls_version(d->tls_version),
			    gw_sockdiag_tls_cipher(d->tls_cipher));
	else if (d)
		gw_snprintf(ulp, sizeof(ulp), "none");
	if (json) {
		conn_row_json(b, w, c, d, now, src, via, who, ulp);
		return;
	}
	/* Text goes to a terminal: no control byte or bidi override from a certificate. */
	text_cell(who_text, sizeof(who_text), who);
	if (c->b_tls_version && c->uvr.ident)
		text_cell(up_text, sizeof(up_text), c->uvr.ident->spiffe_id ?
			  c->uvr.ident->spiffe_id : c->uvr.ident->subject);
	if (c->vr.sni)
		text_cell(sni_text, sizeof(sni_text), c->vr.sni);
	gw_sbuf_printf(b, "%-6llu %-12s %-28s %-44s %-8s %-30s %-9s %12llu %12llu %8llu %12llu %12llu %s%s%s%s%s%s%s%s%s\n",
		       (unsigned long long)c->id, c->lc->name, src, who_text,
		       c->tls_version ? c->tls_version : conn_state_str(c->state),
		       c->cipher ? c->cipher : "-", gw_conn_datapath(c),
		       (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
		       (unsigned long long)((now - c->t_start_ms) / 1000),
		       d ? (unsigned long long)d->bytes_received : 0ULL,
		       d ? (unsigned long long)d->bytes_acked : 0ULL, ulp,
		       c->lc->route ? " route " : "", c->lc->route ? c->lc->route : "",
		       sni_text[0] ? " sni " : "", sni_text,
		       up_text[0] ? " upstream " : "", up_text, via[0] ? " via " : "", via);
}

/* One worker's rows of "conns". */
static void conns_rows(struct gw_worker *w, void *arg)
{
	struct conns_req *req = arg;
	uint64_t now = gw_now_ms();
	struct kview kv = { 0 };
	struct gw_conn *c;
	unsigned int i;
	int err;

	if (!w->n_conns)
		return;
	err = kview_init(&kv, w->all, w->n_conns);
	if (!err)
		err = gw_sockdiag_dump(kview_one, &kv);
	if (err && !req->json && !req->said_err) {
		gw_sbuf_printf(req->b, "# kernel view unavailable (sock_diag: %s)\n", strerror(-err));
		req->said_err = true;
	}
	for (c = w->all, i = 0; c; c = c->all_next, i++)
		conn_row(req->b, w, c, kv.d && i < kv.n && kv.d[i].cookie ? &kv.d[i] : NULL,
			 now, req->json);
	kview_free(&kv);
}

void gw_admin_conns(struct gw_admin *a, struct gw_sbuf *b, bool json)
{
	struct conns_req req = { .b = b, .json = json };

	if (!json)
		gw_sbuf_printf(b, "%-6s %-12s %-28s %-44s %-8s %-30s %-9s %12s %12s %8s %12s %12s %s\n",
			       "ID", "LISTENER", "SOURCE", "IDENTITY", "TLS", "CIPHER", "DATAPATH",
			       "BYTES_IN", "BYTES_OUT", "AGE_S", "K_RECEIVED", "K_ACKED", "K_ULP");
	conns_rows(a->w, &req);
	gw_pool_each(a->w, conns_rows, &req);
}

/* ---- kill ---- */

struct kill_req {
	enum gw_ctl_kill_by by;
	const char *value;
	uint64_t id;			/* GW_KILL_CONN: value as a number */
	unsigned int n;
};

static bool kill_matches(const struct kill_req *req, const struct gw_conn *c)
{
	switch (req->by) {
	case GW_KILL_CONN:
		return c->id == req->id;
	case GW_KILL_SERIAL:
		return c->ident && !strcasecmp(c->ident->serial, req->value);
	case GW_KILL_SPIFFE_ID:
		return c->ident && c->ident->spiffe_id && !strcmp(c->ident->spiffe_id, req->value);
	}
	return false;
}

/* Close every live connection of w matching; count them in req->n. */
static void kill_matching(struct gw_worker *w, void *arg)
{
	struct kill_req *req = arg;
	struct gw_conn *c, *next;

	for (c = w->all; c; c = next) {
		/* gw_conn_finish unlinks c; next is taken before. */
		next = c->all_next;
		if (!kill_matches(req, c))
			continue;
		/* Tell the client it was a deliberate end, then close. */
		gw_conn_finish(c, "killed");
		req->n++;
	}
}

unsigned int gw_admin_kill(struct gw_admin *a, enum gw_ctl_kill_by by, const char *value)
{
	struct kill_req req = { .by = by, .value = value, .id = strtoull(value, NULL, 10) };

	kill_matching(a->w, &req);
	gw_pool_each(a->w, kill_matching, &req);
	return req.n;
}

/* ---- top ---- */

/* Identities shown per listener. */
#define TOP_N 20

struct top_req {
	struct gw_sbuf *b;
	bool json;			/* one JSON object per line, as conns --json */
	uint64_t now;
};

static void top_row_json(struct gw_sbuf *b, const char *listener, const char *route,
			 const struct gw_idl_top *t)
{
	char rate[48];
	struct gw_json j;

	gw_json_init(&j, b);
	gw_json_begin(&j);
	gw_json_str(&j, "listener", listener);
	if (route)
		gw_json_str(&j, "route", route);
	gw_json_str(&j, "identity", t->label);
	gw_json_u64(&j, "connections", t->conns);
	gw_snprintf(rate, sizeof(rate), ",\"new_per_second\":%.3f", t->per_second);
	gw_json_raw_members(&j, rate);
	gw_json_u64(&j, "opened", t->opens);
	gw_json_u64(&j, "refused", t->refused);
	gw_json_u64(&j, "bytes_closed", t->bytes);
	gw_json_end(&j);
	if (gw_json_err(&j))
		b->err = gw_json_err(&j);
	gw_json_free(&j);
}

static void top_listener(const char *table, struct gw_idlimit *t, void *arg)
{
	struct top_req *r = arg;
	struct gw_idl_top top[TOP_N];
	unsigned int n = gw_idlimit_top(t, r->now, top, TOP_N), i;
	char who[GW_IDL_LABEL * 4 + 4], name[160], listener[65];
	const char *route = gw_idlimit_name_split(table, listener);

	if (r->json) {
		for (i = 0; i < n; i++)
			top_row_json(r->b, listener, route, &top[i]);
		return;
	}
	text_cell(name, sizeof(name), table);
	gw_sbuf_printf(r->b, "%s %s: %u identities tracked\n", route ? "route" : "listener",
		       name, gw_idlimit_tracked(t));
	for (i = 0; i < n; i++) {
		text_cell(who, sizeof(who), top[i].label);
		gw_sbuf_printf(r->b, "  %-40s conns %u new/s %.2f opened %llu refused %llu bytes_closed %llu\n",
			       who, top[i].conns, top[i].per_second,
			       (unsigned long long)top[i].opens, (unsigned long long)top[i].refused,
			       (unsigned long long)top[i].bytes);
	}
}

void gw_admin_top(struct gw_sbuf *b, bool json)
{
	struct top_req r = { .b = b, .json = json, .now = gw_now_ms() };

	gw_idlimit_each_table(top_listener, &r);
	if (!json && !b->len)
		gw_sbuf_printf(b, "no listener has limits.per_identity\n");
}

/* ---- metrics ---- */

static void metrics_answer(struct gw_reqsrv *s, char *target, struct gw_sbuf *out)
{
	static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
				 "Content-Length: 26\r\n\r\ntry GET /metrics instead\r\n";
	static const char ise[] = "HTTP/1.0 500 Internal Server Error\r\n\r\n";
	struct gw_admin *a = gw_container_of(s, struct gw_admin, metrics);
	size_t len = 0, n = strcspn(target, "?");
	char *body;

	if (n != 8 || strncmp(target, "/metrics", 8)) {
		gw_sbuf_printf(out, "%s", nf);
		return;
	}
	gw_stats_snapshot(a->w, a->s1);
	body = gw_metrics_render(&len);
	if (!body) {
		gw_sbuf_printf(out, "%s", ise);
		return;
	}
	gw_sbuf_printf(out, "HTTP/1.0 200 OK\r\n"
		       "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		       "Content-Length: %zu\r\n\r\n%.*s", len, (int)len, body);
	free(body);
}

/*
 * metrics.tls: a client of the endpoint is verified by a listener's code
 * (tls.c: chain, CRLs, purpose, strength) under the generation current at
 * its accept, which it holds until it is gone, and must match one of
 * metrics.tls.authorize.
 */
struct metrics_client {
	struct gw_gen *gen;
	struct gw_verify_result vr;
	struct gw_identity *id;
	struct sockaddr_storage peer;
};

static bool metrics_authz(SSL *ssl, X509 *leaf, const char **reason)
{
	struct metrics_client *m = gw_tls_ssl_conn(ssl);
	const struct gw_cfg_listener *l = m->gen->cfg->metrics_tls;

	gw_identity_free(m->id);
	m->id = gw_identity_from_x509(leaf);
	if (!m->id) {
		*reason = "internal_error";
		return false;
	}
	if (gw_authz_decide(l->rules, l->n_rules, m->id) == GW_AUTHZ_NO_MATCH) {
		*reason = "not_authorized";
		return false;
	}
	return true;
}

static const gw_tls_authz_fn metrics_authz_fn = metrics_authz;

static int metrics_tls_open(struct gw_reqsrv *s, int fd, SSL **ssl, void **arg)
{
	struct gw_admin *a = gw_container_of(s, struct gw_admin, metrics);
	struct gw_gen *gen = a->w->gen;
	struct metrics_client *m;
	socklen_t len;

	*ssl = NULL;
	if (!gen->metrics_tls)
		return 0;	/* plain HTTP */
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	len = sizeof(m->peer);
	getpeername(fd, (struct sockaddr *)&m->peer, &len);
	m->gen = gw_gen_get(gen);
	*ssl = gw_tls_server_ssl_authz(gen->metrics_tls, fd, &m->vr, m, &metrics_authz_fn);
	if (!*ssl) {
		gw_gen_put(m->gen);
		free(m);
		return -ENOMEM;
	}
	*arg = m;
	return 0;
}

/*
 * Counted by result and reason; a refusal is logged too (rate-limited),
 * with the certificate's fingerprint.
 */
static void metrics_tls_done(struct gw_reqsrv *s, SSL *ssl, void *arg, bool ok)
{
	static struct gw_ratelimit rl;
	struct metrics_client *m = arg;
	char addr[64] = "?", hex[65], fp[96] = "";
	unsigned char md[32];
	unsigned int n = 0;

	/* The handshake metrics' label: "none" is no audit reason. */
	const char *label = ok ? "none" : gw_tls_fail_reason(ssl, &m->vr, ERR_peek_error());
	char labels[128];

	(void)s;
	if (!gw_metric_labels(labels, sizeof(labels), "result", ok ? "ok" : "fail",
			      "reason", label, NULL))
		gw_metric_add("mtlsgw_metrics_tls_handshakes_total", labels, 1);
	if (ok)
		return;
	if (m->vr.leaf && X509_digest(m->vr.leaf, EVP_sha256(), md, &n) && n == sizeof(md) &&
	    !gw_hex(md, n, false, hex, sizeof(hex)))
		gw_snprintf(fp, sizeof(fp), ", certificate sha256 %s", hex);
	gw_sockaddr_fmt((struct sockaddr *)&m->peer, addr, sizeof(addr));
	pr_warn_rl(&rl, "metrics: client %s refused: %s%s", addr, label, fp);
}

static void metrics_tls_close(struct gw_reqsrv *s, void *arg)
{
	struct metrics_client *m = arg;

	(void)s;
	gw_verify_result_free(&m->vr);
	gw_identity_free(m->id);
	gw_gen_put(m->gen);
	free(m);
}

static const struct gw_reqsrv_tls metrics_tls = {
	.open = metrics_tls_open,
	.done = metrics_tls_done,
	.close = metrics_tls_close,
};

void gw_admin_metrics_serve(struct gw_admin *a, int fd)
{
	a->metrics.tls = &metrics_tls;
	gw_reqsrv_start(&a->metrics, &a->w->loop, fd, GW_REQSRV_HTTP, "metrics", metrics_answer);
}

int gw_admin_metrics_start(struct gw_admin *a, const char *listen, bool reuseport)
{
	int fd;

	if (!listen)
		return 0;
	fd = gw_ctl_listen_tcp(listen, reuseport);
	if (fd < 0) {
		pr_err("metrics.listen: cannot listen on %s: %s", listen, strerror(-fd));
		return fd;
	}
	gw_admin_metrics_serve(a, fd);
	pr_info("metrics on %s://%s/metrics", a->w->gen->metrics_tls ? "https" : "http", listen);
	return 0;
}

void gw_admin_metrics_stop(struct gw_admin *a)
{
	gw_reqsrv_stop(&a->metrics);
}
