/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A worker: one epoll event loop thread serving the connections accepted
 * on the listening sockets. main.c builds the first generation (config
 * and TLS contexts), binds, then runs the primary worker, which starts
 * the others ("workers") and runs until SIGTERM/SIGINT (drain) or a fatal
 * error. SIGHUP builds a new generation and swaps it in, in every worker,
 * only when all of it is valid.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <stdbool.h>

#include "config.h"
#include "util.h"

struct gw_gen;
struct gw_worker;

/*
 * Load the configuration at path and build every listener's TLS state for
 * n_workers workers (0: as many as the configuration's "workers" says).
 * NULL when anything is invalid, with the problems in diag; warnings go to
 * warn either way.
 */
struct gw_gen *gw_gen_build(const char *path, unsigned int n_workers,
			    struct gw_diag *diag, struct gw_diag *warn);
const struct gw_config *gw_gen_config(const struct gw_gen *gen);
unsigned int gw_gen_workers(const struct gw_gen *gen);
void gw_gen_put(struct gw_gen *gen);

/* A worker for gen (it takes the reference). NULL on allocation failure. */
struct gw_worker *gw_worker_new(struct gw_gen *gen);

/* Create, bind and listen on every listener's socket. 0 or -errno (logged). */
int gw_worker_listen(struct gw_worker *w);

/* Run until stopped. 0 after a clean stop, -errno on a runtime failure. */
int gw_worker_run(struct gw_worker *w);

/*
 * Re-read the configuration file and swap in the new generation if all of
 * it is valid; otherwise keep the running one. 0 or -errno; logged and
 * audited either way.
 */
int gw_worker_reload(struct gw_worker *w);

/*
 * Hand the loaded Stage 1 programs to the worker (it takes ownership): it
 * fills their maps from every generation, attaches them, and turns their
 * counters and samples into stage1_drops audit summaries.
 */
struct gw_stage1;
void gw_worker_set_stage1(struct gw_worker *w, struct gw_stage1 *s1);

/* Hand the loaded steering program to the worker (it takes ownership). */
struct gw_steer_prog;
void gw_worker_set_steer(struct gw_worker *w, struct gw_steer_prog *steer);

/*
 * Start as the successor of a running daemon: open our sockets, switch
 * the steering map to them, then tell the old daemon (over its control
 * socket) to drain and exit.
 */
void gw_worker_set_takeover(struct gw_worker *w, bool takeover);

/*
 * The kernel has kTLS for these ciphers (gw_kcaps_cipher_mask; 0: none):
 * connections that negotiated one of them move to the splice datapath.
 */
void gw_worker_set_ktls(struct gw_worker *w, unsigned int ciphers);

/* What the kernel capability probe found, for "mtlsgwctl status". */
void gw_worker_set_kernel_info(struct gw_worker *w, const char *info);

void gw_worker_free(struct gw_worker *w);

#endif
