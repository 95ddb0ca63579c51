/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The server-side TLS session cache of one listener, shared by the TLS
 * contexts of every worker (the way nginx's shared ssl_session_cache and
 * HAProxy's tune.ssl.cachesize are shared by their workers).
 *
 * Why stateful sessions and not stateless tickets: OpenSSL 3.0 builds
 * each stateless ticket by encoding the session, decoding it again and
 * re-encoding it, and the decode parses the client's certificate once
 * more (with the per-key decoder set-up that dominates a handshake's
 * CPU): two tickets per connection cost about a quarter of a full mTLS
 * handshake (docs/performance.md). A stateful TLS 1.3 ticket is the
 * session's ID, and the session stays here in memory, its certificates
 * shared by reference.
 *
 * Bounded: at most max sessions (the oldest goes first) and none older
 * than its timeout. A session resumes as often as it is offered until it
 * expires, as a stateless ticket would: without early data a TLS 1.3
 * resumption still makes a fresh (EC)DHE key exchange, so a replayed
 * ticket gains an attacker nothing (RFC 8446 8). The cache lives as long
 * as the listener's TLS contexts: a reload starts an empty one.
 *
 * Thread-safe: one mutex, held for a hash lookup or insert.
 */
#ifndef GW_SESSCACHE_H
#define GW_SESSCACHE_H

#include <stdbool.h>
#include <openssl/ssl.h>

struct gw_sesscache;

/* A cache for at most max sessions. NULL on allocation failure. */
struct gw_sesscache *gw_sesscache_new(unsigned int max);
/* One more reference (another worker's context). */
struct gw_sesscache *gw_sesscache_get(struct gw_sesscache *sc);
/* Drop a reference; the last one frees every session. NULL is fine. */
void gw_sesscache_free(struct gw_sesscache *sc);

/*
 * Keep sess (the caller's reference passes to the cache). A session with
 * the same ID is replaced. Returns false when it was not kept (no ID, no
 * memory): the caller still owns its reference.
 */
bool gw_sesscache_add(struct gw_sesscache *sc, SSL_SESSION *sess);

/*
 * The session with this ID and not past its timeout, with a reference
 * for the caller, or NULL.
 */
SSL_SESSION *gw_sesscache_find(struct gw_sesscache *sc, const unsigned char *id,
			       unsigned int len);

/* Forget the session with this ID, if there is one. */
void gw_sesscache_remove(struct gw_sesscache *sc, const unsigned char *id, unsigned int len);

/* Sessions held now. */
unsigned int gw_sesscache_count(struct gw_sesscache *sc);

#endif
