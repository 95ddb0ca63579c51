// SPDX-License-Identifier: GPL-2.0-only
/*
 * The move of a connection into kernel TLS (DESIGN.md's lossless recipe):
 * the client leg and, with upstream.tls, the backend leg, both or neither,
 * so that the splice datapath finds the kernel on every TLS leg and the
 * userspace datapath OpenSSL on every leg.
 *
 * A leg moves only when OpenSSL holds no bytes past the handshake
 * (read_ahead is off, so it should not), with the record sequence numbers
 * where OpenSSL stopped:
 *  - TLS 1.2, either leg: 1 both ways (Finished was 0);
 *  - TLS 1.3, the client leg: TX after the NewSessionTickets we sent, RX 0
 *    (the client sent nothing under its application key yet);
 *  - TLS 1.3, the backend leg: 0 both ways. Our Finished went under the
 *    handshake key and the backend's tickets come after it: the kernel
 *    gets them, and datapath_splice.c hands the first record of them to
 *    the leg's SSL object, kept for that (keep_for_tickets).
 * Both legs' keys are derived and both ULPs set before any key is
 * installed. A socket with half its keys installed must never carry
 * bytes: it is closed.
 */
#include <errno.h>
#include <string.h>
#include <linux/tls.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "datapath.h"
#include "ktls_handoff.h"
#include "kcaps.h"
#include "ktls.h"
#include "log.h"

struct leg_keys {
	struct gw_ktls_dir tx, rx;
};

/*
 * Both directions of one leg into k: NULL, or why the leg (and so the
 * connection) stays with OpenSSL. tx13: the next TX sequence under TLS 1.3.
 */
static const char *leg_derive(const struct gw_conn *c, SSL *ssl, uint64_t tx13,
			      struct leg_keys *k)
{
	const struct tls_crypto_info *info;
	int err, idx;

	if (SSL_has_pending(ssl))
		return "OpenSSL holds bytes past the handshake";
	if (SSL_version(ssl) == TLS1_2_VERSION)
		err = gw_ktls_derive(ssl, 1, 1, &k->tx, &k->rx);
	else
		err = gw_ktls_derive(ssl, tx13, 0, &k->tx, &k->rx);
	if (err == -EOPNOTSUPP)
		return "kTLS has no such cipher";
	if (err)
		return "no traffic secrets";
	info = (const void *)k->tx.info;
	idx = gw_kcaps_cipher_index(info->version, info->cipher_type);
	if (idx < 0 || !gw_conn_ktls_allowed(c, idx)) {
		OPENSSL_cleanse(k, sizeof(*k));
		return "this kernel's kTLS does not take the cipher";
	}
	return NULL;
}

static enum gw_ktls_handoff_result install_failed(struct gw_conn *c, const char *leg, int err)
{
	pr_warn("listener \"%s\": conn %llu: kTLS key install on the %s leg failed: %s; closing",
		c->lc->name, (unsigned long long)c->id, leg, strerror(-err));
	gw_conn_close(c, "ktls_failed", true);
	return GW_KTLS_HANDOFF_CLOSED;
}

/*
 * The ULP on every leg first: a peer that already ended its connection
 * (a backend that refused our certificate and closed, a client that sent
 * FIN right behind its Finished) makes it fail with nothing set, and both
 * legs stay with OpenSSL, which reads what that peer said.
 */
static int ulp_all(struct gw_conn *c)
{
	int err = c->bssl ? gw_ktls_ulp(c->bev.fd) : 0;

	return err ?: gw_ktls_ulp(c->cev.fd);
}

/*
 * A TLS 1.3 backend sends its NewSessionTickets after the handshake, so
 * the kernel gets them. The backend leg's SSL object stays, cut off from
 * the socket (a memory BIO to read from, nothing to write to), for
 * datapath_splice.c to hand it the first ticket record: its new-session
 * callback keeps the session for the next connection. Not for TLS 1.2
 * (the session comes with the handshake) or an upstream without reuse.
 */
static bool keep_for_tickets(struct gw_conn *c)
{
	BIO *rd, *wr;

	if (!c->b_ktls_secrets || !gw_tls_client_keeps_sessions(c->bssl))
		return false;
	rd = BIO_new(BIO_s_mem());
	wr = BIO_new(BIO_s_null());
	if (!rd || !wr) {
		BIO_free(rd);
		BIO_free(wr);
		return false;
	}
	BIO_set_mem_eof_return(rd, -1);	/* empty is "more later", not the end */
	SSL_set_bio(c->bssl, rd, wr);
	c->b_tix = c->bssl;
	c->b_tix_seq = 0;		/* OpenSSL read nothing under the traffic key */
	return true;
}

enum gw_ktls_handoff_result gw_ktls_handoff(struct gw_conn *c)
{
	struct leg_keys ck, bk;
	const char *why;
	int err;

	if (!gw_conn_ktls_allowed(c, GW_KTLS_ANY_CIPHER))
		return GW_KTLS_HANDOFF_USERSPACE;
	why = leg_derive(c, c->ssl, c->vr.tickets_sent, &ck);
	if (why) {
		pr_debug("conn %llu: client leg (%s): %s; staying in userspace",
			 (unsigned long long)c->id, c->cipher, why);
		return GW_KTLS_HANDOFF_USERSPACE;
	}
	why = c->bssl ? leg_derive(c, c->bssl, 0, &bk) : NULL;
	if (why) {
		OPENSSL_cleanse(&ck, sizeof(ck));
		pr_debug("conn %llu: backend leg (%s): %s; both legs stay in userspace",
			 (unsigned long long)c->id, c->b_cipher, why);
		return GW_KTLS_HANDOFF_USERSPACE;
	}
	err = ulp_all(c);
	if (err) {
		OPENSSL_cleanse(&ck, sizeof(ck));
		if (c->bssl)
			OPENSSL_cleanse(&bk, sizeof(bk));
		pr_debug("conn %llu: no kTLS ULP: %s; staying in userspace",
			 (unsigned long long)c->id, strerror(-err));
		return GW_KTLS_HANDOFF_USERSPACE;
	}
	if (c->bssl) {
		err = gw_ktls_install(c->bev.fd, &bk.tx, &bk.rx);
		if (err) {
			OPENSSL_cleanse(&ck, sizeof(ck));
			return install_failed(c, "backend", err);
		}
	}
	err = gw_ktls_install(c->cev.fd, &ck.tx, &ck.rx);
	if (err)
		return install_failed(c, "client", err);
	/*
	 * The kernel has the session: the SSL objects are no longer needed,
	 * only the TLS 1.3 traffic secrets to follow a KeyUpdate. Freed
	 * without a shutdown, OpenSSL would take the session for one of an
	 * aborted connection and make it unresumable (TLS 1.2 session IDs
	 * on both legs): it is the kernel's connection now, so say it ended.
	 */
	c->ktls_secrets = gw_ktls_secrets_take(c->ssl);
	SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->bssl) {
		c->b_ktls_secrets = gw_ktls_secrets_take(c->bssl);
		if (!keep_for_tickets(c)) {
			SSL_set_shutdown(c->bssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
			SSL_free(c->bssl);
		}
		c->bssl = NULL;
		c->b_ktls = true;
	}
	c->dp = &gw_dp_splice;
	return GW_KTLS_HANDOFF_KERNEL;
}
