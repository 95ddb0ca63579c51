/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One listener of the validated configuration, or one of its routes (a
 * listener's routes[] are of the same type): the policy a connection is
 * handled under. Filled by config.c and config_routes.c; config.h holds
 * the whole configuration around it.
 */
#ifndef GW_CONFIG_LISTENER_H
#define GW_CONFIG_LISTENER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "authz.h"
#include "config_tls.h"
#include "idlimit.h"

enum gw_mode {
	GW_MODE_ENFORCE,
	GW_MODE_AUDIT,
};

enum gw_proxy_protocol {
	GW_PROXY_OFF,
	GW_PROXY_V2,
};

/* upstream: where the connections of a listener or route go. */
struct gw_cfg_upstream {
	char *address_str;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	enum gw_proxy_protocol proxy_protocol;	/* default off */
	struct gw_cfg_upstream_tls *tls;	/* NULL = plain TCP */
	uint64_t connect_timeout_ms;		/* default 5000 */
};

struct gw_cfg_listener {
	char *name;
	/*
	 * listeners[idx] (-1: metrics.tls), and for messages the key path of
	 * this policy within it: "" or "routes[2]." (a route).
	 */
	int idx;
	char *kp;
	/* listeners[].limits.per_identity's table: "NAME", or "NAME/ROUTE" (a route) */
	char *qname;
	char *listen_str;
	struct sockaddr_storage listen;
	socklen_t listen_len;
	char **interfaces;
	unsigned int n_interfaces;
	enum gw_mode mode;		/* default enforce */
	struct gw_steer *steer;		/* more destinations for this socket */
	unsigned int n_steer;
	struct gw_cidr *allow_sources;
	unsigned int n_allow_sources;
	bool allow_any;			/* allow_sources omitted */
	/*
	 * proxy_protocol: { accept: v2, from: [...] }: connections come from
	 * these balancers only, each with a PROXY v2 header naming the client;
	 * allow_sources then applies to the client the header names.
	 */
	bool proxy_accept;
	struct gw_cidr *proxy_from;
	unsigned int n_proxy_from;
	struct gw_cfg_tls tls;
	struct gw_authz_rule *rules;
	unsigned int n_rules;
	struct gw_cfg_upstream upstream;
	unsigned int max_connections;	/* default 10000 */
	unsigned int max_handshakes;	/* in flight, default 1000 */
	uint64_t max_connection_lifetime_ms;	/* 0 = unlimited (default) */
	uint64_t idle_timeout_ms;	/* no progress either way; 0 = none; default 600000 */
	bool close_on_expiry;		/* close at the client cert's notAfter, default true */
	/* limits.per_identity; all zero: none (idlimit.h) */
	struct gw_idl_limits per_identity;
	bool limit_identities;
	/*
	 * routes[]: services on this listener chosen by the ClientHello's
	 * server name (config_routes.h). Each is a gw_cfg_listener of its own
	 * with the listener's name, its route name and server_names, and
	 * what it inherits (addresses, timeouts, tls keys it does not set)
	 * copied in; its routes are none. The listener's own keys are the
	 * default route when it has an upstream (has_default, route
	 * "default"); without one, a name no route has is refused.
	 */
	struct gw_cfg_listener *routes;
	unsigned int n_routes;
	bool has_default;
	char *route;			/* NULL: a listener without routes */
	char **server_names;		/* a route's: lowercase, exact or "*.suffix" */
	unsigned int n_server_names;
};

#endif
