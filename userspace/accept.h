/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Accepting connections: the accept loop of a listening socket, the
 * userspace Stage 1 check, passing a connection to a less loaded worker,
 * and starting the handshake of the ones a worker keeps.
 */
#ifndef GW_ACCEPT_H
#define GW_ACCEPT_H

#include <stdint.h>

#include "loop.h"
#include "worker.h"

/* The event callback of every listening socket (listener.h's on_accept). */
void gw_accept_event(struct gw_ev *ev, uint32_t events);

/* Take what is queued on every listening socket of w now (a takeover's last call). */
void gw_accept_pending(struct gw_worker *w);

/* Serve the connections other workers passed to w (its inbox, taken). */
void gw_accept_handoffs(struct gw_worker *w, struct gw_handoff *h);

/* Close the connections of a list nobody will serve. */
void gw_handoffs_drop(struct gw_handoff *h);

#endif
