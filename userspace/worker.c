// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event loop: listening sockets, accept with limits, the userspace
 * Stage 1 check, deadlines, signals and the life and death of connections.
 *
 * Concurrency invariants: single thread; everything here runs from
 * gw_worker_run(). Connections are freed only between epoll batches (see
 * conn.h). A listener stops accepting (its fd leaves the epoll set) while
 * it is at max_connections or max_handshakes, and resumes as soon as a
 * connection or handshake finishes; the kernel backlog holds the rest.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "audit.h"
#include "conn.h"
#include "log.h"
#include "worker.h"

#define ACCEPT_BATCH 64
#define EPOLL_BATCH 128

struct gw_worker {
	const struct gw_config *cfg;
	struct gw_listener *listeners;
	unsigned int n_listeners;
	int epfd;
	struct gw_ev sig_ev;
	struct gw_ev timer_ev;
	uint64_t timer_armed_ms;	/* 0 = disarmed */
	uint64_t next_conn_id;
	unsigned int n_conns;
	struct gw_conn *dead;
	struct gw_conn *all;		/* live connections */
	bool stopping;
	bool done;
	uint64_t drain_deadline_ms;
	int exit_err;
};

static void ev_set(struct gw_worker *w, struct gw_ev *ev, uint32_t events)
{
	struct epoll_event ee = { .events = events, .data.ptr = ev };
	int op;

	if (ev->fd < 0 || ev->events == events)
		return;
	if (!ev->events)
		op = EPOLL_CTL_ADD;
	else if (!events)
		op = EPOLL_CTL_DEL;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(w->epfd, op, ev->fd, &ee) && op != EPOLL_CTL_DEL) {
		/* Only ENOMEM/ENOSPC can get here: treat as fatal for the fd. */
		pr_err("epoll_ctl(fd %d): %s", ev->fd, strerror(errno));
		return;
	}
	ev->events = events;
}

void gw_conn_set_events(struct gw_conn *c, struct gw_ev *ev, uint32_t events)
{
	ev_set(c->ls->w, ev, events);
}

/* ---- deadlines ---- */

static void timer_rearm(struct gw_worker *w)
{
	struct itimerspec its = { 0 };
	uint64_t next = 0, now;
	unsigned int i;

	for (i = 0; i < w->n_listeners; i++) {
		struct gw_listener *ls = &w->listeners[i];

		if (ls->hs_queue.head && (!next || ls->hs_queue.head->deadline_ms < next))
			next = ls->hs_queue.head->deadline_ms;
		if (ls->up_queue.head && (!next || ls->up_queue.head->deadline_ms < next))
			next = ls->up_queue.head->deadline_ms;
	}
	if (w->stopping && w->drain_deadline_ms &&
	    (!next || w->drain_deadline_ms < next))
		next = w->drain_deadline_ms;
	if (next == w->timer_armed_ms)
		return;
	w->timer_armed_ms = next;
	if (next) {
		now = gw_now_ms();
		next = next > now ? next - now : 1;
		its.it_value.tv_sec = next / 1000;
		its.it_value.tv_nsec = (next % 1000) * 1000000;
	}
	timerfd_settime(w->timer_ev.fd, 0, &its, NULL);
}

/*
 * Each queue holds connections with one fixed timeout, appended at start:
 * deadlines are therefore already sorted and the head expires first.
 */
void gw_conn_timer_start(struct gw_conn *c, struct gw_tqueue *q)
{
	gw_conn_timer_stop(c);
	c->deadline_ms = gw_now_ms() + q->timeout_ms;
	c->tq = q;
	c->tq_next = NULL;
	c->tq_prev = q->tail;
	if (q->tail)
		q->tail->tq_next = c;
	else
		q->head = c;
	q->tail = c;
	timer_rearm(c->ls->w);
}

void gw_conn_timer_stop(struct gw_conn *c)
{
	struct gw_tqueue *q = c->tq;

	if (!q)
		return;
	if (c->tq_prev)
		c->tq_prev->tq_next = c->tq_next;
	else
		q->head = c->tq_next;
	if (c->tq_next)
		c->tq_next->tq_prev = c->tq_prev;
	else
		q->tail = c->tq_prev;
	c->tq = NULL;
	c->tq_prev = c->tq_next = NULL;
}

static void close_all(struct gw_worker *w, const char *reason);

static void timer_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = (struct gw_worker *)((char *)ev -
						   offsetof(struct gw_worker, timer_ev));
	uint64_t expirations, now = gw_now_ms();
	unsigned int i;

	(void)events;
	if (read(ev->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_warn("timerfd read: %s", strerror(errno));
	w->timer_armed_ms = 0;
	for (i = 0; i < w->n_listeners; i++) {
		struct gw_listener *ls = &w->listeners[i];
		struct gw_conn *c;

		while ((c = ls->hs_queue.head) && c->deadline_ms <= now) {
			gw_conn_timer_stop(c);
			gw_handshake_timeout(c);
		}
		while ((c = ls->up_queue.head) && c->deadline_ms <= now) {
			gw_conn_timer_stop(c);
			gw_upstream_timeout(c);
		}
	}
	if (w->stopping && w->drain_deadline_ms && w->drain_deadline_ms <= now) {
		pr_info("drain_timeout reached: closing %u remaining connections",
			w->n_conns);
		close_all(w, "shutdown");
	}
	timer_rearm(w);
}

/* ---- accept and limits ---- */

static void listener_update(struct gw_listener *ls)
{
	const struct gw_cfg_listener *lc = ls->cfg;
	bool full = ls->n_conns >= lc->max_connections ||
		    ls->n_handshakes >= lc->max_handshakes;

	if (ls->ev.fd < 0)
		return;
	if (full && !ls->paused)
		pr_warn("listener \"%s\": %s reached, not accepting until one finishes",
			lc->name, ls->n_conns >= lc->max_connections ?
			"max_connections" : "max_handshakes");
	ls->paused = full;
	ev_set(ls->w, &ls->ev, full ? 0 : EPOLLIN);
}

static void accept_one(struct gw_listener *ls, int fd, struct sockaddr_storage *src)
{
	const struct gw_cfg_listener *lc = ls->cfg;
	struct gw_worker *w = ls->w;
	socklen_t len = sizeof(struct sockaddr_storage);
	struct gw_conn *c;

	/*
	 * Stage 1 in userspace: defense in depth behind the eBPF allowlist,
	 * and the only enforcement where no program is attached.
	 */
	if (!lc->allow_any &&
	    !gw_cidr_match_any(lc->allow_sources, lc->n_allow_sources,
			       (struct sockaddr *)src)) {
		bool enforce = lc->mode == GW_MODE_ENFORCE;

		gw_audit_emit(&GW_AUDIT_EVENT(.event = "authz_deny",
			.listener = lc->name, .src = (struct sockaddr *)src,
			.dst = (struct sockaddr *)&ls->cfg->listen,
			.decision = enforce ? "deny" : "would_deny",
			.reason = "source_denied"));
		if (enforce) {
			close(fd);
			return;
		}
	}

	c = calloc(1, sizeof(*c));
	if (!c) {
		pr_err("listener \"%s\": out of memory accepting a connection", lc->name);
		close(fd);
		return;
	}
	c->id = ++w->next_conn_id;
	c->ls = ls;
	c->cev.fd = fd;
	c->bev.fd = -1;
	c->src = *src;
	if (getsockname(fd, (struct sockaddr *)&c->dst, &len))
		c->dst = ls->cfg->listen;
	c->t_start_ms = gw_now_ms();
	c->all_next = w->all;
	if (w->all)
		w->all->all_prev = c;
	w->all = c;
	ls->n_conns++;
	ls->n_handshakes++;
	w->n_conns++;
	gw_handshake_start(c);
}

static void listener_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_listener *ls = (struct gw_listener *)((char *)ev -
						       offsetof(struct gw_listener, ev));
	unsigned int i;

	(void)events;
	for (i = 0; i < ACCEPT_BATCH && !ls->paused; i++) {
		struct sockaddr_storage src;
		socklen_t len = sizeof(src);
		int fd;

		fd = accept4(ev->fd, (struct sockaddr *)&src, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			if (errno == ECONNABORTED)
				continue;
			/* EMFILE, ENFILE, ENOBUFS: leave it in the backlog. */
			pr_warn("listener \"%s\": accept: %s", ls->cfg->name,
				strerror(errno));
			break;
		}
		accept_one(ls, fd, &src);
		listener_update(ls);
	}
}

void gw_conn_handshake_done(struct gw_conn *c)
{
	c->ls->n_handshakes--;
	listener_update(c->ls);
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

/*
 * Log, release the sockets and queue the connection for freeing.
 * abort: reset both TCP connections instead of closing them gracefully,
 * so an RST on one side shows up as an RST on the other.
 */
void gw_conn_close(struct gw_conn *c, const char *reason, bool abort)
{
	struct gw_listener *ls = c->ls;
	struct gw_worker *w = ls->w;

	if (c->state == GW_CONN_DEAD)
		return;
	if (c->t_open_ms)
		gw_audit_emit(&GW_AUDIT_EVENT(.event = "conn_close",
			.conn_id = c->id, .listener = ls->cfg->name,
			.src = (struct sockaddr *)&c->src,
			.dst = (struct sockaddr *)&c->dst, .id = c->ident,
			.tls_version = c->tls_version, .cipher = c->cipher,
			.rule = c->rule, .reason = reason, .datapath = "userspace",
			.counts = true, .bytes_in = c->bytes_in,
			.bytes_out = c->bytes_out,
			.duration_ms = gw_now_ms() - c->t_start_ms));
	if (c->state == GW_CONN_HANDSHAKE)
		gw_conn_handshake_done(c);
	gw_conn_timer_stop(c);
	ev_set(w, &c->cev, 0);
	ev_set(w, &c->bev, 0);
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
	listener_update(ls);
}

static void conn_free(struct gw_conn *c)
{
	SSL_free(c->ssl);
	X509_free(c->vr.leaf);
	gw_identity_free(c->ident);
	gw_dp_userspace_free(c);
	free(c);
}

static void reap_dead(struct gw_worker *w)
{
	struct gw_conn *c;

	while ((c = w->dead)) {
		w->dead = c->dead_next;
		conn_free(c);
	}
}

static void close_all(struct gw_worker *w, const char *reason)
{
	while (w->all)
		gw_conn_close(w->all, reason, false);
}

/* ---- signals and the loop ---- */

static void stop_accepting(struct gw_worker *w)
{
	unsigned int i;

	for (i = 0; i < w->n_listeners; i++) {
		struct gw_listener *ls = &w->listeners[i];

		if (ls->ev.fd < 0)
			continue;
		ev_set(w, &ls->ev, 0);
		close(ls->ev.fd);
		ls->ev.fd = -1;
	}
}

static void begin_stop(struct gw_worker *w, const char *why)
{
	if (w->stopping)
		return;
	w->stopping = true;
	sd_notify(0, "STOPPING=1");
	stop_accepting(w);
	if (!w->n_conns) {
		pr_info("%s: no connections, stopping", why);
		return;
	}
	pr_info("%s: stopped accepting, draining %u connections for up to %llu ms",
		why, w->n_conns, (unsigned long long)w->cfg->drain_timeout_ms);
	w->drain_deadline_ms = gw_now_ms() + w->cfg->drain_timeout_ms;
	timer_rearm(w);
}

static void signal_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = (struct gw_worker *)((char *)ev -
						   offsetof(struct gw_worker, sig_ev));
	struct signalfd_siginfo si;
	int err;

	(void)events;
	while (read(ev->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			begin_stop(w, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		case SIGUSR1:
			err = gw_audit_reopen();
			if (err)
				pr_err("SIGUSR1: cannot reopen the audit log: %s",
				       strerror(-err));
			else
				pr_info("SIGUSR1: audit log reopened");
			break;
		case SIGHUP:
			pr_warn("SIGHUP: live reload is not available in this version; restart mtlsgw to apply a new configuration");
			break;
		}
	}
}

struct gw_worker *gw_worker_new(const struct gw_config *cfg,
				struct gw_diag *diag, struct gw_diag *warn)
{
	struct gw_worker *w;
	unsigned int i;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->cfg = cfg;
	w->epfd = w->sig_ev.fd = w->timer_ev.fd = -1;
	w->listeners = calloc(cfg->n_listeners, sizeof(*w->listeners));
	if (!w->listeners)
		goto out_free;
	w->n_listeners = cfg->n_listeners;
	for (i = 0; i < cfg->n_listeners; i++) {
		struct gw_listener *ls = &w->listeners[i];

		ls->cfg = &cfg->listeners[i];
		ls->w = w;
		ls->ev.fd = -1;
		ls->ev.fn = listener_event;
		ls->hs_queue.timeout_ms = ls->cfg->tls.handshake_timeout_ms;
		ls->up_queue.timeout_ms = ls->cfg->upstream.connect_timeout_ms;
		ls->tls = gw_tls_server_new(cfg, ls->cfg, diag, warn);
		if (ls->cfg->upstream.tls)
			gw_diag_add(diag, "%s: listeners[%u].upstream.tls: TLS towards the backend is not supported by this version",
				    cfg->path, i);
	}
	if (gw_diag_count(diag))
		goto out_free;
	return w;
out_free:
	gw_worker_free(w);
	return NULL;
}

static int listen_one(struct gw_listener *ls)
{
	const struct gw_cfg_listener *lc = ls->cfg;
	int one = 1, fd, err;

	fd = socket(lc->listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto out_errno;
	/* "[::]:port" means IPv6 only, as in nginx; list 0.0.0.0 separately. */
	if (lc->listen.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto out_errno;
	if (bind(fd, (const struct sockaddr *)&lc->listen, lc->listen_len) ||
	    listen(fd, 4096))
		goto out_errno;
	ls->ev.fd = fd;
	return 0;
out_errno:
	err = -errno;
	close(fd);
	return err;
}

int gw_worker_listen(struct gw_worker *w)
{
	sigset_t mask;
	unsigned int i;
	int err;

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	w->sig_ev.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	w->timer_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->sig_ev.fd < 0 || w->timer_ev.fd < 0)
		return -errno;
	w->sig_ev.fn = signal_event;
	w->timer_ev.fn = timer_event;
	ev_set(w, &w->sig_ev, EPOLLIN);
	ev_set(w, &w->timer_ev, EPOLLIN);

	for (i = 0; i < w->n_listeners; i++) {
		struct gw_listener *ls = &w->listeners[i];

		err = listen_one(ls);
		if (err) {
			pr_err("listener \"%s\": cannot listen on %s: %s",
			       ls->cfg->name, ls->cfg->listen_str, strerror(-err));
			return err;
		}
		ev_set(w, &ls->ev, EPOLLIN);
		pr_info("listener \"%s\": listening on %s, upstream %s, mode %s",
			ls->cfg->name, ls->cfg->listen_str,
			ls->cfg->upstream.address_str, gw_mode_str(ls->cfg->mode));
	}
	return 0;
}

int gw_worker_run(struct gw_worker *w)
{
	struct epoll_event evs[EPOLL_BATCH];
	int i, n;

	sd_notify(0, "READY=1");
	while (!w->done) {
		n = epoll_wait(w->epfd, evs, EPOLL_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_err("epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (i = 0; i < n; i++) {
			struct gw_ev *ev = evs[i].data.ptr;

			/* A connection closed earlier in this batch has fd -1. */
			if (ev->fd >= 0)
				ev->fn(ev, evs[i].events);
		}
		reap_dead(w);
		if (w->stopping && !w->n_conns)
			w->done = true;
	}
	pr_info("stopped");
	return w->exit_err;
}

void gw_worker_free(struct gw_worker *w)
{
	unsigned int i;

	if (!w)
		return;
	close_all(w, "shutdown");
	reap_dead(w);
	for (i = 0; i < w->n_listeners; i++) {
		if (w->listeners[i].ev.fd >= 0)
			close(w->listeners[i].ev.fd);
		gw_tls_server_free(w->listeners[i].tls);
	}
	free(w->listeners);
	if (w->sig_ev.fd >= 0)
		close(w->sig_ev.fd);
	if (w->timer_ev.fd >= 0)
		close(w->timer_ev.fd);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w);
}
