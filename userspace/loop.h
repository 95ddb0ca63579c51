/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One event loop: an epoll set of file descriptors with a callback each,
 * and deadlines kept in a binary min-heap behind one timerfd.
 *
 * Concurrency: a loop belongs to one thread; nothing here locks. A
 * callback may change any registration, start or stop any timer, and
 * close its own fd (set ev->fd to -1 first: the rest of the batch skips
 * it). An object that a pending event of the batch may point to is freed
 * after the batch: through gw_loop_defer(), or by its owner in the
 * after-batch callback of gw_loop_run().
 */
#ifndef GW_LOOP_H
#define GW_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct gw_ev;
typedef void (*gw_ev_fn)(struct gw_ev *ev, uint32_t events);

/* An fd registered in a loop; events = what is registered now (0: none). */
struct gw_ev {
	int fd;
	uint32_t events;
	gw_ev_fn fn;
};

/* A deadline. Embed it; idle (not in the heap) while heap_idx is 0. */
struct gw_timer;
typedef void (*gw_timer_fn)(struct gw_timer *t);

struct gw_timer {
	unsigned int heap_idx;		/* 1-based position in the heap; 0 = idle */
	uint64_t deadline_ms;		/* gw_now_ms() clock */
	gw_timer_fn fn;
};

/* Something to free once the current batch is over. Embed it. */
struct gw_deferred;
typedef void (*gw_deferred_fn)(struct gw_deferred *d);

struct gw_deferred {
	struct gw_deferred *next;
	gw_deferred_fn fn;
};

struct gw_loop {
	int epfd;
	struct gw_ev timer_ev;		/* timerfd armed for the earliest deadline */
	uint64_t timer_armed_ms;	/* 0 = disarmed */
	struct gw_timer **heap;
	unsigned int heap_n, heap_cap;
	struct gw_deferred *deferred;	/* run after the batch, latest first */
	bool done;			/* gw_loop_run() returns after this batch */
	/*
	 * gw_now_ms() when epoll_wait returned the batch being dispatched:
	 * a clock for callbacks that note when something happened often
	 * (bytes moved), without a clock read each time.
	 */
	uint64_t now_ms;
};

/* The container of a member pointer (an event, a timer). */
#define gw_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

/* 0 or -errno. The loop is usable (and gw_loop_fini safe) either way. */
int gw_loop_init(struct gw_loop *l);
void gw_loop_fini(struct gw_loop *l);

/*
 * Register ev for events (0: remove it). An fd below 0 is ignored. A
 * change to or from EPOLLEXCLUSIVE re-adds the fd (the kernel cannot
 * modify an exclusive wait).
 */
void gw_loop_set(struct gw_loop *l, struct gw_ev *ev, uint32_t events);

/*
 * Run t->fn once at deadline_ms (gw_timer_start: timeout_ms from now).
 * A running timer is moved. 0, or -ENOMEM when the heap cannot grow (the
 * timer is then idle).
 */
int gw_timer_start_at(struct gw_loop *l, struct gw_timer *t, uint64_t deadline_ms,
		      gw_timer_fn fn);
int gw_timer_start(struct gw_loop *l, struct gw_timer *t, uint64_t timeout_ms,
		   gw_timer_fn fn);
/* Idle timers are fine. */
void gw_timer_stop(struct gw_loop *l, struct gw_timer *t);

static inline bool gw_timer_pending(const struct gw_timer *t)
{
	return t->heap_idx != 0;
}

/*
 * Call fn(d) after the current batch of events (from gw_loop_fini when
 * the loop no longer runs). d must not be deferred twice.
 */
void gw_loop_defer(struct gw_loop *l, struct gw_deferred *d, gw_deferred_fn fn);

/* Run every timer due at now, earliest first; each leaves the heap first. */
void gw_loop_expire(struct gw_loop *l, uint64_t now);

/*
 * Wait for events and dispatch them until l->done, calling after(l, arg)
 * after each batch. 0, or -errno when epoll_wait fails.
 */
int gw_loop_run(struct gw_loop *l, void (*after)(struct gw_loop *l, void *arg), void *arg);

#endif
