/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A cache of verified issuer paths, so that a full mTLS handshake costs
 * one signature check of the client's leaf instead of a chain build, a
 * signature check per intermediate and per CRL and the store lookups
 * around them (DESIGN.md: that is most of OpenSSL 3.0's handshake cost).
 *
 * An entry is made only after OpenSSL's own X509_verify_cert accepted a
 * chain. It is keyed by the SHA-256 of the certificates the client sent
 * besides its leaf, and holds the verified path above the leaf (issuer up
 * to the trust anchor), the CRLs that speak for the leaf's issuer and the
 * time window in which every certificate and CRL of the path is valid.
 * A later leaf sent with byte-identical extra certificates, issued by the
 * same issuer, gets the leaf-level checks X509_verify_cert would make:
 * signature, validity, purpose, critical extensions, key and signature
 * strength, revocation. Anything the fast path does not model (name
 * constraints, policies, RFC 3779, proxy certificates, CRLs with
 * distribution point scopes or deltas, unknown critical extensions) makes
 * the chain ineligible and OpenSSL verifies it in full.
 *
 * The leaf's signature is checked once per leaf: the cache keeps the
 * SHA-256 of the leaves whose signature it checked (the whole DER,
 * signature included; 1,024 slots in sets of four) and under which path,
 * and the same bytes under the same path are not checked again, whether
 * the worker's certificate pool (certpool.h) kept the parsed object or
 * not. Everything else about the leaf is checked every time.
 *
 * An entry lives as long as its generation: a reload (new CA, CRL or
 * configuration) builds new contexts and so a new, empty cache. The
 * contexts of one listener in every worker share one cache (a
 * reader-writer lock; adding is the only writer), so a path verified by
 * one worker is known to all, and so are the sessions resumed on them.
 */
#ifndef GW_VCACHE_H
#define GW_VCACHE_H

#include <stdint.h>
#include <openssl/x509.h>

struct gw_vcache;

struct gw_vcache *gw_vcache_new(void);
/* Another reference, for another worker's context of the listener. */
struct gw_vcache *gw_vcache_get(struct gw_vcache *vc);
/* Drop a reference; the last one frees. */
void gw_vcache_free(struct gw_vcache *vc);

/*
 * Verify the chain in xctx (initialised by libssl: the client's leaf and
 * the certificates it sent) from the cache. 1: verified, and the verified
 * chain is set in xctx; 0: refused, with the X509_V_ERR_* set in xctx as
 * X509_verify_cert would; -1: not in the cache, verify in full.
 */
int gw_vcache_verify(struct gw_vcache *vc, X509_STORE_CTX *xctx);

/*
 * A leaf without the certificates that came with it: a resumed session's
 * peer, out of a ticket only this listener (or, with a shared ticket key
 * file, a gateway holding the same keys) can have made, so its signature
 * was verified then. A ticket carries no intermediates: a gateway resumes
 * another's client once it verified one client of the same issuer path
 * in full itself. Checked as above (all but the signature) under a
 * cached path whose issuer issued it, with
 * the verification flags and security level of its listener. X509_V_OK
 * with the verified chain in *chain, an X509_V_ERR_*, or -1 when no cached
 * path fits (then resumption is refused and the client verified in full).
 */
int gw_vcache_check_leaf(struct gw_vcache *vc, X509 *leaf, unsigned long flags,
			 int auth_level, STACK_OF(X509) **chain);

/* After X509_verify_cert accepted xctx: remember its path if eligible. */
void gw_vcache_add(struct gw_vcache *vc, X509_STORE_CTX *xctx);

/* How many leaf signatures the cache has checked itself (for the tests). */
uint64_t gw_vcache_signatures_checked(const struct gw_vcache *vc);

#endif
