/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Why a handshake failed: the stable reason token of the audit log and of
 * the handshake metrics (docs/audit-log.md lists every one), and the
 * detail for operators. From what verification recorded first, else from
 * OpenSSL's error queue.
 */
#ifndef GW_TLS_REASON_H
#define GW_TLS_REASON_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "tls.h"

/*
 * Stable reason token for a failed handshake: from the verification
 * result if verification failed, else from ssl_err, the first error of
 * OpenSSL's queue (0: none). Never NULL.
 */
const char *gw_tls_fail_reason(SSL *ssl, const struct gw_verify_result *vr,
			       unsigned long ssl_err);

/* Reason token for an X509_V_ERR_* code. */
const char *gw_tls_x509_reason(int x509_err);

/*
 * The detail of the same failure into buf: our own words where the
 * refusal is ours alone (a client chain longer than verify_depth
 * allows), else OpenSSL's error queue. Drains the queue either way.
 */
void gw_tls_fail_detail(SSL *ssl, const struct gw_verify_result *vr, unsigned long ssl_err,
			char *buf, size_t len);

#endif
