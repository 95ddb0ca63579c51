/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The state of one worker: an event-loop thread that accepts on the
 * shared listening sockets and serves its connections. This header is
 * only the data every layer of a worker reads; the code that runs a
 * worker is pool.c (threads, calls between workers), listener.c,
 * conn.c and accept.c.
 *
 * Concurrency invariants: a worker's loop, listeners and connections are
 * touched only by its own thread, except while the primary waits in
 * gw_pool_call() for a peer to run a function for it (the primary does
 * nothing else meanwhile). Across threads only these are shared: the
 * generations (atomic reference counts; the TLS contexts in them are per
 * worker), the fields marked "atomic" below, the inbox under call_lock,
 * and the metrics, audit and log modules (locked inside). Connections
 * are freed only between epoll batches (conn.h).
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gen.h"
#include "loop.h"

struct gw_certpool;
struct gw_conn;
struct gw_listener;
struct gw_steer_prog;

/* An accepted connection passed to a less loaded worker (accept.c). */
struct gw_handoff {
	struct gw_handoff *next;
	int fd;
	struct sockaddr_storage src;
	struct sockaddr_storage listen;	/* which listener: its address */
	socklen_t listen_len;
};

struct gw_pool_call;

struct gw_worker {
	struct gw_loop loop;
	struct gw_gen *gen;		/* current generation */
	unsigned int index, n_workers;	/* index 0: the primary */
	struct gw_worker **workers;	/* all of them, [index]; NULL with one */
	struct gw_certpool *certpool;	/* client certificates parsed here */
	unsigned int ktls;		/* ciphers the kernel takes (kcaps bits) */

	struct gw_listener *listeners;	/* live and removed-but-busy */
	struct gw_steer_prog *steer;	/* primary: the steering map; NULL otherwise */
	uint64_t slots_used;		/* steering socket slots, one per listener */

	unsigned int n_conns;
	struct gw_conn *all;		/* live connections */
	struct gw_conn *dead;		/* closed, freed after the batch */

	bool stopping;
	struct gw_timer drain_timer;	/* stopping: drain_timeout */
	int exit_err;

	/* pool.c: the thread and the calls into it */
	pthread_t thread;
	bool started;			/* peer: its thread runs */
	struct gw_ev call_ev;		/* eventfd: a call or a handoff is pending */
	pthread_mutex_t call_lock;
	pthread_cond_t call_cond;
	struct gw_pool_call *call;	/* pending, under call_lock */
	bool exited;			/* drained, loop ending: no calls, no handoffs (call_lock) */
	struct gw_handoff *inbox;	/* from other workers, under call_lock */
	unsigned int peers_running;	/* primary: atomic */
	struct gw_ev peers_ev;		/* primary: eventfd, a peer has stopped */

	/* read by the other workers to balance (atomic) */
	bool accepting;			/* running and not stopping */
	unsigned int load_conns;	/* = n_conns */
	unsigned int load_handshakes;	/* handshakes in progress */
	unsigned int load_pending;	/* handed to us, not yet taken */
};

/*
 * The splice tier under cfg: the kernel takes the cipher (a kcaps bit
 * mask; ~0u: any) and the config does not ask for userspace.
 */
static inline bool gw_worker_splice_tier(const struct gw_worker *w, const struct gw_config *cfg,
					 unsigned int want)
{
	return (w->ktls & want) && cfg->datapath != GW_DATAPATH_USERSPACE;
}

#endif
