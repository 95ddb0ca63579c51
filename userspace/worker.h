/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A worker: one epoll event loop that owns listening sockets and every
 * connection accepted on them. main.c builds it from a validated config,
 * binds, then runs it until SIGTERM/SIGINT (drain) or a fatal error.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include "config.h"
#include "util.h"

struct gw_worker;

/*
 * Build every listener's TLS state from cfg (which the worker borrows and
 * must outlive it). NULL when anything is invalid, with the problems in
 * diag; warnings go to warn either way.
 */
struct gw_worker *gw_worker_new(const struct gw_config *cfg,
				struct gw_diag *diag, struct gw_diag *warn);

/* Create, bind and listen on every listener's socket. 0 or -errno (logged). */
int gw_worker_listen(struct gw_worker *w);

/* Run until stopped. 0 after a clean stop, -errno on a runtime failure. */
int gw_worker_run(struct gw_worker *w);

void gw_worker_free(struct gw_worker *w);

#endif
