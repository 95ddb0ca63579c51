// SPDX-License-Identifier: GPL-2.0-only
/*
 * The backend connection: opened only after the client passed both stages,
 * nonblocking, bounded by connect_timeout. A backend that refuses or does
 * not answer gets the client a clean TLS close (close_notify) and the
 * audit reason upstream_unreachable.
 *
 * With upstream.tls the gateway then runs a TLS client handshake on it
 * (tls_client.h), under the same connect_timeout: the PROXY header first,
 * if any, then the ClientHello. A backend whose chain does not verify is
 * upstream_cert_invalid, one whose name does not match
 * upstream_name_mismatch, any other TLS failure (the backend refused our
 * certificate, spoke no TLS) upstream_tls_error, and a handshake that does
 * not end in time upstream_timeout; the conn_close line's detail says
 * what OpenSSL or the verification said.
 */
#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bufcache.h"
#include "conn.h"
#include "datapath.h"
#include "ktls_handoff.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "upstream.h"
#include "util.h"

static void upstream_fail(struct gw_conn *c, int err)
{
	const struct gw_cfg_listener *lc = c->lc;
	static struct gw_ratelimit rl;

	/* A backend that is down fails every connection: one line per 5 s. */
	pr_warn_rl(&rl, "listener \"%s\": conn %llu: upstream %s: %s", lc->name,
		   (unsigned long long)c->id, lc->upstream.address_str,
		   err ? strerror(err) : "connect timed out");
	/* Best effort: the client learns it was a deliberate close. */
	gw_conn_finish(c, "upstream_unreachable");
}

/*
 * The end of a forwarded connection's life: max_connection_lifetime, or
 * the client certificate's notAfter when close_on_expiry is on.
 */
static void lifetime_over(struct gw_conn *c)
{
	bool expired = c->lc->close_on_expiry && c->ident && c->ident->not_after &&
		       time(NULL) >= c->ident->not_after;

	pr_info("listener \"%s\": conn %llu: %s", c->lc->name, (unsigned long long)c->id,
		expired ? "client certificate expired, closing" : "max_connection_lifetime reached, closing");
	gw_conn_finish(c, expired ? "expired" : "max_lifetime");
}

static void lifetime_start(struct gw_conn *c)
{
	uint64_t ms = c->lc->max_connection_lifetime_ms;
	time_t now = time(NULL);

	if (c->lc->close_on_expiry && c->ident && c->ident->not_after) {
		uint64_t left = c->ident->not_after > now ?
				(uint64_t)(c->ident->not_after - now) * 1000 : 1;

		if (!ms || left < ms)
			ms = left;
	}
	if (ms)
		gw_conn_timer_start(c, ms, lifetime_over);
}

/* The PROXY header, or NULL (*len 0) when the listener sends none. -errno. */
static int proxy_header(struct gw_conn *c, char **hdr, size_t *len)
{
	int n;

	*hdr = NULL;
	*len = 0;
	if (c->lc->upstream.proxy_protocol != GW_PROXY_V2)
		return 0;
	/* As much as a userspace datapath buffer holds. */
	*hdr = gw_bufcache_alloc(GW_BUF_SIZE);
	n = *hdr ? gw_proxy_v2_build((unsigned char *)*hdr, GW_BUF_SIZE,
				     (struct sockaddr *)&c->src, (struct sockaddr *)&c->dst,
				     c->ident, c->tls_version, c->cipher) : -ENOMEM;
	if (n < 0) {
		gw_bufcache_free(*hdr);
		*hdr = NULL;
		pr_err("listener \"%s\": conn %llu: cannot build the PROXY header: %s",
		       c->lc->name, (unsigned long long)c->id, strerror(-n));
		gw_conn_close(c, "internal_error", true);
		return n;
	}
	*len = (size_t)n;
	return 0;
}

/* Both legs ready: the datapath, with hdr (owned from here) before any client byte. */
static void forward(struct gw_conn *c, char *hdr, size_t len)
{
	int err;

	gw_conn_timer_stop(c);
	c->state = GW_CONN_FORWARDING;
	lifetime_start(c);
	gw_conn_idle_start(c);
	if (c->state == GW_CONN_DEAD) {
		gw_bufcache_free(hdr);
		return;
	}
	err = c->dp->start(c, hdr, len);
	if (err == -ECONNRESET) {
		gw_conn_close(c, "backend_reset", true);
	} else if (err) {
		static struct gw_ratelimit rl;

		pr_err_rl(&rl, "listener \"%s\": conn %llu: cannot start the %s datapath: %s",
			  c->lc->name, (unsigned long long)c->id, c->dp->name, strerror(-err));
		gw_conn_close(c, "internal_error", true);
	}
}

/* ---- the backend leg in TLS (upstream.tls) ---- */

static void count_tls(const struct gw_conn *c, const char *result, const char *reason,
		      const char *session)
{
	char labels[256];

	if (!gw_metric_labels(labels, sizeof(labels), "listener", c->lc->name, "?route", c->lc->route,
			      "result", result,
			      "reason", reason, "session", session, NULL))
		gw_metric_add("mtlsgw_upstream_handshakes_total", labels, 1);
}

/*
 * The backend leg failed after the TCP connect: close_notify to the
 * client, and the reason with what OpenSSL or the verification said.
 */
static void tls_fail(struct gw_conn *c, const char *reason, const char *detail)
{
	static struct gw_ratelimit rl;

	count_tls(c, "fail", reason, "none");
	gw_tls_client_forget(c->tls->upstream, c->b_offered);
	/* A backend with a bad certificate fails every connection: one line per 5 s. */
	pr_warn_rl(&rl, "listener \"%s\": conn %llu: upstream %s: %s%s%s", c->lc->name,
		   (unsigned long long)c->id, c->lc->upstream.address_str, reason,
		   detail && *detail ? ": " : "", detail ? detail : "");
	free(c->close_detail);
	c->close_detail = detail && *detail ? strdup(detail) : NULL;
	gw_conn_finish(c, reason);
}

static void tls_failed(struct gw_conn *c, int r)
{
	int e = SSL_get_error(c->bssl, r);
	char detail[512];

	const struct gw_cfg_upstream_tls *t = c->lc->upstream.tls;

	if (c->uvr.reason && c->uvr.x509_err) {
		gw_snprintf(detail, sizeof(detail), "%s (depth %d)",
			    X509_verify_cert_error_string(c->uvr.x509_err), c->uvr.depth);
		tls_fail(c, c->uvr.reason, detail);
		return;
	}
	/* Only what the config says: the certificate's names are the backend's words. */
	if (c->uvr.mismatch) {
		gw_snprintf(detail, sizeof(detail), "the certificate does not match %s %s",
			    c->uvr.mismatch, !strcmp(c->uvr.mismatch, "verify_name") ?
			    t->verify_name : t->verify_spiffe_id);
		tls_fail(c, c->uvr.reason, detail);
		return;
	}
	gw_ssl_errors(detail, sizeof(detail));
	if (!detail[0] && e == SSL_ERROR_SYSCALL)
		gw_snprintf(detail, sizeof(detail), "%s",
			    errno ? strerror(errno) : "the backend closed the connection");
	tls_fail(c, c->uvr.reason ?: "upstream_tls_error", detail);
}

static void tls_done(struct gw_conn *c)
{
	X509 *peer = SSL_get0_peer_certificate(c->bssl);

	/* A resumed session's peer was verified when the session was made. */
	if (!c->uvr.ident && peer)
		c->uvr.ident = gw_identity_from_x509(peer);
	if (!c->uvr.ident) {
		tls_fail(c, "upstream_tls_error", "no backend certificate");
		return;
	}
	/* Issuer and serial of its chain, for a CRL that a reload brings. */
	c->b_certrefs = gw_certrefs_from_chain(SSL_get0_verified_chain(c->bssl) ?:
					       SSL_get_peer_cert_chain(c->bssl));
	if (!c->b_certrefs)
		pr_warn("listener \"%s\": conn %llu: cannot record the backend's chain; a CRL update will not close it",
			c->lc->name, (unsigned long long)c->id);
	c->b_tls_version = SSL_get_version(c->bssl);
	c->b_cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(c->bssl));
	c->b_resumed = SSL_session_reused(c->bssl);
	count_tls(c, "ok", "none", c->b_resumed ? "resumed" : "full");
	/* Both handshakes done: both legs to the kernel, or both stay. */
	if (gw_ktls_handoff(c) == GW_KTLS_HANDOFF_CLOSED)
		return;
	gw_audit_emit(&GW_AUDIT_EVENT(.event = "upstream_open", .conn_id = c->id,
		.listener = c->lc->name, .route = c->lc->route, .sni = c->vr.sni,
		.src = (struct sockaddr *)&c->src,
		.dst = (struct sockaddr *)&c->dst,
		.via = (struct sockaddr *)&c->via, .up = gw_conn_upstream(c),
		.datapath = gw_conn_datapath(c)));
	forward(c, NULL, 0);
}

/* The PROXY header first (HAProxy's convention), then the handshake. */
static void tls_step(struct gw_conn *c)
{
	ssize_t n;
	int r;

	while (c->up_hdr_off < c->up_hdr_len) {
		n = send(c->bev.fd, c->up_hdr + c->up_hdr_off, c->up_hdr_len - c->up_hdr_off,
			 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			gw_conn_set_events(c, &c->bev, EPOLLOUT);
			return;
		}
		if (n < 0) {
			upstream_fail(c, errno);
			return;
		}
		c->up_hdr_off += (uint32_t)n;
	}
	gw_bufcache_free(c->up_hdr);
	c->up_hdr = NULL;
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->bssl);
	if (r == 1) {
		tls_done(c);
		return;
	}
	switch (SSL_get_error(c->bssl, r)) {
	case SSL_ERROR_WANT_READ:
		gw_conn_set_events(c, &c->bev, EPOLLIN);
		return;
	case SSL_ERROR_WANT_WRITE:
		gw_conn_set_events(c, &c->bev, EPOLLOUT);
		return;
	default:
		tls_failed(c, r);
	}
}

static void tls_event(struct gw_ev *ev, uint32_t events)
{
	(void)events;
	tls_step(gw_conn_of(ev, bev));
}

static void tls_start(struct gw_conn *c)
{
	size_t len;
	char *hdr;

	if (proxy_header(c, &hdr, &len))
		return;
	c->up_hdr = hdr;
	c->up_hdr_len = (uint32_t)len;
	c->bssl = gw_tls_client_ssl(c->tls->upstream, c->bev.fd, &c->uvr, &c->b_offered);
	if (!c->bssl) {
		static struct gw_ratelimit rl;
		char why[512];

		gw_ssl_errors(why, sizeof(why));
		pr_err_rl(&rl, "listener \"%s\": conn %llu: cannot create the upstream TLS session: %s",
			  c->lc->name, (unsigned long long)c->id, why[0] ? why : "out of memory");
		gw_conn_close(c, "internal_error", true);
		return;
	}
	c->bev.fn = tls_event;
	tls_step(c);
}

/* ---- the TCP connect ---- */

/* Connected: over TLS, the handshake (still under connect_timeout); else forward. */
static void upstream_connected(struct gw_conn *c)
{
	size_t len;
	char *hdr;
	int one = 1;

	setsockopt(c->bev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->cev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->tls->upstream) {
		tls_start(c);
		return;
	}
	if (proxy_header(c, &hdr, &len))
		return;
	forward(c, hdr, len);
}

/* connect_timeout: for the TCP connect, or the connect and the TLS handshake. */
static void upstream_timeout(struct gw_conn *c)
{
	if (c->bssl)
		tls_fail(c, "upstream_timeout", "no TLS handshake within connect_timeout");
	else
		upstream_fail(c, 0);
}

static void upstream_event(struct gw_ev *ev, uint32_t events)
{
	struct gw_conn *c = gw_conn_of(ev, bev);
	socklen_t len = sizeof(int);
	int err = 0;

	(void)events;
	if (getsockopt(ev->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err) {
		upstream_fail(c, err);
		return;
	}
	upstream_connected(c);
}

void gw_upstream_connect(struct gw_conn *c)
{
	const struct gw_cfg_upstream *up = &c->lc->upstream;
	int fd;

	fd = socket(up->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		upstream_fail(c, errno);
		return;
	}
	c->bev.fd = fd;
	c->bev.fn = upstream_event;
	gw_conn_timer_start(c, c->lc->upstream.connect_timeout_ms, upstream_timeout);
	if (c->state == GW_CONN_DEAD)
		return;
	if (!connect(fd, (const struct sockaddr *)&up->addr, up->addr_len)) {
		upstream_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		upstream_fail(c, errno);
		return;
	}
	gw_conn_set_events(c, &c->bev, EPOLLOUT);
}

