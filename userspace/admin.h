/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Administration: the answers of the control commands that read or act
 * on the workers' connections (status, conns, kill) and the Prometheus
 * endpoint. daemon.c owns the control socket and dispatches to these.
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "loop.h"
#include "reqsrv.h"
#include "util.h"
#include "worker.h"

struct gw_stage1;
struct gw_steer_prog;

struct gw_admin {
	struct gw_worker *w;		/* the primary */
	struct gw_stage1 *s1;		/* NULL: userspace Stage 1 only */
	struct gw_steer_prog *steer;	/* NULL: no steering */
	const char *kernel_info;	/* what the capability probe found */
	uint64_t t_start_ms;
	struct gw_reqsrv metrics;	/* the Prometheus endpoint */
};

/* "mtlsgwctl status". */
void gw_admin_status(struct gw_admin *a, struct gw_sbuf *b);
/* "mtlsgwctl conns [--json]": every worker's connections with the kernel's view. */
void gw_admin_conns(struct gw_admin *a, struct gw_sbuf *b, bool json);
/*
 * "mtlsgwctl top [--json]": per listener with limits.per_identity, the
 * identities with the most live connections, then new ones per second.
 */
void gw_admin_top(struct gw_sbuf *b, bool json);
/* Close every connection matching; how many. */
unsigned int gw_admin_kill(struct gw_admin *a, enum gw_ctl_kill_by by, const char *value);

/* Listen on metrics.listen (if set). 0 or -errno (logged). */
int gw_admin_metrics_start(struct gw_admin *a, const char *listen, bool reuseport);
/* Serve the metrics on the listening socket fd instead (a reload moved it). */
void gw_admin_metrics_serve(struct gw_admin *a, int fd);
void gw_admin_metrics_stop(struct gw_admin *a);

#endif
