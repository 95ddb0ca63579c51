/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Test hosts in network namespaces: a gateway namespace and a client
 * namespace joined by a veth pair, both created by the test and always
 * removed (gwt_topo_destroy is safe on a half-built topology).
 *
 *   client ns  CL_IF  10.213.0.2 (allowed), 10.213.0.3 (denied)
 *                     fd00:213::2 (allowed), fd00:213::3 (denied)
 *        | veth |
 *   gw ns      GW_IF  10.213.0.1, fd00:213::1
 *
 * Sockets keep the namespace they were created in, so a test enters a
 * namespace, creates sockets or forks processes, and leaves again.
 */
#ifndef GWT_NETNS_H
#define GWT_NETNS_H

#include <stdbool.h>

#define GWT_GW_V4 "10.213.0.1"
#define GWT_GW_V6 "fd00:213::1"
#define GWT_CL_V4_ALLOWED "10.213.0.2"
#define GWT_CL_V4_DENIED "10.213.0.3"
#define GWT_CL_V6_ALLOWED "fd00:213::2"
#define GWT_CL_V6_DENIED "fd00:213::3"

struct gwt_topo {
	char gw_ns[32];
	char cl_ns[32];
	char gw_if[16];
	char cl_if[16];
	bool created;
};

/* Run a shell command; 0 when it exits 0. Output goes to the test log. */
int gwt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Run a command and return its stdout (malloc'd), NULL on failure. */
char *gwt_sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int gwt_topo_create(struct gwt_topo *t);
void gwt_topo_destroy(struct gwt_topo *t);

/* Switch this process into ns (by name); returns the fd of the old one. */
int gwt_netns_enter(const char *ns);
/* Back to the namespace saved by gwt_netns_enter. */
void gwt_netns_leave(int saved);

/*
 * Nonblocking TCP connect from src to dst:port within timeout_ms.
 * Returns the connected fd, -ETIMEDOUT when no answer came (a dropped
 * SYN), or another -errno (-ECONNREFUSED for an RST).
 */
int gwt_tcp_connect_from(const char *src, const char *dst, int port, int timeout_ms);

struct gwt_gw;
struct gwt_backend;

/* The topology and an echo backend inside its gateway namespace. 0 or -1. */
int gwt_topo_env_start(struct gwt_topo *t, struct gwt_backend *be);
/* Stop backend and gateway, remove the topology; 0 when the gateway exited cleanly. */
int gwt_topo_env_stop(struct gwt_topo *t, struct gwt_backend *be, struct gwt_gw *gw);

/* Start the daemon inside namespace ns (it forks from there). 0 or -1. */
int gwt_gw_start_in(struct gwt_gw *g, const char *ns);

/* gwt_tcp_connect_from, from inside namespace ns. */
int gwt_connect_in(const char *ns, const char *src, const char *dst, int port, int timeout_ms);

#endif
