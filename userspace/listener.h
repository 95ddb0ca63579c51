/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Listening sockets of one worker: open, bind and listen; each worker's
 * share of a listener's limits; pause while at the share, resume when
 * under it; apply a new generation (keep, open, retire); and the
 * per-listener counters. accept.c does the accepting.
 */
#ifndef GW_LISTENER_H
#define GW_LISTENER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "loop.h"
#include "worker.h"

/*
 * A listening socket. It survives reloads that keep its address; its
 * policy (cfg, tls) always points into the current generation. A listener
 * removed by a reload closes its socket and lives on until its last
 * connection is gone.
 */
struct gw_ls_route;

struct gw_listener {
	struct gw_worker *w;
	struct gw_ev ev;		/* the listening socket */
	struct gw_gen *gen;
	const struct gw_cfg_listener *cfg;
	struct gw_tls_server *tls;
	unsigned int index;		/* in gen->cfg->listeners */
	unsigned int slot;		/* in the steering SOCKMAP */
	bool paused;			/* limits reached or backing off: not accepting */
	struct gw_timer backoff;	/* pending: out of descriptors, not watched */
	bool removed;
	unsigned int n_conns;
	unsigned int n_handshakes;
	uint64_t bytes_in;		/* payload forwarded, for metrics */
	uint64_t bytes_out;
	/* listeners[].routes[]: the same per route name, each kept once seen */
	struct gw_ls_route *routes;
	unsigned int n_routes;
	struct gw_listener *next;
};

/*
 * A route's counters, by its name: a worker's listener keeps its bytes;
 * the sums over the workers (stats.h) add its live connections.
 */
struct gw_ls_route {
	char name[65];
	uint64_t bytes_in, bytes_out;
	double active[2];		/* summed only: [0] userspace datapath, [1] kTLS */
};

/* The index in *v (*n of them) of the route named name, appended if new; -1 without memory. */
int gw_ls_route_find(struct gw_ls_route **v, unsigned int *n, const char *name);

/*
 * Worker index's share of limit among n_workers: the shares add up to the
 * limit. The workers accept from one queue, so while one is at its share
 * the others take the connections until theirs are reached too.
 */
unsigned int gw_limit_share(unsigned int limit, unsigned int n_workers, unsigned int index);

/* Accept while under the worker's shares of the limits; pause otherwise. */
void gw_listener_update(struct gw_listener *ls);

/*
 * accept() failed for want of a resource (EMFILE, ENFILE, ENOBUFS,
 * ENOMEM): stop watching the socket for GW_ACCEPT_BACKOFF_MS instead of
 * being woken for the same queued connection again and again. The queue
 * waits in the kernel; a descriptor freed meanwhile serves it.
 */
#define GW_ACCEPT_BACKOFF_MS 100
void gw_listener_backoff(struct gw_listener *ls);

/* The live listener of w bound to addr, or NULL. */
struct gw_listener *gw_listener_find(struct gw_worker *w, const struct sockaddr_storage *addr,
				     socklen_t len);

/*
 * Make w's listeners match gen: keep sockets whose address stays, open
 * new ones (on_accept handles their events), close the ones gone. All new
 * sockets are opened before anything changes, so a failure (address in
 * use) leaves everything as it was. 0 or -errno (logged).
 */
int gw_listeners_apply(struct gw_worker *w, struct gw_gen *gen, gw_ev_fn on_accept);

/*
 * Make peer w's listeners those of the primary pw: the same listening
 * sockets (its own descriptors of them), its own TLS contexts of pw's
 * generation.
 */
void gw_listeners_sync(struct gw_worker *w, struct gw_worker *pw, gw_ev_fn on_accept);

/* Pause or resume every live listener after its limits or generation changed. */
void gw_listeners_update(struct gw_worker *w);

/* Close every listening socket (stop accepting); connections stay. */
void gw_listeners_close(struct gw_worker *w);

/* Free removed listeners whose last connection is gone. */
void gw_listeners_reap(struct gw_worker *w);

/* Free them all (no connection may be left). */
void gw_listeners_free(struct gw_worker *w);

#endif
