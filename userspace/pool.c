// SPDX-License-Identifier: GPL-2.0-only
/*
 * The worker threads and the calls between them (pool.h). A call is a
 * function posted to a peer's mailbox (call_lock, an eventfd to wake it);
 * the primary waits until the peer has run it. Connections handed between
 * workers travel the same way (accept.c fills the inbox). A peer whose
 * loop has ended runs nothing; what is still in its inbox is closed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "accept.h"
#include "certpool.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "pool.h"

/* Client certificates a worker keeps parsed: leaves and intermediates. */
#define GW_CERTPOOL_SLOTS 512

struct gw_pool_call {
	gw_worker_fn fn;
	void *arg;
	bool done;
};

static struct gw_worker *worker_alloc(struct gw_gen *gen, unsigned int index,
				      unsigned int n_workers)
{
	struct gw_worker *w;
	int err;

	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->gen = gen;
	w->index = index;
	w->n_workers = n_workers;
	w->call_ev.fd = w->peers_ev.fd = -1;
	pthread_mutex_init(&w->call_lock, NULL);
	pthread_cond_init(&w->call_cond, NULL);
	err = gw_loop_init(&w->loop);
	w->certpool = gw_certpool_new(GW_CERTPOOL_SLOTS);
	if (err || !w->certpool) {
		pr_err("worker %u: %s", index, err ? strerror(-err) : "out of memory");
		gw_worker_free(w);
		return NULL;
	}
	return w;
}

struct gw_worker *gw_worker_new(struct gw_gen *gen, unsigned int n_workers)
{
	return worker_alloc(gen, 0, n_workers);
}

static void after_batch(struct gw_loop *l, void *arg)
{
	struct gw_worker *w = arg;

	(void)l;
	gw_conns_reap(w);
	gw_listeners_reap(w);
	if (!w->stopping || w->n_conns || __atomic_load_n(&w->peers_running, __ATOMIC_ACQUIRE))
		return;
	/*
	 * Drained. A connection handed to us and not taken yet keeps us
	 * running; once exited is set (under the lock the handoff takes to
	 * post) nobody hands us another: the sender serves it itself.
	 */
	pthread_mutex_lock(&w->call_lock);
	if (!w->inbox && !__atomic_load_n(&w->load_pending, __ATOMIC_ACQUIRE)) {
		w->exited = true;
		w->loop.done = true;
	}
	pthread_mutex_unlock(&w->call_lock);
}

int gw_worker_loop(struct gw_worker *w)
{
	int err = gw_loop_run(&w->loop, after_batch, w);

	if (err) {
		pr_err("worker %u: epoll_wait: %s", w->index, strerror(-err));
		return err;
	}
	return w->exit_err;
}

void gw_worker_stop_accepting(struct gw_worker *w)
{
	w->stopping = true;
	__atomic_store_n(&w->accepting, false, __ATOMIC_RELEASE);
	gw_listeners_close(w);
}

static void drain_expired(struct gw_timer *t)
{
	struct gw_worker *w = gw_container_of(t, struct gw_worker, drain_timer);

	pr_info("drain_timeout reached: closing %u remaining connections", w->n_conns);
	gw_conns_close_all(w, "shutdown");
}

void gw_worker_drain(struct gw_worker *w, const char *why)
{
	uint64_t ms = w->gen->cfg->drain_timeout_ms;

	/* Armed either way: a connection handed to us now drains too. */
	if (gw_timer_start(&w->loop, &w->drain_timer, ms, drain_expired)) {
		pr_err("worker %u: no memory for the drain deadline, closing now", w->index);
		gw_conns_close_all(w, "shutdown");
		return;
	}
	if (!w->n_conns) {
		if (!w->index)
			pr_info("%s: no connections, stopping", why);
		return;
	}
	if (w->n_workers == 1)
		pr_info("%s: stopped accepting, draining %u connections for up to %llu ms",
			why, w->n_conns, (unsigned long long)ms);
	else
		pr_info("%s: worker %u: stopped accepting, draining %u connections for up to %llu ms",
			why, w->index, w->n_conns, (unsigned long long)ms);
}

/* ---- calls between workers ---- */

/*
 * Run fn(p, arg) in peer p's thread and wait until it is done: the
 * primary's only way into another worker's listeners and connections.
 * The primary does nothing else meanwhile, so fn may read the primary's
 * state.
 */
static void peer_call(struct gw_worker *p, gw_worker_fn fn, void *arg)
{
	struct gw_pool_call call = { .fn = fn, .arg = arg };
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

void gw_pool_each(struct gw_worker *pw, gw_worker_fn fn, void *arg)
{
	unsigned int i;

	for (i = 1; pw->workers && i < pw->n_workers; i++)
		if (pw->workers[i] && pw->workers[i]->started)
			peer_call(pw->workers[i], fn, arg);
}

static void call_finish(struct gw_worker *w, struct gw_pool_call *call)
{
	pthread_mutex_lock(&w->call_lock);
	call->done = true;
	pthread_cond_broadcast(&w->call_cond);
	pthread_mutex_unlock(&w->call_lock);
}

static struct gw_handoff *inbox_take(struct gw_worker *w)
{
	struct gw_handoff *h;

	pthread_mutex_lock(&w->call_lock);
	h = w->inbox;
	w->inbox = NULL;
	pthread_mutex_unlock(&w->call_lock);
	return h;
}

static void call_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_worker *w = gw_container_of(ev, struct gw_worker, call_ev);
	struct gw_pool_call *call;
	uint64_t x;

	(void)events;
	if (read(ev->fd, &x, sizeof(x)) < 0)
		return;
	gw_accept_handoffs(w, inbox_take(w));
	pthread_mutex_lock(&w->call_lock);
	call = w->call;
	w->call = NULL;
	pthread_mutex_unlock(&w->call_lock);
	if (!call)
		return;
	call->fn(w, call->arg);
	call_finish(w, call);
}

/* The eventfd on which calls and handed-off connections arrive. */
static int call_open(struct gw_worker *w)
{
	w->call_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->call_ev.fd < 0)
		return -errno;
	w->call_ev.fn = call_event;
	gw_loop_set(&w->loop, &w->call_ev, EPOLLIN);
	return 0;
}

/* ---- the peers' side ---- */

/* Take the primary's (arg) listeners and generation. */
static void peer_sync(struct gw_worker *w, void *arg)
{
	struct gw_worker *pw = arg;

	gw_listeners_sync(w, pw, gw_accept_event);
	if (w->gen != pw->gen) {
		gw_gen_put(w->gen);
		w->gen = gw_gen_get(pw->gen);
		gw_conns_recheck(w);
	}
	w->ktls = pw->ktls;
	gw_listeners_update(w);
}

void gw_pool_sync(struct gw_worker *pw)
{
	gw_pool_each(pw, peer_sync, pw);
}

static void peer_stop(struct gw_worker *w, void *arg)
{
	const char *why = arg;

	if (w->stopping)
		return;
	/* A successor took over: what is queued for our sockets is ours. */
	if (!strcmp(why, "takeover"))
		gw_accept_pending(w);
	gw_worker_stop_accepting(w);
	gw_worker_drain(w, why);
}

void gw_pool_stop(struct gw_worker *pw, const char *why)
{
	gw_pool_each(pw, peer_stop, (void *)why);
}

/* Close everything now and end the loop. */
static void peer_quit(struct gw_worker *w, void *arg)
{
	peer_stop(w, arg);
	gw_conns_close_all(w, "shutdown");
	w->loop.done = true;
}

static void peers_event(struct gw_ev *ev, uint32_t events)
{
	uint64_t x;

	(void)events;
	/* Only a wake-up: the loop checks peers_running. */
	if (read(ev->fd, &x, sizeof(x)) < 0 && errno != EAGAIN)
		pr_warn("eventfd read: %s", strerror(errno));
}

static void *peer_main(void *arg)
{
	struct gw_worker *w = arg, *pw = w->workers[0];
	struct gw_pool_call *call;
	uint64_t one = 1;

	w->exit_err = gw_worker_loop(w);
	pthread_mutex_lock(&w->call_lock);
	w->exited = true;
	call = w->call;
	w->call = NULL;
	pthread_mutex_unlock(&w->call_lock);
	if (call)
		call_finish(w, call);
	gw_handoffs_drop(inbox_take(w));
	__atomic_sub_fetch(&pw->peers_running, 1, __ATOMIC_ACQ_REL);
	if (write(pw->peers_ev.fd, &one, sizeof(one)) != sizeof(one))
		pr_err("worker %u: cannot tell the primary it stopped: %s", w->index,
		       strerror(errno));
	return NULL;
}

static struct gw_worker *peer_new(struct gw_worker *pw, unsigned int index)
{
	struct gw_worker *w = worker_alloc(gw_gen_get(pw->gen), index, pw->n_workers);
	int err;

	if (!w) {
		gw_gen_put(pw->gen);
		return NULL;
	}
	w->workers = pw->workers;
	err = call_open(w);
	if (err) {
		pr_err("worker %u: %s", index, strerror(-err));
		gw_worker_free(w);
		return NULL;
	}
	return w;
}

/*
 * The peers share the primary's listening sockets: every worker waits on
 * them (EPOLLEXCLUSIVE), the kernel wakes one that is idle for each
 * connection, and accept.c's handoff evens out the rest.
 */
int gw_pool_start(struct gw_worker *pw)
{
	unsigned int i;
	int err;

	if (pw->n_workers == 1)
		return 0;
	pw->workers = calloc(pw->n_workers, sizeof(*pw->workers));
	pw->peers_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!pw->workers || pw->peers_ev.fd < 0) {
		pr_err("workers: %s", pw->workers ? strerror(errno) : "out of memory");
		return -ENOMEM;
	}
	pw->workers[0] = pw;
	pw->peers_ev.fn = peers_event;
	gw_loop_set(&pw->loop, &pw->peers_ev, EPOLLIN);
	err = call_open(pw);
	if (err) {
		pr_err("workers: %s", strerror(-err));
		return err;
	}
	/* All of them exist before any runs: the handoff looks at every one. */
	for (i = 1; i < pw->n_workers; i++) {
		pw->workers[i] = peer_new(pw, i);
		if (!pw->workers[i])
			return -ENOMEM;
		/* Its thread does not run yet: set it up from here. */
		peer_sync(pw->workers[i], pw);
	}
	__atomic_store_n(&pw->accepting, true, __ATOMIC_RELEASE);
	for (i = 1; i < pw->n_workers; i++) {
		struct gw_worker *p = pw->workers[i];

		__atomic_add_fetch(&pw->peers_running, 1, __ATOMIC_ACQ_REL);
		__atomic_store_n(&p->accepting, true, __ATOMIC_RELEASE);
		err = pthread_create(&p->thread, NULL, peer_main, p);
		if (err) {
			__atomic_store_n(&p->accepting, false, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&pw->peers_running, 1, __ATOMIC_ACQ_REL);
			pr_err("worker %u: cannot start its thread: %s", i, strerror(err));
			return -err;
		}
		p->started = true;
	}
	return 0;
}

/* End the peers' loops (closing what they still hold), wait, free them. */
static void pool_free(struct gw_worker *pw)
{
	unsigned int i;

	for (i = 1; pw->workers && i < pw->n_workers; i++) {
		struct gw_worker *p = pw->workers[i];

		if (!p)
			continue;
		if (p->started) {
			peer_call(p, peer_quit, "shutdown");
			pthread_join(p->thread, NULL);
		}
		gw_worker_free(p);
	}
	free(pw->workers);
	pw->workers = NULL;
}

void gw_worker_free(struct gw_worker *w)
{
	if (!w)
		return;
	__atomic_store_n(&w->accepting, false, __ATOMIC_RELEASE);
	if (!w->index)
		pool_free(w);
	gw_handoffs_drop(inbox_take(w));
	gw_conns_close_all(w, "shutdown");
	gw_conns_reap(w);
	gw_listeners_free(w);
	gw_timer_stop(&w->loop, &w->drain_timer);
	gw_certpool_free(w->certpool);
	gw_gen_put(w->gen);
	if (w->peers_ev.fd >= 0)
		close(w->peers_ev.fd);
	if (w->call_ev.fd >= 0)
		close(w->call_ev.fd);
	gw_loop_fini(&w->loop);
	pthread_cond_destroy(&w->call_cond);
	pthread_mutex_destroy(&w->call_lock);
	free(w);
}
