// SPDX-License-Identifier: GPL-2.0-only
/*
 * What routes[] and limits.per_identity add to one handshake, measured
 * in a loop (make bench-routes prints it after its runs): the
 * server_name parse and route lookup with the client naming the last of
 * 100 routes against one route, and one acquire and release of an
 * identity's limits entry (16 identities, as bench-routes' clients).
 * The handshake-level bench cannot resolve a 2 % difference on a noisy
 * machine; this puts the added work next to a handshake's CPU.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>

#include "idlimit.h"
#include "route.h"

#define N 2000000L
#define ROUTES 100

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* A server_name extension naming name. */
static size_t sni_ext(unsigned char *ext, const char *name)
{
	size_t n = strlen(name);

	ext[0] = 0;
	ext[1] = (unsigned char)(n + 3);
	ext[2] = 0;
	ext[3] = 0;
	ext[4] = (unsigned char)n;
	memcpy(ext + 5, name, n);
	return n + 5;
}

static double lookup_ns(const struct gw_cfg_listener *l, const char *name, int want)
{
	unsigned char ext[64];
	char out[GW_SNI_BUF];
	size_t len = sni_ext(ext, name);
	double t0 = now_ns();
	long i, hits = 0;

	for (i = 0; i < N; i++)
		hits += !gw_sni_parse(ext, len, out) && gw_route_find(l, out) == want;
	if (hits != N)
		fprintf(stderr, "route-cost: %ld of %ld lookups found the route\n", hits, N);
	return (now_ns() - t0) / N;
}

int main(void)
{
	static struct gw_cfg_listener routes[ROUTES];
	static char names[ROUTES][32], *lists[ROUTES][1];
	struct gw_cfg_listener l = { .routes = routes, .n_routes = ROUTES };
	struct gw_idl_limits lim = { .connections = 100000, .rate = 1e6, .burst = 1000000 };
	struct gw_idlimit *t = gw_idlimit_get("route-cost");
	const char *id = "spiffe://corp.test/prod/bench-7";
	struct gw_idl_entry *e;
	unsigned char key[32];
	double t0, many, one;
	long i;

	for (i = 0; i < ROUTES; i++) {
		snprintf(names[i], sizeof(names[i]), "r%ld.bench.test", i);
		lists[i][0] = names[i];
		routes[i].server_names = lists[i];
		routes[i].n_server_names = 1;
	}
	many = lookup_ns(&l, "R99.Bench.Test", ROUTES - 1);
	l.n_routes = 1;
	one = lookup_ns(&l, "r0.bench.test", 0);
	printf("route lookup (server_name parse + match): %.0f ns with %d routes (the last named), %.0f ns with 1\n",
	       many, ROUTES, one);
	if (!t)
		return 1;
	t0 = now_ns();
	for (i = 0; i < N; i++) {
		SHA256((const unsigned char *)id, strlen(id), key);
		key[0] ^= (unsigned char)(i % 16);
		if (gw_idlimit_acquire(t, key, id, &lim, (uint64_t)i / 1000, false, &e) == GW_IDL_OK)
			gw_idlimit_release(t, e, 1000);
	}
	printf("limits.per_identity: %.0f ns per handshake's key (SHA-256 of the SPIFFE ID), acquire and release\n",
	       (now_ns() - t0) / N);
	gw_idlimit_free_all();
	return 0;
}
