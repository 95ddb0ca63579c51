// SPDX-License-Identifier: GPL-2.0-only
/*
 * The connection lifecycle (conn.h): create, count, time out (deadlines
 * and idle_timeout), recheck against a new generation, close and free.
 * Everything that ends a connection ends here, so the conn_close audit
 * line, its metric, the listener's counters and the worker's load figures
 * stay in step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "audit.h"
#include "bufcache.h"
#include "conn.h"
#include "datapath.h"
#include "ktls.h"
#include "log.h"
#include "metrics.h"
#include "sockdiag.h"

/* Connection ids are unique in the process, across workers. */
static uint64_t conn_ids;

struct gw_conn *gw_conn_new(struct gw_listener *ls, int fd, const struct sockaddr_storage *src)
{
	socklen_t len = sizeof(union gw_inaddr);
	struct gw_worker *w = ls->w;
	struct gw_conn *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = __atomic_add_fetch(&conn_ids, 1, __ATOMIC_RELAXED);
	c->ls = ls;
	c->gen = gw_gen_get(ls->gen);
	c->lc = ls->cfg;
	c->tls = ls->tls;
	c->ls_route = -1;
	c->cev.fd = fd;
	c->pipe_cb[0] = c->pipe_cb[1] = c->pipe_bc[0] = c->pipe_bc[1] = -1;
	c->cookie = gw_sock_cookie(fd);
	c->bev.fd = -1;
	gw_inaddr_set(&c->src, src);
	if (getsockname(fd, &c->dst.sa, &len) || len > sizeof(c->dst))
		gw_inaddr_set(&c->dst, &ls->cfg->listen);
	c->t_start_ms = gw_now_ms();
	c->state = GW_CONN_HANDSHAKE;
	c->all_next = w->all;
	if (w->all)
		w->all->all_prev = c;
	w->all = c;
	ls->n_conns++;
	ls->n_handshakes++;
	w->n_conns++;
	__atomic_add_fetch(&w->load_conns, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->load_handshakes, 1, __ATOMIC_RELAXED);
	return c;
}

void gw_conn_set_events(struct gw_conn *c, struct gw_ev *ev, uint32_t events)
{
	gw_loop_set(&c->ls->w->loop, ev, events);
}

static void conn_timeout(struct gw_timer *t)
{
	struct gw_conn *c = gw_container_of(t, struct gw_conn, timer);

	c->on_timeout(c);
}

void gw_conn_timer_start(struct gw_conn *c, uint64_t timeout_ms,
			 void (*on_timeout)(struct gw_conn *c))
{
	c->on_timeout = on_timeout;
	if (gw_timer_start(&c->ls->w->loop, &c->timer, timeout_ms, conn_timeout))
		gw_conn_close(c, "out_of_memory", true);
}

void gw_conn_timer_stop(struct gw_conn *c)
{
	gw_timer_stop(&c->ls->w->loop, &c->timer);
}

void gw_conn_handshake_done(struct gw_conn *c)
{
	c->ls->n_handshakes--;
	__atomic_sub_fetch(&c->ls->w->load_handshakes, 1, __ATOMIC_RELAXED);
	gw_listener_update(c->ls);
}

void gw_conn_count_bytes(struct gw_conn *c, uint64_t n_in, uint64_t n_out)
{
	c->bytes_in += n_in;
	c->bytes_out += n_out;
	c->ls->bytes_in += n_in;
	c->ls->bytes_out += n_out;
	if (c->ls_route >= 0) {
		c->ls->routes[c->ls_route].bytes_in += n_in;
		c->ls->routes[c->ls_route].bytes_out += n_out;
	}
	c->t_progress_ms = c->ls->w->loop.now_ms;
}

const char *gw_conn_datapath(const struct gw_conn *c)
{
	return c->dp ? c->dp->name : "userspace";
}

void gw_conn_close_notify(struct gw_conn *c)
{
	if (c->dp)
		c->dp->close_notify(c);
}

void gw_conn_finish(struct gw_conn *c, const char *reason)
{
	if (c->state != GW_CONN_HANDSHAKE)
		gw_conn_close_notify(c);
	gw_conn_close(c, reason, false);
}

struct gw_audit_upstream gw_conn_upstream(const struct gw_conn *c)
{
	return (struct gw_audit_upstream){
		.id = c->b_tls_version ? c->uvr.ident : NULL,
		.tls_version = c->b_tls_version,
		.cipher = c->b_cipher,
		.resumed = c->b_resumed,
	};
}

struct gw_certpool *gw_conn_certpool(const struct gw_conn *c)
{
	return c->ls->w->certpool;
}

bool gw_conn_ktls_allowed(const struct gw_conn *c, int cipher)
{
	unsigned int want = cipher == GW_KTLS_ANY_CIPHER ? ~0u : 1u << cipher;

	return gw_worker_splice_tier(c->ls->w, c->ls->gen->cfg, want);
}

bool gw_conn_key_update_ok(struct gw_conn *c)
{
	uint64_t now = gw_now_ms();

	if (now - c->ku_window_ms >= 1000) {
		c->ku_window_ms = now;
		c->ku_count = 0;
	}
	if (++c->ku_count > GW_KEY_UPDATES_PER_S)
		c->ku_flood = true;
	return !c->ku_flood;
}

/* ---- closing ---- */

static void set_linger0(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/*
 * Closing a socket with unread data in its receive queue sends an RST, and
 * an RST can make the peer's kernel discard the alert or close_notify we
 * just wrote before the peer reads it. So end our side with a FIN first
 * and discard what the client already sent.
 */
static void drain_close(int fd)
{
	char sink[4096];
	unsigned int i;

	shutdown(fd, SHUT_WR);
	for (i = 0; i < 16; i++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
}

/* mtlsgw_connections_closed_total: one per conn_close audit line. */
static void count_close(const struct gw_conn *c, const char *reason)
{
	char labels[256];

	if (!gw_metric_labels(labels, sizeof(labels), "listener", c->lc->name,
			      "?route", c->lc->route,
			      "reason", reason, NULL))
		gw_metric_add("mtlsgw_connections_closed_total", labels, 1);
}

void gw_conn_close(struct gw_conn *c, const char *reason, bool abort)
{
	struct gw_listener *ls = c->ls;
	struct gw_worker *w = ls->w;

	if (c->state == GW_CONN_DEAD)
		return;
	if (c->t_open_ms) {
		gw_audit_emit(&GW_AUDIT_EVENT(.event = "conn_close",
			.conn_id = c->id, .listener = c->lc->name,
			.route = c->lc->route, .sni = c->vr.sni,
			.src = (struct sockaddr *)&c->src,
			.dst = (struct sockaddr *)&c->dst,
			.via = (struct sockaddr *)&c->via, .id = c->ident,
			.tls_version = c->tls_version, .cipher = c->cipher, .group = c->group,
			.rule = c->rule, .reason = reason, .detail = c->close_detail,
			.datapath = gw_conn_datapath(c), .up = gw_conn_upstream(c),
			.counts = true, .bytes_in = c->bytes_in,
			.bytes_out = c->bytes_out,
			.duration_ms = gw_now_ms() - c->t_start_ms));
		count_close(c, reason);
	}
	if (c->state == GW_CONN_HANDSHAKE)
		gw_conn_handshake_done(c);
	gw_conn_timer_stop(c);
	gw_timer_stop(&w->loop, &c->idle_timer);
	gw_loop_set(&w->loop, &c->cev, 0);
	gw_loop_set(&w->loop, &c->bev, 0);
	/* The backend hears it is over as the client would: close_notify. */
	if (c->bssl && !abort && !c->b_shut && c->state == GW_CONN_FORWARDING)
		SSL_shutdown(c->bssl);
	else if (c->b_ktls && !abort && !c->b_shut)
		gw_ktls_close_notify(c->bev.fd);
	if (abort) {
		set_linger0(c->cev.fd);
		if (c->bev.fd >= 0)
			set_linger0(c->bev.fd);
	} else {
		drain_close(c->cev.fd);
	}
	close(c->cev.fd);
	if (c->bev.fd >= 0)
		close(c->bev.fd);
	c->cev.fd = c->bev.fd = -1;
	c->state = GW_CONN_DEAD;
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		w->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	c->dead_next = w->dead;
	w->dead = c;
	ls->n_conns--;
	w->n_conns--;
	__atomic_sub_fetch(&w->load_conns, 1, __ATOMIC_RELAXED);
	gw_listener_update(ls);
}

void gw_conns_close_all(struct gw_worker *w, const char *reason)
{
	while (w->all)
		gw_conn_close(w->all, reason, false);
}

void gw_conns_reap(struct gw_worker *w)
{
	struct gw_conn *c;

	while ((c = w->dead)) {
		w->dead = c->dead_next;
		SSL_free(c->ssl);
		SSL_free(c->bssl);
		gw_upstream_vr_free(&c->uvr);
		gw_bufcache_free(c->up_hdr);
		free(c->close_detail);
		gw_verify_result_free(&c->vr);
		gw_certrefs_free(c->certrefs);
		gw_certrefs_free(c->b_certrefs);
		gw_identity_free(c->ident);
		gw_idlimit_release(c->idl, c->idl_entry, c->bytes_in + c->bytes_out);
		if (c->dp)
			c->dp->free(c);
		gw_ktls_secrets_free(c->ktls_secrets);
		gw_ktls_secrets_free(c->b_ktls_secrets);
		gw_gen_put(c->gen);
		free(c);
	}
}

/* ---- idle_timeout ---- */

/* Bytes sent on fd that its peer has not acknowledged yet (SIOCOUTQ). */
static bool unacked(int fd)
{
	int n = 0;

	return fd >= 0 && !ioctl(fd, SIOCOUTQ, &n) && n > 0;
}

/*
 * Nothing moved either way for idle_timeout. A peer that stopped reading
 * (bytes we sent it still unacknowledged) is reset: a close_notify or FIN
 * would queue behind bytes it never takes, and the closed socket would
 * stay in the kernel probing a zero window. Otherwise the client gets
 * close_notify and both sides a FIN.
 *
 * Logged at debug level only: in a pool of keep-alive connections this is
 * routine, and the conn_close audit line records each one.
 */
static void idle_close(struct gw_conn *c)
{
	pr_debug("listener \"%s\": conn %llu: nothing moved for %llu ms (idle_timeout), closing",
		 c->lc->name, (unsigned long long)c->id,
		 (unsigned long long)(gw_now_ms() - c->t_progress_ms));
	if (unacked(c->cev.fd)) {
		gw_conn_close(c, "idle_timeout", true);
		return;
	}
	if (unacked(c->bev.fd))
		set_linger0(c->bev.fd);
	gw_conn_finish(c, "idle_timeout");
}

/*
 * Due at the last progress the timer knew of, plus idle_timeout. Progress
 * since then moves it to the new due time instead: once per idle_timeout
 * at most on a busy connection, nothing per byte.
 */
static void idle_check(struct gw_timer *t)
{
	struct gw_conn *c = gw_container_of(t, struct gw_conn, idle_timer);
	uint64_t due = c->t_progress_ms + c->lc->idle_timeout_ms;

	if (gw_now_ms() >= due) {
		idle_close(c);
		return;
	}
	if (gw_timer_start_at(&c->ls->w->loop, t, due, idle_check))
		gw_conn_close(c, "out_of_memory", true);
}

void gw_conn_idle_start(struct gw_conn *c)
{
	uint64_t ms = c->lc->idle_timeout_ms;

	if (!ms || c->state == GW_CONN_DEAD)
		return;
	c->t_progress_ms = gw_now_ms();
	if (gw_timer_start_at(&c->ls->w->loop, &c->idle_timer, c->t_progress_ms + ms,
			      idle_check))
		gw_conn_close(c, "out_of_memory", true);
}

/* ---- live connections after a reload ---- */

const char *gw_conn_recheck(const struct gw_conn *c)
{
	const struct gw_worker *w = c->ls->w;
	int i = gw_gen_listener(w->gen, c->lc->name);
	const struct gw_tls_server *ts;
	const char *why;

	/* A removed listener's or route's connections finish under their old policy. */
	if (i < 0)
		return NULL;
	ts = gw_tls_server_route(gw_gen_tls(w->gen, w->index, i), c->lc->route);
	if (!ts)
		return NULL;
	why = gw_gen_recheck(ts->lc, gw_tls_revoked(ts, c->certrefs),
			     (const struct sockaddr *)&c->src, c->ident);
	if (why || !c->b_certrefs || !ts->upstream)
		return why;
	/* The backend's chain against the new upstream.tls CRLs, in any mode. */
	return gw_tls_client_revoked(ts->upstream, c->b_certrefs) >= 0 ? "upstream_revoked" : NULL;
}

void gw_conn_revoke(struct gw_conn *c, const char *why)
{
	gw_audit_emit(&GW_AUDIT_EVENT(.event = "revoked_close", .conn_id = c->id,
		.listener = c->lc->name, .route = c->lc->route, .sni = c->vr.sni,
		.src = (struct sockaddr *)&c->src,
		.dst = (struct sockaddr *)&c->dst,
		.via = (struct sockaddr *)&c->via, .id = c->ident,
		.decision = "deny", .reason = why));
	gw_metric_add("mtlsgw_revoked_connections_closed_total", "", 1);
	pr_info("listener \"%s\": conn %llu closed: %s by the new configuration",
		c->lc->name, (unsigned long long)c->id, why);
	gw_conn_finish(c, why);
}

void gw_conns_recheck(struct gw_worker *w)
{
	struct gw_conn *c, *next;
	const char *why;

	for (c = w->all; c; c = next) {
		next = c->all_next;
		/* Handshakes in flight are checked when they complete. */
		if (c->state != GW_CONN_CONNECTING && c->state != GW_CONN_FORWARDING)
			continue;
		why = gw_conn_recheck(c);
		if (why)
			gw_conn_revoke(c, why);
	}
}
