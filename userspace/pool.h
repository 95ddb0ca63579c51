/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The workers: one event-loop thread each, all accepting from the same
 * listening sockets. Worker 0, the primary, runs in the main thread; the
 * others (peers) only serve connections, and the primary reaches into
 * them only through gw_pool_each(), which runs a function in the peer's
 * own thread while the primary waits.
 */
#ifndef GW_POOL_H
#define GW_POOL_H

#include "gen.h"
#include "worker.h"

typedef void (*gw_worker_fn)(struct gw_worker *w, void *arg);

/* Worker 0 of n_workers for gen (it takes the reference). NULL on failure (logged). */
struct gw_worker *gw_worker_new(struct gw_gen *gen, unsigned int n_workers);
/* Closes what it still holds; ends and frees the peers of a primary. */
void gw_worker_free(struct gw_worker *w);

/* Run w's loop until it stopped and drained. 0, or -errno (logged). */
int gw_worker_loop(struct gw_worker *w);

/*
 * Stopping, in two steps: close the listening sockets, then drain the
 * connections for drain_timeout and end the loop once none is left.
 */
void gw_worker_stop_accepting(struct gw_worker *w);
void gw_worker_drain(struct gw_worker *w, const char *why);

/* Start the peers of the primary pw (they take its generation and sockets). 0 or -errno (logged). */
int gw_pool_start(struct gw_worker *pw);
/* Run fn(peer, arg) in each running peer's thread, one after another. */
void gw_pool_each(struct gw_worker *pw, gw_worker_fn fn, void *arg);
/* Every peer takes pw's generation and listeners, and rechecks its connections. */
void gw_pool_sync(struct gw_worker *pw);
/* Every peer stops accepting and drains (why: "takeover" takes its queue first). */
void gw_pool_stop(struct gw_worker *pw, const char *why);

#endif
