/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Connection steering: loads bpf/steer.bpf.c (sk_lookup), keeps its
 * SOCKMAP of listening sockets and its destination table, and attaches it
 * to the daemon's network namespace with a BPF link.
 */
#ifndef GW_STEER_H
#define GW_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "addr.h"
#include "../bpf/gw_abi.h"

struct gw_steer_prog;

/* A steered destination and the socket slot it goes to. */
struct gw_steer_entry {
	struct gw_steer dst;
	unsigned int slot;
	const char *listener;		/* for messages */
};

/*
 * Load the program. With pin_dir, its maps and link live there so another
 * mtlsgw can take them over: takeover=true reuses the pinned maps and
 * swaps the program of the pinned link; takeover=false removes stale pins
 * (a crashed daemon's) and starts afresh.
 */
int gw_steer_load(struct gw_steer_prog **out, const char *pin_dir, bool takeover,
		  char *err, size_t len);
/* On exit: remove the pins unless another daemon took them over. */
void gw_steer_set_handed_over(struct gw_steer_prog *s);
/* Replace the destination table (idle generation, then one flip). */
int gw_steer_update(struct gw_steer_prog *s, const struct gw_steer_entry *e,
		    unsigned int n, char *err, size_t len);
int gw_steer_set_socket(struct gw_steer_prog *s, unsigned int slot, int fd);
void gw_steer_clear_socket(struct gw_steer_prog *s, unsigned int slot);
/* Attach to the current network namespace (a BPF link). 0 or -errno. */
int gw_steer_attach(struct gw_steer_prog *s);
int gw_steer_hits(const struct gw_steer_prog *s, unsigned int slot,
		  struct gw_steer_hits *out);
void gw_steer_free(struct gw_steer_prog *s);

#endif
