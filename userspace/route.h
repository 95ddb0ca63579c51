/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * listeners[].routes[] at handshake time (route.c): the server name of a
 * ClientHello, and the route it picks.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stddef.h>

#include "config_listener.h"

/* A DNS name's longest form, and the buffer gw_sni_parse fills. */
#define GW_SNI_MAX 253
#define GW_SNI_BUF (GW_SNI_MAX + 1)

/*
 * The host_name of a server_name extension's body ext[0..len) (RFC 6066
 * 3), lowercase and without a trailing dot, into out[GW_SNI_BUF]. 0; or
 * -EINVAL for a malformed list or a name that cannot be a DNS name
 * (empty, too long, a NUL or a byte outside printable ASCII); -ENOENT
 * for a list without a host_name.
 */
int gw_sni_parse(const unsigned char *ext, size_t len, char out[GW_SNI_BUF]);

/*
 * The route of l (index into l->routes) whose server_names have name (as
 * gw_sni_parse gives it): an exact name first, then a "*." pattern for
 * the name's first label. -1: none.
 */
int gw_route_find(const struct gw_cfg_listener *l, const char *name);

#endif
