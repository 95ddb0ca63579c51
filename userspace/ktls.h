/* SPDX-License-Identifier: GPL-2.0-only */
/* Kernel TLS: handing an OpenSSL session to the kernel (kcaps.h probes). */
#ifndef GW_KTLS_H
#define GW_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Handing an OpenSSL session to kernel TLS.
 *
 * TLS 1.3: Debian's OpenSSL 3.0 offloads TX only, so the daemon installs
 * both directions itself from the traffic secrets OpenSSL reports through
 * the keylog callback: key = HKDF-Expand-Label(secret, "key", "", keylen),
 * iv = HKDF-Expand-Label(secret, "iv", "", 12). TLS 1.2: the key block from
 * the master secret (TLS1-PRF "key expansion", server_random first).
 * Record sequence numbers start where OpenSSL stopped: for TLS 1.3 TX
 * after the NewSessionTicket records sent, RX 0; for TLS 1.2 1 both ways
 * (Finished was 0).
 *
 * Order (DESIGN.md): TCP_ULP "tls" on the established socket, then TLS_TX,
 * then TLS_RX. Key material is wiped after use.
 */
#include <openssl/ssl.h>

/* Secrets captured from the keylog callback, per SSL (ex_data). */
struct gw_ktls_secrets {
	unsigned char client[48];	/* CLIENT_TRAFFIC_SECRET_0 */
	unsigned char server[48];	/* SERVER_TRAFFIC_SECRET_0 */
	unsigned int len;		/* 32 (SHA-256) or 48 (SHA-384); 0 = none */
	unsigned int have;		/* bit 0 client, bit 1 server */
	uint16_t cipher;		/* TLS_CIPHER_*, set by gw_ktls_secrets_take */
	bool is_server;			/* our side: RX follows the other's secret */
};

/* One direction's parameters for setsockopt(SOL_TLS, TLS_TX/TLS_RX). */
struct gw_ktls_dir {
	unsigned char info[64];		/* a struct tls12_crypto_info_* */
	unsigned int len;
};

/* Register the keylog hook on a context (call once per SSL_CTX). */
void gw_ktls_enable_keylog(SSL_CTX *ctx);

/*
 * Derive both directions for our side of ssl (SSL_is_server: the client
 * leg, or the backend leg where we are the client). tx_seq/rx_seq are the
 * next record sequence numbers. 0, -EOPNOTSUPP (cipher kTLS can't carry),
 * or -EINVAL (secrets missing).
 */
int gw_ktls_derive(SSL *ssl, uint64_t tx_seq, uint64_t rx_seq,
		   struct gw_ktls_dir *tx, struct gw_ktls_dir *rx);

/*
 * The "tls" ULP on fd: 0 or -errno (-ENOTCONN: the connection is no longer
 * established, e.g. the peer already sent FIN). A socket with the ULP and
 * no keys still passes bytes as plain TCP, so on failure, or with the
 * ULP and no keys, it can stay with OpenSSL.
 */
int gw_ktls_ulp(int fd);

/*
 * TX, then RX on fd (after gw_ktls_ulp). 0 or -errno; on failure the
 * socket must be closed (it may be half configured). Wipes tx and rx.
 */
int gw_ktls_install(int fd, struct gw_ktls_dir *tx, struct gw_ktls_dir *rx);

/* Free the secrets kept for ssl and wipe them. */
void gw_ktls_forget(SSL *ssl);

/*
 * Following a TLS 1.3 KeyUpdate after the handoff (Linux 6.14+ can rekey a
 * kTLS socket). gw_ktls_secrets_take moves the traffic secrets out of ssl
 * (NULL for TLS 1.2, which has no KeyUpdate); gw_ktls_rekey steps one
 * direction to the next generation, secret = HKDF-Expand-Label(secret,
 * "traffic upd", "", hashlen), and installs it on fd with sequence 0:
 * 0 or -errno (-EBUSY: this kernel cannot rekey). gw_ktls_secrets_free
 * wipes and frees.
 */
struct gw_ktls_secrets *gw_ktls_secrets_take(SSL *ssl);
int gw_ktls_rekey(int fd, struct gw_ktls_secrets *s, bool rx);
void gw_ktls_secrets_free(struct gw_ktls_secrets *s);

/*
 * A TLS 1.3 record of content type type, sealed as the peer of s sends it
 * under its traffic secret of generation 0 (s as gw_ktls_secrets_take
 * left it: no rekey since), with sequence number seq. It hands a message
 * the kernel decrypted back to the OpenSSL object that made the
 * handshake, which reads at its own sequence numbers. out holds
 * 5 + len + 1 + 16 bytes; len at most 2^14. The record's length, or
 * -errno.
 */
ssize_t gw_ktls_seal13(const struct gw_ktls_secrets *s, uint64_t seq, unsigned char type,
		       const void *in, size_t len, unsigned char *out, size_t outlen);

/* TLS record content types a kTLS socket passes up with a cmsg. */
#define GW_TLS_RECORD_ALERT 21
#define GW_TLS_RECORD_HANDSHAKE 22

/*
 * One record of content type type through a kTLS TX socket (a cmsg with
 * TLS_SET_RECORD_TYPE; type 0: plain data), without blocking: 0 when all
 * of it went, -EMSGSIZE when part of it did, or -errno (-EAGAIN: full).
 */
int gw_ktls_send_record(int fd, unsigned char type, const void *buf, size_t len);
/* close_notify (an alert record, warning, description 0): as gw_ktls_send_record. */
int gw_ktls_close_notify(int fd);
/*
 * One record from a kTLS RX socket with its content type (the kernel
 * refuses non-data records with EIO to a read without a cmsg buffer),
 * without blocking: its length (0: end of stream), or -errno.
 */
ssize_t gw_ktls_recv_record(int fd, void *buf, size_t len, unsigned char *type);

#endif
