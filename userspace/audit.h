/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The audit log: JSON Lines, one object per event, each written with a
 * single write(2) on an O_APPEND descriptor so lines never interleave.
 * Field names and reason tokens are part of the contract (SPEC.md).
 */
#ifndef GW_AUDIT_H
#define GW_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "identity.h"

/* The backend's side of a connection with upstream.tls. */
struct gw_audit_upstream {
	const struct gw_identity *id;	/* its verified leaf; NULL = nothing to say */
	const char *tls_version;
	const char *cipher;
	bool resumed;			/* the backend resumed our session */
};

struct gw_audit_event {
	const char *event;		/* conn_open, conn_close, handshake_fail, ... */
	uint64_t conn_id;		/* 0 = none */
	const char *listener;
	const char *route;		/* listeners[].routes[]: the route, NULL = none */
	const char *sni;		/* the ClientHello's server name; NULL or "" = none */
	const struct sockaddr *src;
	const struct sockaddr *dst;
	const struct sockaddr *via;	/* the balancer behind a PROXY header (family 0: none) */
	const struct gw_identity *id;	/* identity fields when known */
	bool id_unverified;		/* id is the claim of a certificate that failed
					   verification: nested under "unverified" */
	const char *tls_version;
	const char *cipher;
	const char *group;		/* key exchange group */
	const char *rule;
	const char *decision;		/* allow | deny | would_deny */
	const char *reason;
	const char *detail;		/* free text for operators */
	const char *datapath;
	struct gw_audit_upstream up;	/* nested under "upstream" when up.id is set */
	const char *extra_json;		/* pre-built ,"key":value... appended as is */
	bool counts;			/* the three below are set */
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t duration_ms;
};

#define GW_AUDIT_EVENT(...) ((struct gw_audit_event){ __VA_ARGS__ })

/* "-" = stderr. 0 or -errno. */
int gw_audit_open(const char *path);
/* Reopen the same path (SIGUSR1, after log rotation). */
int gw_audit_reopen(void);
void gw_audit_close(void);

/*
 * Write one event. 0 or -errno. A failure is counted here
 * (mtlsgw_audit_write_errors_total) and logged rate-limited; the first
 * write that works again is preceded by an audit_resumed line with the
 * number of lines lost ("lost"), in the same write(2).
 */
int gw_audit_emit(const struct gw_audit_event *ev);

/* log.audit_failure: refuse (true) or continue. Any thread, any time. */
void gw_audit_set_refuse(bool on);

/*
 * Whether new connections are to be refused: log.audit_failure is refuse
 * and the last write failed. While refusing it tries the log again at
 * most once a second (an audit_resumed line): a false answer means the
 * log works again. A SIGUSR1 reopen or a reload to another path tries at
 * once.
 */
bool gw_audit_refusing(void);

/*
 * The accept hook: true when the new connection fd may go on; false when
 * gw_audit_refusing(): fd is closed and counted in mtlsgw_handshakes_total
 * with reason audit_unavailable.
 */
bool gw_audit_admit(const char *listener, int fd);

#endif
