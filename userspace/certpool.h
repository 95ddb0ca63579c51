/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Parsed client certificates, reused across handshakes (one pool per
 * worker), as BoringSSL's CRYPTO_BUFFER pool lets its users do.
 *
 * Why: libssl (OpenSSL 3.0) parses every certificate a client sends with
 * d2i_X509(), and each parse sets up an OpenSSL decoder chain for the
 * certificate's public key (OSSL_DECODER_CTX_new_for_pkey: walks every
 * decoder and key manager of the library context, under its locks). With
 * a three-certificate chain that was 30 to 45 % of the CPU of a full mTLS
 * handshake (docs/performance.md), yet a gateway sees the same few
 * intermediates on every handshake and the same leaf on every connection
 * of a client.
 *
 * How: OpenSSL 3.0 has no hook for it, so mtlsgw defines d2i_X509()
 * itself; the dynamic linker binds libssl's calls to it (libssl calls
 * d2i_X509 through its PLT). While a worker runs a server handshake
 * (between gw_certpool_enter and gw_certpool_leave on its thread) a
 * certificate whose DER matches one parsed before, byte for byte, gets
 * that X509 object with one more reference instead of a new parse. Every
 * other call, and every call when no pool is active, parses exactly as
 * OpenSSL's own d2i_X509 does. An X509 object is immutable once parsed
 * (OpenSSL computes its cached extension data under its own lock), the
 * same objects a trust store shares between threads.
 *
 * Bounded: a fixed number of slots in sets of two; a new certificate
 * takes the way of its set that was reused least, so the intermediates
 * every client sends stay while leaves seen once replace each other.
 * Certificates up to 16 KiB.
 */
#ifndef GW_CERTPOOL_H
#define GW_CERTPOOL_H

#include <stdint.h>

struct gw_certpool;

struct gw_certpool_stats {
	uint64_t reused;		/* certificates served from the pool */
	uint64_t parsed;		/* certificates parsed (and kept) */
};

/* A pool of slots certificates (rounded up to a power of two). */
struct gw_certpool *gw_certpool_new(unsigned int slots);
void gw_certpool_free(struct gw_certpool *p);

/*
 * Serve the certificates libssl parses on this thread from p until
 * gw_certpool_leave(). Not nested.
 */
void gw_certpool_enter(struct gw_certpool *p);
void gw_certpool_leave(void);

/*
 * Until gw_certpool_leave(): parse no certificate at all, every d2i_X509
 * on this thread fails as on malformed input. For a Certificate message
 * refused before libssl parses it (tls.c: more certificates than
 * verify_depth allows): libssl parses every certificate of a message
 * before any callback can refuse the chain. Nothing outside an
 * enter/leave window.
 */
void gw_certpool_refuse(void);

/* The counts since the last call, then zeroed. */
struct gw_certpool_stats gw_certpool_take_stats(struct gw_certpool *p);

#endif
