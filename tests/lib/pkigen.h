/* SPDX-License-Identifier: GPL-2.0-only */
/* Certificates made in memory for unit tests: no files, no PKI directory. */
#ifndef GWT_PKIGEN_H
#define GWT_PKIGEN_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* A new P-256 key. */
EVP_PKEY *gwt_ec_key(void);

/*
 * A certificate "CN=cn" for key, signed by signer (issuer's name;
 * self-signed when issuer is NULL), valid from now + from to now + to
 * seconds. A CA, or a leaf with the clientAuth purpose. NULL on failure.
 */
X509 *gwt_make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *signer,
		    bool ca, long from, long to, long serial);

/*
 * Add a subjectAltName of URIs taken byte for byte (no check that they are
 * IA5: tests put what an attacker would), then sign x again with signer.
 * 0 or -1.
 */
int gwt_cert_set_uri_sans(X509 *x, const char *const *uris, unsigned int n, EVP_PKEY *signer);
/* The same with "DNS:name" and "URI:uri" entries (at most 16). */
int gwt_cert_set_sans(X509 *x, const char *const *sans, unsigned int n, EVP_PKEY *signer);

#endif
