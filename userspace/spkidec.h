/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * EC public keys of certificates decoded without OpenSSL 3.0's per-key
 * decoder set-up (spkidec.c).
 *
 * Why: when libcrypto 3.0 parses a certificate it turns the
 * SubjectPublicKeyInfo into an EVP_PKEY with OSSL_DECODER_CTX_new_for_pkey,
 * which builds a decoder chain from scratch for every key: it walks every
 * decoder and key manager of the library context under their locks. The
 * certificate pool (certpool.h) saves that for certificates seen before,
 * but a leaf the gateway has never seen still paid it: 11.8 % of the CPU
 * of such a handshake (docs/performance.md). OpenSSL 3.1 caches decoder
 * chains itself, so there this module only passes the calls on.
 *
 * How: mtlsgw defines OSSL_DECODER_CTX_new_for_pkey and
 * OSSL_DECODER_from_data; libcrypto calls both through its PLT, so the
 * dynamic linker binds them here, as it binds d2i_X509 to the pool. While
 * the pool parses a certificate (gw_spki_enter/leave around it on this
 * thread), a request to decode a DER SubjectPublicKeyInfo public key of
 * type id-ecPublicKey gets an empty decoder context; decoding from it
 * parses the structure with libcrypto's own ASN.1 templates and, for a
 * named P-256, P-384 or P-521 key with an uncompressed point, imports the
 * point with EVP_PKEY_fromdata (which checks that it is on the curve)
 * into the same key manager the decoder would have used. Anything else
 * (another curve, explicit parameters, a compressed point, any failure)
 * goes to OpenSSL's own decoder with the same arguments, so the result is
 * what OpenSSL would have made, or OpenSSL's own error.
 */
#ifndef GW_SPKIDEC_H
#define GW_SPKIDEC_H

#include <stdbool.h>
#include <stdint.h>

struct gw_spki_stats {
	uint64_t fast;		/* EC keys imported directly */
	uint64_t decoder;	/* EC keys handed back to OpenSSL's decoder */
};

/* Whether the direct import applies to the libcrypto this process runs (3.0.x). */
bool gw_spki_applies(void);

/* Turn the direct import off or on for the whole process (benchmarks, tests). */
void gw_spki_set_enabled(bool on);

/* Certificate parsing on this thread between the two; not nested. */
void gw_spki_enter(void);
void gw_spki_leave(void);

/* This thread's counts. */
struct gw_spki_stats gw_spki_stats(void);

#endif
