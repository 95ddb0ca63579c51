// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event loop: listening sockets, accept with limits, the userspace
 * Stage 1 check, deadlines, signals, reload and the life and death of
 * connections.
 *
 * Concurrency invariants: one thread per worker (see "workers" below);
 * a worker's listeners, connections and timers are touched only by its
 * own thread, except while the primary waits in peer_call() for the peer
 * to run a function for it. Across threads only these are shared:
 * generations (atomic reference counts; the TLS contexts in them are per
 * worker), the load counters and inboxes of handoff(), conn_ids, and the
 * metrics, audit and log modules (locked inside). Connections are freed
 * only between epoll batches (see conn.h). A listener stops accepting (its
 * fd leaves the epoll set) while the worker is at its share of
 * max_connections or max_handshakes, and resumes as soon as a connection
 * or handshake finishes; the kernel backlog holds the rest. Generations
 * (struct gw_gen) are reference counted: each worker holds the current
 * one, each connection the one it was accepted under.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/un.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>
#include <openssl/provider.h>

#include "audit.h"
#include "certpool.h"
#include "conn.h"
#include "control.h"
#include "ktls.h"
#include "log.h"
#include "metrics.h"
#include "sockdiag.h"
#include "stage1.h"
#include "steer.h"
#include "worker.h"

#define ACCEPT_BATCH 64
/* Client certificates a worker keeps parsed: leaves and intermediates. */
#define GW_CERTPOOL_SLOTS 512
/* Time the old daemon keeps accepting after a handover (SYNs in flight). */
#define HANDOVER_GRACE_MS 300
#define EPOLL_BATCH 128

/* Sampled Stage 1 drops per listener and source prefix (/24, /64). */
#define S1_TOP 16

struct s1_source {
	struct gw_cidr prefix;
	uint64_t samples;
	uint8_t verdict;
};

struct s1_summary {
	struct s1_source top[GW_S1_MAX_LISTENERS][S1_TOP];
	struct gw_s1_counter last[GW_S1_MAX_LISTENERS][GW_S1_NR_VERDICTS];
};

struct gw_worker {
	struct gw_gen *gen;		/* current generation */
	struct gw_certpool *certpool;	/* client certificates parsed here */
	struct gw_stage1 *s1;		/* NULL: userspace Stage 1 only */
	struct gw_steer_prog *steer;	/* NULL: no steering */
	unsigned int ktls;		/* ciphers the kernel takes (kcaps bits) */
	bool takeover;			/* started with --takeover */
	uint64_t handover_ms;		/* a successor took over: stop at this time */
	ino_t ctl_ino;			/* our control socket's inode (unlink guard) */
	uint64_t slots_used;		/* steering socket slots, one per listener */
	struct gw_ev s1_ev;		/* the ring buffer of sampled drops */
	struct gw_ev s1_timer_ev;	/* stage1_drops summaries */
	struct s1_summary *s1_sum;
	struct gw_ev ctl_ev;		/* control socket */
	struct gw_ev metrics_ev;	/* Prometheus endpoint */
	char *ctl_path;
	uint64_t t_start_ms;
	char kernel_info[1024];		/* what the capability probe found (GW_KCAPS_SUMMARY_LEN) */

	/* reload_on_change: inotify on the directories of every input file */
	struct gw_ev ino_ev;
	struct gw_ev debounce_ev;	/* timerfd: reload once writes settle */
	struct watch { int wd; char *name; } *watches;
	unsigned int n_watches;
	struct gw_ev house_ev;		/* periodic: certificate expiry warnings */
	struct gw_listener *listeners;	/* live and removed-but-busy */
	int epfd;
	struct gw_ev sig_ev;
	struct gw_ev timer_ev;
	uint64_t timer_armed_ms;	/* 0 = disarmed */

	/* connection deadlines: a binary min-heap on deadline_ms */
	struct gw_conn **heap;
	unsigned int heap_n, heap_cap;

	uint64_t next_gen_id;
	unsigned int n_conns;
	struct gw_conn *dead;
	struct gw_conn *all;		/* live connections */
	bool stopping;
	bool done;
	uint64_t drain_deadline_ms;
	int exit_err;

	/*
	 * Workers: one event loop thread each, all accepting from the same
	 * listening sockets. Worker 0, the primary, runs in the main thread
	 * and also owns the control plane: signals, reload, the control
	 * socket, metrics, Stage 1, steering, takeover. The others (peers)
	 * only serve connections; the primary reaches them with peer_call().
	 */
	unsigned int index, n_workers;
	struct gw_worker *primary;
	struct gw_worker **peers;	/* primary: peers[1 .. n_workers - 1] */
	unsigned int peers_running;	/* primary: atomic */
	struct gw_ev peers_ev;		/* primary: eventfd, a peer has stopped */
	pthread_t thread;		/* peer */
	bool started;			/* peer: its thread runs */
	struct gw_ev call_ev;		/* peer: eventfd, a call is pending */
	pthread_mutex_t call_lock;
	pthread_cond_t call_cond;
	struct worker_call *call;	/* peer: pending, under call_lock */
	bool exited;			/* peer: loop ended, under call_lock */
	struct handoff *inbox;		/* connections from other workers, under call_lock */
	/* read by the other workers to balance (atomic) */
	bool accepting;			/* running and not stopping */
	unsigned int load_conns;	/* = n_conns */
	unsigned int load_handshakes;	/* handshakes in progress */
	unsigned int load_pending;	/* handed to us, not yet taken */
};

/* An accepted connection passed to a less loaded worker. */
struct handoff {
	struct handoff *next;
	int fd;
	struct sockaddr_storage src;
	struct sockaddr_storage listen;	/* which listener: its address */
	socklen_t listen_len;
};

/* Connection ids are unique in the process, across workers. */
static uint64_t conn_ids;

typedef void (*worker_fn)(struct gw_worker *w, void *arg);

struct worker_call {
	worker_fn fn;
	void *arg;
	bool done;
};

static void for_each_peer(struct gw_worker *w, worker_fn fn, void *arg);
static void peer_sync(struct gw_worker *w, void *arg);

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static void ev_set(struct gw_worker *w, struct gw_ev *ev, uint32_t events)
{
	struct epoll_event ee = { .events = events, .data.ptr = ev };
	int op;

	if (ev->fd < 0 || ev->events == events)
		return;
	/* An exclusive wait cannot be modified, only removed and added. */
	if (ev->events && events && ((ev->events | events) & EPOLLEXCLUSIVE)) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
		ev->events = 0;
	}
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
	for (i = 0; gen->tls && i < gen->n_workers * gen->cfg->n_listeners; i++)
		gw_tls_server_free(gen->tls[i]);
	free(gen->tls);
	free(gen->expiry_warned);
	gw_cfg_free(gen->cfg);
	free(gen);
}

static struct gw_gen *gen_get(struct gw_gen *gen)
{
	__atomic_fetch_add(&gen->refs, 1, __ATOMIC_RELAXED);
	return gen;
}

void gw_gen_put(struct gw_gen *gen)
{
	if (gen && !__atomic_sub_fetch(&gen->refs, 1, __ATOMIC_ACQ_REL))
		gen_free(gen);
}

const struct gw_config *gw_gen_config(const struct gw_gen *gen)
{
	return gen->cfg;
}

unsigned int gw_gen_workers(const struct gw_gen *gen)
{
	return gen->n_workers;
}

/* CPUs this process may run on: "workers: auto". */
static unsigned int cpus_usable(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > GW_MAX_WORKERS ? GW_MAX_WORKERS : (unsigned int)n;
}

/*
 * The OpenSSL library context of worker k's TLS contexts, for the life of
 * the process; NULL (the default one) while there is one worker. Threads
 * that share a library context contend for its locks on every handshake
 * (the name map read by the decoder set-up for each certificate's key
 * above all): measured with tests/bench/hs-scale.c in its cleanest
 * rounds, 2 threads on one context did 1.6 times the handshakes of one,
 * on their own contexts 1.95 times, as many as 2 processes.
 */
static OSSL_LIB_CTX *worker_libctx(unsigned int n_workers, unsigned int k)
{
	static OSSL_LIB_CTX *libctx[GW_MAX_WORKERS];

	if (n_workers == 1 || k >= GW_MAX_WORKERS)
		return NULL;
	/* Only the main thread builds generations. */
	if (!libctx[k]) {
		libctx[k] = OSSL_LIB_CTX_new();
		if (libctx[k] && !OSSL_PROVIDER_load(libctx[k], "default")) {
			OSSL_LIB_CTX_free(libctx[k]);
			libctx[k] = NULL;
		}
	}
	return libctx[k];
}

/*
 * Every worker's TLS contexts for listener i, with one session cache and
 * one verification cache. The files are read once per worker; the
 * first worker's problems are the ones reported (the others would repeat
 * them).
 */
static int gen_build_tls(struct gw_gen *gen, unsigned int i, struct gw_diag *diag,
			 struct gw_diag *warn)
{
	const struct gw_cfg_listener *lc = &gen->cfg->listeners[i];
	unsigned int n = gen->cfg->n_listeners, k;
	struct gw_diag more = { 0 };
	int err = 0;

	for (k = 0; k < gen->n_workers && !err; k++) {
		OSSL_LIB_CTX *libctx = worker_libctx(gen->n_workers, k);
		struct gw_tls_server *ts;

		if (gen->n_workers > 1 && !libctx) {
			gw_diag_add(diag, "%s: worker %u: no OpenSSL library context", gen->cfg->path, k);
			err = -ENOMEM;
			break;
		}
		ts = gw_tls_server_new(gen->cfg, lc, libctx, k ? &more : diag, k ? &more : warn);
		gen->tls[k * n + i] = ts;
		if (!ts)
			err = -EINVAL;
		else if (k)
			gw_tls_server_share_caches(ts, gen->tls[i]);
	}
	/* A file changed between two workers' reads: say what the last read found. */
	for (k = 0; k < more.n; k++)
		gw_diag_add(diag, "%s", more.msgs[k]);
	if (err && !gw_diag_count(diag))
		gw_diag_add(diag, "%s: listeners[%u]: cannot set up TLS context", gen->cfg->path, i);
	gw_diag_free(&more);
	return err;
}

struct gw_gen *gw_gen_build(const char *path, unsigned int n_workers,
			    struct gw_diag *diag, struct gw_diag *warn)
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
	gen->n_workers = n_workers ?: gen->cfg->workers ?: cpus_usable();
	gen->tls = calloc((size_t)gen->n_workers * gen->cfg->n_listeners, sizeof(*gen->tls));
	gen->expiry_warned = calloc(gen->cfg->n_listeners, 1);
	if (!gen->tls || !gen->expiry_warned)
		goto out_free;
	for (i = 0; i < gen->cfg->n_listeners; i++) {
		const struct gw_cfg_listener *lc = &gen->cfg->listeners[i];

		gen_build_tls(gen, i, diag, warn);
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
	if (w->handover_ms && (!next || w->handover_ms < next))
		next = w->handover_ms;
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
static void accept_all(struct gw_worker *w);
static void begin_stop(struct gw_worker *w, const char *why);

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
	if (w->handover_ms && w->handover_ms <= now) {
		w->handover_ms = 0;
		/* Whatever completed its handshake in our queues: take it. */
		accept_all(w);
		begin_stop(w, "takeover");
	}
	if (w->stopping && w->drain_deadline_ms && w->drain_deadline_ms <= now) {
		pr_info("drain_timeout reached: closing %u remaining connections",
			w->n_conns);
		close_all(w, "shutdown");
	}
	timer_rearm(w);
}

/* ---- accept and limits ---- */

/*
 * A worker's share of a listener's limit: the workers' shares add up to
 * the limit. They accept from one queue, so while one worker is at its
 * share the others take the connections until theirs are reached too.
 */
static unsigned int limit_share(const struct gw_worker *w, unsigned int limit)
{
	return limit / w->n_workers + (w->index < limit % w->n_workers);
}

static void listener_update(struct gw_listener *ls)
{
	const struct gw_cfg_listener *lc = ls->cfg;
	struct gw_worker *w = ls->w;
	bool full, conns;

	if (ls->ev.fd < 0)
		return;
	conns = ls->n_conns >= limit_share(w, lc->max_connections);
	full = conns || ls->n_handshakes >= limit_share(w, lc->max_handshakes);
	if (full && !ls->paused) {
		if (w->n_workers == 1)
			pr_warn("listener \"%s\": %s reached, not accepting until one finishes",
				lc->name, conns ? "max_connections" : "max_handshakes");
		else
			pr_warn("listener \"%s\": worker %u: its share of %s reached, not accepting until one finishes",
				lc->name, w->index, conns ? "max_connections" : "max_handshakes");
	}
	ls->paused = full;
	/* With several workers, one of those waiting is woken per connection. */
	ev_set(w, &ls->ev, full ? 0 : w->n_workers > 1 ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN);
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
		char labels[256];

		if (!gw_metric_labels(labels, sizeof(labels), "listener", lc->name,
				      "rule", "allow_sources", "decision",
				      enforce ? "deny" : "would_deny", NULL))
			gw_metric_add("mtlsgw_authz_decisions_total", labels, 1);
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
	c->id = __atomic_add_fetch(&conn_ids, 1, __ATOMIC_RELAXED);
	c->ls = ls;
	c->gen = gen_get(ls->gen);
	c->lc = lc;
	c->tls = ls->tls;
	c->cev.fd = fd;
	c->pipe_cb[0] = c->pipe_cb[1] = c->pipe_bc[0] = c->pipe_bc[1] = -1;
	c->cookie = gw_sock_cookie(fd);
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
	__atomic_add_fetch(&w->load_conns, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&w->load_handshakes, 1, __ATOMIC_RELAXED);
	gw_handshake_start(c);
}

/*
 * Connections taken per wake-up. With several workers, few: a worker that
 * takes a burst has to do all those handshakes while the others may idle.
 */
static unsigned int accept_batch(const struct gw_worker *w)
{
	return w->n_workers > 1 ? 4 : ACCEPT_BATCH;
}

static bool handoff(struct gw_listener *ls, int fd, const struct sockaddr_storage *src);

static void listener_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_listener *ls = container_of(ev, struct gw_listener, ev);
	unsigned int i;

	(void)events;
	for (i = 0; i < accept_batch(ls->w) && !ls->paused && ls->ev.fd >= 0; i++) {
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
		if (ls->w->n_workers > 1 && handoff(ls, fd, &src))
			continue;
		accept_one(ls, fd, &src);
		listener_update(ls);
	}
}

static void accept_all(struct gw_worker *w)
{
	struct gw_listener *ls;

	for (ls = w->listeners; ls; ls = ls->next)
		if (ls->ev.fd >= 0 && !ls->paused)
			listener_event(&ls->ev, EPOLLIN);
}

const char *gw_conn_datapath(const struct gw_conn *c)
{
	return c->dp == GW_DP_SPLICE ? "splice" : "userspace";
}

void gw_conn_close_notify(struct gw_conn *c)
{
	if (c->dp == GW_DP_SPLICE)
		gw_dp_splice_close_notify(c);
	else if (c->ssl)
		SSL_shutdown(c->ssl);
}

struct gw_certpool *gw_conn_certpool(const struct gw_conn *c)
{
	return c->ls->w->certpool;
}

bool gw_conn_ktls_allowed(const struct gw_conn *c, int cipher)
{
	unsigned int want = cipher == GW_KTLS_ANY_CIPHER ? ~0u : 1u << cipher;

	return (c->ls->w->ktls & want) &&
	       c->ls->gen->cfg->datapath != GW_DATAPATH_USERSPACE;
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

void gw_worker_set_ktls(struct gw_worker *w, unsigned int ciphers)
{
	w->ktls = ciphers;
}

void gw_conn_handshake_done(struct gw_conn *c)
{
	c->ls->n_handshakes--;
	__atomic_sub_fetch(&c->ls->w->load_handshakes, 1, __ATOMIC_RELAXED);
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
			.rule = c->rule, .reason = reason, .datapath = gw_conn_datapath(c),
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
	__atomic_sub_fetch(&w->load_conns, 1, __ATOMIC_RELAXED);
	listener_update(ls);
}

static void listener_free(struct gw_listener *ls)
{
	if (ls->slot < GW_STEER_MAX_SLOTS)
		ls->w->slots_used &= ~(1ULL << ls->slot);
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
		sk_X509_pop_free(c->vr.chain, X509_free);
		gw_certrefs_free(c->certrefs);
		gw_identity_free(c->ident);
		gw_dp_userspace_free(c);
		gw_dp_splice_free(c);
		gw_ktls_secrets_free(c->ktls_secrets);
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

static int listen_socket(const struct gw_cfg_listener *lc, bool reuseport)
{
	int one = 1, fd, err;

	fd = socket(lc->listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto out_errno;
	/*
	 * takeover: the successor binds the same addresses while we still
	 * listen; the steering map decides which socket gets the SYNs. Off
	 * otherwise, so a second daemon on the same ports fails loudly.
	 */
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
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
	gen_get(gen);
	gw_gen_put(ls->gen);
	ls->gen = gen;
	ls->index = i;
	ls->cfg = &gen->cfg->listeners[i];
	ls->tls = gw_gen_tls(gen, ls->w->index, i);
}

/* Close a listener's socket; it lives on until its last connection ends. */
static void listener_retire(struct gw_worker *w, struct gw_listener *ls)
{
	if (w->steer)
		gw_steer_clear_socket(w->steer, ls->slot);
	ev_set(w, &ls->ev, 0);
	close(ls->ev.fd);
	ls->ev.fd = -1;
	ls->removed = true;
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
		fd = fresh[i] ? listen_socket(lc, cfg->takeover) : -ENOMEM;
		if (fd < 0) {
			pr_err("listener \"%s\": cannot listen on %s: %s", lc->name,
			       lc->listen_str, strerror(-fd));
			err = fd;
			goto out_undo;
		}
		fresh[i]->ev.fd = fd;
		fresh[i]->ev.fn = listener_event;
		fresh[i]->w = w;
		fresh[i]->slot = GW_STEER_MAX_SLOTS;
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
			listener_retire(w, ls);
		}
	}
	for (i = 0; i < cfg->n_listeners; i++) {
		unsigned int slot;

		ls = fresh[i];
		if (!ls)
			continue;
		/* Up to GW_STEER_MAX_SLOTS listeners exist at once (checked by config). */
		for (slot = 0; slot < GW_STEER_MAX_SLOTS && (w->slots_used >> slot & 1); slot++)
			;
		ls->slot = slot;
		if (slot < GW_STEER_MAX_SLOTS)
			w->slots_used |= 1ULL << slot;
		if (w->steer && gw_steer_set_socket(w->steer, slot, ls->ev.fd))
			pr_err("listener \"%s\": cannot put its socket in the steering map: %s",
			       ls->cfg->name, strerror(errno));
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

/* ---- Stage 1 observability ---- */

static void s1_prefix_of(const struct gw_s1_event *e, struct gw_cidr *p)
{
	memset(p, 0, sizeof(*p));
	if (e->family == 4) {
		p->family = AF_INET;
		p->prefix_len = 24;
		memcpy(p->addr, e->saddr, 3);
	} else {
		p->family = AF_INET6;
		p->prefix_len = 64;
		memcpy(p->addr, e->saddr, 8);
	}
}

/* Count a sample; when the table is full the least-seen prefix makes room. */
static void s1_on_event(const struct gw_s1_event *e, void *ctx)
{
	struct gw_worker *w = ctx;
	struct s1_source *top, *min;
	struct gw_cidr p;
	unsigned int i;

	if (e->listener >= GW_S1_MAX_LISTENERS)
		return;
	top = w->s1_sum->top[e->listener];
	s1_prefix_of(e, &p);
	min = &top[0];
	for (i = 0; i < S1_TOP; i++) {
		if (top[i].samples && !memcmp(&top[i].prefix, &p, sizeof(p)) &&
		    top[i].verdict == e->verdict) {
			top[i].samples++;
			return;
		}
		if (top[i].samples < min->samples)
			min = &top[i];
	}
	min->prefix = p;
	min->verdict = e->verdict;
	min->samples = 1;
}

static void s1_events_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, s1_ev);

	(void)events;
	gw_stage1_events_consume(w->s1, s1_on_event, w);
}

/* The top sampled sources of one listener as a JSON array body. */
static void s1_top_json(struct s1_source *top, char *buf, size_t len)
{
	size_t o = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < S1_TOP; i++) {
		char pfx[64];
		int n;

		if (!top[i].samples || gw_cidr_fmt(&top[i].prefix, pfx, sizeof(pfx)))
			continue;
		n = snprintf(buf + o, len - o, "%s{\"prefix\":\"%s\",\"samples\":%llu}",
			     o ? "," : "", pfx, (unsigned long long)top[i].samples);
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += n;
	}
	memset(top, 0, S1_TOP * sizeof(*top));
}

/* One stage1_drops line per listener whose program dropped (or would have). */
static void s1_summary_event(struct gw_ev *ev, uint32_t events)
{
	static const unsigned int verdicts[] = { GW_S1_DROP, GW_S1_DROP_FRAGMENT,
						 GW_S1_DROP_MALFORMED, GW_S1_AUDIT_PASS };
	struct gw_worker *w = container_of(ev, struct gw_worker, s1_timer_ev);
	const struct gw_config *cfg = w->gen->cfg;
	uint64_t expirations;
	unsigned int i, k;

	(void)events;
	if (read(ev->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	gw_stage1_events_consume(w->s1, s1_on_event, w);
	for (i = 0; i < cfg->n_listeners; i++) {
		uint64_t pkts[4], bytes = 0, total = 0;
		char top[1536], extra[2048];

		for (k = 0; k < ARRAY_SIZE(verdicts); k++) {
			struct gw_s1_counter now, *last = &w->s1_sum->last[i][verdicts[k]];

			if (gw_stage1_counter(w->s1, i, verdicts[k], &now))
				now = *last;
			pkts[k] = now.packets - last->packets;
			bytes += now.bytes - last->bytes;
			total += pkts[k];
			*last = now;
		}
		s1_top_json(w->s1_sum->top[i], top, sizeof(top));
		if (!total)
			continue;
		if (gw_snprintf(extra, sizeof(extra),
				",\"packets\":%llu,\"bytes\":%llu,\"dropped\":%llu,\"fragments\":%llu,\"malformed\":%llu,\"would_drop\":%llu,\"top_sources\":[%s]",
				(unsigned long long)total, (unsigned long long)bytes,
				(unsigned long long)pkts[0], (unsigned long long)pkts[1],
				(unsigned long long)pkts[2], (unsigned long long)pkts[3], top))
			continue;
		gw_audit_emit(&GW_AUDIT_EVENT(.event = "stage1_drops",
			.listener = cfg->listeners[i].name,
			.decision = pkts[3] == total ? "would_drop" : "drop",
			.extra_json = extra));
	}
}

static int s1_start(struct gw_worker *w)
{
	const struct gw_config *cfg = w->gen->cfg;
	struct itimerspec its = { 0 };
	char err[256];
	int ret;

	ret = gw_stage1_update(w->s1, cfg, err, sizeof(err));
	if (ret) {
		pr_err("Stage 1: %s", err);
		return ret;
	}
	gw_stage1_attach(w->s1, cfg);
	w->s1_sum = calloc(1, sizeof(*w->s1_sum));
	w->s1_timer_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!w->s1_sum || w->s1_timer_ev.fd < 0)
		return -ENOMEM;
	its.it_value.tv_sec = cfg->stage1_summary_ms / 1000;
	its.it_value.tv_nsec = (cfg->stage1_summary_ms % 1000) * 1000000;
	its.it_interval = its.it_value;
	timerfd_settime(w->s1_timer_ev.fd, 0, &its, NULL);
	w->s1_timer_ev.fn = s1_summary_event;
	w->s1_ev.fd = gw_stage1_events_fd(w->s1);
	w->s1_ev.fn = s1_events_event;
	ev_set(w, &w->s1_timer_ev, EPOLLIN);
	ev_set(w, &w->s1_ev, EPOLLIN);
	return 0;
}

void gw_worker_set_stage1(struct gw_worker *w, struct gw_stage1 *s1)
{
	w->s1 = s1;
}

/* ---- administration: control socket and metrics ---- */

struct abuf {
	char *p;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) ab_put(struct abuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += n;
			return;
		}
		b->cap = 2 * b->cap + n + 256;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			b->len = b->cap = 0;
			return;
		}
	}
}

static const char *const s1_verdict_names[GW_S1_NR_VERDICTS] = {
	[GW_S1_PASS_OTHER] = "pass_other",
	[GW_S1_PASS_ALLOWED] = "pass_allowed",
	[GW_S1_DROP] = "drop",
	[GW_S1_AUDIT_PASS] = "audit_pass",
	[GW_S1_DROP_FRAGMENT] = "drop_fragment",
	[GW_S1_DROP_MALFORMED] = "drop_malformed",
};

/* A listener's figures summed over the workers, matched by name. */
struct ls_sum {
	char *name;
	bool removed;
	unsigned int conns, handshakes;
	double active[2];		/* [0] userspace, [1] splice */
	uint64_t bytes_in, bytes_out;
};

struct ls_sums {
	struct ls_sum *v;
	unsigned int n;
	unsigned int conns;
};

static struct ls_sum *ls_sum_get(struct ls_sums *s, const struct gw_listener *ls)
{
	struct ls_sum *grown;
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].removed == ls->removed && !strcmp(s->v[i].name, ls->cfg->name))
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

static void ls_sums_add(struct gw_worker *w, void *arg)
{
	struct ls_sums *s = arg;
	struct gw_listener *ls;
	struct gw_conn *c;

	s->conns += w->n_conns;
	for (ls = w->listeners; ls; ls = ls->next) {
		struct ls_sum *sum = ls_sum_get(s, ls);

		if (!sum)
			continue;
		sum->conns += ls->n_conns;
		sum->handshakes += ls->n_handshakes;
		sum->bytes_in += ls->bytes_in;
		sum->bytes_out += ls->bytes_out;
		for (c = w->all; c; c = c->all_next)
			if (c->ls == ls && c->state >= GW_CONN_CONNECTING)
				sum->active[c->dp == GW_DP_SPLICE]++;
	}
}

/* Every worker's listeners; free with ls_sums_free. */
static void ls_sums_collect(struct gw_worker *w, struct ls_sums *s)
{
	memset(s, 0, sizeof(*s));
	ls_sums_add(w, s);
	for_each_peer(w, ls_sums_add, s);
}

static const struct ls_sum *ls_sums_find(const struct ls_sums *s, const struct gw_listener *ls)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].removed == ls->removed && !strcmp(s->v[i].name, ls->cfg->name))
			return &s->v[i];
	return NULL;
}

static void ls_sums_free(struct ls_sums *s)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
}

/* Gauges and kernel-side counters, set right before each scrape. */
static void metrics_snapshot(struct gw_worker *w)
{
	const struct gw_config *cfg = w->gen->cfg;
	struct ls_sums sums;
	char labels[512];
	unsigned int i, k;

	gw_metric_reset("mtlsgw_connections_active");
	gw_metric_reset("mtlsgw_cert_not_after_timestamp_seconds");
	gw_metric_reset("mtlsgw_crl_next_update_timestamp_seconds");
	ls_sums_collect(w, &sums);
	for (i = 0; i < sums.n; i++) {
		const struct ls_sum *sum = &sums.v[i];

		/* A removed listener's figures are added to a new one of its name. */
		for (k = 0; k < i && strcmp(sums.v[k].name, sum->name); k++)
			;
		if (k < i) {
			sums.v[k].active[0] += sum->active[0];
			sums.v[k].active[1] += sum->active[1];
			sums.v[k].bytes_in += sum->bytes_in;
			sums.v[k].bytes_out += sum->bytes_out;
			sums.v[i].name[0] = '\0';
		}
	}
	for (i = 0; i < sums.n; i++) {
		const struct ls_sum *sum = &sums.v[i];

		if (!sum->name[0])
			continue;
		if (!gw_metric_labels(labels, sizeof(labels), "listener", sum->name,
				      "datapath", "userspace", NULL))
			gw_metric_set("mtlsgw_connections_active", labels, sum->active[0]);
		if (!gw_metric_labels(labels, sizeof(labels), "listener", sum->name,
				      "datapath", "splice", NULL))
			gw_metric_set("mtlsgw_connections_active", labels, sum->active[1]);
		if (!gw_metric_labels(labels, sizeof(labels), "listener", sum->name,
				      "direction", "in", NULL))
			gw_metric_set("mtlsgw_bytes_total", labels, (double)sum->bytes_in);
		if (!gw_metric_labels(labels, sizeof(labels), "listener", sum->name,
				      "direction", "out", NULL))
			gw_metric_set("mtlsgw_bytes_total", labels, (double)sum->bytes_out);
	}
	ls_sums_free(&sums);
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct gw_tls_server *ts = gw_gen_tls(w->gen, 0, i);
		const char *name = cfg->listeners[i].name;

		if (!gw_metric_labels(labels, sizeof(labels), "listener", name, "kind", "server", NULL))
			gw_metric_set("mtlsgw_cert_not_after_timestamp_seconds", labels,
				      (double)ts->server_not_after);
		if (!gw_metric_labels(labels, sizeof(labels), "listener", name, "kind", "ca", NULL))
			gw_metric_set("mtlsgw_cert_not_after_timestamp_seconds", labels,
				      (double)ts->ca_not_after);
		for (k = 0; k < ts->n_crls; k++)
			if (ts->crls[k].next_update &&
			    !gw_metric_labels(labels, sizeof(labels), "listener", name,
					      "file", ts->crls[k].file, NULL))
				gw_metric_set("mtlsgw_crl_next_update_timestamp_seconds", labels,
					      (double)ts->crls[k].next_update);
		for (k = 0; w->s1 && k < GW_S1_NR_VERDICTS; k++) {
			struct gw_s1_counter cnt;

			if (!gw_stage1_counter(w->s1, i, k, &cnt) &&
			    !gw_metric_labels(labels, sizeof(labels), "listener", name,
					      "verdict", s1_verdict_names[k], NULL))
				gw_metric_set("mtlsgw_stage1_packets_total", labels,
					      (double)cnt.packets);
		}
	}
}

static void metrics_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, metrics_ev);
	char req[GW_CTL_MAX_REQUEST], head[256], *body;
	size_t len = 0;
	int cfd;

	(void)events;
	cfd = gw_ctl_accept(ev->fd, req, sizeof(req));
	if (cfd < 0)
		return;
	if (strncmp(req, "GET /metrics", 12) || (req[12] != ' ' && req[12] != '?')) {
		static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
					 "Content-Length: 26\r\n\r\ntry GET /metrics instead\r\n";

		gw_ctl_reply(cfd, nf, sizeof(nf) - 1);
		return;
	}
	metrics_snapshot(w);
	body = gw_metrics_render(&len);
	if (!body) {
		gw_ctl_reply(cfd, "HTTP/1.0 500 Internal Server Error\r\n\r\n", 38);
		return;
	}
	gw_snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\n"
		    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		    "Content-Length: %zu\r\n\r\n", len);
	/* One reply buffer: head then body. */
	{
		size_t hl = strlen(head);
		char *all = malloc(hl + len);

		if (all) {
			memcpy(all, head, hl);
			memcpy(all + hl, body, len);
			gw_ctl_reply(cfd, all, hl + len);
			free(all);
		} else {
			close(cfd);
		}
	}
	free(body);
}

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

static void cmd_status(struct gw_worker *w, struct abuf *b)
{
	const struct gw_config *cfg = w->gen->cfg;
	struct gw_listener *ls;
	struct ls_sums sums;
	unsigned int j;

	ls_sums_collect(w, &sums);
	ab_put(b, "mtlsgw %s\n", GW_VERSION);
	ab_put(b, "uptime: %llu s\n", (unsigned long long)((gw_now_ms() - w->t_start_ms) / 1000));
	ab_put(b, "config: %s (generation %llu)\n", cfg->path, (unsigned long long)w->gen->id);
	ab_put(b, "kernel: %s\n", w->kernel_info);
	ab_put(b, "stage1: %s\n", w->s1 ? "eBPF loaded" : "userspace check only");
	ab_put(b, "workers: %u\n", w->n_workers);
	ab_put(b, "connections: %u\n", sums.conns);
	for (ls = w->listeners; ls; ls = ls->next) {
		const struct ls_sum *sum = ls_sums_find(&sums, ls);
		unsigned int conns = sum ? sum->conns : ls->n_conns;

		if (ls->removed) {
			ab_put(b, "listener %s: removed, %u connections finishing\n",
			       ls->cfg->name, conns);
			continue;
		}
		ab_put(b, "listener %s: %s mode %s datapath %s connections %u handshakes %u bytes_in %llu bytes_out %llu\n",
		       ls->cfg->name, ls->cfg->listen_str, gw_mode_str(ls->cfg->mode),
		       w->ktls && w->gen->cfg->datapath != GW_DATAPATH_USERSPACE ?
		       "splice" : "userspace", conns, sum ? sum->handshakes : ls->n_handshakes,
		       (unsigned long long)(sum ? sum->bytes_in : ls->bytes_in),
		       (unsigned long long)(sum ? sum->bytes_out : ls->bytes_out));
		for (j = 0; j < ls->cfg->n_steer; j++) {
			const struct gw_steer *st = &ls->cfg->steer[j];
			char pfx[64];

			if (!gw_cidr_fmt(&st->dst, pfx, sizeof(pfx)))
				ab_put(b, "  steer %s:%u-%u\n", pfx, st->lo, st->hi);
		}
		if (w->steer && ls->cfg->n_steer) {
			struct gw_steer_hits h;

			if (!gw_steer_hits(w->steer, ls->slot, &h))
				ab_put(b, "  steer hits %llu (no socket %llu)\n",
				       (unsigned long long)h.assigned,
				       (unsigned long long)h.no_socket);
		}
		for (j = 0; j < ls->cfg->n_interfaces; j++) {
			const char *m = gw_stage1_mode(w->s1, ls->cfg->interfaces[j]);

			ab_put(b, "  stage1 %s: %s\n", ls->cfg->interfaces[j],
			       m ? m : "not attached (userspace check only)");
		}
	}
	ls_sums_free(&sums);
}

/* The kernel's view of each live client socket, matched by SO_COOKIE. */
struct kview {
	struct gw_worker *w;
	struct gw_sockdiag *d;		/* one per live connection, list order */
	unsigned int n;
};

static void kview_one(const struct gw_sockdiag *d, void *ctx)
{
	struct kview *kv = ctx;
	struct gw_conn *c;
	unsigned int i;

	for (c = kv->w->all, i = 0; c && i < kv->n; c = c->all_next, i++)
		if (c->cookie && c->cookie == d->cookie)
			kv->d[i] = *d;
}

struct conns_req {
	struct abuf *b;
	bool json;
	bool said_err;
};

/* One worker's rows of "conns". */
static void conns_rows(struct gw_worker *w, void *arg)
{
	struct conns_req *req = arg;
	struct kview kv = { .w = w, .n = w->n_conns };
	uint64_t now = gw_now_ms();
	struct abuf *b = req->b;
	bool json = req->json;
	struct gw_conn *c;
	unsigned int i;
	int err;

	if (!kv.n)
		return;
	kv.d = calloc(kv.n, sizeof(*kv.d));
	err = kv.d ? gw_sockdiag_dump(kview_one, &kv) : -ENOMEM;
	if (err && !json && !req->said_err) {
		ab_put(b, "# kernel view unavailable (sock_diag: %s)\n", strerror(-err));
		req->said_err = true;
	}
	for (c = w->all, i = 0; c; c = c->all_next, i++) {
		const struct gw_sockdiag *d = kv.d && i < kv.n && kv.d[i].cookie ? &kv.d[i] : NULL;
		char src[GW_SOCKADDR_STRLEN] = "?", ulp[64] = "-";
		const char *who = c->ident ? (c->ident->spiffe_id ? c->ident->spiffe_id :
					      c->ident->subject) : "-";

		gw_sockaddr_fmt((struct sockaddr *)&c->src, src, sizeof(src));
		if (d && d->ulp[0])
			gw_snprintf(ulp, sizeof(ulp), "%s %s %s", d->ulp,
				    gw_sockdiag_tls_version(d->tls_version),
				    gw_sockdiag_tls_cipher(d->tls_cipher));
		else if (d)
			gw_snprintf(ulp, sizeof(ulp), "none");
		if (json)
			ab_put(b, "{\"id\":%llu,\"worker\":%u,\"listener\":\"%s\",\"src\":\"%s\",\"state\":\"%s\",\"identity\":\"%s\",\"serial\":\"%s\",\"tls_version\":\"%s\",\"cipher\":\"%s\",\"datapath\":\"%s\",\"bytes_in\":%llu,\"bytes_out\":%llu,\"age_ms\":%llu,\"kernel\":{\"found\":%s,\"tcp_state\":%u,\"bytes_received\":%llu,\"bytes_acked\":%llu,\"rtt_us\":%u,\"ulp\":\"%s\"}}\n",
			       (unsigned long long)c->id, w->index, c->lc->name, src,
			       conn_state_str(c->state),
			       who, c->ident ? c->ident->serial : "",
			       c->tls_version ? c->tls_version : "", c->cipher ? c->cipher : "",
			       gw_conn_datapath(c),
			       (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
			       (unsigned long long)(now - c->t_start_ms), d ? "true" : "false",
			       d ? d->state : 0, d ? (unsigned long long)d->bytes_received : 0ULL,
			       d ? (unsigned long long)d->bytes_acked : 0ULL, d ? d->rtt_us : 0,
			       ulp);
		else
			ab_put(b, "%-6llu %-12s %-28s %-44s %-8s %-30s %-9s %12llu %12llu %8llu %12llu %12llu %s\n",
			       (unsigned long long)c->id, c->lc->name, src, who,
			       c->tls_version ? c->tls_version : conn_state_str(c->state),
			       c->cipher ? c->cipher : "-", gw_conn_datapath(c),
			       (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
			       (unsigned long long)((now - c->t_start_ms) / 1000),
			       d ? (unsigned long long)d->bytes_received : 0ULL,
			       d ? (unsigned long long)d->bytes_acked : 0ULL, ulp);
	}
	free(kv.d);
}

static void cmd_conns(struct gw_worker *w, struct abuf *b, bool json)
{
	struct conns_req req = { .b = b, .json = json };

	if (!json)
		ab_put(b, "%-6s %-12s %-28s %-44s %-8s %-30s %-9s %12s %12s %8s %12s %12s %s\n",
		       "ID", "LISTENER", "SOURCE", "IDENTITY", "TLS", "CIPHER", "DATAPATH",
		       "BYTES_IN", "BYTES_OUT", "AGE_S", "K_RECEIVED", "K_ACKED", "K_ULP");
	conns_rows(w, &req);
	for_each_peer(w, conns_rows, &req);
}

struct kill_req {
	const char *what, *value;
	unsigned int n;
};

/* Close every live connection of w matching; count them in req->n. */
static void kill_matching(struct gw_worker *w, void *arg)
{
	struct kill_req *req = arg;
	const char *what = req->what, *value = req->value;
	struct gw_conn *c, *next;

	for (c = w->all; c; c = next) {
		bool match = false;

		next = c->all_next;
		if (!strcmp(what, "conn"))
			match = c->id == strtoull(value, NULL, 10);
		else if (!strcmp(what, "serial"))
			match = c->ident && !strcasecmp(c->ident->serial, value);
		else if (!strcmp(what, "spiffe-id"))
			match = c->ident && c->ident->spiffe_id &&
				!strcmp(c->ident->spiffe_id, value);
		if (!match)
			continue;
		/* Tell the client it was a deliberate end, then close. */
		if (c->state == GW_CONN_FORWARDING)
			gw_conn_close_notify(c);
		/* gw_conn_close unlinks c; next was taken before. */
		gw_conn_close(c, "killed", false);
		req->n++;
	}
}

static unsigned int cmd_kill(struct gw_worker *w, const char *what, const char *value)
{
	struct kill_req req = { .what = what, .value = value };

	kill_matching(w, &req);
	for_each_peer(w, kill_matching, &req);
	return req.n;
}

static int worker_reload_diag(struct gw_worker *w, struct gw_diag *out);

static void ctl_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, ctl_ev);
	char req[GW_CTL_MAX_REQUEST], *arg, *arg2, *nl;
	struct abuf b = { 0 };
	int cfd;

	(void)events;
	cfd = gw_ctl_accept(ev->fd, req, sizeof(req));
	if (cfd < 0)
		return;
	nl = strpbrk(req, "\r\n");
	if (nl)
		*nl = '\0';
	arg = strchr(req, ' ');
	if (arg)
		*arg++ = '\0';
	arg2 = arg ? strchr(arg, ' ') : NULL;
	if (arg2)
		*arg2++ = '\0';
	if (!strcmp(req, "status")) {
		cmd_status(w, &b);
	} else if (!strcmp(req, "conns")) {
		cmd_conns(w, &b, arg && !strcmp(arg, "json"));
	} else if (!strcmp(req, "reload")) {
		struct gw_diag d = { 0 };
		unsigned int i;

		if (worker_reload_diag(w, &d)) {
			ab_put(&b, "error: reload refused, the running configuration stays\n");
			for (i = 0; i < d.n; i++)
				ab_put(&b, "%s\n", d.msgs[i]);
		} else {
			ab_put(&b, "ok: generation %llu\n", (unsigned long long)w->gen->id);
		}
		gw_diag_free(&d);
	} else if (!strcmp(req, "handover")) {
		/*
		 * A successor owns the steering map now. Keep accepting for a
		 * moment (SYNs already queued for our sockets), then drain.
		 */
		if (w->steer)
			gw_steer_set_handed_over(w->steer);
		w->handover_ms = gw_now_ms() + HANDOVER_GRACE_MS;
		/* Scrapes go to the successor from now on. */
		if (w->metrics_ev.fd >= 0) {
			ev_set(w, &w->metrics_ev, 0);
			close(w->metrics_ev.fd);
			w->metrics_ev.fd = -1;
		}
		timer_rearm(w);
		ab_put(&b, "ok: draining\n");
	} else if (!strcmp(req, "kill") && arg && arg2 &&
		   (!strcmp(arg, "conn") || !strcmp(arg, "serial") || !strcmp(arg, "spiffe-id"))) {
		ab_put(&b, "killed %u\n", cmd_kill(w, arg, arg2));
	} else {
		ab_put(&b, "error: unknown command \"%s\"; try status, conns [json], reload, kill conn|serial|spiffe-id VALUE\n",
		       req);
	}
	if (b.p)
		gw_ctl_reply(cfd, b.p, b.len);
	else
		close(cfd);
	free(b.p);
}

/* Control socket and metrics endpoint; failures here stop the start. */
static int admin_start(struct gw_worker *w)
{
	const struct gw_config *cfg = w->gen->cfg;
	char *dir, *slash;
	int fd;

	dir = strdup(cfg->control_socket);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) && errno != EEXIST)
			pr_warn("control.socket: cannot create \"%s\": %s", dir, strerror(errno));
	}
	free(dir);
	fd = gw_ctl_listen_unix(cfg->control_socket);
	if (fd < 0) {
		pr_err("control.socket: cannot listen on \"%s\": %s", cfg->control_socket,
		       strerror(-fd));
		return fd;
	}
	w->ctl_path = strdup(cfg->control_socket);
	{
		struct stat st;

		/* The socket file's inode, to recognise it at exit. */
		if (!stat(cfg->control_socket, &st))
			w->ctl_ino = st.st_ino;
	}
	w->ctl_ev.fd = fd;
	w->ctl_ev.fn = ctl_event;
	ev_set(w, &w->ctl_ev, EPOLLIN);
	if (!cfg->metrics_listen)
		return 0;
	fd = gw_ctl_listen_tcp(cfg->metrics_listen, cfg->takeover);
	if (fd < 0) {
		pr_err("metrics.listen: cannot listen on %s: %s", cfg->metrics_listen,
		       strerror(-fd));
		return fd;
	}
	w->metrics_ev.fd = fd;
	w->metrics_ev.fn = metrics_event;
	ev_set(w, &w->metrics_ev, EPOLLIN);
	pr_info("metrics on http://%s/metrics", cfg->metrics_listen);
	return 0;
}

void gw_worker_set_kernel_info(struct gw_worker *w, const char *info)
{
	gw_snprintf(w->kernel_info, sizeof(w->kernel_info), "%s", info);
}

/* ---- live connections after a reload ---- */

/*
 * Why the current generation would no longer let c through, or NULL.
 * A revoked certificate closes the connection in any mode; source and rule
 * changes only in enforce mode.
 */
static const char *conn_no_longer_allowed(struct gw_worker *w, struct gw_conn *c)
{
	const struct gw_config *cfg = w->gen->cfg;
	const struct gw_cfg_listener *lc = NULL;
	unsigned int i;
	int k;

	for (i = 0; i < cfg->n_listeners && !lc; i++)
		if (!strcmp(cfg->listeners[i].name, c->lc->name))
			lc = &cfg->listeners[i];
	/* A removed listener's connections finish under their old policy. */
	if (!lc)
		return NULL;
	k = gw_tls_revoked(gw_gen_tls(w->gen, w->index, i - 1), c->certrefs);
	if (k >= 0)
		return k == 0 ? "revoked" : "issuer_revoked";
	if (lc->mode != GW_MODE_ENFORCE)
		return NULL;
	if (!lc->allow_any &&
	    !gw_cidr_match_any(lc->allow_sources, lc->n_allow_sources, (struct sockaddr *)&c->src))
		return "source_denied";
	if (c->ident && gw_authz_decide(lc->rules, lc->n_rules, c->ident) == GW_AUTHZ_NO_MATCH)
		return "not_authorized";
	return NULL;
}

/* Close c because the running policy revokes it; true when closed. */
bool gw_conn_revalidate(struct gw_conn *c)
{
	struct gw_worker *w = c->ls->w;
	const char *why = conn_no_longer_allowed(w, c);

	if (!why)
		return false;
	gw_audit_emit(&GW_AUDIT_EVENT(.event = "revoked_close", .conn_id = c->id,
		.listener = c->lc->name, .src = (struct sockaddr *)&c->src,
		.dst = (struct sockaddr *)&c->dst, .id = c->ident,
		.decision = "deny", .reason = why));
	gw_metric_add("mtlsgw_revoked_connections_closed_total", "", 1);
	pr_info("listener \"%s\": conn %llu closed: %s by the new configuration",
		c->lc->name, (unsigned long long)c->id, why);
	if (c->state == GW_CONN_FORWARDING)
		gw_conn_close_notify(c);
	gw_conn_close(c, why, false);
	return true;
}

static void revalidate_all(struct gw_worker *w)
{
	struct gw_conn *c, *next;

	for (c = w->all; c; c = next) {
		next = c->all_next;
		/* Handshakes in flight are checked when they complete. */
		if (c->state == GW_CONN_CONNECTING || c->state == GW_CONN_FORWARDING)
			gw_conn_revalidate(c);
	}
}

/* ---- reload_on_change: inotify ---- */

static void watch_clear(struct gw_worker *w)
{
	unsigned int i;

	for (i = 0; i < w->n_watches; i++) {
		inotify_rm_watch(w->ino_ev.fd, w->watches[i].wd);
		free(w->watches[i].name);
	}
	free(w->watches);
	w->watches = NULL;
	w->n_watches = 0;
}

static void watch_add(struct gw_worker *w, const char *path)
{
	char *d = strdup(path), *b = strdup(path);
	struct watch *nw;
	int wd;

	if (!d || !b)
		goto out;
	wd = inotify_add_watch(w->ino_ev.fd, dirname(d), IN_CLOSE_WRITE | IN_MOVED_TO |
			       IN_CREATE | IN_DELETE | IN_MOVED_FROM);
	if (wd < 0) {
		pr_warn("reload_on_change: cannot watch \"%s\": %s", path, strerror(errno));
		goto out;
	}
	nw = realloc(w->watches, (w->n_watches + 1) * sizeof(*nw));
	if (!nw)
		goto out;
	w->watches = nw;
	nw[w->n_watches].wd = wd;
	nw[w->n_watches].name = strdup(basename(b));
	if (nw[w->n_watches].name)
		w->n_watches++;
out:
	free(d);
	free(b);
}

/* Watch the directory of every file the running configuration reads. */
static void watch_setup(struct gw_worker *w)
{
	const struct gw_config *cfg = w->gen->cfg;
	unsigned int i, j;

	watch_clear(w);
	if (!cfg->reload_on_change || w->ino_ev.fd < 0)
		return;
	watch_add(w, cfg->path);
	for (i = 0; i < cfg->n_listeners; i++) {
		const struct gw_cfg_listener *l = &cfg->listeners[i];

		watch_add(w, l->tls.cert);
		watch_add(w, l->tls.key);
		watch_add(w, l->tls.client_ca);
		for (j = 0; j < l->tls.n_crl; j++)
			watch_add(w, l->tls.crl[j]);
	}
}

static bool watched(const struct gw_worker *w, int wd, const char *name)
{
	unsigned int i;

	/* Kubernetes secret volumes swap a "..data" symlink. */
	if (!strncmp(name, "..data", 6))
		return true;
	for (i = 0; i < w->n_watches; i++)
		if (w->watches[i].wd == wd && !strcmp(w->watches[i].name, name))
			return true;
	return false;
}

/* Writes come in bursts (write, rename, several files): settle for 100 ms. */
#define WATCH_DEBOUNCE_MS 100

static void ino_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, ino_ev);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct itimerspec its = { .it_value.tv_nsec = WATCH_DEBOUNCE_MS * 1000000L };
	bool hit = false;
	ssize_t n;

	(void)events;
	while ((n = read(ev->fd, buf, sizeof(buf))) > 0) {
		char *p;

		for (p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;

			if (ie->len && watched(w, ie->wd, ie->name))
				hit = true;
			p += sizeof(*ie) + ie->len;
		}
	}
	if (hit && !w->stopping)
		timerfd_settime(w->debounce_ev.fd, 0, &its, NULL);
}

static void debounce_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, debounce_ev);
	uint64_t x;

	(void)events;
	if (read(ev->fd, &x, sizeof(x)) < 0)
		return;
	pr_info("reload_on_change: a watched file changed, reloading");
	gw_worker_reload(w);
}

static void watch_start(struct gw_worker *w)
{
	if (!w->gen->cfg->reload_on_change)
		return;
	w->ino_ev.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->debounce_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->ino_ev.fd < 0 || w->debounce_ev.fd < 0) {
		pr_warn("reload_on_change: inotify unavailable (%s); reload with SIGHUP",
			strerror(errno));
		return;
	}
	w->ino_ev.fn = ino_event;
	w->debounce_ev.fn = debounce_event;
	ev_set(w, &w->ino_ev, EPOLLIN);
	ev_set(w, &w->debounce_ev, EPOLLIN);
	watch_setup(w);
}

/* ---- housekeeping ---- */

#define HOUSEKEEPING_S 60

/* Warn once at 72 h and once at 24 h before a server certificate expires. */
static void check_expiry(struct gw_worker *w)
{
	const struct gw_config *cfg = w->gen->cfg;
	time_t now = time(NULL);
	unsigned int i;

	for (i = 0; i < cfg->n_listeners; i++) {
		time_t na = gw_gen_tls(w->gen, 0, i)->server_not_after;
		unsigned char *warned = &w->gen->expiry_warned[i];
		long hours = (long)((na - now) / 3600);

		if (!na)
			continue;
		if (na - now <= 24 * 3600 && !(*warned & 2)) {
			*warned |= 3;
			pr_warn("listener \"%s\": server certificate \"%s\" expires in %ld h%s",
				cfg->listeners[i].name, cfg->listeners[i].tls.cert,
				hours, na <= now ? " (already expired)" : "; rotate it now");
		} else if (na - now <= 72 * 3600 && !(*warned & 1)) {
			*warned |= 1;
			pr_warn("listener \"%s\": server certificate \"%s\" expires in %ld h",
				cfg->listeners[i].name, cfg->listeners[i].tls.cert, hours);
		}
	}
}

static void house_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, house_ev);
	uint64_t x;

	(void)events;
	if (read(ev->fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		return;
	check_expiry(w);
}

static void house_start(struct gw_worker *w)
{
	struct itimerspec its = { .it_value.tv_sec = HOUSEKEEPING_S,
				  .it_interval.tv_sec = HOUSEKEEPING_S };

	w->house_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->house_ev.fd < 0)
		return;
	w->house_ev.fn = house_event;
	timerfd_settime(w->house_ev.fd, 0, &its, NULL);
	ev_set(w, &w->house_ev, EPOLLIN);
	check_expiry(w);
}

/* ---- steering ---- */

/* A listener's own address as a steering entry (/32 or /128, its port). */
static int own_steer(const struct gw_cfg_listener *lc, struct gw_steer *st)
{
	memset(st, 0, sizeof(*st));
	if (lc->listen.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&lc->listen;

		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			return -EINVAL;	/* a wildcard address: not a prefix to steer */
		st->dst.family = AF_INET;
		st->dst.prefix_len = 32;
		memcpy(st->dst.addr, &s4->sin_addr, 4);
		st->lo = st->hi = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const void *)&lc->listen;

		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			return -EINVAL;
		st->dst.family = AF_INET6;
		st->dst.prefix_len = 128;
		memcpy(st->dst.addr, &s6->sin6_addr, 16);
		st->lo = st->hi = ntohs(s6->sin6_port);
	}
	return 0;
}

/* The destination table for the running listeners. 0 or -errno (logged). */
static int steer_apply(struct gw_worker *w)
{
	struct gw_steer_entry *e = NULL, *grown;
	struct gw_listener *ls;
	unsigned int n = 0, k;
	char err[256];
	int ret;

	if (!w->steer)
		return 0;
	for (ls = w->listeners; ls; ls = ls->next) {
		if (ls->removed)
			continue;
		/* takeover: the own address too, so the map decides every SYN. */
		if (w->gen->cfg->takeover) {
			grown = realloc(e, (n + 1) * sizeof(*e));
			if (!grown) {
				free(e);
				return -ENOMEM;
			}
			e = grown;
			if (own_steer(ls->cfg, &e[n].dst) == 0) {
				e[n].slot = ls->slot;
				e[n].listener = ls->cfg->name;
				n++;
			}
		}
		for (k = 0; k < ls->cfg->n_steer; k++) {
			grown = realloc(e, (n + 1) * sizeof(*e));
			if (!grown) {
				free(e);
				return -ENOMEM;
			}
			e = grown;
			e[n].dst = ls->cfg->steer[k];
			e[n].slot = ls->slot;
			e[n].listener = ls->cfg->name;
			n++;
		}
	}
	ret = gw_steer_update(w->steer, e, n, err, sizeof(err));
	if (ret)
		pr_err("steering: %s; the previous table stays", err);
	free(e);
	return ret;
}

static int steer_start(struct gw_worker *w)
{
	int err;

	if (!w->steer)
		return 0;
	err = steer_apply(w);
	if (!err)
		err = gw_steer_attach(w->steer);
	if (err) {
		pr_err("steering: cannot attach the sk_lookup program: %s", strerror(-err));
		return err;
	}
	pr_info("steering: sk_lookup attached to the network namespace");
	return 0;
}

void gw_worker_set_steer(struct gw_worker *w, struct gw_steer_prog *steer)
{
	w->steer = steer;
}

void gw_worker_set_takeover(struct gw_worker *w, bool takeover)
{
	w->takeover = takeover;
}

/*
 * Our sockets are in the steering map now: ask the daemon we replace to
 * drain. It may be gone already (a crash): then there is nobody to ask.
 */
static void takeover_notify(struct gw_worker *w)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char reply[64] = "";
	ssize_t n;
	int fd;

	if (gw_snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", w->gen->cfg->control_socket))
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		pr_info("takeover: no running mtlsgw at %s (%s); starting on our own",
			sun.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	if (write(fd, "handover\n", 9) == 9) {
		n = read(fd, reply, sizeof(reply) - 1);
		reply[n > 0 ? n : 0] = '\0';
	}
	close(fd);
	pr_info("takeover: the previous mtlsgw answered \"%.*s\"", (int)strcspn(reply, "\n"), reply);
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
	return worker_reload_diag(w, NULL);
}

/* Reload; when out is given, the problems are copied there too. */
static int worker_reload_diag(struct gw_worker *w, struct gw_diag *out)
{
	struct gw_diag diag = { 0 }, warn = { 0 };
	const char *path = w->gen->cfg->path;
	const char *old_audit = w->gen->cfg->audit;
	struct gw_gen *gen;
	char detail[64];
	int err;

	sd_notify(0, "RELOADING=1");
	gen = gw_gen_build(path, w->n_workers, &diag, &warn);
	print_diag_log(&warn, GW_LOG_WARN);
	if (gen && gen->cfg->workers && gen->cfg->workers != w->n_workers)
		pr_warn("reload: workers: %u takes effect at the next start; %u workers keep running",
			gen->cfg->workers, w->n_workers);
	if (!gen) {
		unsigned int i;

		print_diag_log(&diag, GW_LOG_ERROR);
		for (i = 0; out && i < diag.n; i++)
			gw_diag_add(out, "%s", diag.msgs[i]);
		pr_err("reload: \"%s\" is invalid (%u problem%s); keeping the running configuration",
		       path, gw_diag_count(&diag), gw_diag_count(&diag) == 1 ? "" : "s");
		err = -EINVAL;
		goto out;
	}
	if (w->s1) {
		char why[256];

		err = gw_stage1_update(w->s1, gen->cfg, why, sizeof(why));
		if (err) {
			pr_err("reload: Stage 1: %s; keeping the running configuration", why);
			gw_gen_put(gen);
			goto out;
		}
	}
	err = listeners_apply(w, gen);
	if (err) {
		char why[256];

		pr_err("reload: keeping the running configuration");
		if (w->s1 && gw_stage1_update(w->s1, w->gen->cfg, why, sizeof(why)))
			pr_err("reload: Stage 1: cannot restore the running allowlist: %s", why);
		gw_gen_put(gen);
		goto out;
	}
	if (w->s1)
		gw_stage1_attach(w->s1, gen->cfg);
	steer_apply(w);
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
	revalidate_all(w);
	for_each_peer(w, peer_sync, w);
	watch_setup(w);
	check_expiry(w);
	pr_info("reload: configuration generation %llu in effect",
		(unsigned long long)gen->id);
out:
	gw_snprintf(detail, sizeof(detail), "generation %llu",
		    (unsigned long long)w->gen->id);
	gw_metric_add("mtlsgw_reloads_total", err ? "result=\"error\"" : "result=\"ok\"", 1);
	gw_audit_emit(&GW_AUDIT_EVENT(.event = "reload",
		.decision = err ? "error" : "ok",
		.reason = err ? (gen ? "listen_failed" : "invalid_config") : NULL,
		.detail = detail));
	gw_diag_free(&diag);
	gw_diag_free(&warn);
	sd_notify(0, "READY=1");
	return err;
}

/* ---- workers ---- */

/*
 * Run fn(p, arg) in peer p's thread and wait until it is done: the
 * primary's only way into another worker's listeners and connections.
 * The primary does nothing else meanwhile, so fn may read the primary's
 * state. A peer whose loop has ended runs nothing.
 */
static void peer_call(struct gw_worker *p, worker_fn fn, void *arg)
{
	struct worker_call call = { .fn = fn, .arg = arg };
	uint64_t one = 1;

	pthread_mutex_lock(&p->call_lock);
	if (p->exited) {
		pthread_mutex_unlock(&p->call_lock);
		return;
	}
	p->call = &call;
	pthread_mutex_unlock(&p->call_lock);
	/* An eventfd write only fails on counter overflow: it is read each time. */
	if (write(p->call_ev.fd, &one, sizeof(one)) != sizeof(one))
		pr_err("worker %u: cannot wake it: %s", p->index, strerror(errno));
	pthread_mutex_lock(&p->call_lock);
	while (!call.done)
		pthread_cond_wait(&p->call_cond, &p->call_lock);
	pthread_mutex_unlock(&p->call_lock);
}

static void for_each_peer(struct gw_worker *w, worker_fn fn, void *arg)
{
	unsigned int i;

	for (i = 1; w->peers && i < w->n_workers; i++)
		if (w->peers[i] && w->peers[i]->started)
			peer_call(w->peers[i], fn, arg);
}

static void call_finish(struct gw_worker *w, struct worker_call *call)
{
	pthread_mutex_lock(&w->call_lock);
	call->done = true;
	pthread_cond_broadcast(&w->call_cond);
	pthread_mutex_unlock(&w->call_lock);
}

static struct gw_worker *worker_at(const struct gw_worker *w, unsigned int i)
{
	struct gw_worker *root = w->primary ? w->primary : (struct gw_worker *)w;

	return i ? root->peers[i] : root;
}

static unsigned int load_of(struct gw_worker *w)
{
	return __atomic_load_n(&w->load_conns, __ATOMIC_RELAXED) +
	       __atomic_load_n(&w->load_pending, __ATOMIC_RELAXED);
}

/*
 * Connections stay with the worker that accepted them, and the kernel
 * wakes an idle worker for a new one; but connections that arrive while
 * every worker is idle all go to the first. So a worker that has more
 * connections than another passes the new one on: long-lived connections
 * spread evenly. The receiver must stay within its share of the
 * listener's limits (counted over all its listeners, which errs low).
 * true: fd is the other worker's now.
 */
static bool handoff(struct gw_listener *ls, int fd, const struct sockaddr_storage *src)
{
	const struct gw_cfg_listener *lc = ls->cfg;
	struct gw_worker *w = ls->w, *to = NULL;
	unsigned int i, best = w->n_conns;
	struct handoff *h;
	uint64_t one = 1;

	for (i = 0; i < w->n_workers; i++) {
		struct gw_worker *o = worker_at(w, i);
		unsigned int n;

		if (!o || o == w || !__atomic_load_n(&o->accepting, __ATOMIC_ACQUIRE))
			continue;
		n = load_of(o);
		if (n < best && n + 1 <= limit_share(o, lc->max_connections) &&
		    __atomic_load_n(&o->load_handshakes, __ATOMIC_RELAXED) +
		    __atomic_load_n(&o->load_pending, __ATOMIC_RELAXED) + 1 <=
		    limit_share(o, lc->max_handshakes)) {
			best = n;
			to = o;
		}
	}
	if (!to)
		return false;
	h = malloc(sizeof(*h));
	if (!h)
		return false;
	h->fd = fd;
	h->src = *src;
	h->listen = lc->listen;
	h->listen_len = lc->listen_len;
	__atomic_add_fetch(&to->load_pending, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&to->call_lock);
	h->next = to->inbox;
	to->inbox = h;
	pthread_mutex_unlock(&to->call_lock);
	if (write(to->call_ev.fd, &one, sizeof(one)) != sizeof(one))
		pr_err("worker %u: cannot wake it: %s", to->index, strerror(errno));
	return true;
}

/* Serve the connections other workers passed to us. */
static void take_handoffs(struct gw_worker *w, struct handoff *h)
{
	while (h) {
		struct handoff *next = h->next;
		struct gw_listener *ls;

		for (ls = w->listeners; ls; ls = ls->next)
			if (!ls->removed && ls->cfg->listen_len == h->listen_len &&
			    !memcmp(&ls->cfg->listen, &h->listen, h->listen_len))
				break;
		/* Stopping, or a reload removed the listener meanwhile. */
		if (!ls || w->stopping || ls->ev.fd < 0) {
			close(h->fd);
		} else {
			accept_one(ls, h->fd, &h->src);
			listener_update(ls);
		}
		__atomic_sub_fetch(&w->load_pending, 1, __ATOMIC_RELAXED);
		free(h);
		h = next;
	}
}

static void call_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = container_of(ev, struct gw_worker, call_ev);
	struct worker_call *call;
	struct handoff *inbox;
	uint64_t x;

	(void)events;
	if (read(ev->fd, &x, sizeof(x)) < 0)
		return;
	pthread_mutex_lock(&w->call_lock);
	call = w->call;
	w->call = NULL;
	inbox = w->inbox;
	w->inbox = NULL;
	pthread_mutex_unlock(&w->call_lock);
	take_handoffs(w, inbox);
	if (!call)
		return;
	call->fn(w, call->arg);
	call_finish(w, call);
}

/*
 * Make a peer's listeners and generation those of the primary (arg): the
 * same listening sockets (its own descriptors of them), its own TLS
 * contexts of the generation, and the connections it holds checked again
 * against that generation.
 */
static void peer_sync(struct gw_worker *w, void *arg)
{
	struct gw_worker *pw = arg;
	struct gw_gen *gen = pw->gen;
	struct gw_listener *ls, *pl;

	for (ls = w->listeners; ls; ls = ls->next) {
		if (ls->removed)
			continue;
		pl = listener_find(pw, ls->cfg);
		if (!pl || pl->ev.fd < 0)
			listener_retire(w, ls);
	}
	for (pl = pw->listeners; pl; pl = pl->next) {
		if (pl->removed || pl->ev.fd < 0)
			continue;
		ls = listener_find(w, pl->cfg);
		if (!ls) {
			ls = calloc(1, sizeof(*ls));
			if (!ls) {
				pr_err("worker %u: listener \"%s\": out of memory", w->index,
				       pl->cfg->name);
				continue;
			}
			ls->ev.fd = fcntl(pl->ev.fd, F_DUPFD_CLOEXEC, 0);
			if (ls->ev.fd < 0) {
				pr_err("worker %u: listener \"%s\": %s", w->index, pl->cfg->name,
				       strerror(errno));
				free(ls);
				continue;
			}
			ls->ev.fn = listener_event;
			ls->w = w;
			ls->slot = GW_STEER_MAX_SLOTS;
			ls->next = w->listeners;
			w->listeners = ls;
		}
		listener_set_gen(ls, gen, pl->index);
	}
	if (w->gen != gen) {
		gw_gen_put(w->gen);
		w->gen = gen_get(gen);
		revalidate_all(w);
	}
	w->ktls = pw->ktls;
	for (ls = w->listeners; ls; ls = ls->next)
		if (!ls->removed)
			listener_update(ls);
}

static void peer_stop(struct gw_worker *w, void *arg)
{
	const char *why = arg;

	/* A successor took over: what is queued for our sockets is ours. */
	if (!strcmp(why, "takeover"))
		accept_all(w);
	begin_stop(w, why);
}

/* Close everything now and end the loop. */
static void peer_quit(struct gw_worker *w, void *arg)
{
	(void)arg;
	begin_stop(w, "shutdown");
	close_all(w, "shutdown");
	w->done = true;
}

static void peers_event(struct gw_ev *ev, uint32_t events)
{
	uint64_t x;

	(void)events;
	/* Only a wake-up: the loop checks peers_running. */
	if (read(ev->fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		pr_warn("eventfd read: %s", strerror(errno));
}

static int worker_loop(struct gw_worker *w);

/* Connections handed to a worker that stops before taking them. */
static void inbox_close(struct gw_worker *w)
{
	struct handoff *h;

	pthread_mutex_lock(&w->call_lock);
	h = w->inbox;
	w->inbox = NULL;
	pthread_mutex_unlock(&w->call_lock);
	while (h) {
		struct handoff *next = h->next;

		close(h->fd);
		free(h);
		h = next;
	}
}

static void *peer_main(void *arg)
{
	struct gw_worker *w = arg, *pw = w->primary;
	struct worker_call *call;
	uint64_t one = 1;

	w->exit_err = worker_loop(w);
	pthread_mutex_lock(&w->call_lock);
	w->exited = true;
	call = w->call;
	w->call = NULL;
	pthread_mutex_unlock(&w->call_lock);
	if (call)
		call_finish(w, call);
	inbox_close(w);
	__atomic_sub_fetch(&pw->peers_running, 1, __ATOMIC_ACQ_REL);
	if (write(pw->peers_ev.fd, &one, sizeof(one)) != sizeof(one))
		pr_err("worker %u: cannot tell the primary it stopped: %s", w->index,
		       strerror(errno));
	return NULL;
}

static struct gw_worker *worker_alloc(struct gw_gen *gen)
{
	struct gw_worker *w;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->certpool = gw_certpool_new(GW_CERTPOOL_SLOTS);
	if (!w->certpool) {
		free(w);
		return NULL;
	}
	w->gen = gen;
	w->n_workers = 1;
	w->epfd = w->sig_ev.fd = w->timer_ev.fd = -1;
	w->s1_ev.fd = w->s1_timer_ev.fd = -1;
	w->ctl_ev.fd = w->metrics_ev.fd = -1;
	w->ino_ev.fd = w->debounce_ev.fd = w->house_ev.fd = -1;
	w->peers_ev.fd = w->call_ev.fd = -1;
	pthread_mutex_init(&w->call_lock, NULL);
	pthread_cond_init(&w->call_cond, NULL);
	return w;
}

/* The primary's epoll set, timer and, for peers, the call eventfd. */
static int worker_open(struct gw_worker *w)
{
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->timer_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->epfd < 0 || w->timer_ev.fd < 0)
		return -errno;
	w->timer_ev.fn = timer_event;
	ev_set(w, &w->timer_ev, EPOLLIN);
	return 0;
}

/* The eventfd on which calls and handed-off connections arrive. */
static int call_open(struct gw_worker *w)
{
	w->call_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->call_ev.fd < 0)
		return -errno;
	w->call_ev.fn = call_event;
	ev_set(w, &w->call_ev, EPOLLIN);
	return 0;
}

static struct gw_worker *peer_new(struct gw_worker *pw, unsigned int index)
{
	struct gw_worker *w = worker_alloc(gen_get(pw->gen));
	int err;

	if (!w) {
		gw_gen_put(pw->gen);
		pr_err("worker %u: out of memory", index);
		return NULL;
	}
	w->index = index;
	w->n_workers = pw->n_workers;
	w->primary = pw;
	w->t_start_ms = pw->t_start_ms;
	err = worker_open(w) ?: call_open(w);
	if (err) {
		pr_err("worker %u: %s", index, strerror(-err));
		gw_worker_free(w);
		return NULL;
	}
	return w;
}

/*
 * Start the other workers. They share the primary's listening sockets:
 * every worker waits on them (EPOLLEXCLUSIVE), the kernel wakes one that
 * is idle for each connection, and handoff() evens out the rest.
 * 0 or -errno (logged).
 */
static int peers_start(struct gw_worker *w)
{
	unsigned int i;
	int err;

	if (w->n_workers == 1)
		return 0;
	w->peers = calloc(w->n_workers, sizeof(*w->peers));
	w->peers_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!w->peers || w->peers_ev.fd < 0) {
		pr_err("workers: %s", w->peers ? strerror(errno) : "out of memory");
		return -ENOMEM;
	}
	w->peers_ev.fn = peers_event;
	ev_set(w, &w->peers_ev, EPOLLIN);
	err = call_open(w);
	if (err) {
		pr_err("workers: %s", strerror(-err));
		return err;
	}
	/* All of them exist before any runs: handoff() looks at every one. */
	for (i = 1; i < w->n_workers; i++) {
		w->peers[i] = peer_new(w, i);
		if (!w->peers[i])
			return -ENOMEM;
		/* Its thread does not run yet: set it up from here. */
		peer_sync(w->peers[i], w);
	}
	__atomic_store_n(&w->accepting, true, __ATOMIC_RELEASE);
	for (i = 1; i < w->n_workers; i++) {
		struct gw_worker *p = w->peers[i];

		__atomic_add_fetch(&w->peers_running, 1, __ATOMIC_ACQ_REL);
		__atomic_store_n(&p->accepting, true, __ATOMIC_RELEASE);
		err = pthread_create(&p->thread, NULL, peer_main, p);
		if (err) {
			__atomic_store_n(&p->accepting, false, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&w->peers_running, 1, __ATOMIC_ACQ_REL);
			pr_err("worker %u: cannot start its thread: %s", i, strerror(err));
			return -err;
		}
		p->started = true;
	}
	return 0;
}

/* End the peers' loops (closing what they still hold), wait, free them. */
static void peers_free(struct gw_worker *w)
{
	unsigned int i;

	for (i = 1; w->peers && i < w->n_workers; i++) {
		struct gw_worker *p = w->peers[i];

		if (!p)
			continue;
		if (p->started) {
			peer_call(p, peer_quit, NULL);
			pthread_join(p->thread, NULL);
		}
		gw_worker_free(p);
	}
	free(w->peers);
	w->peers = NULL;
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
	__atomic_store_n(&w->accepting, false, __ATOMIC_RELEASE);
	if (!w->index)
		sd_notify(0, "STOPPING=1");
	stop_accepting(w);
	for_each_peer(w, peer_stop, (void *)why);
	if (!w->n_conns) {
		if (!w->index)
			pr_info("%s: no connections, stopping", why);
		return;
	}
	if (w->n_workers == 1)
		pr_info("%s: stopped accepting, draining %u connections for up to %llu ms",
			why, w->n_conns, (unsigned long long)w->gen->cfg->drain_timeout_ms);
	else
		pr_info("%s: worker %u: stopped accepting, draining %u connections for up to %llu ms",
			why, w->index, w->n_conns,
			(unsigned long long)w->gen->cfg->drain_timeout_ms);
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
	struct gw_worker *w = worker_alloc(gen);

	if (!w)
		return NULL;
	gen->id = ++w->next_gen_id;
	w->n_workers = gen->n_workers;
	gw_snprintf(w->kernel_info, sizeof(w->kernel_info), "not probed");
	return w;
}

int gw_worker_listen(struct gw_worker *w)
{
	sigset_t mask;
	int err;

	err = worker_open(w);
	if (err)
		return err;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	w->sig_ev.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (w->sig_ev.fd < 0)
		return -errno;
	w->sig_ev.fn = signal_event;
	ev_set(w, &w->sig_ev, EPOLLIN);
	if (w->s1) {
		err = s1_start(w);
		if (err)
			return err;
	}
	w->t_start_ms = gw_now_ms();
	if (!w->takeover && admin_start(w))
		return -EADDRINUSE;
	err = listeners_apply(w, w->gen);
	err = err ?: steer_start(w);
	if (err)
		return err;
	if (w->takeover) {
		/* Our sockets get the SYNs now; the old daemon may go. */
		takeover_notify(w);
		if (admin_start(w))
			return -EADDRINUSE;
	}
	watch_start(w);
	house_start(w);
	return 0;
}

/* The event loop of one worker, until it has stopped and drained. */
static int worker_loop(struct gw_worker *w)
{
	struct epoll_event evs[EPOLL_BATCH];
	int i, n;

	while (!w->done) {
		n = epoll_wait(w->epfd, evs, EPOLL_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_err("worker %u: epoll_wait: %s", w->index, strerror(errno));
			return -errno;
		}
		for (i = 0; i < n; i++) {
			struct gw_ev *ev = evs[i].data.ptr;

			/* A connection closed earlier in this batch has fd -1. */
			if (ev->fd >= 0)
				ev->fn(ev, evs[i].events);
		}
		reap_dead(w);
		if (w->stopping && !w->n_conns &&
		    !__atomic_load_n(&w->peers_running, __ATOMIC_ACQUIRE))
			w->done = true;
	}
	return w->exit_err;
}

int gw_worker_run(struct gw_worker *w)
{
	int err;

	err = peers_start(w);
	if (err)
		return err;
	if (w->n_workers > 1)
		pr_info("workers: %u event loops accept from the same listening sockets",
			w->n_workers);
	sd_notify(0, "READY=1");
	err = worker_loop(w);
	pr_info("stopped");
	return err;
}

void gw_worker_free(struct gw_worker *w)
{
	struct gw_listener *ls;

	if (!w)
		return;
	__atomic_store_n(&w->accepting, false, __ATOMIC_RELEASE);
	peers_free(w);
	inbox_close(w);
	if (w->all)
		close_all(w, "shutdown");
	reap_dead(w);
	while ((ls = w->listeners)) {
		w->listeners = ls->next;
		listener_free(ls);
	}
	free(w->heap);
	gw_certpool_free(w->certpool);
	gw_gen_put(w->gen);
	if (w->s1_timer_ev.fd >= 0)
		close(w->s1_timer_ev.fd);
	gw_stage1_free(w->s1);
	gw_steer_free(w->steer);
	free(w->s1_sum);
	if (w->ctl_ev.fd >= 0) {
		struct stat st;

		close(w->ctl_ev.fd);
		/* After a takeover the path is our successor's socket: keep it. */
		if (w->ctl_path && !stat(w->ctl_path, &st) && st.st_ino == w->ctl_ino)
			unlink(w->ctl_path);
	}
	free(w->ctl_path);
	watch_clear(w);
	if (w->ino_ev.fd >= 0)
		close(w->ino_ev.fd);
	if (w->debounce_ev.fd >= 0)
		close(w->debounce_ev.fd);
	if (w->house_ev.fd >= 0)
		close(w->house_ev.fd);
	if (w->metrics_ev.fd >= 0)
		close(w->metrics_ev.fd);
	if (!w->primary)
		gw_metrics_free();
	if (w->sig_ev.fd >= 0)
		close(w->sig_ev.fd);
	if (w->timer_ev.fd >= 0)
		close(w->timer_ev.fd);
	if (w->peers_ev.fd >= 0)
		close(w->peers_ev.fd);
	if (w->call_ev.fd >= 0)
		close(w->call_ev.fd);
	if (w->epfd >= 0)
		close(w->epfd);
	pthread_cond_destroy(&w->call_cond);
	pthread_mutex_destroy(&w->call_lock);
	free(w);
}
