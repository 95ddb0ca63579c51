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

struct gw_audit_event {
	const char *event;		/* conn_open, conn_close, handshake_fail, ... */
	uint64_t conn_id;		/* 0 = none */
	const char *listener;
	const struct sockaddr *src;
	const struct sockaddr *dst;
	const struct gw_identity *id;	/* identity fields when known */
	bool id_unverified;		/* id is the claim of a certificate that failed
					   verification: nested under "unverified" */
	const char *tls_version;
	const char *cipher;
	const char *rule;
	const char *decision;		/* allow | deny | would_deny */
	const char *reason;
	const char *detail;		/* free text for operators */
	const char *datapath;
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

/* Write one event. Returns 0 or -errno (the caller counts failures). */
int gw_audit_emit(const struct gw_audit_event *ev);

#endif
