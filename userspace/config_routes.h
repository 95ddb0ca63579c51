/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What a listener and each of its routes decide for themselves
 * (config_routes.c): the authorize rules and the upstream; and
 * listeners[].routes[], the services of one listener chosen by the
 * ClientHello's server name. Step 3 of config.c for those keys.
 */
#ifndef GW_CONFIG_ROUTES_H
#define GW_CONFIG_ROUTES_H

#include "config_listener.h"
#include "config_schema.h"
#include "config_values.h"

/* p.authorize: at least one rule, names unique (case-insensitively). */
void gw_cfg_vrules(struct gw_cv_ctx *v, const char *p, const struct gw_raw_rule *raw,
		   unsigned int n, struct gw_cfg_listener *l);
/* up (a key path): address, proxy_protocol, connect_timeout, tls. */
void gw_cfg_vupstream(struct gw_cv_ctx *v, const char *up, const struct gw_raw_upstream *u,
		      struct gw_cfg_upstream *out);

/*
 * p.routes (p: "listeners[i]"), once the rest of l is validated: each
 * route with a unique name other than "default", at least one server
 * name, and no server name another route (or itself) has already, in
 * any case. "*.example.com" covers one label ("a.example.com") and an
 * exact name beats a pattern, as with certificates and in nginx.
 */
void gw_cfg_vroutes(struct gw_cv_ctx *v, const char *p, const struct gw_raw_route *raw,
		    unsigned int n, struct gw_cfg_listener *l);

#endif
