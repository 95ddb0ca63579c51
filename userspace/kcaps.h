/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel capability check: what the running kernel's TLS offload can do,
 * found by trying each operation on loopback TCP pairs (never by version
 * numbers): the "tls" ULP, kTLS TX/RX per cipher, splice to and from kTLS
 * sockets, TLS 1.3 rekey, and kTLS on a socket that is in a sockmap.
 *
 * Used by "mtlsgw --check-kernel", the daemon's start log and
 * "mtlsgwctl status". Nothing here prints; the caller does.
 */
#ifndef GW_KCAPS_H
#define GW_KCAPS_H

#include <stdbool.h>
#include <stddef.h>

/* The ciphers the daemon hands to the kernel, in report order. */
enum gw_kcaps_cipher {
	GW_KCAPS_TLS13_AES128GCM,
	GW_KCAPS_TLS13_AES256GCM,
	GW_KCAPS_TLS13_CHACHA20,
	GW_KCAPS_TLS12_AES128GCM,
	GW_KCAPS_TLS12_AES256GCM,
	GW_KCAPS_TLS12_CHACHA20,
	GW_KCAPS_N_CIPHERS
};

/*
 * One probed operation.
 *   ok                      it worked, and data that crossed it came out
 *                           byte-exact
 *   !ok && tried            the kernel refused: step failed with err
 *   !tried                  not probed; step and err say why (err is 0
 *                           when a prerequisite was missing, e.g. no kTLS)
 */
struct gw_kcap {
	bool tried;
	bool ok;
	int err;		/* 0 or -errno of step; -EBADMSG: wrong bytes */
	const char *step;	/* static string: "TLS_RX", "recv", ... */
};

struct gw_kcaps {
	struct gw_kcap ulp;			/* TCP_ULP "tls" */
	struct gw_kcap tx[GW_KCAPS_N_CIPHERS];	/* TLS_TX accepted, record sent */
	struct gw_kcap rx[GW_KCAPS_N_CIPHERS];	/* TLS_RX accepted, record decrypted */
	struct gw_kcap splice_rx;		/* kTLS RX socket -> pipe: plaintext */
	struct gw_kcap splice_tx;		/* pipe -> kTLS TX socket: a record */
	struct gw_kcap rekey_tx;		/* TLS 1.3: second TLS_TX, new-key record */
	struct gw_kcap rekey_rx;		/* TLS 1.3: KeyUpdate, EKEYEXPIRED, second TLS_RX */
	struct gw_kcap psock_then_ktls;		/* sockmap insert, then ULP and keys */
	struct gw_kcap ktls_then_psock;		/* ULP and keys, then sockmap insert */
	unsigned int elapsed_ms;		/* how long the probe took */
};

/*
 * Probe the running kernel on loopback TCP pairs (127.0.0.1, ephemeral
 * ports). Every socket, pipe and map it opens is closed before it returns;
 * every wait has a short timeout, so it cannot hang. The sockmap probes
 * need CAP_BPF or CAP_SYS_ADMIN; without it they are reported as not
 * probed. 0 with *k filled, or -errno when no loopback pair could be made
 * (then nothing was probed).
 */
int gw_kcaps_probe(struct gw_kcaps *k);

/* The cipher's short name ("tls13-aes128gcm"); NULL when out of range. */
const char *gw_kcaps_cipher_name(enum gw_kcaps_cipher c);
/* Its row label ("TLS 1.3 AES-128-GCM"); NULL when out of range. */
const char *gw_kcaps_cipher_label(enum gw_kcaps_cipher c);
/* The kernel options its crypto needs ("CONFIG_CRYPTO_GCM, ..."); NULL when out of range. */
const char *gw_kcaps_cipher_config(enum gw_kcaps_cipher c);

/* TLS_TX and TLS_RX both work for cipher c. */
bool gw_kcaps_cipher_ok(const struct gw_kcaps *k, enum gw_kcaps_cipher c);

/*
 * Bit (1 << c) set for every cipher c with TLS_TX and TLS_RX working: what
 * the daemon may hand to this kernel.
 */
unsigned int gw_kcaps_cipher_mask(const struct gw_kcaps *k);

/* The cipher index of a tls_crypto_info version and cipher_type; -1 if none. */
int gw_kcaps_cipher_index(unsigned short version, unsigned short type);

/*
 * The splice datapath can run: kTLS TX and RX for at least one cipher, and
 * splice both ways (kTLS RX socket -> pipe, pipe -> kTLS TX socket).
 */
bool gw_kcaps_splice_usable(const struct gw_kcaps *k);

#endif
