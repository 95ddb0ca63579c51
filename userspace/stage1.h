/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Stage 1 in the kernel: loads bpf/stage1.bpf.c, fills its maps from the
 * configuration, attaches it to the listeners' interfaces and reads its
 * counters and sampled drop events.
 *
 * Attach order per interface (stage1.attach: auto): XDP native, XDP
 * generic, then tc ingress. XDP and tcx attachments are BPF links, so they
 * vanish with the process; the netlink tc fallback (kernels without tcx)
 * is removed on exit, with the clsact qdisc if we created it.
 */
#ifndef GW_STAGE1_H
#define GW_STAGE1_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "config.h"
#include "../bpf/gw_abi.h"

struct gw_stage1;

/*
 * Open and load the programs (the verifier runs here). 0 or -errno with
 * the reason in err (e.g. "no permission to load BPF programs (EPERM)").
 */
int gw_stage1_load(struct gw_stage1 **out, char *err, size_t len);

/*
 * Fill the idle generation of the maps from cfg and make it live in one
 * map update; the running generation stays untouched on any failure.
 */
int gw_stage1_update(struct gw_stage1 *s, const struct gw_config *cfg,
		     char *err, size_t len);

/*
 * Attach to every interface some listener names, detach from interfaces no
 * longer named. Failures are logged per interface and leave that
 * interface without Stage 1 (userspace still checks). Returns how many
 * interfaces are attached.
 */
int gw_stage1_attach(struct gw_stage1 *s, const struct gw_config *cfg);

/* "xdp", "xdp-generic", "tcx", "tc" or NULL when ifname is not attached. */
const char *gw_stage1_mode(const struct gw_stage1 *s, const char *ifname);

/* Sum of a listener's counter over all CPUs. */
int gw_stage1_counter(const struct gw_stage1 *s, unsigned int listener,
		      unsigned int verdict, struct gw_s1_counter *out);

/* The ring buffer of sampled drops: an fd to poll, and a consumer. */
int gw_stage1_events_fd(const struct gw_stage1 *s);
typedef void (*gw_stage1_event_fn)(const struct gw_s1_event *ev, void *ctx);
int gw_stage1_events_consume(struct gw_stage1 *s, gw_stage1_event_fn fn, void *ctx);

/* Detach everything we attached and free. Accepts NULL. */
void gw_stage1_free(struct gw_stage1 *s);

#endif
