/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Transport for the two small request/response servers in the worker:
 * the control socket (unix stream, mode 0600, one command line per
 * connection) and the metrics endpoint (HTTP/1.0 GET /metrics).
 *
 * Both are local administration interfaces: a request is read and
 * answered synchronously with short timeouts, so a stuck client costs the
 * event loop at most GW_CTL_TIMEOUT_MS.
 */
#ifndef GW_CONTROL_H
#define GW_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define GW_CTL_TIMEOUT_MS 200
#define GW_CTL_MAX_REQUEST 1024

/* Bind a unix stream socket at path (stale socket replaced), mode 0600. */
int gw_ctl_listen_unix(const char *path);
/* Bind a TCP socket at "IP:port" (reuseport: for a takeover successor). */
int gw_ctl_listen_tcp(const char *addr, bool reuseport);

/*
 * Accept one client on lfd and read its request: up to the first newline
 * (control) or the end of the HTTP request head. Returns the client fd
 * with the request in buf, or -errno.
 */
int gw_ctl_accept(int lfd, char *buf, size_t len);

/* Write all of data to the client and close it. */
void gw_ctl_reply(int cfd, const char *data, size_t len);

enum gw_ctl_cmd {
	GW_CTL_UNKNOWN,
	GW_CTL_STATUS,
	GW_CTL_CONNS,
	GW_CTL_RELOAD,
	GW_CTL_HANDOVER,		/* from a --takeover successor */
	GW_CTL_KILL,
};

enum gw_ctl_kill_by {
	GW_KILL_CONN,
	GW_KILL_SERIAL,
	GW_KILL_SPIFFE_ID,
};

/* One control request line, parsed; the strings point into the line. */
struct gw_ctl_req {
	enum gw_ctl_cmd cmd;
	const char *word;		/* the command word as sent */
	bool json;			/* conns json */
	enum gw_ctl_kill_by kill_by;	/* kill conn|serial|spiffe-id VALUE */
	const char *value;
};

/*
 * Parse a request (cut at the first CR or LF, words split at single
 * spaces, the line is changed in place). A kill without its two arguments,
 * or with another selector, is GW_CTL_UNKNOWN.
 */
void gw_ctl_parse(char *line, struct gw_ctl_req *req);

#endif
