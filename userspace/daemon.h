/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The daemon: the primary worker plus the control plane that only it
 * runs (signals, reload, the control socket, metrics, Stage 1 summaries,
 * steering, takeover, reload_on_change, certificate expiry warnings), in
 * the right order at start and at stop.
 */
#ifndef GW_DAEMON_H
#define GW_DAEMON_H

#include <stdbool.h>

#include "gen.h"
#include "util.h"

struct gw_stage1;
struct gw_steer_prog;

/* What main.c found and loaded before the daemon starts. */
struct gw_daemon_opts {
	/* Loaded Stage 1 programs (taken): maps filled from every generation. NULL: none. */
	struct gw_stage1 *stage1;
	/* The loaded steering program (taken). NULL: no steering. */
	struct gw_steer_prog *steer;
	/*
	 * Start as the successor of a running daemon: open our sockets,
	 * switch the steering map to them, then tell the old daemon (over
	 * its control socket) to drain and exit.
	 */
	bool takeover;
	/*
	 * The kernel has kTLS for these ciphers (gw_kcaps_cipher_mask; 0:
	 * none): connections that negotiated one move to the splice datapath.
	 */
	unsigned int ktls;
	/* What the kernel capability probe found, for "mtlsgwctl status". */
	const char *kernel_info;
};

struct gw_daemon;

/*
 * A daemon serving gen (it takes the reference, and the programs in o,
 * also on failure). NULL on failure (logged).
 */
struct gw_daemon *gw_daemon_new(struct gw_gen *gen, const struct gw_daemon_opts *o);

/*
 * Signals, Stage 1, the control socket and metrics, the listening
 * sockets and steering, in that order (takeover: the control socket and
 * metrics last, after the old daemon was told). 0 or -errno (logged).
 */
int gw_daemon_listen(struct gw_daemon *d);

/* Start the other workers and run until stopped. 0 after a clean stop, -errno otherwise. */
int gw_daemon_run(struct gw_daemon *d);

/*
 * Re-read the configuration file and swap in the new generation if all of
 * it is valid; otherwise keep the running one. 0 or -errno; logged and
 * audited either way; when out is given, the problems are added to it.
 */
int gw_daemon_reload(struct gw_daemon *d, struct gw_diag *out);

void gw_daemon_free(struct gw_daemon *d);

#endif
