// SPDX-License-Identifier: GPL-2.0-only
/*
 * Immutable per-peer objects shared between connections of one thread
 * (tcache.h).
 *
 * Concurrency: the tables are thread-local, so finding and adding take no
 * lock; a pthread key drops a thread's slots when it ends. The objects
 * themselves may outlive their slot on any thread: a slot takes its
 * reference with an atomic add on the object's count (ops->refs) and
 * drops it with the object's own free (ops->put).
 */
#include <pthread.h>
#include <stddef.h>

#include "tcache.h"

struct tc_slot {
	void *obj;
	uint64_t hash;
	const struct gw_tcache_ops *ops;
};

struct tc_thread {
	struct tc_slot s[GW_TCACHE_KINDS][GW_TCACHE_SLOTS];
	bool registered;		/* the key's destructor will run */
};

static __thread struct tc_thread tc;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static bool key_ok;

static void drop_all(struct tc_thread *t)
{
	int k, i;

	for (k = 0; k < GW_TCACHE_KINDS; k++)
		for (i = 0; i < GW_TCACHE_SLOTS; i++) {
			struct tc_slot *s = &t->s[k][i];

			if (s->obj)
				s->ops->put(s->obj);
			s->obj = NULL;
		}
}

static void thread_end(void *arg)
{
	drop_all(arg);
}

static void setup(void)
{
	key_ok = !pthread_key_create(&key, thread_end);
}

/* One more reference to obj, in the count ops names. */
static void get(const struct gw_tcache_ops *ops, void *obj)
{
	__atomic_add_fetch((unsigned int *)((char *)obj + ops->refs), 1, __ATOMIC_RELAXED);
}

static struct tc_slot *slot_of(enum gw_tcache_kind kind, uint64_t hash)
{
	return &tc.s[kind][(hash ^ hash >> 32) % GW_TCACHE_SLOTS];
}

void *gw_tcache_find(enum gw_tcache_kind kind, const struct gw_tcache_ops *ops, uint64_t hash,
		     const void *k)
{
	struct tc_slot *s = slot_of(kind, hash);

	if (!s->obj || s->hash != hash || s->ops != ops || !ops->matches(s->obj, k))
		return NULL;
	get(ops, s->obj);
	return s->obj;
}

void gw_tcache_add(enum gw_tcache_kind kind, const struct gw_tcache_ops *ops, uint64_t hash,
		   void *obj)
{
	struct tc_slot *s = slot_of(kind, hash);

	/* Without the key's destructor a thread's slots would never be dropped. */
	if (!tc.registered) {
		pthread_once(&once, setup);
		if (!key_ok || pthread_setspecific(key, &tc))
			return;
		tc.registered = true;
	}
	if (s->obj)
		s->ops->put(s->obj);
	get(ops, obj);
	s->obj = obj;
	s->hash = hash;
	s->ops = ops;
}

void gw_tcache_flush(void)
{
	drop_all(&tc);
}
