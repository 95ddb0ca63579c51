/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * PROXY protocol v2 header towards the backend, carrying the client's
 * addresses and the verified identity, so the backend can log or authorize
 * on it without terminating TLS itself.
 *
 * TLVs: PP2_TYPE_SSL (0x20) with client flags SSL|CERT_CONN|CERT_SESS,
 * verify 0 and the sub-TLVs VERSION (0x21), CN (0x22), CIPHER (0x23);
 * and in the range reserved for applications:
 *   0xE0 SPIFFE ID (when the certificate has exactly one)
 *   0xE1 subject DN (RFC 2253)
 *   0xE2 SHA-256 fingerprint of the client certificate (32 raw bytes)
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

#include "identity.h"

#define GW_PP2_TYPE_SSL		0x20
#define GW_PP2_SUBTYPE_SSL_VERSION 0x21
#define GW_PP2_SUBTYPE_SSL_CN	0x22
#define GW_PP2_SUBTYPE_SSL_CIPHER 0x23
#define GW_PP2_TYPE_SPIFFE_ID	0xE0
#define GW_PP2_TYPE_SUBJECT	0xE1
#define GW_PP2_TYPE_SHA256	0xE2

/*
 * Build the header for a connection from src to dst (the address the
 * client reached). Returns its length, or -ENOSPC when buf is too small.
 */
int gw_proxy_v2_build(unsigned char *buf, size_t len,
		      const struct sockaddr *src, const struct sockaddr *dst,
		      const struct gw_identity *id, const char *tls_version,
		      const char *cipher);

#endif
