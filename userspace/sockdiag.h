/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel's own view of our client sockets, through NETLINK_SOCK_DIAG
 * (libmnl): TCP state and byte counters from tcp_info, and on kTLS
 * sockets the ULP ("tls") with its version and cipher. "mtlsgwctl conns"
 * shows it next to our bookkeeping so the two can be compared.
 */
#ifndef GW_SOCKDIAG_H
#define GW_SOCKDIAG_H

#include <stdbool.h>
#include <stdint.h>

struct gw_sockdiag {
	uint64_t cookie;		/* SO_COOKIE of the socket */
	uint8_t state;			/* TCP_ESTABLISHED, ... */
	uint64_t bytes_acked;		/* sent and acknowledged */
	uint64_t bytes_received;
	uint32_t rtt_us;
	char ulp[16];			/* "" or "tls" */
	uint16_t tls_version;		/* TLS_1_2_VERSION / TLS_1_3_VERSION, 0 if none */
	uint16_t tls_cipher;		/* TLS_CIPHER_*, 0 if none */
	uint16_t tls_txconf, tls_rxconf;	/* TLS_CONF_* */
};

typedef void (*gw_sockdiag_fn)(const struct gw_sockdiag *d, void *ctx);

/* Dump every TCP socket of this network namespace; fn per socket. 0 or -errno. */
int gw_sockdiag_dump(gw_sockdiag_fn fn, void *ctx);

/* SO_COOKIE of fd, 0 if unknown. */
uint64_t gw_sock_cookie(int fd);

const char *gw_sockdiag_tls_version(uint16_t v);
const char *gw_sockdiag_tls_cipher(uint16_t c);

#endif
