/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The server-side TLS session cache of one listener, shared by the TLS
 * contexts of every worker (the way nginx's shared ssl_session_cache and
 * HAProxy's tune.ssl.cachesize are shared by their workers).
 *
 * This is the default. Stateless tickets need keys an operator shares and rotates
 * across a fleet (tls.session_tickets.key_file, tickets.h), and a key of
 * one process's own would buy nothing over this cache. OpenSSL 3.0's own
 * stateless tickets parse the client's certificate again for each ticket
 * (tickets.h says how mtlsgw's avoid that). A stateful TLS 1.3 ticket is
 * the session's ID, and the session stays here: its DER encoding without the
 * client certificate (about 200 bytes instead of OpenSSL's 1.2 KiB
 * session object), and the client's leaf, parsed, by reference (the
 * worker's certificate pool shares it with every connection of that
 * client). A resumption decodes those bytes, which holds no certificate
 * to parse, and gets the leaf back separately.
 *
 * Bounded: at most max sessions (the oldest goes first) and none older
 * than its timeout. A session resumes as often as it is offered until it
 * expires, as a stateless ticket would: without early data a TLS 1.3
 * resumption still makes a fresh (EC)DHE key exchange, so a replayed
 * ticket gains an attacker nothing (RFC 8446 8). The cache lives as long
 * as the listener's TLS contexts, and a reload that keeps the listener's
 * trust settings hands it on to the new ones (gw_gen_keep_sessions).
 *
 * Thread-safe: one mutex, held for a hash lookup or insert.
 */
#ifndef GW_SESSCACHE_H
#define GW_SESSCACHE_H

#include <stdbool.h>
#include <time.h>
#include <openssl/ssl.h>

struct gw_sesscache;

/*
 * A cache for at most max sessions. Its table grows with the sessions it
 * holds: one that holds none is about a hundred bytes. NULL on
 * allocation failure.
 */
struct gw_sesscache *gw_sesscache_new(unsigned int max);
/* One more reference (another worker's context). */
struct gw_sesscache *gw_sesscache_get(struct gw_sesscache *sc);
/* Drop a reference; the last one frees every session. NULL is fine. */
void gw_sesscache_free(struct gw_sesscache *sc);

/*
 * Keep a copy of sess with leaf, its client's certificate (sess's own
 * is not kept; the cache takes a reference to leaf). A session with the
 * same ID is replaced. false: not kept (no ID, no memory).
 */
bool gw_sesscache_add(struct gw_sesscache *sc, SSL_SESSION *sess, X509 *leaf);

/*
 * A new session object for this ID, not past its timeout, and in *leaf
 * its client's certificate: a reference to each for the caller. NULL if
 * there is none.
 */
SSL_SESSION *gw_sesscache_find(struct gw_sesscache *sc, const unsigned char *id,
			       unsigned int len, X509 **leaf);

/* Forget the session with this ID, if there is one. */
void gw_sesscache_remove(struct gw_sesscache *sc, const unsigned char *id, unsigned int len);

/* Sessions held now. */
unsigned int gw_sesscache_count(struct gw_sesscache *sc);

/*
 * When a session was made, and setting it (the tests' aged sessions):
 * OpenSSL 3.3 added the time_t calls and 3.4 deprecated the long ones
 * (Debian 13 ships 3.5, Debian 12 3.0).
 */
static inline time_t gw_session_time(const SSL_SESSION *s)
{
#if OPENSSL_VERSION_NUMBER >= 0x30300000L
	return SSL_SESSION_get_time_ex(s);
#else
	return (time_t)SSL_SESSION_get_time(s);
#endif
}

static inline void gw_session_set_time(SSL_SESSION *s, time_t t)
{
#if OPENSSL_VERSION_NUMBER >= 0x30300000L
	SSL_SESSION_set_time_ex(s, t);
#else
	SSL_SESSION_set_time(s, (long)t);
#endif
}

#endif
