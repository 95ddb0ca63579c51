/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The server side of the mutual TLS handshake of one connection, the
 * Stage 2 decision inside it, and the move to kTLS after it.
 */
#ifndef GW_HANDSHAKE_H
#define GW_HANDSHAKE_H

#include <stdbool.h>
#include <openssl/ssl.h>

struct gw_conn;

/*
 * Run c's handshake within handshake_timeout; on success c goes on to
 * its upstream (upstream.h), on failure it is closed with its reason.
 */
void gw_handshake_start(struct gw_conn *c);

/*
 * Stage 2 for the verified leaf of ssl's connection (the callback
 * gw_tls_init takes): true to allow; false with *reason set to deny.
 */
bool gw_handshake_authz(SSL *ssl, X509 *leaf, const char **reason);

#endif
