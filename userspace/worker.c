// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event loop: listening sockets, accept with limits, the userspace
 * Stage 1 check, deadlines, signals, reload and the life and death of
 * connections.
 *
 * Concurrency invariants: single thread; everything here runs from
 * gw_worker_run(). Connections are freed only between epoll batches (see
 * conn.h). A listener stops accepting (its fd leaves the epoll set) while
 * it is at max_connections or max_handshakes, and resumes as soon as a
 * connection or handshake finishes; the kernel backlog holds the rest.
 * Generations (struct gw_gen) are reference counted: the worker holds the
 * current one, each connection the one it was accepted under.
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
	struct gw_gen *gen;		/* current generation */
	struct gw_listener *listeners;	/* live and removed-but-busy */
	int epfd;
	struct gw_ev sig_ev;
	struct gw_ev timer_ev;
	uint64_t timer_armed_ms;	/* 0 = disarmed */

	/* connection deadlines: a binary min-heap on deadline_ms */
	struct gw_conn **heap;
	unsigned int heap_n, heap_cap;

	uint64_t next_conn_id;
	uint64_t next_gen_id;
	unsigned int n_conns;
	struct gw_conn *dead;
	struct gw_conn *all;		/* live connections */
	bool stopping;
	bool done;
	uint64_t drain_deadline_ms;
	int exit_err;
};

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

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
		/* Only ENOMEM/ENOSPC can get here. */
		pr_err("epoll_ctl(fd %d): %s", ev->fd, strerror(errno));
		return;
	}
	ev->events = events;
}

void gw_conn_set_events(struct gw_conn *c, struct gw_ev *ev, uint32_t events)
{
	ev_set(c->ls->w, ev, events);
}

/* ---- generations ---- */

static void gen_free(struct gw_gen *gen)
{
	unsigned int i;

	if (!gen)
		return;
	for (i = 0; gen->tls && i < gen->cfg->n_listeners; i++)
		gw_tls_server_free(gen->tls[i]);
	free(gen->tls);
	gw_cfg_free(gen->cfg);
	free(gen);
}

void gw_gen_put(struct gw_gen *gen)
{
	if (gen && !--gen->refs)
		gen_free(gen);
}

const struct gw_config *gw_gen_config(const struct gw_gen *gen)
{
	return gen->cfg;
}

struct gw_gen *gw_gen_build(const char *path, struct gw_diag *diag,
			    struct gw_diag *warn)
{
	unsigned int before = gw_diag_count(diag), i;
	struct gw_gen *gen;

	gen = calloc(1, sizeof(*gen));
	if (!gen)
		return NULL;
	gen->refs = 1;
	gen->cfg = gw_cfg_load(path, diag);
	if (!gen->cfg)
		goto out_free;
	gen->tls = calloc(gen->cfg->n_listeners, sizeof(*gen->tls));
	if (!gen->tls)
		goto out_free;
	for (i = 0; i < gen->cfg->n_listeners; i++) {
		const struct gw_cfg_listener *lc = &gen->cfg->listeners[i];

		gen->tls[i] = gw_tls_server_new(gen->cfg, lc, diag, warn);
		if (lc->upstream.tls)
			gw_diag_add(diag, "%s: listeners[%u].upstream.tls: TLS towards the backend is not supported by this version",
				    gen->cfg->path, i);
	}
	if (gw_diag_count(diag) != before)
		goto out_free;
	return gen;
out_free:
	if (gw_diag_count(diag) == before)
		gw_diag_add(diag, "%s: out of memory", path);
	gen_free(gen);
	return NULL;
}

/* ---- deadlines: a min-heap of connections ---- */

static void heap_swap(struct gw_worker *w, unsigned int a, unsigned int b)
{
	struct gw_conn *t = w->heap[a - 1];

	w->heap[a - 1] = w->heap[b - 1];
	w->heap[b - 1] = t;
	w->heap[a - 1]->heap_idx = a;
	w->heap[b - 1]->heap_idx = b;
}

static bool heap_less(struct gw_worker *w, unsigned int a, unsigned int b)
{
	return w->heap[a - 1]->deadline_ms < w->heap[b - 1]->deadline_ms;
}

static void heap_up(struct gw_worker *w, unsigned int i)
{
	while (i > 1 && heap_less(w, i, i / 2)) {
		heap_swap(w, i, i / 2);
		i /= 2;
	}
}

static void heap_down(struct gw_worker *w, unsigned int i)
{
	for (;;) {
		unsigned int l = 2 * i, r = l + 1, m = i;

		if (l <= w->heap_n && heap_less(w, l, m))
			m = l;
		if (r <= w->heap_n && heap_less(w, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(w, i, m);
		i = m;
	}
}

static void timer_rearm(struct gw_worker *w)
{
	struct itimerspec its = { 0 };
	uint64_t next = 0, now;

	if (w->heap_n)
		next = w->heap[0]->deadline_ms;
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

void gw_conn_timer_stop(struct gw_conn *c)
{
	struct gw_worker *w = c->ls->w;
	unsigned int i = c->heap_idx;

	if (!i)
		return;
	if (i != w->heap_n) {
		heap_swap(w, i, w->heap_n);
		w->heap_n--;
		heap_up(w, i);
		heap_down(w, i);
	} else {
		w->heap_n--;
	}
	c->heap_idx = 0;
}

void gw_conn_timer_start(struct gw_conn *c, uint64_t timeout_ms,
			 void (*on_timeout)(struct gw_conn *c))
{
	struct gw_worker *w = c->ls->w;

	gw_conn_timer_stop(c);
	if (w->heap_n == w->heap_cap) {
		unsigned int cap = w->heap_cap ? 2 * w->heap_cap : 256;
		struct gw_conn **h = realloc(w->heap, cap * sizeof(*h));

		if (!h) {
			/* Without a deadline a connection could hang forever. */
			gw_conn_close(c, "out_of_memory", true);
			return;
		}
		w->heap = h;
		w->heap_cap = cap;
	}
	c->deadline_ms = gw_now_ms() + timeout_ms;
	c->on_timeout = on_timeout;
	w->heap[w->heap_n++] = c;
	c->heap_idx = w->heap_n;
	heap_up(w, c->heap_idx);
	timer_rearm(w);
}

static void close_all(struct gw_worker *w, const char *reason);

static void timer_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, timer_ev);
	uint64_t expirations, now = gw_now_ms();

	(void)events;
	if (read(ev->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_warn("timerfd read: %s", strerror(errno));
	w->timer_armed_ms = 0;
	while (w->heap_n && w->heap[0]->deadline_ms <= now) {
		struct gw_conn *c = w->heap[0];

		gw_conn_timer_stop(c);
		c->on_timeout(c);
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
	bool full;

	if (ls->ev.fd < 0)
		return;
	full = ls->n_conns >= lc->max_connections ||
	       ls->n_handshakes >= lc->max_handshakes;
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
			.dst = (struct sockaddr *)&lc->listen,
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
	c->gen = ls->gen;
	c->gen->refs++;
	c->lc = lc;
	c->tls = ls->tls;
	c->cev.fd = fd;
	c->bev.fd = -1;
	c->src = *src;
	if (getsockname(fd, (struct sockaddr *)&c->dst, &len))
		c->dst = lc->listen;
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
	struct gw_listener *ls = container_of(ev, struct gw_listener, ev);
	unsigned int i;

	(void)events;
	for (i = 0; i < ACCEPT_BATCH && !ls->paused && ls->ev.fd >= 0; i++) {
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
			.conn_id = c->id, .listener = c->lc->name,
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

static void listener_free(struct gw_listener *ls)
{
	if (ls->ev.fd >= 0)
		close(ls->ev.fd);
	gw_gen_put(ls->gen);
	free(ls);
}

/* Free dead connections, and removed listeners nobody uses any more. */
static void reap_dead(struct gw_worker *w)
{
	struct gw_listener **pl;
	struct gw_conn *c;

	while ((c = w->dead)) {
		w->dead = c->dead_next;
		SSL_free(c->ssl);
		X509_free(c->vr.leaf);
		gw_identity_free(c->ident);
		gw_dp_userspace_free(c);
		gw_gen_put(c->gen);
		free(c);
	}
	for (pl = &w->listeners; *pl;) {
		struct gw_listener *ls = *pl;

		if (ls->removed && !ls->n_conns) {
			*pl = ls->next;
			listener_free(ls);
		} else {
			pl = &ls->next;
		}
	}
}

static void close_all(struct gw_worker *w, const char *reason)
{
	while (w->all)
		gw_conn_close(w->all, reason, false);
}

/* ---- listening sockets ---- */

static int listen_socket(const struct gw_cfg_listener *lc)
{
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
	return fd;
out_errno:
	err = -errno;
	close(fd);
	return err;
}

static void listener_set_gen(struct gw_listener *ls, struct gw_gen *gen, unsigned int i)
{
	gen->refs++;
	gw_gen_put(ls->gen);
	ls->gen = gen;
	ls->index = i;
	ls->cfg = &gen->cfg->listeners[i];
	ls->tls = gen->tls[i];
}

static struct gw_listener *listener_find(struct gw_worker *w,
					 const struct gw_cfg_listener *lc)
{
	struct gw_listener *ls;

	for (ls = w->listeners; ls; ls = ls->next)
		if (!ls->removed && ls->cfg->listen_len == lc->listen_len &&
		    !memcmp(&ls->cfg->listen, &lc->listen, lc->listen_len))
			return ls;
	return NULL;
}

/*
 * Make the listeners match gen: keep sockets whose address stays, open
 * new ones, close the ones gone. All new sockets are opened before any
 * change is made, so a failure (address in use) leaves everything as it
 * was.
 */
static int listeners_apply(struct gw_worker *w, struct gw_gen *gen)
{
	const struct gw_config *cfg = gen->cfg;
	struct gw_listener **fresh, *ls;
	unsigned int i;
	int err = 0;

	fresh = calloc(cfg->n_listeners, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct gw_cfg_listener *lc = &cfg->listeners[i];
		int fd;

		if (listener_find(w, lc))
			continue;
		fresh[i] = calloc(1, sizeof(*fresh[i]));
		fd = fresh[i] ? listen_socket(lc) : -ENOMEM;
		if (fd < 0) {
			pr_err("listener \"%s\": cannot listen on %s: %s", lc->name,
			       lc->listen_str, strerror(-fd));
			err = fd;
			goto out_undo;
		}
		fresh[i]->ev.fd = fd;
		fresh[i]->ev.fn = listener_event;
		fresh[i]->w = w;
	}
	/* Point of no return: retire, update, add. */
	for (ls = w->listeners; ls; ls = ls->next) {
		bool kept = false;

		for (i = 0; i < cfg->n_listeners && !ls->removed; i++) {
			const struct gw_cfg_listener *lc = &cfg->listeners[i];

			if (!fresh[i] && ls->cfg->listen_len == lc->listen_len &&
			    !memcmp(&ls->cfg->listen, &lc->listen, lc->listen_len)) {
				listener_set_gen(ls, gen, i);
				kept = true;
				break;
			}
		}
		if (!kept && !ls->removed) {
			pr_info("listener \"%s\": removed, closing %s", ls->cfg->name,
				ls->cfg->listen_str);
			ev_set(w, &ls->ev, 0);
			close(ls->ev.fd);
			ls->ev.fd = -1;
			ls->removed = true;
		}
	}
	for (i = 0; i < cfg->n_listeners; i++) {
		ls = fresh[i];
		if (!ls)
			continue;
		listener_set_gen(ls, gen, i);
		ls->next = w->listeners;
		w->listeners = ls;
		pr_info("listener \"%s\": listening on %s, upstream %s, mode %s",
			ls->cfg->name, ls->cfg->listen_str,
			ls->cfg->upstream.address_str, gw_mode_str(ls->cfg->mode));
	}
	for (ls = w->listeners; ls; ls = ls->next)
		if (!ls->removed)
			listener_update(ls);
	free(fresh);
	return 0;
out_undo:
	for (i = 0; i < cfg->n_listeners; i++) {
		if (fresh[i] && fresh[i]->ev.fd > 0)
			close(fresh[i]->ev.fd);
		free(fresh[i]);
	}
	free(fresh);
	return err;
}

/* ---- reload ---- */

static void print_diag_log(const struct gw_diag *d, enum gw_log_level level)
{
	unsigned int i;

	for (i = 0; i < d->n; i++)
		gw_log(level, "%s", d->msgs[i]);
}

int gw_worker_reload(struct gw_worker *w)
{
	struct gw_diag diag = { 0 }, warn = { 0 };
	const char *path = w->gen->cfg->path;
	const char *old_audit = w->gen->cfg->audit;
	struct gw_gen *gen;
	char detail[64];
	int err;

	sd_notify(0, "RELOADING=1");
	gen = gw_gen_build(path, &diag, &warn);
	print_diag_log(&warn, GW_LOG_WARN);
	if (!gen) {
		print_diag_log(&diag, GW_LOG_ERROR);
		pr_err("reload: \"%s\" is invalid (%u problem%s); keeping the running configuration",
		       path, gw_diag_count(&diag), gw_diag_count(&diag) == 1 ? "" : "s");
		err = -EINVAL;
		goto out;
	}
	err = listeners_apply(w, gen);
	if (err) {
		pr_err("reload: keeping the running configuration");
		gw_gen_put(gen);
		goto out;
	}
	gen->id = ++w->next_gen_id;
	if (strcmp(old_audit, gen->cfg->audit)) {
		err = gw_audit_open(gen->cfg->audit);
		if (err)
			pr_err("reload: log.audit: cannot open \"%s\": %s; still writing to \"%s\"",
			       gen->cfg->audit, strerror(-err), old_audit);
		err = 0;
	}
	gw_gen_put(w->gen);
	w->gen = gen;
	gw_log_set_level(gen->cfg->log_level);
	pr_info("reload: configuration generation %llu in effect",
		(unsigned long long)gen->id);
out:
	gw_snprintf(detail, sizeof(detail), "generation %llu",
		    (unsigned long long)w->gen->id);
	gw_audit_emit(&GW_AUDIT_EVENT(.event = "reload",
		.decision = err ? "error" : "ok",
		.reason = err ? (gen ? "listen_failed" : "invalid_config") : NULL,
		.detail = detail));
	gw_diag_free(&diag);
	gw_diag_free(&warn);
	sd_notify(0, "READY=1");
	return err;
}

/* ---- signals and the loop ---- */

static void stop_accepting(struct gw_worker *w)
{
	struct gw_listener *ls;

	for (ls = w->listeners; ls; ls = ls->next) {
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
		why, w->n_conns, (unsigned long long)w->gen->cfg->drain_timeout_ms);
	w->drain_deadline_ms = gw_now_ms() + w->gen->cfg->drain_timeout_ms;
	timer_rearm(w);
}

static void signal_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, sig_ev);
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
			if (!w->stopping)
				gw_worker_reload(w);
			break;
		}
	}
}

struct gw_worker *gw_worker_new(struct gw_gen *gen)
{
	struct gw_worker *w;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->gen = gen;
	gen->id = ++w->next_gen_id;
	w->epfd = w->sig_ev.fd = w->timer_ev.fd = -1;
	return w;
}

int gw_worker_listen(struct gw_worker *w)
{
	sigset_t mask;

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
	return listeners_apply(w, w->gen);
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
	struct gw_listener *ls;

	if (!w)
		return;
	if (w->all)
		close_all(w, "shutdown");
	reap_dead(w);
	while ((ls = w->listeners)) {
		w->listeners = ls->next;
		listener_free(ls);
	}
	free(w->heap);
	gw_gen_put(w->gen);
	if (w->sig_ev.fd >= 0)
		close(w->sig_ev.fd);
	if (w->timer_ev.fd >= 0)
		close(w->timer_ev.fd);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w);
}
