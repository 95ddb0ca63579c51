// SPDX-License-Identifier: GPL-2.0-only
/*
 * Indexes for the configuration's checks across entries (config_index.h):
 * a hash of keys that links each entry to the next one with an equal key,
 * and the overlapping pairs of steered destinations, found by a sweep
 * over ports.
 *
 * Overlap is gw_steer_overlap()'s: the port ranges share a port and one
 * prefix holds the other. Two prefixes either nest or are apart, so of the
 * destinations that share a port with s, those that overlap it are the
 * ones whose prefix is s's address cut to a length up to s's own (its
 * ancestors and its equals) and the ones inside s. With the destinations
 * sorted by (family, address, length), each of those is one run of the
 * order. The sweep takes the destinations by first port and keeps those
 * whose range still reaches the current port "active" (a Fenwick tree over
 * the sorted places); the active ones in each run are s's partners. Every
 * pair is found once, when the later-starting of the two is taken, for
 * O(log n) per run looked at and per pair found.
 *
 * A destination the parser left half-filled (no family, host bits set, a
 * first port above the last) is an error already; it is compared with
 * every other one, so that the messages are those of the plain check.
 *
 * Reentrant: no static state.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config_index.h"
#include "util.h"

/* ---- equal keys ---- */

struct gw_ci_entry {
	const void *key;
	size_t len;
	unsigned int hash;
	unsigned int next;		/* the next entry with this key */
	unsigned int last;		/* of the first entry with a key: the last one */
};

int gw_ci_keys_init(struct gw_ci_keys *k, unsigned int n)
{
	unsigned int slots = 16;

	memset(k, 0, sizeof(*k));
	while (slots < 2 * (size_t)n) {
		if (slots > UINT_MAX / 2)
			return -ENOMEM;
		slots *= 2;
	}
	k->slot = calloc(slots, sizeof(*k->slot));
	k->e = calloc(n ? n : 1, sizeof(*k->e));
	if (!k->slot || !k->e) {
		gw_ci_keys_free(k);
		return -ENOMEM;
	}
	k->n_slots = slots;
	k->n = n;
	return 0;
}

void gw_ci_keys_free(struct gw_ci_keys *k)
{
	free(k->slot);
	free(k->e);
	memset(k, 0, sizeof(*k));
}

unsigned int gw_ci_keys_add(struct gw_ci_keys *k, unsigned int i, const void *key, size_t len)
{
	unsigned int h = gw_hash_fnv1a(key, len), mask = k->n_slots - 1, s;

	k->e[i] = (struct gw_ci_entry){ .key = key, .len = len, .hash = h, .next = i, .last = i };
	for (s = h & mask; k->slot[s]; s = (s + 1) & mask) {
		struct gw_ci_entry *first = &k->e[k->slot[s] - 1];

		if (first->hash == h && first->len == len && !memcmp(first->key, key, len)) {
			k->e[first->last].next = i;
			first->last = i;
			return k->slot[s] - 1;
		}
	}
	k->slot[s] = i + 1;
	return i;
}

unsigned int gw_ci_keys_next(const struct gw_ci_keys *k, unsigned int j)
{
	return k->e[j].next;
}

/* ---- overlapping steered destinations ---- */

struct ci_sweep {
	const struct gw_steer *d;
	unsigned int m;			/* destinations the sweep takes */
	unsigned int *by_addr;		/* them, by (family, address, length) */
	unsigned int *pos;		/* per destination: its place in by_addr, or UINT_MAX */
	int *fen;			/* Fenwick tree over by_addr, 1-based: 1 = active */
	int n_active;
	unsigned int top;		/* the highest power of two <= m */
	bool used[2][129];		/* prefix lengths in use, IPv4 and IPv6 */
	struct gw_ci_pair *out;
	size_t n_out, cap_out;
};

/* What the parser makes of a destination it accepts: the sweep can take it. */
static bool ci_regular(const struct gw_steer *d)
{
	unsigned int bits = d->dst.family == AF_INET ? 32 : d->dst.family == AF_INET6 ? 128 : 0;
	unsigned int i;

	if (!bits || d->dst.prefix_len > bits || d->lo > d->hi)
		return false;
	for (i = d->dst.prefix_len; i < 128; i++)
		if (d->dst.addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

static int ci_pair(struct ci_sweep *sw, unsigned int a, unsigned int b)
{
	if (sw->n_out == sw->cap_out) {
		size_t cap = sw->cap_out ? 2 * sw->cap_out : 64;
		struct gw_ci_pair *p = realloc(sw->out, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		sw->out = p;
		sw->cap_out = cap;
	}
	sw->out[sw->n_out].later = a > b ? a : b;
	sw->out[sw->n_out].earlier = a > b ? b : a;
	sw->n_out++;
	return 0;
}

/* c against the key (family, addr, len), in that order. */
static int ci_cmp_key(const struct gw_cidr *c, sa_family_t family, const unsigned char *addr,
		      unsigned int len)
{
	int r;

	if (c->family != family)
		return c->family < family ? -1 : 1;
	r = memcmp(c->addr, addr, sizeof(c->addr));
	if (r)
		return r;
	return (c->prefix_len > len) - (c->prefix_len < len);
}

static int ci_cmp_addr(const void *x, const void *y, void *ctx)
{
	const struct gw_steer *d = ctx;
	unsigned int a = *(const unsigned int *)x, b = *(const unsigned int *)y;
	int r = ci_cmp_key(&d[a].dst, d[b].dst.family, d[b].dst.addr, d[b].dst.prefix_len);

	return r ? r : (a > b) - (a < b);
}

static int ci_cmp_lo(const void *x, const void *y, void *ctx)
{
	const struct gw_steer *d = ctx;
	unsigned int a = *(const unsigned int *)x, b = *(const unsigned int *)y;

	if (d[a].lo != d[b].lo)
		return d[a].lo < d[b].lo ? -1 : 1;
	return (a > b) - (a < b);
}

static int ci_cmp_hi(const void *x, const void *y, void *ctx)
{
	const struct gw_steer *d = ctx;
	unsigned int a = *(const unsigned int *)x, b = *(const unsigned int *)y;

	if (d[a].hi != d[b].hi)
		return d[a].hi < d[b].hi ? -1 : 1;
	return (a > b) - (a < b);
}

/* The first place of by_addr at or after the key (family, addr, len). */
static unsigned int ci_lower(const struct ci_sweep *sw, sa_family_t family,
			     const unsigned char *addr, unsigned int len)
{
	unsigned int lo = 0, hi = sw->m;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (ci_cmp_key(&sw->d[sw->by_addr[mid]].dst, family, addr, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ci_fen_add(struct ci_sweep *sw, unsigned int place, int delta)
{
	unsigned int p;

	for (p = place + 1; p <= sw->m; p += p & -p)
		sw->fen[p] += delta;
	sw->n_active += delta;
}

/* Active destinations at places [0, place). */
static int ci_fen_count(const struct ci_sweep *sw, unsigned int place)
{
	unsigned int p;
	int n = 0;

	for (p = place; p; p -= p & -p)
		n += sw->fen[p];
	return n;
}

/* The place of the k-th active destination (1 <= k <= n_active). */
static unsigned int ci_fen_kth(const struct ci_sweep *sw, int k)
{
	unsigned int p = 0, step;

	for (step = sw->top; step; step >>= 1)
		if (p + step <= sw->m && sw->fen[p + step] < k) {
			p += step;
			k -= sw->fen[p];
		}
	return p;
}

/* Pair s with each active destination at places [from, to) of by_addr. */
static int ci_pair_run(struct ci_sweep *sw, unsigned int s, unsigned int from, unsigned int to)
{
	while (from < to) {
		int before = ci_fen_count(sw, from);
		unsigned int p, a;

		if (before == sw->n_active)
			return 0;
		p = ci_fen_kth(sw, before + 1);
		if (p >= to)
			return 0;
		a = sw->by_addr[p];
		if (gw_steer_overlap(&sw->d[a], &sw->d[s]) && ci_pair(sw, a, s))
			return -ENOMEM;
		from = p + 1;
	}
	return 0;
}

/* Pair s with the active destinations whose prefix holds s's or lies in it. */
static int ci_pair_active(struct ci_sweep *sw, unsigned int s)
{
	const struct gw_cidr *c = &sw->d[s].dst;
	unsigned int v6 = c->family == AF_INET6, bits = v6 ? 128 : 32, len, i;
	unsigned char key[16];
	int err;

	/* Ancestors and equals: c's address cut to each length in use up to its own. */
	for (len = 0; len <= c->prefix_len; len++) {
		if (!sw->used[v6][len])
			continue;
		memset(key, 0, sizeof(key));
		memcpy(key, c->addr, len / 8);
		if (len % 8)
			key[len / 8] = c->addr[len / 8] & (unsigned char)(0xff << (8 - len % 8));
		err = ci_pair_run(sw, s, ci_lower(sw, c->family, key, len),
				  ci_lower(sw, c->family, key, len + 1));
		if (err)
			return err;
	}
	/* Inside c: from its address with a longer length to its last address. */
	memcpy(key, c->addr, sizeof(key));
	for (i = c->prefix_len; i < bits; i++)
		key[i / 8] |= (unsigned char)(0x80 >> (i % 8));
	return ci_pair_run(sw, s, ci_lower(sw, c->family, c->addr, c->prefix_len + 1U),
			   ci_lower(sw, c->family, key, 129));
}

static int ci_cmp_pair(const void *x, const void *y)
{
	const struct gw_ci_pair *a = x, *b = y;

	if (a->later != b->later)
		return a->later < b->later ? -1 : 1;
	return (a->earlier > b->earlier) - (a->earlier < b->earlier);
}

int gw_ci_steer_overlaps(const struct gw_steer *d, unsigned int n,
			 struct gw_ci_pair **pairs, size_t *n_pairs)
{
	struct ci_sweep sw = { .d = d };
	unsigned int *by_lo, *by_hi, i, j, h;
	int err = -ENOMEM;

	*pairs = NULL;
	*n_pairs = 0;
	sw.by_addr = calloc(n + 1, sizeof(*sw.by_addr));
	sw.pos = calloc(n + 1, sizeof(*sw.pos));
	sw.fen = calloc(n + 1, sizeof(*sw.fen));
	by_lo = calloc(n + 1, sizeof(*by_lo));
	by_hi = calloc(n + 1, sizeof(*by_hi));
	if (!sw.by_addr || !sw.pos || !sw.fen || !by_lo || !by_hi)
		goto out;
	for (i = 0; i < n; i++) {
		sw.pos[i] = UINT_MAX;
		if (!ci_regular(&d[i]))
			continue;
		sw.by_addr[sw.m++] = i;
		sw.used[d[i].dst.family == AF_INET6][d[i].dst.prefix_len] = true;
	}
	memcpy(by_lo, sw.by_addr, sw.m * sizeof(*by_lo));
	memcpy(by_hi, sw.by_addr, sw.m * sizeof(*by_hi));
	qsort_r(sw.by_addr, sw.m, sizeof(*sw.by_addr), ci_cmp_addr, (void *)d);
	qsort_r(by_lo, sw.m, sizeof(*by_lo), ci_cmp_lo, (void *)d);
	qsort_r(by_hi, sw.m, sizeof(*by_hi), ci_cmp_hi, (void *)d);
	for (i = 0; i < sw.m; i++)
		sw.pos[sw.by_addr[i]] = i;
	for (sw.top = 1; sw.top <= sw.m / 2; sw.top *= 2)
		;

	for (i = 0, h = 0; i < sw.m; i++) {
		unsigned int s = by_lo[i];

		/* Ranges that end below s's first port are behind the sweep (and taken). */
		for (; h < sw.m && d[by_hi[h]].hi < d[s].lo; h++)
			ci_fen_add(&sw, sw.pos[by_hi[h]], -1);
		err = ci_pair_active(&sw, s);
		if (err)
			goto out;
		ci_fen_add(&sw, sw.pos[s], 1);
	}
	/*
	 * The half-filled ones against every other (a pair of two of them
	 * once); none of them if the caller marks what did not parse.
	 */
	for (i = 0; i < n; i++) {
		if (sw.pos[i] != UINT_MAX || d[i].dst.family == AF_UNSPEC)
			continue;
		for (j = 0; j < n; j++)
			if (j != i && (sw.pos[j] != UINT_MAX || j < i) &&
			    d[j].dst.family != AF_UNSPEC &&
			    gw_steer_overlap(&d[j], &d[i]) && ci_pair(&sw, j, i)) {
				err = -ENOMEM;
				goto out;
			}
	}
	if (sw.n_out)
		qsort(sw.out, sw.n_out, sizeof(*sw.out), ci_cmp_pair);
	*pairs = sw.out;
	*n_pairs = sw.n_out;
	sw.out = NULL;
	err = 0;
out:
	free(sw.out);
	free(by_hi);
	free(by_lo);
	free(sw.fen);
	free(sw.pos);
	free(sw.by_addr);
	return err;
}
