/* SPDX-License-Identifier: GPL-2.0-only */
/* Kernel TLS: what the running kernel can do. */
#ifndef GW_KTLS_H
#define GW_KTLS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Try to attach the "tls" upper layer protocol to a connected loopback TCP
 * socket. 0 when the kernel has kTLS, else -errno (-ENOENT: tls.ko is not
 * loaded or not built). Fills why with an operator-facing explanation.
 */
int gw_ktls_probe(char *why, size_t len);

#endif
