/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where a connection comes from (source.c): the userspace Stage 1 check
 * of allow_sources, and behind a load balancer (listeners[].proxy_protocol)
 * the PROXY v2 header that names the client, read before the handshake.
 */
#ifndef GW_SOURCE_H
#define GW_SOURCE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

struct gw_conn;

/*
 * Stage 1 in userspace for a connection (conn_id 0 before there is one)
 * from src to dst (via a balancer, or NULL): true when allow_sources has src, or in audit mode;
 * a denial is logged (authz_deny, source_denied) and counted here, and
 * closing is the caller's.
 */
bool gw_source_allowed(const struct gw_cfg_listener *lc, uint64_t conn_id,
		       const struct sockaddr *src, const struct sockaddr *dst,
		       const struct sockaddr *via);

/* Whether src is one of lc's balancers (proxy_protocol.from). */
bool gw_source_is_balancer(const struct gw_cfg_listener *lc, const struct sockaddr *src);

enum gw_source_result {
	GW_SOURCE_DONE,		/* header read: c->src, c->dst, c->via set */
	GW_SOURCE_WAIT,		/* more to come: wait for EPOLLIN */
	GW_SOURCE_FAIL,		/* *reason (and *detail, may be NULL) say why */
};

/*
 * Read c's PROXY v2 header from its client socket, never a byte past its
 * end: the TLS handshake starts on the next. Call again on EPOLLIN until
 * it is DONE or FAIL; c is not closed here.
 */
enum gw_source_result gw_source_read_proxy(struct gw_conn *c, const char **reason,
					   const char **detail);

#endif
