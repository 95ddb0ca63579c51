/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A TLS echo backend that demands a client certificate, in C, for the
 * tests of upstream.tls inside the QEMU guests (no socat or Python there).
 * One thread per connection, blocking OpenSSL calls; what it saw goes to
 * the same shared struct gwt_backend_stats as the plain backend's:
 * rx_bytes, rx_sha256, head, fin_seen = the gateway's close_notify,
 * rst_seen = the connection ended without one.
 */
#ifndef GWT_TLS_BACKEND_H
#define GWT_TLS_BACKEND_H

#include <stdint.h>

#include "gwtest.h"

struct gwt_tls_backend_opts {
	const char *cert;		/* base name in the PKI; NULL = "backend" */
	const char *client_ca;		/* PKI file the client must chain to; NULL = "root-ca.crt" */
	int max_version;		/* 0 = TLS1_3_VERSION */
	const char *ciphers;		/* TLS 1.2 list, NULL = OpenSSL's default */
	const char *ciphersuites;	/* TLS 1.3 list, NULL = OpenSSL's default */
	/* TLS 1.3: a KeyUpdate asking for one back once this much was echoed (0: never) */
	uint64_t key_update_after;
	/* close_notify once this much was echoed (0: echo until the gateway's) */
	uint64_t close_after;
	/* a reset (SO_LINGER 0, close) once this much arrived (0: never) */
	uint64_t rst_after;
};

/* Start it on 127.0.0.1 (b->port). 0 or -errno. Stop with gwt_backend_stop. */
int gwt_tls_backend_start(struct gwt_backend *b, const struct gwt_tls_backend_opts *o);

#endif
