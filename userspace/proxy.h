/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * PROXY protocol v2: the header towards the backend, carrying the client's
 * addresses and the verified identity, so the backend can log or authorize
 * on it without terminating TLS itself; and the parser for the header a
 * load balancer in front sends us (listeners[].proxy_protocol).
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

#include <stdbool.h>
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

/*
 * What a received header says. local: a LOCAL command (the balancer's own
 * health check) or an UNSPEC address family: the connection's own
 * addresses stand, as the protocol says. Otherwise src and dst are the
 * client's and the address it reached on the balancer.
 */
struct gw_proxy_v2 {
	bool local;
	struct sockaddr_storage src, dst;
};

#define GW_PROXY_V2_FIXED	16	/* signature, version/command, family, length */
#define GW_PROXY_V2_ADDRS_MAX	36	/* the largest address block used (TCP6) */

/*
 * Parse a received header of which buf holds the first len bytes; TLVs
 * are skipped unread. Returns the header's whole length (the bytes to
 * consume before TLS starts, up to 16 + 65535) once buf has the fixed
 * part and the address block (at most GW_PROXY_V2_FIXED +
 * GW_PROXY_V2_ADDRS_MAX bytes; never more than the header), -EAGAIN while
 * it needs more, -EINVAL with *why when this is not a v2 header we take:
 * decided as soon as a byte differs from the signature, so a client that
 * starts with its ClientHello is told after its first byte.
 */
/*
 * How many bytes of the header gw_proxy_v2_parse needs in hand, given the
 * first len: the fixed part, then the address block, never past the
 * header's end (so reading exactly this many never takes a TLS byte).
 */
size_t gw_proxy_v2_want(const unsigned char *buf, size_t len);
int gw_proxy_v2_parse(const unsigned char *buf, size_t len, struct gw_proxy_v2 *out,
		      const char **why);

#endif
