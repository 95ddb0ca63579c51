// SPDX-License-Identifier: GPL-2.0-only
/*
 * The userspace datapath: SSL_read/SSL_write copy loop between the client
 * and the backend. It is the fallback where the kernel has no kTLS and
 * must be just as correct:
 *
 *  - backpressure: one bounded buffer per direction (GW_BUF_SIZE); a side
 *    is not read while its buffer towards the other side is full, so a
 *    slow reader stalls its writer instead of growing memory;
 *  - buffers exist only while they hold data, so an idle connection costs
 *    no buffer memory;
 *  - half-close both ways: client close_notify (or FIN) becomes a FIN to
 *    the backend once the buffered bytes are delivered; a backend FIN
 *    becomes close_notify (and FIN) to the client; the other direction
 *    keeps flowing until it ends too;
 *  - a reset or a TLS error on one side resets both (abort);
 *  - with upstream.tls the backend leg is SSL_read/SSL_write too: its
 *    close_notify (or FIN) is the backend's end, and the client's end
 *    becomes close_notify and FIN to the backend.
 *
 * It never makes a policy decision: by the time it runs, both stages have
 * passed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <openssl/err.h>

#include "bufcache.h"
#include "conn.h"
#include "datapath.h"
#include "log.h"

/* Buffers come from and go back to the worker's cache (bufcache.h). */
_Static_assert(GW_BUF_SIZE >= GW_BUFCACHE_LARGE_MIN && GW_BUF_SIZE <= GW_BUFCACHE_LARGE,
	       "a datapath buffer is a cached block");

static bool buf_reserve(struct gw_buf *b)
{
	if (!b->data)
		b->data = gw_bufcache_alloc(GW_BUF_SIZE);
	return b->data != NULL;
}

static void buf_consume(struct gw_buf *b, uint32_t n)
{
	b->head += n;
	if (b->head == b->tail) {
		gw_bufcache_free(b->data);
		b->data = NULL;
		b->head = b->tail = 0;
	}
}

static void buf_release_if_empty(struct gw_buf *b)
{
	if (b->data && b->head == b->tail)
		buf_consume(b, 0);
}

enum step {
	STEP_IDLE,	/* nothing could move */
	STEP_MOVED,	/* bytes or a close moved */
	STEP_CLOSED,	/* the connection was closed */
};

static enum step abort_conn(struct gw_conn *c, const char *reason)
{
	char detail[256];

	gw_ssl_errors(detail, sizeof(detail));
	pr_debug("listener \"%s\": conn %llu: %s%s%s", c->lc->name,
		 (unsigned long long)c->id, reason, detail[0] ? ": " : "", detail);
	gw_conn_close(c, reason, true);
	return STEP_CLOSED;
}

static uint32_t want_of(int ssl_err)
{
	return ssl_err == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN;
}

/* Client -> c2b buffer. */
static enum step client_read(struct gw_conn *c)
{
	bool got = false;
	int n, e;

	if (c->c_eof || (c->c2b.data && !gw_buf_space(&c->c2b))) {
		c->c_read_wants = 0;
		return STEP_IDLE;
	}
	/* Blocked on the socket, and no event since (woken()): no syscall to learn it again. */
	if (c->c_read_wants)
		return STEP_IDLE;
	if (!buf_reserve(&c->c2b))
		return abort_conn(c, "out_of_memory");
again:
	ERR_clear_error();
	n = SSL_read(c->ssl, c->c2b.data + c->c2b.tail, gw_buf_space(&c->c2b));
	if (c->ku_flood) {
		static struct gw_ratelimit rl;

		/* Any client can do it on every connection: one line per 5 s. */
		pr_warn_rl(&rl, "listener \"%s\": conn %llu: more than %d KeyUpdates in a second, closing",
			   c->lc->name, (unsigned long long)c->id, GW_KEY_UPDATES_PER_S);
		SSL_shutdown(c->ssl);
		gw_conn_close(c, "key_update_flood", false);
		return STEP_CLOSED;
	}
	/* OpenSSL answered no_renegotiation and would carry on: we close. */
	if (c->renegotiation) {
		pr_debug("listener \"%s\": conn %llu: the client asked to renegotiate, closing",
			 c->lc->name, (unsigned long long)c->id);
		SSL_shutdown(c->ssl);
		gw_conn_close(c, "client_renegotiation", false);
		return STEP_CLOSED;
	}
	if (n > 0) {
		c->c2b.tail += n;
		/*
		 * More records came with the same read (read ahead into 64 KiB):
		 * take them too, and the backend gets them in one send.
		 */
		if (gw_buf_space(&c->c2b) && SSL_has_pending(c->ssl)) {
			got = true;
			goto again;
		}
		return STEP_MOVED;
	}
	e = SSL_get_error(c->ssl, n);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		c->c_read_wants = want_of(e);
		buf_release_if_empty(&c->c2b);
		return got ? STEP_MOVED : STEP_IDLE;
	case SSL_ERROR_ZERO_RETURN:
		/* close_notify, or a bare FIN (SSL_OP_IGNORE_UNEXPECTED_EOF) */
		c->c_eof = true;
		buf_release_if_empty(&c->c2b);
		return STEP_MOVED;
	case SSL_ERROR_SYSCALL:
		return abort_conn(c, "client_reset");
	default:
		return abort_conn(c, "client_tls_error");
	}
}

/*
 * A TLS call on the backend leg that did not complete. An alert before
 * the backend sent anything is a refused handshake: in TLS 1.3 the
 * backend judges our certificate after our handshake ended.
 */
static enum step backend_tls_error(struct gw_conn *c, int e, uint32_t *wants)
{
	char detail[512];

	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		*wants = want_of(e);
		return STEP_IDLE;
	}
	/* A write into the reset: the alert that came before it is still queued. */
	if (e == SSL_ERROR_SYSCALL && !c->b_heard) {
		char x;
		int r;

		ERR_clear_error();
		r = SSL_peek(c->bssl, &x, 1);
		if (r <= 0 && SSL_get_error(c->bssl, r) == SSL_ERROR_SSL)
			e = SSL_ERROR_SSL;
	}
	if (e == SSL_ERROR_SSL && !c->b_heard) {
		gw_ssl_errors(detail, sizeof(detail));
		free(c->close_detail);
		c->close_detail = detail[0] ? strdup(detail) : NULL;
		gw_conn_finish(c, "upstream_tls_error");
		return STEP_CLOSED;
	}
	return abort_conn(c, e == SSL_ERROR_SYSCALL ? "backend_reset" : "backend_tls_error");
}

/* c2b buffer -> backend over TLS, then close_notify and FIN once the client's side ended. */
static enum step backend_write_tls(struct gw_conn *c)
{
	uint32_t len = gw_buf_len(&c->c2b);
	int n;

	c->b_write_wants = 0;
	if (len) {
		ERR_clear_error();
		n = SSL_write(c->bssl, c->c2b.data + c->c2b.head, len);
		if (n <= 0)
			return backend_tls_error(c, SSL_get_error(c->bssl, n), &c->b_write_wants);
		gw_conn_count_bytes(c, n, 0);
		buf_consume(&c->c2b, n);
		return STEP_MOVED;
	}
	if (c->c_eof && !c->b_shut) {
		ERR_clear_error();
		n = SSL_shutdown(c->bssl);
		if (n < 0)
			return backend_tls_error(c, SSL_get_error(c->bssl, n), &c->b_write_wants);
		shutdown(c->bev.fd, SHUT_WR);
		c->b_shut = true;
		return STEP_MOVED;
	}
	return STEP_IDLE;
}

/* c2b buffer -> backend, then FIN once the client's side has ended. */
static enum step backend_write(struct gw_conn *c)
{
	uint32_t len = gw_buf_len(&c->c2b), h;
	ssize_t n;

	if (c->bssl)
		return backend_write_tls(c);
	if (len) {
		n = send(c->bev.fd, c->c2b.data + c->c2b.head, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return STEP_IDLE;
			return abort_conn(c, "backend_reset");
		}
		/* The PROXY header goes first and is not client payload. */
		h = (uint32_t)n < c->proxy_hdr_left ? (uint32_t)n : c->proxy_hdr_left;
		c->proxy_hdr_left -= h;
		gw_conn_count_bytes(c, n - h, 0);
		buf_consume(&c->c2b, n);
		return STEP_MOVED;
	}
	if (c->c_eof && !c->b_shut) {
		shutdown(c->bev.fd, SHUT_WR);
		c->b_shut = true;
		return STEP_MOVED;
	}
	return STEP_IDLE;
}

/* Backend over TLS -> b2c buffer; close_notify or FIN is its end. */
static enum step backend_read_tls(struct gw_conn *c)
{
	int n, e;

	ERR_clear_error();
	n = SSL_read(c->bssl, c->b2c.data + c->b2c.tail, gw_buf_space(&c->b2c));
	if (n > 0) {
		c->b_heard = true;
		c->b2c.tail += n;
		return STEP_MOVED;
	}
	buf_release_if_empty(&c->b2c);
	e = SSL_get_error(c->bssl, n);
	if (e == SSL_ERROR_ZERO_RETURN) {
		c->b_eof = true;
		return STEP_MOVED;
	}
	return backend_tls_error(c, e, &c->b_read_wants);
}

/* Backend -> b2c buffer. */
static enum step backend_read(struct gw_conn *c)
{
	ssize_t n;

	if (c->b_eof || (c->b2c.data && !gw_buf_space(&c->b2c))) {
		c->b_read_wants = 0;
		return STEP_IDLE;
	}
	/* As client_read: not again before the socket says so. */
	if (c->b_read_wants)
		return STEP_IDLE;
	if (!buf_reserve(&c->b2c))
		return abort_conn(c, "out_of_memory");
	if (c->bssl)
		return backend_read_tls(c);
	n = recv(c->bev.fd, c->b2c.data + c->b2c.tail, gw_buf_space(&c->b2c), 0);
	if (n > 0) {
		c->b2c.tail += n;
		return STEP_MOVED;
	}
	buf_release_if_empty(&c->b2c);
	if (n == 0) {
		c->b_eof = true;
		return STEP_MOVED;
	}
	if (errno == EAGAIN) {
		c->b_read_wants = EPOLLIN;
		return STEP_IDLE;
	}
	if (errno == EINTR)
		return STEP_IDLE;
	return abort_conn(c, "backend_reset");
}

/* b2c buffer -> client, then close_notify once the backend's side ended. */
static enum step client_write(struct gw_conn *c)
{
	uint32_t len = gw_buf_len(&c->b2c);
	int n, e;

	c->c_write_wants = 0;
	if (len) {
		ERR_clear_error();
		n = SSL_write(c->ssl, c->b2c.data + c->b2c.head, len);
		if (n > 0) {
			gw_conn_count_bytes(c, 0, n);
			buf_consume(&c->b2c, n);
			return STEP_MOVED;
		}
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
			c->c_write_wants = want_of(e);
			return STEP_IDLE;
		}
		return abort_conn(c, e == SSL_ERROR_SYSCALL ? "client_reset" :
					     "client_tls_error");
	}
	if (c->b_eof && !c->c_shut) {
		ERR_clear_error();
		n = SSL_shutdown(c->ssl);
		if (n < 0) {
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
				c->c_write_wants = want_of(e);
				return STEP_IDLE;
			}
			return abort_conn(c, "client_reset");
		}
		/* close_notify is out; the client may keep sending (half-close). */
		shutdown(c->cev.fd, SHUT_WR);
		c->c_shut = true;
		return STEP_MOVED;
	}
	return STEP_IDLE;
}

static void pump(struct gw_conn *c)
{
	enum step s[4];
	uint32_t cev, bev;
	bool moved;

	do {
		s[0] = client_read(c);
		if (s[0] == STEP_CLOSED)
			return;
		s[1] = backend_write(c);
		if (s[1] == STEP_CLOSED)
			return;
		s[2] = backend_read(c);
		if (s[2] == STEP_CLOSED)
			return;
		s[3] = client_write(c);
		if (s[3] == STEP_CLOSED)
			return;
		moved = s[0] == STEP_MOVED || s[1] == STEP_MOVED ||
			s[2] == STEP_MOVED || s[3] == STEP_MOVED;
	} while (moved);

	if (c->c_eof && c->b_eof && c->b_shut && c->c_shut &&
	    !gw_buf_len(&c->c2b) && !gw_buf_len(&c->b2c)) {
		gw_conn_close(c, "closed", false);
		return;
	}
	cev = c->c_read_wants | c->c_write_wants;
	if (c->bssl) {
		/* What the TLS calls that could not go on wait for. */
		bev = c->b_read_wants | c->b_write_wants;
	} else {
		bev = 0;
		if (gw_buf_len(&c->c2b))
			bev |= EPOLLOUT;
		if (!c->b_eof && (!c->b2c.data || gw_buf_space(&c->b2c)))
			bev |= EPOLLIN;
	}
	gw_conn_set_events(c, &c->cev, cev);
	gw_conn_set_events(c, &c->bev, bev);
}

/*
 * What a read that blocked still waits for after events: nothing once
 * they bring it (or the socket failed or hung up), so the read is tried
 * again; until then the pump leaves the socket alone.
 */
static uint32_t woken(uint32_t wants, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
		return 0;
	return events & wants ? 0 : wants;
}

static void dp_client_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_conn *c = gw_conn_of(ev, cev);

	c->c_read_wants = woken(c->c_read_wants, events);
	pump(c);
}

static void dp_backend_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_conn *c = gw_conn_of(ev, bev);

	c->b_read_wants = woken(c->b_read_wants, events);
	pump(c);
}

/*
 * The client's handshake messages after the handshake, seen before
 * OpenSSL acts on them:
 *  - OpenSSL follows a KeyUpdate by itself; we only count them, so a
 *    storm ends with key_update_flood as on the splice datapath;
 *  - a ClientHello asks for a TLS 1.2 renegotiation (TLS 1.3 has none, and
 *    OpenSSL refuses one there as an unexpected message): OpenSSL answers
 *    no_renegotiation (SSL_OP_NO_RENEGOTIATION) and keeps the connection,
 *    so client_read closes it with its own reason.
 */
static void client_msg_seen(int write_p, int version, int content_type, const void *buf,
			    size_t len, SSL *ssl, void *arg)
{
	const unsigned char *m = buf;
	struct gw_conn *c = arg;

	(void)ssl;
	if (write_p || content_type != SSL3_RT_HANDSHAKE || !len)
		return;
	if (m[0] == SSL3_MT_KEY_UPDATE)
		gw_conn_key_update_ok(c);
	else if (m[0] == SSL3_MT_CLIENT_HELLO && version == TLS1_2_VERSION)
		c->renegotiation = true;
}

/* The PROXY header goes first: its buffer becomes c2b (empty until now). */
static int dp_start(struct gw_conn *c, char *prefix, size_t len)
{
	if (prefix) {
		c->c2b.data = prefix;
		c->c2b.head = 0;
		c->c2b.tail = (uint32_t)len;
		c->proxy_hdr_left = (uint32_t)len;
	}
	/*
	 * This connection stays in userspace: read ahead now (off during the
	 * handshake for a lossless kTLS handoff), one read per record or
	 * more instead of a header read and a body read.
	 */
	SSL_set_read_ahead(c->ssl, 1);
	if (c->bssl)
		SSL_set_read_ahead(c->bssl, 1);	/* the backend leg too (upstream.tls) */
	/*
	 * Up to 64 KiB per read (several records), taken to one buffer
	 * and one send; released between reads as ever (idle: none).
	 */
	SSL_set_default_read_buffer_len(c->ssl, GW_BUF_SIZE);
	SSL_set_msg_callback(c->ssl, client_msg_seen);
	SSL_set_msg_callback_arg(c->ssl, c);
	c->cev.fn = dp_client_event;
	c->bev.fn = dp_backend_event;
	pump(c);
	return 0;
}

static int dp_close_notify(struct gw_conn *c)
{
	if (c->ssl && SSL_shutdown(c->ssl) < 0)
		return -EAGAIN;
	return 0;
}

static void dp_free(struct gw_conn *c)
{
	gw_bufcache_free(c->c2b.data);
	gw_bufcache_free(c->b2c.data);
	c->c2b.data = c->b2c.data = NULL;
}

const struct gw_dp_ops gw_dp_userspace = {
	.name = "userspace",
	.ktls = false,
	.start = dp_start,
	.close_notify = dp_close_notify,
	.free = dp_free,
};
