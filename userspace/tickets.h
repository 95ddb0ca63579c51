/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Session ticket keys shared by a fleet (tls.session_tickets.key_file):
 * every gateway holding the same file issues TLS 1.3 and TLS 1.2 tickets
 * that any of them accepts, as nginx's ssl_session_ticket_key and
 * HAProxy's tls-ticket-keys do.
 *
 * The file holds one or more 80-byte keys, in either form:
 *  - binary, nginx's: 80 bytes per key (16 name, 32 HMAC-SHA256 key,
 *    32 AES-256 key), several concatenated ("openssl rand 80");
 *  - text, HAProxy's: one key per line in base64 (16 name, 32 AES-256
 *    key, 32 HMAC-SHA256 key).
 * The first key encrypts every new ticket; all of them decrypt, so a new
 * key goes in second on every gateway first, then first once everyone
 * has it (README: running a fleet). A ticket under a key that is not the
 * first is accepted and replaced by one under the first.
 *
 * Tickets are AES-256-CBC with HMAC-SHA256 over OpenSSL's ticket format
 * (OpenSSL's own scheme, RFC 5077 4), with a fresh IV each.
 *
 * Without the client's certificate in the session. OpenSSL 3.0 builds a
 * stateless ticket by encoding the session, decoding it again ("a fresh
 * copy") and encoding that, and it decodes the session out of every
 * ticket offered; each decode parses the client's certificate in full
 * (about a quarter of a millisecond, the per-key decoder set-up), three
 * times per resumption with two new tickets, two per full handshake.
 * libssl makes both decodes through its PLT, so mtlsgw defines
 * d2i_SSL_SESSION and (OpenSSL 3.2+, Debian 13) d2i_SSL_SESSION_ex, as
 * certpool.h does d2i_X509: while a server handshake
 * with ticket keys runs on a thread (gw_tickets_enter .. leave), every
 * session it decodes loses its peer certificate first, so the copy
 * encoded into the ticket has none. The leaf goes into the ticket's
 * application data instead (tls.c), and on resumption it is parsed from
 * there through the worker's certificate pool: a client seen before is
 * a lookup, not a parse. Every other decode is OpenSSL's own.
 */
#ifndef GW_TICKETS_H
#define GW_TICKETS_H

#include <stddef.h>
#include <openssl/evp.h>

#define GW_TICKET_KEY_LEN 80
#define GW_TICKET_KEYS_MAX 64

struct gw_tickets;

/*
 * The keys in data[0..len) (a key file's bytes), for TLS contexts of
 * libctx. NULL with why filled when the bytes are no key file, or on
 * allocation failure.
 */
struct gw_tickets *gw_tickets_new(const unsigned char *data, size_t len, OSSL_LIB_CTX *libctx,
				  char *why, size_t whylen);
/* The keys are wiped. NULL is fine. */
void gw_tickets_free(struct gw_tickets *tk);
unsigned int gw_tickets_count(const struct gw_tickets *tk);

/*
 * SSL_CTX_set_tlsext_ticket_key_evp_cb's work for these keys: enc 1
 * names the first key and a fresh IV, enc 0 finds the key a ticket
 * names. Returns as that callback does: 1, 2 (decrypted under another
 * key than the first: renew), 0 (no such key: a full handshake), -1.
 */
int gw_tickets_crypt(const struct gw_tickets *tk, unsigned char name[16], unsigned char *iv,
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc);

/*
 * Remove the peer certificate from a session's DER (i2d_SSL_SESSION), in
 * place: the session cache keeps sessions so too (sesscache.h). The new
 * length, or 0 if der is not a session's SEQUENCE.
 */
long gw_session_strip_peer(unsigned char *der, long len);

/* The window described above, for this thread; tk NULL: none. Not nested. */
void gw_tickets_enter(const struct gw_tickets *tk);
void gw_tickets_leave(void);

#endif
