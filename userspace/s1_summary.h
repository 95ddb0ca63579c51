/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Stage 1 in the audit log: the eBPF program's counters and its sampled
 * drops turned into one stage1_drops line per listener and period, with
 * the most-seen source prefixes (/24, /64).
 */
#ifndef GW_S1_SUMMARY_H
#define GW_S1_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include <linux/types.h>

#include "../bpf/gw_abi.h"
#include "worker.h"

#define GW_S1_TOP 16

/* The most-seen sampled sources of one listener in this period. */
struct gw_s1_top {
	struct gw_s1_source {
		struct gw_cidr prefix;
		uint64_t samples;
		uint8_t verdict;
	} v[GW_S1_TOP];
};

/* The prefix a sample counts for: its source's /24 or /64. */
void gw_s1_prefix_of(const struct gw_s1_event *e, struct gw_cidr *p);
/* Count a sample; when the table is full the least-seen entry makes room. */
void gw_s1_top_add(struct gw_s1_top *t, const struct gw_cidr *p, uint8_t verdict);
/*
 * The table as the body of a JSON array ({"prefix":…,"samples":…},…),
 * as many entries as fit, then empty it.
 */
void gw_s1_top_json(struct gw_s1_top *t, char *buf, size_t len);

struct gw_stage1;
struct gw_s1_summary;

/*
 * Read s1's samples and counters in w's loop and audit a summary every
 * period_ms; listener names come from w's current generation. NULL on
 * failure (logged).
 */
struct gw_s1_summary *gw_s1_summary_start(struct gw_worker *w, struct gw_stage1 *s1,
					  uint64_t period_ms);
void gw_s1_summary_free(struct gw_s1_summary *s);

#endif
