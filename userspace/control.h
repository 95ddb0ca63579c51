/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The admin protocols, apart from their transport (reqsrv.c): the
 * listening sockets of the control socket (unix stream, mode 0600, one
 * command line per connection) and the metrics endpoint (HTTP/1.x
 * GET /metrics), and the parsers of their requests. Pure functions but
 * the two listens.
 */
#ifndef GW_CONTROL_H
#define GW_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define GW_CTL_MAX_REQUEST 1024

/* Bind a unix stream socket at path (stale socket replaced), mode 0600. */
int gw_ctl_listen_unix(const char *path);
/* Bind a TCP socket at "IP:port" (reuseport: for a takeover successor). */
int gw_ctl_listen_tcp(const char *addr, bool reuseport);

enum gw_http_parse {
	GW_HTTP_INCOMPLETE,		/* no empty line yet, nothing wrong so far */
	GW_HTTP_BAD,			/* answer 400 */
	GW_HTTP_DONE,
};

struct gw_http_req {
	char method[16];
	char target[256];
};

/*
 * Parse an HTTP/1.x request head in buf[0, n): "METHOD SP target SP
 * HTTP/1.x", header lines, an empty line (CRLF or bare LF line ends). A
 * NUL byte, a malformed request line or an overlong method or target is
 * BAD as soon as it is seen, not when the head ends.
 */
enum gw_http_parse gw_http_parse(const char *buf, size_t n, struct gw_http_req *req);

enum gw_ctl_cmd {
	GW_CTL_UNKNOWN,
	GW_CTL_STATUS,
	GW_CTL_CONNS,
	GW_CTL_RELOAD,
	GW_CTL_HANDOVER,		/* from a --takeover successor */
	GW_CTL_KILL,
	GW_CTL_TOP,			/* identities under limits.per_identity */
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
