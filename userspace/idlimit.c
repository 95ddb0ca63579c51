// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-identity limits (idlimit.h): a hash table of identities per
 * listener name, each with its live connection count and token bucket;
 * idle entries on a least-recently-seen list, bounded.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "idlimit.h"

struct gw_idl_entry {
	struct gw_idl_entry *hnext;		/* hash chain */
	struct gw_idl_entry *prev, *next;	/* idle list, while conns == 0 */
	unsigned int conns;
	double tokens;
	uint64_t t_ms;				/* of the last refill */
	/* For mtlsgwctl top: totals, and opens in two GW_IDL_WINDOW_MS windows. */
	uint64_t opens, refused, bytes;
	uint64_t win_ms;			/* start of the current window */
	unsigned int win_opens, prev_opens;
	unsigned char key[32];
	char label[GW_IDL_LABEL];
};

struct gw_idlimit {
	struct gw_idlimit *next;		/* the registry */
	char *name;
	pthread_mutex_t lock;
	struct gw_idl_entry **buckets;
	unsigned int n_buckets;			/* a power of two */
	unsigned int n_entries;
	/* Idle entries, the most recently seen at head. */
	struct gw_idl_entry idle;
	unsigned int n_idle;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gw_idlimit *registry;

struct gw_idlimit *gw_idlimit_get(const char *listener)
{
	struct gw_idlimit *t;

	pthread_mutex_lock(&registry_lock);
	for (t = registry; t && strcmp(t->name, listener); t = t->next)
		;
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (t) {
			t->name = strdup(listener);
			t->n_buckets = 64;
			t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
			if (!t->name || !t->buckets) {
				free(t->name);
				free(t->buckets);
				free(t);
				t = NULL;
			}
		}
		if (t) {
			pthread_mutex_init(&t->lock, NULL);
			t->idle.prev = t->idle.next = &t->idle;
			t->next = registry;
			registry = t;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return t;
}

/* The key is a SHA-256 output already: its first bytes are the hash. */
static unsigned int slot(const struct gw_idlimit *t, const unsigned char *key)
{
	uint32_t h;

	memcpy(&h, key, sizeof(h));
	return h & (t->n_buckets - 1);
}

static void idle_unlink(struct gw_idlimit *t, struct gw_idl_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
	t->n_idle--;
}

static void idle_push(struct gw_idlimit *t, struct gw_idl_entry *e)
{
	e->next = t->idle.next;
	e->prev = &t->idle;
	t->idle.next->prev = e;
	t->idle.next = e;
	t->n_idle++;
}

static void entry_remove(struct gw_idlimit *t, struct gw_idl_entry *e)
{
	struct gw_idl_entry **pp = &t->buckets[slot(t, e->key)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	idle_unlink(t, e);
	t->n_entries--;
	free(e);
}

/* Twice the buckets when the chains grow past one entry on average. */
static void maybe_grow(struct gw_idlimit *t)
{
	unsigned int n = t->n_buckets * 2, i, old = t->n_buckets;
	struct gw_idl_entry **b, *e, *next;

	if (t->n_entries <= t->n_buckets || n > (1u << 24))
		return;
	b = calloc(n, sizeof(*b));
	if (!b)
		return;	/* longer chains, still correct */
	t->n_buckets = n;
	for (i = 0; i < old; i++)
		for (e = t->buckets[i]; e; e = next) {
			next = e->hnext;
			e->hnext = b[slot(t, e->key)];
			b[slot(t, e->key)] = e;
		}
	free(t->buckets);
	t->buckets = b;
}

/* src into dst, cut before a character that would not fit whole. */
static void set_label(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size) {
		n = size - 1;
		while (n && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Opens in the current window and the one before, over the time they cover: per second. */
static void window_roll(struct gw_idl_entry *e, uint64_t now_ms)
{
	if (now_ms - e->win_ms >= 2 * GW_IDL_WINDOW_MS) {
		e->prev_opens = 0;
		e->win_opens = 0;
		e->win_ms = now_ms;
	} else if (now_ms - e->win_ms >= GW_IDL_WINDOW_MS) {
		e->prev_opens = e->win_opens;
		e->win_opens = 0;
		e->win_ms += GW_IDL_WINDOW_MS;
	}
}

static struct gw_idl_entry *lookup(struct gw_idlimit *t, const unsigned char *key,
				   const char *label, const struct gw_idl_limits *lim, uint64_t now_ms)
{
	struct gw_idl_entry *e;

	for (e = t->buckets[slot(t, key)]; e; e = e->hnext)
		if (!memcmp(e->key, key, sizeof(e->key)))
			return e;
	/* The least recently seen idle identities make room. */
	while (t->n_idle >= GW_IDL_MAX_IDLE)
		entry_remove(t, t->idle.prev);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->key, key, sizeof(e->key));
	set_label(e->label, sizeof(e->label), label);
	e->tokens = lim->burst;
	e->t_ms = now_ms;
	e->win_ms = now_ms;
	e->hnext = t->buckets[slot(t, key)];
	t->buckets[slot(t, key)] = e;
	t->n_entries++;
	idle_push(t, e);
	maybe_grow(t);
	return e;
}

static void refill(struct gw_idl_entry *e, const struct gw_idl_limits *lim, uint64_t now_ms)
{
	if (now_ms > e->t_ms) {
		e->tokens += (double)(now_ms - e->t_ms) * lim->rate / 1000.0;
		if (e->tokens > lim->burst)
			e->tokens = lim->burst;
	}
	e->t_ms = now_ms;
}

enum gw_idl_verdict gw_idlimit_acquire(struct gw_idlimit *t, const unsigned char key[32],
				       const char *label, const struct gw_idl_limits *lim,
				       uint64_t now_ms, bool force, struct gw_idl_entry **out)
{
	enum gw_idl_verdict v = GW_IDL_OK;
	struct gw_idl_entry *e;

	*out = NULL;
	pthread_mutex_lock(&t->lock);
	e = lookup(t, key, label, lim, now_ms);
	if (!e) {
		pthread_mutex_unlock(&t->lock);
		return GW_IDL_NOMEM;
	}
	if (lim->rate > 0)
		refill(e, lim, now_ms);
	if (lim->connections && e->conns >= lim->connections)
		v = GW_IDL_CONNECTIONS;
	else if (lim->rate > 0 && e->tokens < 1)
		v = GW_IDL_RATE;
	window_roll(e, now_ms);
	if (v != GW_IDL_OK)
		e->refused++;
	if (v == GW_IDL_OK || force) {
		if (lim->rate > 0 && e->tokens >= 1)
			e->tokens -= 1;
		if (!e->conns++)
			idle_unlink(t, e);
		e->opens++;
		e->win_opens++;
		*out = e;
	} else if (!e->conns) {
		/* Seen now: to the head of the idle list. */
		idle_unlink(t, e);
		idle_push(t, e);
	}
	pthread_mutex_unlock(&t->lock);
	return v;
}

void gw_idlimit_release(struct gw_idlimit *t, struct gw_idl_entry *e, uint64_t bytes)
{
	if (!t || !e)
		return;
	pthread_mutex_lock(&t->lock);
	e->bytes += bytes;
	if (e->conns && !--e->conns) {
		idle_push(t, e);
		while (t->n_idle > GW_IDL_MAX_IDLE)
			entry_remove(t, t->idle.prev);
	}
	pthread_mutex_unlock(&t->lock);
}

unsigned int gw_idlimit_tracked(struct gw_idlimit *t)
{
	unsigned int n;

	pthread_mutex_lock(&t->lock);
	n = t->n_entries;
	pthread_mutex_unlock(&t->lock);
	return n;
}

size_t gw_idlimit_entry_bytes(void)
{
	return sizeof(struct gw_idl_entry);
}

size_t gw_idlimit_bytes(struct gw_idlimit *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = (size_t)t->n_entries * sizeof(struct gw_idl_entry) +
	    (size_t)t->n_buckets * sizeof(*t->buckets);
	pthread_mutex_unlock(&t->lock);
	return n;
}

static int top_cmp(const void *a, const void *b)
{
	const struct gw_idl_top *x = a, *y = b;

	if (x->conns != y->conns)
		return x->conns < y->conns ? 1 : -1;
	if (x->per_second != y->per_second)
		return x->per_second < y->per_second ? 1 : -1;
	return strcmp(x->label, y->label);
}

unsigned int gw_idlimit_top(struct gw_idlimit *t, uint64_t now_ms, struct gw_idl_top *out,
			    unsigned int n)
{
	struct gw_idl_top *all;
	struct gw_idl_entry *e;
	unsigned int i, k = 0;

	pthread_mutex_lock(&t->lock);
	all = calloc(t->n_entries ? t->n_entries : 1, sizeof(*all));
	for (i = 0; all && i < t->n_buckets; i++)
		for (e = t->buckets[i]; e; e = e->hnext) {
			uint64_t span;

			window_roll(e, now_ms);
			span = GW_IDL_WINDOW_MS + (now_ms - e->win_ms);
			all[k] = (struct gw_idl_top){
				.conns = e->conns, .opens = e->opens, .refused = e->refused,
				.bytes = e->bytes,
				.per_second = (e->prev_opens + e->win_opens) * 1000.0 / (double)span,
			};
			memcpy(all[k].label, e->label, sizeof(e->label));
			k++;
		}
	pthread_mutex_unlock(&t->lock);
	if (!all)
		return 0;
	qsort(all, k, sizeof(*all), top_cmp);
	if (k > n)
		k = n;
	memcpy(out, all, k * sizeof(*all));
	free(all);
	return k;
}

void gw_idlimit_each_table(void (*fn)(const char *listener, struct gw_idlimit *t, void *arg),
			   void *arg)
{
	struct gw_idlimit *t;

	pthread_mutex_lock(&registry_lock);
	for (t = registry; t; t = t->next)
		fn(t->name, t, arg);
	pthread_mutex_unlock(&registry_lock);
}

void gw_idlimit_free_all(void)
{
	struct gw_idl_entry *e, *next;
	struct gw_idlimit *t;
	unsigned int i;

	pthread_mutex_lock(&registry_lock);
	while ((t = registry)) {
		registry = t->next;
		for (i = 0; i < t->n_buckets; i++)
			for (e = t->buckets[i]; e; e = next) {
				next = e->hnext;
				free(e);
			}
		pthread_mutex_destroy(&t->lock);
		free(t->buckets);
		free(t->name);
		free(t);
	}
	pthread_mutex_unlock(&registry_lock);
}

const char *gw_idlimit_name_split(const char *name, char listener[65])
{
	const char *slash = strchr(name, '/');
	size_t n = slash ? (size_t)(slash - name) : strlen(name);

	if (n > 64)
		n = 64;
	memcpy(listener, name, n);
	listener[n] = '\0';
	return slash ? slash + 1 : NULL;
}

const char *gw_idl_verdict_str(enum gw_idl_verdict v)
{
	switch (v) {
	case GW_IDL_OK:
		return "ok";
	case GW_IDL_CONNECTIONS:
		return "connections";
	case GW_IDL_RATE:
		return "rate";
	default:
		return "no_memory";
	}
}
