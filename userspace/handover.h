/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Steering and zero-refusal restarts: the sk_lookup destination table for
 * the running listeners, and the takeover handshake with the daemon being
 * replaced (it drains once our sockets are in the steering map).
 */
#ifndef GW_HANDOVER_H
#define GW_HANDOVER_H

#include <stdbool.h>

#include "worker.h"

struct gw_steer_prog;

/*
 * The steering table for w's live listeners (takeover: their own
 * addresses too, so the map decides every SYN). 0 or -errno (logged; the
 * previous table stays).
 */
int gw_handover_steer_apply(struct gw_worker *w, struct gw_steer_prog *steer, bool takeover);
/* The table, then the sk_lookup program attached. 0 or -errno (logged). */
int gw_handover_steer_start(struct gw_worker *w, struct gw_steer_prog *steer, bool takeover);

/*
 * Our sockets are in the steering map now: ask the daemon on ctl_path to
 * drain. It may be gone already (a crash): then there is nobody to ask.
 */
void gw_handover_notify(const char *ctl_path);

#endif
