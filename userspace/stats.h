/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Figures summed over the workers: each listener's connections,
 * handshakes and bytes (for "mtlsgwctl status"), and the gauges set right
 * before each metrics scrape.
 */
#ifndef GW_STATS_H
#define GW_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "listener.h"
#include "worker.h"

struct gw_stage1;

/* A listener's figures summed over the workers, matched by name. */
struct gw_ls_sum {
	char *name;
	bool removed;
	unsigned int conns, handshakes;
	double active[2];		/* [0] userspace datapath, [1] kTLS (splice) */
	uint64_t bytes_in, bytes_out;
	struct gw_ls_route *routes;	/* its routes' shares; none without routes */
	unsigned int n_routes;
};

struct gw_ls_sums {
	struct gw_ls_sum *v;
	unsigned int n;
	unsigned int conns;		/* all connections of all workers */
};

/* Every worker's listeners (pw: the primary); free with gw_ls_sums_free. */
void gw_ls_sums_collect(struct gw_worker *pw, struct gw_ls_sums *s);
const struct gw_ls_sum *gw_ls_sums_find(const struct gw_ls_sums *s, const struct gw_listener *ls);
void gw_ls_sums_free(struct gw_ls_sums *s);

/* Set the gauges and kernel-side counters of the metrics (s1: NULL without eBPF). */
void gw_stats_snapshot(struct gw_worker *pw, struct gw_stage1 *s1);

#endif
