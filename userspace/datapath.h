/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The datapath interface: how a connection's bytes move once both stages
 * passed and the backend is connected. Two implementations:
 * datapath_userspace.c (OpenSSL copy loop) and datapath_splice.c (kTLS on
 * the client socket, splice()). The handshake picks one per connection
 * (c->dp); conn.c and upstream.c only call through this table.
 */
#ifndef GW_DATAPATH_H
#define GW_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>

struct gw_conn;

struct gw_dp_ops {
	const char *name;		/* "userspace", "splice": audit, metrics, conns */
	bool ktls;			/* the kernel does the client's TLS records */
	/*
	 * Start forwarding. prefix, when not NULL, is a GW_BUF_SIZE buffer
	 * from malloc holding len bytes for the backend before any client
	 * byte (the PROXY header); the datapath owns it from here on, also
	 * when it fails. 0, or -errno when the connection could not start
	 * (the caller closes it).
	 */
	int (*start)(struct gw_conn *c, char *prefix, size_t len);
	/* Send the client close_notify, best effort: 0, or -errno (-EAGAIN: full). */
	int (*close_notify)(struct gw_conn *c);
	/* Release what the datapath holds; called once, when c is freed. */
	void (*free)(struct gw_conn *c);
};

extern const struct gw_dp_ops gw_dp_userspace;
extern const struct gw_dp_ops gw_dp_splice;

#endif
