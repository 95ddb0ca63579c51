// SPDX-License-Identifier: GPL-2.0-only
/*
 * The splice datapath: the client socket carries kernel TLS (keys handed
 * over right after the handshake, see ktls_handoff.c), so the kernel decrypts
 * what the client sends and encrypts what we send it; with upstream.tls
 * the backend socket does too (c->b_ktls), and the kernel re-encrypts
 * between the legs. Payload moves with splice() socket -> pipe -> socket
 * in both directions and never enters userspace.
 *
 *  - backpressure: one pipe per direction; a side is not read while its
 *    pipe towards the other side holds data it could not pass on;
 *  - control records: splice() from a kTLS socket stops with EINVAL at a
 *    non-data record; recvmsg() with a TLS_GET_RECORD_TYPE cmsg reads it:
 *    close_notify (alert 0) ends the client's direction (FIN to the
 *    backend once the pipe is empty), any other alert aborts;
 *  - a TLS 1.2 ClientHello (a handshake record: the client asks to
 *    renegotiate) gets no_renegotiation and a clean close, reason
 *    client_renegotiation;
 *  - a TLS 1.3 KeyUpdate (a handshake record) is followed where the kernel
 *    can rekey (Linux 6.14+): the next client key goes in as TLS_RX, and
 *    when the client asked for it our own KeyUpdate record goes out
 *    before any more data, then the next TLS_TX key. A kernel that cannot
 *    rekey (EBUSY) gets a clean close (close_notify, reason
 *    key_update_unsupported); more than GW_KEY_UPDATES_PER_S a second
 *    close with key_update_flood;
 *  - a backend FIN becomes close_notify (a type-21 record via sendmsg with
 *    TLS_SET_RECORD_TYPE) and a FIN to the client.
 *  - a kTLS backend leg gets the same treatment from its side: its
 *    close_notify ends its direction, its KeyUpdate is followed, the
 *    first record of its TLS 1.3 tickets is taken for reuse and the rest
 *    dropped, a fatal alert before any payload is
 *    upstream_tls_error (it refused our certificate), later
 *    backend_tls_error; the client's close_notify becomes close_notify and
 *    FIN to the backend.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/tls.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "datapath.h"
#include "ktls.h"
#include "log.h"
#include "util.h"

#define TLS_HS_HELLO_REQUEST 0
#define TLS_HS_CLIENT_HELLO 1
#define TLS_HS_NEW_SESSION_TICKET 4
#define TLS_HS_KEY_UPDATE 24
#define SPLICE_CHUNK (64 * 1024)

/*
 * c->sp_ready: the client or backend socket may be readable or writable.
 * A splice() is tried only where it may move something, so a pump does
 * not end with a failing call per idle direction; epoll (level-triggered,
 * always armed where room or data waits) sets the bit again.
 * GW_SP_*_FULL: the pipe took no more although the socket may have more
 * (its slots are full of small records): no reading from that socket, and
 * no EPOLLIN for it, until the other end has taken some out.
 */
#define GW_SP_C_RD 0x01
#define GW_SP_C_WR 0x02
#define GW_SP_B_RD 0x04
#define GW_SP_B_WR 0x08
#define GW_SP_ALL (GW_SP_C_RD | GW_SP_C_WR | GW_SP_B_RD | GW_SP_B_WR)
#define GW_SP_CB_FULL 0x10
#define GW_SP_BC_FULL 0x20

enum step {
	STEP_IDLE,
	STEP_MOVED,
	STEP_CLOSED,
};

static enum step abort_conn(struct gw_conn *c, const char *reason)
{
	gw_conn_close(c, reason, true);
	return STEP_CLOSED;
}

static int leg_fd(const struct gw_conn *c, bool client)
{
	return client ? c->cev.fd : c->bev.fd;
}

static struct gw_ktls_secrets *leg_secrets(const struct gw_conn *c, bool client)
{
	return client ? c->ktls_secrets : c->b_ktls_secrets;
}

static bool *leg_ku_pending(struct gw_conn *c, bool client)
{
	return client ? &c->ku_tx_pending : &c->b_ku_tx_pending;
}

static int dp_close_notify(struct gw_conn *c)
{
	return gw_ktls_close_notify(c->cev.fd);
}

/*
 * Our KeyUpdate (update_not_requested) under the current key, then the
 * next TX key. STEP_IDLE when the socket is full (retried on EPOLLOUT).
 */
static enum step key_update_send(struct gw_conn *c, bool client)
{
	static const unsigned char ku[5] = { TLS_HS_KEY_UPDATE, 0, 0, 1, 0 };
	int fd = leg_fd(c, client), err;

	err = gw_ktls_send_record(fd, GW_TLS_RECORD_HANDSHAKE, ku, sizeof(ku));
	if (err == -EAGAIN)
		return STEP_IDLE;
	err = err ?: gw_ktls_rekey(fd, leg_secrets(c, client), false);
	if (err) {
		pr_warn("listener \"%s\": conn %llu: cannot answer the %s's KeyUpdate: %s",
			c->lc->name, (unsigned long long)c->id, client ? "client" : "backend",
			strerror(-err));
		return abort_conn(c, "ktls_failed");
	}
	*leg_ku_pending(c, client) = false;
	return STEP_MOVED;
}

/* A clean close with close_notify (the TX key is still good). */
static enum step close_clean(struct gw_conn *c, const char *reason)
{
	gw_conn_finish(c, reason);
	return STEP_CLOSED;
}

/*
 * A ClientHello on an established TLS 1.2 connection asks to renegotiate,
 * which kTLS cannot do and we refuse anyway: no_renegotiation (a warning,
 * as OpenSSL answers it on the userspace datapath), then a clean close.
 */
static enum step renegotiation_refuse(struct gw_conn *c)
{
	static const unsigned char alert[2] = { 1, 100 };
	unsigned char rest[512], type;
	int i;

	pr_debug("listener \"%s\": conn %llu: the client asked to renegotiate, closing",
		 c->lc->name, (unsigned long long)c->id);
	/*
	 * What the client queued behind its ClientHello first (control_record
	 * read the ClientHello whole): closing with it unread would send a
	 * reset, which can overtake our alert.
	 */
	for (i = 0; i < 40; i++)
		if (gw_ktls_recv_record(c->cev.fd, rest, sizeof(rest), &type) <= 0)
			break;
	gw_ktls_send_record(c->cev.fd, GW_TLS_RECORD_ALERT, alert, sizeof(alert));
	return close_clean(c, "client_renegotiation");
}

/*
 * A TLS 1.3 KeyUpdate from either peer: the next RX key, and when the
 * peer asked for it our own KeyUpdate before any more data that way.
 * request: the message's request_update byte.
 */
static enum step key_update_recv(struct gw_conn *c, bool client, unsigned char request)
{
	const char *peer = client ? "client" : "backend";
	int err;

	if (!leg_secrets(c, client))
		return abort_conn(c, client ? "client_tls_error" : "backend_tls_error");
	if (!gw_conn_key_update_ok(c)) {
		static struct gw_ratelimit rl;

		/* Any client can do it on every connection: one line per 5 s. */
		pr_warn_rl(&rl, "listener \"%s\": conn %llu: more than %d KeyUpdates in a second, closing",
			   c->lc->name, (unsigned long long)c->id, GW_KEY_UPDATES_PER_S);
		return close_clean(c, "key_update_flood");
	}
	err = gw_ktls_rekey(leg_fd(c, client), leg_secrets(c, client), true);
	if (err == -EBUSY) {
		pr_info("listener \"%s\": conn %llu: the %s sent a TLS 1.3 KeyUpdate and this kernel cannot rekey kTLS; closing",
			c->lc->name, (unsigned long long)c->id, peer);
		return close_clean(c, "key_update_unsupported");
	}
	if (err) {
		pr_warn("listener \"%s\": conn %llu: kTLS RX rekey of the %s leg failed: %s",
			c->lc->name, (unsigned long long)c->id, peer, strerror(-err));
		return abort_conn(c, "ktls_failed");
	}
	if (request)
		*leg_ku_pending(c, client) = true;
	return STEP_MOVED;
}

/*
 * The client's handshake record after the handoff: only KeyUpdate is legal
 * (TLS 1.3), or a ClientHello we refuse (TLS 1.2). m: the whole record.
 */
static enum step client_handshake(struct gw_conn *c, const unsigned char *m, ssize_t n)
{
	if (n >= 1 && m[0] == TLS_HS_CLIENT_HELLO && !strcmp(c->tls_version, "TLSv1.2"))
		return renegotiation_refuse(c);
	/* type 24, length 1, request_update 0 or 1, alone in its record */
	if (n != 5 || m[0] != TLS_HS_KEY_UPDATE || m[1] || m[2] || m[3] != 1 || m[4] > 1)
		return abort_conn(c, "client_tls_error");
	return key_update_recv(c, true, m[4]);
}

/* The backend leg's SSL object takes no more tickets: it goes. */
static void tickets_done(struct gw_conn *c)
{
	if (!c->b_tix)
		return;
	/* As at the handoff: the kernel's connection, ended for OpenSSL. */
	SSL_set_shutdown(c->b_tix, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->b_tix);
	c->b_tix = NULL;
}

/*
 * NewSessionTickets from the backend (m: whole messages, as the kernel
 * decrypted them), sealed again as the backend sent them under the key
 * the backend leg's SSL object reads with, at its own sequence number,
 * and read by it: its new-session callback keeps the session for the next
 * connection to this upstream (tls_client.c). One record is enough (one
 * session is kept per upstream); the object goes after it.
 */
static void tickets_take(struct gw_conn *c, const unsigned char *m, size_t len)
{
	unsigned char rec[5 + 16384 + 1 + 16], x;
	ssize_t n;
	int r;

	n = gw_ktls_seal13(c->b_ktls_secrets, c->b_tix_seq++, GW_TLS_RECORD_HANDSHAKE, m, len,
			   rec, sizeof(rec));
	if (n > 0 && BIO_write(SSL_get_rbio(c->b_tix), rec, (int)n) == (int)n) {
		ERR_clear_error();
		r = SSL_read(c->b_tix, &x, 1);
		if (r > 0 || SSL_get_error(c->b_tix, r) != SSL_ERROR_WANT_READ)
			pr_debug("listener \"%s\": conn %llu: the backend's ticket was not taken",
				 c->lc->name, (unsigned long long)c->id);
	}
	OPENSSL_cleanse(rec, sizeof(rec));
	tickets_done(c);
}

/*
 * The backend's handshake record after the handoff, whole messages only:
 * TLS 1.3 NewSessionTickets go to the backend leg's SSL object while it is
 * kept (tickets_take) and are dropped after, a KeyUpdate is followed, a
 * TLS 1.2 HelloRequest is ignored (we do not renegotiate; RFC 5246
 * 7.4.1.1 lets the client ignore it). Anything else is a backend TLS
 * error.
 */
static enum step backend_handshake(struct gw_conn *c, const unsigned char *m, ssize_t n)
{
	const unsigned char *tickets = NULL;
	size_t tickets_len = 0;

	while (n >= 4) {
		size_t len = (size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3];

		if (len > (size_t)n - 4)
			break;
		if (m[0] == TLS_HS_KEY_UPDATE) {
			/* the last message of its record (RFC 8446 5.1) */
			if (len != 1 || m[4] > 1 || (size_t)n != 5)
				break;
			/* The next key is not the one the SSL object reads with. */
			tickets_done(c);
			return key_update_recv(c, false, m[4]);
		}
		if (m[0] != TLS_HS_NEW_SESSION_TICKET && m[0] != TLS_HS_HELLO_REQUEST)
			break;
		/* The tickets of a record are next to each other: one span. */
		if (m[0] == TLS_HS_NEW_SESSION_TICKET && (!tickets || tickets + tickets_len == m)) {
			tickets = tickets ?: m;
			tickets_len += 4 + len;
		}
		m += 4 + len;
		n -= (ssize_t)(4 + len);
	}
	if (n)
		return abort_conn(c, "backend_tls_error");
	if (c->b_tix && tickets)
		tickets_take(c, tickets, tickets_len);
	return STEP_MOVED;
}

/*
 * The backend sent a fatal alert. Before any payload from it, this is
 * the backend refusing our side of a TLS 1.3 handshake (it judges our
 * certificate after our handshake ended): upstream_tls_error, as on the
 * userspace datapath, with the alert in the detail.
 */
static enum step backend_alert(struct gw_conn *c, unsigned char desc)
{
	char detail[128];

	if (c->b_heard)
		return abort_conn(c, "backend_tls_error");
	gw_snprintf(detail, sizeof(detail), "the backend sent alert %u (%s)", desc,
		    SSL_alert_desc_string_long(desc));
	free(c->close_detail);
	c->close_detail = strdup(detail);
	return close_clean(c, "upstream_tls_error");
}

/*
 * A non-data record stopped the splice from a kTLS socket: read it whole
 * (2^14 bytes of plaintext at most) and act on it. close_notify ends that
 * peer's direction.
 */
static enum step control_record(struct gw_conn *c, bool client)
{
	unsigned char rec[16384 + 1], type;
	ssize_t n;

	n = gw_ktls_recv_record(leg_fd(c, client), rec, sizeof(rec), &type);
	if (n == -EAGAIN)
		return STEP_IDLE;
	if (n < 0)
		return abort_conn(c, client ? "client_tls_error" : "backend_tls_error");
	if (n == 0 || (type == GW_TLS_RECORD_ALERT && n >= 2 && rec[1] == 0)) {
		*(client ? &c->c_eof : &c->b_eof) = true;	/* FIN or close_notify */
		return STEP_MOVED;
	}
	if (type == GW_TLS_RECORD_ALERT && !client)
		return backend_alert(c, n >= 2 ? rec[1] : 0);
	if (type == GW_TLS_RECORD_ALERT)
		return abort_conn(c, "client_alert");
	if (type == GW_TLS_RECORD_HANDSHAKE)
		return client ? client_handshake(c, rec, n) : backend_handshake(c, rec, n);
	/* Plain data read here (cannot happen after EINVAL): count and drop is wrong, abort. */
	return abort_conn(c, client ? "client_tls_error" : "backend_tls_error");
}

/* from -> pipe. Returns STEP_*, and how many bytes moved in *moved. */
static enum step fill(struct gw_conn *c, int from, int pipe_w, uint32_t *inpipe,
		      bool *eof, bool from_client)
{
	uint8_t ready = from_client ? GW_SP_C_RD : GW_SP_B_RD;
	uint8_t full = from_client ? GW_SP_CB_FULL : GW_SP_BC_FULL;
	bool ktls = from_client || c->b_ktls;
	ssize_t n;

	if (*eof || *inpipe >= SPLICE_CHUNK || !(c->sp_ready & ready) || (c->sp_ready & full))
		return STEP_IDLE;
	n = splice(from, NULL, pipe_w, NULL, SPLICE_CHUNK - *inpipe,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		*inpipe += (uint32_t)n;
		if (!from_client) {
			c->b_heard = true;
			tickets_done(c);	/* tickets come first, if at all */
		}
		return STEP_MOVED;
	}
	if (n == 0) {
		*eof = true;
		return STEP_MOVED;
	}
	if (errno == EAGAIN) {
		/* With bytes in the pipe, it may be the pipe that is full. */
		if (*inpipe)
			c->sp_ready |= full;
		else
			c->sp_ready &= ~ready;
		return STEP_IDLE;
	}
	if (errno == EINTR)
		return STEP_IDLE;
	if (ktls && errno == EINVAL)
		return control_record(c, from_client);
	/* A record that does not decrypt (EBADMSG), or one too long. */
	if (!from_client && ktls && (errno == EBADMSG || errno == EMSGSIZE))
		return abort_conn(c, "backend_tls_error");
	return abort_conn(c, from_client ? "client_reset" : "backend_reset");
}

/* pipe -> to. */
static enum step drain(struct gw_conn *c, int pipe_r, int to, uint32_t *inpipe,
		       bool to_client)
{
	uint8_t ready = to_client ? GW_SP_C_WR : GW_SP_B_WR;
	uint8_t full = to_client ? GW_SP_BC_FULL : GW_SP_CB_FULL;
	ssize_t n;

	if (!*inpipe || !(c->sp_ready & ready))
		return STEP_IDLE;
	n = splice(pipe_r, NULL, to, NULL, *inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		*inpipe -= (uint32_t)n;
		gw_conn_count_bytes(c, to_client ? 0 : (uint64_t)n, to_client ? (uint64_t)n : 0);
		c->sp_ready &= ~full;
		return STEP_MOVED;
	}
	if (n < 0 && errno == EAGAIN) {
		c->sp_ready &= ~ready;
		return STEP_IDLE;
	}
	if (n < 0 && errno == EINTR)
		return STEP_IDLE;
	/* A TLS backend that refused us may have said why before it reset. */
	if (!to_client && c->b_ktls && !c->b_heard && control_record(c, false) == STEP_CLOSED)
		return STEP_CLOSED;
	return abort_conn(c, to_client ? "client_reset" : "backend_reset");
}

/*
 * The end of one direction once its pipe is empty: close_notify (on a kTLS
 * leg), then FIN. false when the socket is full (retried on EPOLLOUT).
 */
static bool shut_leg(struct gw_conn *c, bool client)
{
	if ((client || c->b_ktls) && gw_ktls_close_notify(leg_fd(c, client)) == -EAGAIN)
		return false;
	shutdown(leg_fd(c, client), SHUT_WR);
	*(client ? &c->c_shut : &c->b_shut) = true;
	return true;
}

static void pump(struct gw_conn *c)
{
	enum step s[6];
	bool moved;

	do {
		/* Owed a KeyUpdate: it goes out before any more data. */
		s[4] = c->ku_tx_pending ? key_update_send(c, true) : STEP_IDLE;
		if (s[4] == STEP_CLOSED)
			return;
		s[5] = c->b_ku_tx_pending ? key_update_send(c, false) : STEP_IDLE;
		if (s[5] == STEP_CLOSED)
			return;
		s[0] = fill(c, c->cev.fd, c->pipe_cb[1], &c->pipe_cb_len, &c->c_eof, true);
		if (s[0] == STEP_CLOSED)
			return;
		s[1] = c->b_ku_tx_pending ? STEP_IDLE :
		       drain(c, c->pipe_cb[0], c->bev.fd, &c->pipe_cb_len, false);
		if (s[1] == STEP_CLOSED)
			return;
		if (c->c_eof && !c->pipe_cb_len && !c->b_shut && !c->b_ku_tx_pending &&
		    !shut_leg(c, false))
			break;		/* retry when the socket drains */
		s[2] = fill(c, c->bev.fd, c->pipe_bc[1], &c->pipe_bc_len, &c->b_eof, false);
		if (s[2] == STEP_CLOSED)
			return;
		s[3] = c->ku_tx_pending ? STEP_IDLE :
		       drain(c, c->pipe_bc[0], c->cev.fd, &c->pipe_bc_len, true);
		if (s[3] == STEP_CLOSED)
			return;
		if (c->b_eof && !c->pipe_bc_len && !c->c_shut && !c->ku_tx_pending &&
		    !shut_leg(c, true))
			break;		/* retry when the socket drains */
		moved = s[0] == STEP_MOVED || s[1] == STEP_MOVED || s[2] == STEP_MOVED ||
			s[3] == STEP_MOVED || s[4] == STEP_MOVED || s[5] == STEP_MOVED;
	} while (moved);

	if (c->c_eof && c->b_eof && c->b_shut && c->c_shut && !c->pipe_cb_len &&
	    !c->pipe_bc_len) {
		gw_conn_close(c, "closed", false);
		return;
	}
	gw_conn_set_events(c, &c->cev,
			   (!c->c_eof && c->pipe_cb_len < SPLICE_CHUNK &&
			    !(c->sp_ready & GW_SP_CB_FULL) ? EPOLLIN : 0) |
			   (c->pipe_bc_len || c->ku_tx_pending || (c->b_eof && !c->c_shut) ?
			    EPOLLOUT : 0));
	gw_conn_set_events(c, &c->bev,
			   (!c->b_eof && c->pipe_bc_len < SPLICE_CHUNK &&
			    !(c->sp_ready & GW_SP_BC_FULL) ? EPOLLIN : 0) |
			   (c->pipe_cb_len || c->b_ku_tx_pending || (c->c_eof && !c->b_shut) ?
			    EPOLLOUT : 0));
}

/* What epoll reported as sp_ready bits (errors and hang-ups: try both). */
static uint8_t ready_bits(uint32_t events, uint8_t rd, uint8_t wr)
{
	if (events & (EPOLLERR | EPOLLHUP))
		return rd | wr;
	return (events & (EPOLLIN | EPOLLRDHUP) ? rd : 0) | (events & EPOLLOUT ? wr : 0);
}

static void dp_client_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_conn *c = gw_conn_of(ev, cev);

	c->sp_ready |= ready_bits(events, GW_SP_C_RD, GW_SP_C_WR);
	pump(c);
}

static void dp_backend_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_conn *c = gw_conn_of(ev, bev);

	c->sp_ready |= ready_bits(events, GW_SP_B_RD, GW_SP_B_WR);
	pump(c);
}

/* The PROXY header (prefix) goes out first, whole: no userspace buffer here. */
static int dp_start(struct gw_conn *c, char *prefix, size_t len)
{
	bool sent = !prefix || send(c->bev.fd, prefix, len, MSG_NOSIGNAL) == (ssize_t)len;

	free(prefix);
	if (!sent)
		return -ECONNRESET;
	if (pipe2(c->pipe_cb, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	if (pipe2(c->pipe_bc, O_NONBLOCK | O_CLOEXEC))
		return -errno;		/* dp_free closes pipe_cb */
	c->cev.fn = dp_client_event;
	c->bev.fn = dp_backend_event;
	c->sp_ready = GW_SP_ALL;
	pump(c);
	return 0;
}

static void dp_free(struct gw_conn *c)
{
	int i;

	tickets_done(c);
	for (i = 0; i < 2; i++) {
		if (c->pipe_cb[i] >= 0)
			close(c->pipe_cb[i]);
		if (c->pipe_bc[i] >= 0)
			close(c->pipe_bc[i]);
		c->pipe_cb[i] = c->pipe_bc[i] = -1;
	}
}

const struct gw_dp_ops gw_dp_splice = {
	.name = "splice",
	.ktls = true,
	.start = dp_start,
	.close_notify = dp_close_notify,
	.free = dp_free,
};
