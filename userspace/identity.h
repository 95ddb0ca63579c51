/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The verified identity of a peer, extracted once from its leaf certificate
 * right after the handshake. Everything policy, audit and control need is
 * copied out, so the X509 and SSL objects can be freed afterwards.
 */
#ifndef GW_IDENTITY_H
#define GW_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>

/* One subject attribute, e.g. { "OU", "prod" }; key is OpenSSL's short name. */
struct gw_name_attr {
	char *key;
	char *value;		/* UTF-8 */
};

struct gw_identity {
	char *subject;		/* RFC 2253 string, e.g. "CN=a,OU=prod,O=Corp" */
	char *issuer;		/* RFC 2253 string */
	char *serial;		/* upper-case hex, no separators, e.g. "1A2B" */
	unsigned char sha256[32];	/* DER fingerprint of the leaf */

	struct gw_name_attr *subject_attrs;	/* in certificate order */
	unsigned int n_subject_attrs;

	char **san_dns;
	unsigned int n_san_dns;
	char **san_uri;
	unsigned int n_san_uri;
	char **san_ip;		/* printable addresses */
	unsigned int n_san_ip;

	/* The single spiffe:// URI SAN; NULL when none or two or more. */
	const char *spiffe_id;	/* points into san_uri */

	time_t not_before;
	time_t not_after;

	/*
	 * References: connections of one thread with the same leaf share
	 * one identity (tcache.h); gw_identity_free drops one.
	 */
	unsigned int refs;
};

/*
 * Build from a certificate, or share the identity this thread built from
 * the same certificate (equal SHA-256). NULL on allocation failure or a
 * broken cert. Immutable once returned.
 */
struct gw_identity *gw_identity_from_x509(X509 *cert);
void gw_identity_free(struct gw_identity *id);

/*
 * The fingerprint as "AB:CD:..." (95 characters) in buf, which must hold
 * GW_SHA256_HEX_LEN bytes. Made when needed (the audit log), not kept: a
 * spliced connection's whole userspace state stays under 2 KiB.
 */
#define GW_SHA256_HEX_LEN 96
const char *gw_identity_sha256_hex(const struct gw_identity *id, char *buf);

#endif
