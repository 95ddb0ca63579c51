/* SPDX-License-Identifier: GPL-2.0-only */
/* Moving a connection's TLS legs from OpenSSL into the kernel (ktls_handoff.c). */
#ifndef GW_KTLS_HANDOFF_H
#define GW_KTLS_HANDOFF_H

struct gw_conn;

enum gw_ktls_handoff_result {
	GW_KTLS_HANDOFF_KERNEL,	/* the kernel has every TLS leg: splice datapath */
	GW_KTLS_HANDOFF_USERSPACE,	/* OpenSSL keeps every leg: userspace datapath */
	GW_KTLS_HANDOFF_CLOSED,	/* a key install failed: the connection was closed */
};

/*
 * Hand the client leg, and with upstream.tls (c->bssl) the backend leg
 * too, to kernel TLS: both or neither. Called once the last handshake
 * is done (the client's, or the backend's with upstream.tls).
 */
enum gw_ktls_handoff_result gw_ktls_handoff(struct gw_conn *c);

#endif
