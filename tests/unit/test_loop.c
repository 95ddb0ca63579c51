// SPDX-License-Identifier: GPL-2.0-only
/*
 * loop.c: the deadline heap (random deadlines fire in order, stop and
 * restart anywhere in the heap, callbacks that change timers during
 * gw_loop_expire, equal deadlines, growth past the first allocation) and
 * the epoll dispatch of gw_loop_run (an eventfd, the timerfd, l->done and
 * the after-batch callback).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"
#include "util.h"
#include "loop.h"

/* A timer with a name, and the order the timers fired in. */
struct rec {
	struct gw_timer t;
	unsigned int id;
	unsigned int fired;
	uint64_t fired_at;		/* the deadline it had when it fired */
};

#define MAX_FIRED 8192

static unsigned int fired[MAX_FIRED];
static unsigned int n_fired;

static void rec_fn(struct gw_timer *t)
{
	struct rec *r = gw_container_of(t, struct rec, t);

	r->fired++;
	r->fired_at = t->deadline_ms;
	if (n_fired < MAX_FIRED)
		fired[n_fired++] = r->id;
}

/* xorshift64*: the same sequence on every run and every libc. */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545F4914F6CDD1DULL;
}

/* Every entry knows its position and no child is earlier than its parent. */
static void check_heap(HARNESS_CTX, const struct gw_loop *l)
{
	unsigned int i;

	ASSERT_LE(l->heap_n, l->heap_cap);
	for (i = 1; i <= l->heap_n; i++) {
		ASSERT_EQ(i, l->heap[i - 1]->heap_idx);
		if (i > 1)
			ASSERT_LE(l->heap[i / 2 - 1]->deadline_ms, l->heap[i - 1]->deadline_ms);
	}
}

FIXTURE(loop) {
	struct gw_loop l;
};

FIXTURE_SETUP(loop)
{
	int err = gw_loop_init(&self->l);

	if (err == -ENOSYS || err == -EPERM)
		SKIP("epoll/timerfd: %s", strerror(-err));
	ASSERT_EQ(0, err);
	n_fired = 0;
	rnd_state = 0x9E3779B97F4A7C15ULL;
}

FIXTURE_TEARDOWN(loop)
{
	gw_loop_fini(&self->l);
}

/* 2000 random deadlines, expired at increasing times: earliest first, each once. */
TEST_F(loop, random_deadlines_fire_in_order)
{
	enum { N = 2000 };
	static struct rec r[N];
	uint64_t now = 0, last = 0, max = 0;
	unsigned int i, k, done = 0;

	for (i = 0; i < N; i++) {
		r[i].id = i;
		ASSERT_EQ(0, gw_timer_start_at(&self->l, &r[i].t, 1 + rnd() % 100000, rec_fn));
		ASSERT_TRUE(gw_timer_pending(&r[i].t));
		if (r[i].t.deadline_ms > max)
			max = r[i].t.deadline_ms;
	}
	ASSERT_EQ(N, self->l.heap_n);
	ASSERT_GE(self->l.heap_cap, N);
	check_heap(_ctx, &self->l);

	while (done < N) {
		now += rnd() % 700;
		gw_loop_expire(&self->l, now);
		check_heap(_ctx, &self->l);
		for (k = done; k < n_fired; k++) {
			const struct rec *f = &r[fired[k]];

			ASSERT_LE(f->t.deadline_ms, now);
			ASSERT_LE(last, f->t.deadline_ms);
			ASSERT_FALSE(gw_timer_pending(&f->t));
			last = f->t.deadline_ms;
		}
		done = n_fired;
		/* What is left is all later than now. */
		for (i = 0; i < self->l.heap_n; i++)
			ASSERT_GT(self->l.heap[i]->deadline_ms, now);
		ASSERT_EQ(N - done, self->l.heap_n);
		ASSERT_LE(now, max + 700);
	}
	for (i = 0; i < N; i++)
		ASSERT_EQ(1, r[i].fired);
}

/* Stopping the root, the last entry, random ones and idle ones removes exactly those. */
TEST_F(loop, stop_removes_exactly_those)
{
	enum { N = 600 };
	static struct rec r[N];
	static bool stopped[N];
	unsigned int i, n_stopped = 0;
	uint64_t last = 0;

	for (i = 0; i < N; i++) {
		r[i].id = i;
		ASSERT_EQ(0, gw_timer_start_at(&self->l, &r[i].t, 1000 + rnd() % 5000, rec_fn));
	}
	for (i = 0; i < 200; i++) {
		struct rec *victim;

		switch (i % 4) {
		case 0:	/* the root */
			victim = gw_container_of(self->l.heap[0], struct rec, t);
			break;
		case 1:	/* the last entry of the array */
			victim = gw_container_of(self->l.heap[self->l.heap_n - 1], struct rec, t);
			break;
		default:
			victim = &r[rnd() % N];
			break;
		}
		if (!stopped[victim->id]) {
			stopped[victim->id] = true;
			n_stopped++;
		}
		gw_timer_stop(&self->l, &victim->t);
		ASSERT_FALSE(gw_timer_pending(&victim->t));
		gw_timer_stop(&self->l, &victim->t);	/* idle: nothing happens */
		ASSERT_EQ(N - n_stopped, self->l.heap_n);
		check_heap(_ctx, &self->l);
	}
	for (i = 0; i < N; i++)
		ASSERT_EQ(!stopped[i], gw_timer_pending(&r[i].t));

	gw_loop_expire(&self->l, UINT64_MAX);
	ASSERT_EQ(0, self->l.heap_n);
	ASSERT_EQ(N - n_stopped, n_fired);
	for (i = 0; i < n_fired; i++) {
		ASSERT_LE(last, r[fired[i]].t.deadline_ms);
		last = r[fired[i]].t.deadline_ms;
	}
	for (i = 0; i < N; i++)
		ASSERT_EQ(stopped[i] ? 0u : 1u, r[i].fired);
}

static unsigned int alt_calls;

static void alt_fn(struct gw_timer *t)
{
	(void)t;
	alt_calls++;
}

/* Starting a pending timer moves it (earlier or later), with its new callback. */
TEST_F(loop, restart_moves_pending_timer)
{
	struct rec a = { .id = 0 }, b = { .id = 1 }, c = { .id = 2 };

	ASSERT_EQ(0, gw_timer_start_at(&self->l, &a.t, 100, rec_fn));
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &b.t, 200, rec_fn));
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &c.t, 300, rec_fn));

	ASSERT_EQ(0, gw_timer_start_at(&self->l, &c.t, 50, rec_fn));	/* earlier */
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &a.t, 400, rec_fn));	/* later */
	ASSERT_EQ(3, self->l.heap_n);					/* moved, not added */
	ASSERT_EQ(&c.t, self->l.heap[0]);
	check_heap(_ctx, &self->l);

	gw_loop_expire(&self->l, 99);
	ASSERT_EQ(1, n_fired);
	EXPECT_EQ(2, fired[0]);
	EXPECT_TRUE(gw_timer_pending(&a.t));

	gw_loop_expire(&self->l, 399);
	ASSERT_EQ(2, n_fired);
	EXPECT_EQ(1, fired[1]);
	EXPECT_EQ(0, a.fired);
	ASSERT_TRUE(gw_timer_pending(&a.t));

	/* Restarting also replaces the callback. */
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &a.t, 500, alt_fn));
	gw_loop_expire(&self->l, 500);
	EXPECT_EQ(0, a.fired);
	EXPECT_EQ(1, alt_calls);
	EXPECT_EQ(0, self->l.heap_n);
	EXPECT_FALSE(gw_timer_pending(&a.t));
}

/*
 * Callbacks that change the heap while gw_loop_expire walks it:
 *   a@10: stops c (due), starts f@25 (due), restarts itself at 35 (due),
 *         the first time only;
 *   b@20: stops e (not due), stops itself (already idle), starts g@150
 *         (not due);
 *   c@30, d@40, e@1000 plain.
 * At now = 100: a, b, f, a, d; c and e never; g pending.
 */
static struct gw_loop *cb_loop;
static struct rec cb[7];	/* a b c d e f g */

static void cb_a(struct gw_timer *t)
{
	rec_fn(t);
	if (cb[0].fired == 1) {
		gw_timer_stop(cb_loop, &cb[2].t);
		gw_timer_start_at(cb_loop, &cb[5].t, 25, rec_fn);
		gw_timer_start_at(cb_loop, t, 35, cb_a);
	}
}

static void cb_b(struct gw_timer *t)
{
	rec_fn(t);
	gw_timer_stop(cb_loop, &cb[4].t);
	gw_timer_stop(cb_loop, t);
	gw_timer_start_at(cb_loop, &cb[6].t, 150, rec_fn);
}

TEST_F(loop, callbacks_change_timers_during_expire)
{
	static const unsigned int want[] = { 0, 1, 5, 0, 3 };
	unsigned int i;

	cb_loop = &self->l;
	for (i = 0; i < ARRAY_SIZE(cb); i++)
		cb[i] = (struct rec){ .id = i };
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &cb[0].t, 10, cb_a));
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &cb[1].t, 20, cb_b));
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &cb[2].t, 30, rec_fn));
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &cb[3].t, 40, rec_fn));
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &cb[4].t, 1000, rec_fn));

	gw_loop_expire(&self->l, 100);
	ASSERT_EQ(ARRAY_SIZE(want), n_fired);
	for (i = 0; i < ARRAY_SIZE(want); i++)
		EXPECT_EQ(want[i], fired[i]);
	EXPECT_EQ(35, cb[0].fired_at);
	EXPECT_EQ(0, cb[2].fired);
	EXPECT_FALSE(gw_timer_pending(&cb[2].t));
	EXPECT_FALSE(gw_timer_pending(&cb[4].t));
	ASSERT_EQ(1, self->l.heap_n);
	EXPECT_EQ(&cb[6].t, self->l.heap[0]);
	check_heap(_ctx, &self->l);

	gw_loop_expire(&self->l, 10000);
	EXPECT_EQ(ARRAY_SIZE(want) + 1, n_fired);
	EXPECT_EQ(1, cb[6].fired);
	EXPECT_EQ(0, cb[4].fired);
	EXPECT_EQ(0, self->l.heap_n);
}

/* A callback that re-arms itself for later stays pending, not looping. */
static void rearm_later(struct gw_timer *t)
{
	rec_fn(t);
	gw_timer_start_at(cb_loop, t, t->deadline_ms + 100, rearm_later);
}

TEST_F(loop, callback_rearms_itself_later)
{
	struct rec r = { .id = 7 };

	cb_loop = &self->l;
	ASSERT_EQ(0, gw_timer_start_at(&self->l, &r.t, 100, rearm_later));
	gw_loop_expire(&self->l, 150);
	EXPECT_EQ(1, r.fired);
	ASSERT_TRUE(gw_timer_pending(&r.t));
	EXPECT_EQ(200, r.t.deadline_ms);
	/* Due twice over by 300: 200 and then 300. */
	gw_loop_expire(&self->l, 300);
	EXPECT_EQ(3, r.fired);
	EXPECT_EQ(400, r.t.deadline_ms);
	gw_timer_stop(&self->l, &r.t);
	EXPECT_EQ(0, self->l.heap_n);
}

/* Equal deadlines all fire, each once; neighbours are not pulled along. */
TEST_F(loop, equal_deadlines_all_fire)
{
	enum { N = 60 };
	struct rec r[N + 2];
	unsigned int i, seen[N + 2] = { 0 };

	for (i = 0; i < N + 2; i++) {
		r[i] = (struct rec){ .id = i };
		ASSERT_EQ(0, gw_timer_start_at(&self->l, &r[i].t,
					       i == N ? 499 : i == N + 1 ? 501 : 500, rec_fn));
	}
	gw_loop_expire(&self->l, 499);
	ASSERT_EQ(1, n_fired);
	EXPECT_EQ(N, fired[0]);

	gw_loop_expire(&self->l, 500);
	ASSERT_EQ(N + 1, n_fired);
	for (i = 1; i < n_fired; i++)
		seen[fired[i]]++;
	for (i = 0; i < N; i++)
		EXPECT_EQ(1, seen[i]);
	EXPECT_TRUE(gw_timer_pending(&r[N + 1].t));
	EXPECT_EQ(1, self->l.heap_n);
}

/* Nothing fires before its deadline; a deadline equal to now is due. */
TEST_F(loop, not_due_stays_pending)
{
	struct rec r[10];
	unsigned int i;

	for (i = 0; i < 10; i++) {
		r[i] = (struct rec){ .id = i };
		ASSERT_EQ(0, gw_timer_start_at(&self->l, &r[i].t, 1000 + 10 * i, rec_fn));
	}
	gw_loop_expire(&self->l, 0);
	gw_loop_expire(&self->l, 999);
	EXPECT_EQ(0, n_fired);
	EXPECT_EQ(10, self->l.heap_n);
	for (i = 0; i < 10; i++)
		EXPECT_TRUE(gw_timer_pending(&r[i].t));

	gw_loop_expire(&self->l, 1030);
	ASSERT_EQ(4, n_fired);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(i, fired[i]);
	for (i = 4; i < 10; i++)
		EXPECT_TRUE(gw_timer_pending(&r[i].t));
	check_heap(_ctx, &self->l);

	/* An empty heap is fine too. */
	gw_loop_expire(&self->l, UINT64_MAX);
	gw_loop_expire(&self->l, UINT64_MAX);
	EXPECT_EQ(10, n_fired);
}

/* The heap starts at 256 entries and grows; entries survive the move. */
TEST_F(loop, heap_grows_past_initial_capacity)
{
	enum { N = 1500 };
	static struct rec r[N];
	unsigned int i;

	ASSERT_EQ(0, self->l.heap_cap);
	for (i = 0; i < N; i++) {
		r[i].id = i;
		/* Descending deadlines: every insert climbs to the root. */
		ASSERT_EQ(0, gw_timer_start_at(&self->l, &r[i].t, 10 * (N - i), rec_fn));
		if (i == 0)
			EXPECT_EQ(256, self->l.heap_cap);
		if (i == 256)
			EXPECT_GT(self->l.heap_cap, 256);
	}
	ASSERT_EQ(N, self->l.heap_n);
	check_heap(_ctx, &self->l);
	gw_loop_expire(&self->l, 10 * N);
	ASSERT_EQ(N, n_fired);
	for (i = 0; i < N; i++)
		ASSERT_EQ(N - 1 - i, fired[i]);
}

/* ---- gw_loop_set / gw_loop_run ---- */

struct efd {
	struct gw_ev ev;
	struct gw_loop *l;
	unsigned int calls;
	uint32_t events;
	uint64_t value;
};

static void efd_fn(struct gw_ev *ev, uint32_t events)
{
	struct efd *e = gw_container_of(ev, struct efd, ev);

	e->calls++;
	e->events = events;
	if (read(ev->fd, &e->value, sizeof(e->value)) != sizeof(e->value))
		e->value = 0;
	e->l->done = true;
}

static unsigned int after_calls;
static void *after_arg;

static void after_fn(struct gw_loop *l, void *arg)
{
	(void)l;
	after_calls++;
	after_arg = arg;
}

TEST_F(loop, run_dispatches_eventfd_until_done)
{
	struct efd e = { .l = &self->l };
	uint64_t one = 7;
	int marker;

	e.ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_GE(e.ev.fd, 0);
	e.ev.fn = efd_fn;
	gw_loop_set(&self->l, &e.ev, EPOLLIN);
	ASSERT_EQ(EPOLLIN, e.ev.events);

	ASSERT_EQ(sizeof(one), write(e.ev.fd, &one, sizeof(one)));
	ASSERT_EQ(0, gw_loop_run(&self->l, after_fn, &marker));
	EXPECT_EQ(1, e.calls);
	EXPECT_TRUE(e.events & EPOLLIN);
	EXPECT_EQ(7, e.value);
	EXPECT_EQ(1, after_calls);
	EXPECT_TRUE(after_arg == &marker);

	/* Removed: the kernel no longer knows the fd. */
	gw_loop_set(&self->l, &e.ev, 0);
	EXPECT_EQ(0, e.ev.events);
	EXPECT_EQ(-1, epoll_ctl(self->l.epfd, EPOLL_CTL_DEL, e.ev.fd, NULL));
	EXPECT_EQ(ENOENT, errno);
	close(e.ev.fd);

	/* A negative fd is ignored. */
	e.ev.fd = -1;
	gw_loop_set(&self->l, &e.ev, EPOLLIN);
	EXPECT_EQ(0, e.ev.events);
}

/*
 * Through the timerfd: the earliest timer is stopped after it armed the
 * timerfd; that wake-up finds nothing due and re-arms for the next one,
 * whose callback ends the loop.
 */
static unsigned int early_calls;

static void early_fn(struct gw_timer *t)
{
	(void)t;
	early_calls++;
}

static void stop_loop_fn(struct gw_timer *t)
{
	(void)t;
	cb_loop->done = true;
}

TEST_F_TIMEOUT(loop, run_fires_timer_through_timerfd, 10)
{
	struct gw_timer early = { 0 }, late = { 0 };
	uint64_t t0 = gw_now_ms();

	cb_loop = &self->l;
	ASSERT_EQ(0, gw_timer_start(&self->l, &early, 5, early_fn));
	ASSERT_EQ(0, gw_timer_start(&self->l, &late, 40, stop_loop_fn));
	gw_timer_stop(&self->l, &early);
	ASSERT_EQ(0, gw_loop_run(&self->l, after_fn, NULL));
	EXPECT_GE(gw_now_ms() - t0, 40);
	EXPECT_EQ(0, early_calls);
	EXPECT_FALSE(gw_timer_pending(&late));
	EXPECT_GE(after_calls, 1);
	EXPECT_EQ(0, self->l.heap_n);
}

/* gw_loop_fini leaves a loop that can be finished again. */
TEST(fini_twice)
{
	struct gw_loop l;
	struct gw_timer t = { 0 };

	ASSERT_EQ(0, gw_loop_init(&l));
	ASSERT_EQ(0, gw_timer_start_at(&l, &t, 1, alt_fn));
	gw_loop_fini(&l);
	EXPECT_EQ(-1, l.epfd);
	EXPECT_EQ(-1, l.timer_ev.fd);
	EXPECT_NULL(l.heap);
	EXPECT_EQ(0, l.heap_n);
	gw_loop_fini(&l);
}

TEST_HARNESS_MAIN
