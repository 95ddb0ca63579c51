// SPDX-License-Identifier: GPL-2.0-only
/*
 * The event loop of one thread: epoll dispatch and a deadline heap behind
 * one timerfd (loop.h). Stopping a timer leaves the timerfd armed for the
 * old earliest deadline; that wake-up finds nothing due and re-arms.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "util.h"

#define EPOLL_BATCH 128

void gw_loop_set(struct gw_loop *l, struct gw_ev *ev, uint32_t events)
{
	struct epoll_event ee = { .events = events, .data.ptr = ev };
	int op;

	if (ev->fd < 0 || ev->events == events)
		return;
	/* An exclusive wait cannot be modified, only removed and added. */
	if (ev->events && events && ((ev->events | events) & EPOLLEXCLUSIVE)) {
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
		ev->events = 0;
	}
	if (!ev->events)
		op = EPOLL_CTL_ADD;
	else if (!events)
		op = EPOLL_CTL_DEL;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(l->epfd, op, ev->fd, &ee) && op != EPOLL_CTL_DEL) {
		/* Only ENOMEM/ENOSPC can get here. */
		pr_err("epoll_ctl(fd %d): %s", ev->fd, strerror(errno));
		return;
	}
	ev->events = events;
}

/* ---- the heap: 1-based indices, heap[i - 1] ---- */

static void heap_swap(struct gw_loop *l, unsigned int a, unsigned int b)
{
	struct gw_timer *t = l->heap[a - 1];

	l->heap[a - 1] = l->heap[b - 1];
	l->heap[b - 1] = t;
	l->heap[a - 1]->heap_idx = a;
	l->heap[b - 1]->heap_idx = b;
}

static bool heap_less(const struct gw_loop *l, unsigned int a, unsigned int b)
{
	return l->heap[a - 1]->deadline_ms < l->heap[b - 1]->deadline_ms;
}

static void heap_up(struct gw_loop *l, unsigned int i)
{
	while (i > 1 && heap_less(l, i, i / 2)) {
		heap_swap(l, i, i / 2);
		i /= 2;
	}
}

static void heap_down(struct gw_loop *l, unsigned int i)
{
	for (;;) {
		unsigned int left = 2 * i, right = left + 1, m = i;

		if (left <= l->heap_n && heap_less(l, left, m))
			m = left;
		if (right <= l->heap_n && heap_less(l, right, m))
			m = right;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

static void timer_rearm(struct gw_loop *l)
{
	struct itimerspec its = { 0 };
	uint64_t next = l->heap_n ? l->heap[0]->deadline_ms : 0, now;

	if (next == l->timer_armed_ms || l->timer_ev.fd < 0)
		return;
	l->timer_armed_ms = next;
	if (next) {
		now = gw_now_ms();
		next = next > now ? next - now : 1;
		its.it_value.tv_sec = next / 1000;
		its.it_value.tv_nsec = (next % 1000) * 1000000;
	}
	timerfd_settime(l->timer_ev.fd, 0, &its, NULL);
}

void gw_timer_stop(struct gw_loop *l, struct gw_timer *t)
{
	unsigned int i = t->heap_idx;

	if (!i)
		return;
	if (i != l->heap_n) {
		heap_swap(l, i, l->heap_n);
		l->heap_n--;
		heap_up(l, i);
		heap_down(l, i);
	} else {
		l->heap_n--;
	}
	t->heap_idx = 0;
}

int gw_timer_start_at(struct gw_loop *l, struct gw_timer *t, uint64_t deadline_ms,
		      gw_timer_fn fn)
{
	gw_timer_stop(l, t);
	if (l->heap_n == l->heap_cap) {
		unsigned int cap = l->heap_cap ? 2 * l->heap_cap : 256;
		struct gw_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->heap_cap = cap;
	}
	t->deadline_ms = deadline_ms;
	t->fn = fn;
	l->heap[l->heap_n++] = t;
	t->heap_idx = l->heap_n;
	heap_up(l, t->heap_idx);
	timer_rearm(l);
	return 0;
}

int gw_timer_start(struct gw_loop *l, struct gw_timer *t, uint64_t timeout_ms, gw_timer_fn fn)
{
	return gw_timer_start_at(l, t, gw_now_ms() + timeout_ms, fn);
}

void gw_loop_expire(struct gw_loop *l, uint64_t now)
{
	while (l->heap_n && l->heap[0]->deadline_ms <= now) {
		struct gw_timer *t = l->heap[0];

		gw_timer_stop(l, t);
		t->fn(t);
	}
	timer_rearm(l);
}

static void timer_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_loop *l = gw_container_of(ev, struct gw_loop, timer_ev);
	uint64_t expirations;

	(void)events;
	if (read(ev->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		pr_warn("timerfd read: %s", strerror(errno));
	l->timer_armed_ms = 0;
	gw_loop_expire(l, gw_now_ms());
}

void gw_loop_defer(struct gw_loop *l, struct gw_deferred *d, gw_deferred_fn fn)
{
	d->fn = fn;
	d->next = l->deferred;
	l->deferred = d;
}

static void run_deferred(struct gw_loop *l)
{
	while (l->deferred) {
		struct gw_deferred *d = l->deferred;

		l->deferred = d->next;
		d->fn(d);
	}
}

int gw_loop_init(struct gw_loop *l)
{
	memset(l, 0, sizeof(*l));
	l->timer_ev.fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->timer_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->timer_ev.fd < 0)
		return -errno;
	l->timer_ev.fn = timer_event;
	gw_loop_set(l, &l->timer_ev, EPOLLIN);
	return 0;
}

void gw_loop_fini(struct gw_loop *l)
{
	run_deferred(l);
	if (l->timer_ev.fd >= 0)
		close(l->timer_ev.fd);
	if (l->epfd >= 0)
		close(l->epfd);
	l->timer_ev.fd = l->epfd = -1;
	free(l->heap);
	l->heap = NULL;
	l->heap_n = l->heap_cap = 0;
}

int gw_loop_run(struct gw_loop *l, void (*after)(struct gw_loop *l, void *arg), void *arg)
{
	struct epoll_event evs[EPOLL_BATCH];
	int i, n;

	while (!l->done) {
		n = epoll_wait(l->epfd, evs, EPOLL_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->now_ms = gw_now_ms();
		for (i = 0; i < n; i++) {
			struct gw_ev *ev = evs[i].data.ptr;

			/* A connection closed earlier in this batch has fd -1. */
			if (ev->fd >= 0)
				ev->fn(ev, evs[i].events);
		}
		run_deferred(l);
		if (after)
			after(l, arg);
	}
	return 0;
}
