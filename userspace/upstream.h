/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The backend connection of a client that passed both stages: connect,
 * the PROXY header, the connection's lifetime limit and idle timeout, then
 * its datapath.
 */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

struct gw_conn;

/*
 * Connect c to its listener's upstream within connect_timeout, then
 * start c->dp. A backend that refuses or does not answer closes c
 * (upstream_unreachable, with close_notify to the client).
 */
void gw_upstream_connect(struct gw_conn *c);

#endif
