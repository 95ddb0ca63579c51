// SPDX-License-Identifier: GPL-2.0-only
/*
 * The backend connection: opened only after the client passed both stages,
 * nonblocking, bounded by connect_timeout. A backend that refuses or does
 * not answer gets the client a clean TLS close (close_notify) and the
 * audit reason upstream_unreachable.
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

#include "conn.h"
#include "log.h"
#include "proxy.h"

static void upstream_fail(struct gw_conn *c, int err)
{
	const struct gw_cfg_listener *lc = c->lc;

	pr_warn("listener \"%s\": conn %llu: upstream %s: %s", lc->name,
		(unsigned long long)c->id, lc->upstream.address_str,
		err ? strerror(err) : "connect timed out");
	/* Best effort: the client learns it was a deliberate close. */
	gw_conn_close_notify(c);
	gw_conn_close(c, "upstream_unreachable", false);
}

/* The PROXY v2 header is the first thing the backend reads. */
static int proxy_header(struct gw_conn *c)
{
	int n;

	c->c2b.data = malloc(GW_BUF_SIZE);
	if (!c->c2b.data)
		return -ENOMEM;
	n = gw_proxy_v2_build((unsigned char *)c->c2b.data, GW_BUF_SIZE,
			      (struct sockaddr *)&c->src, (struct sockaddr *)&c->dst,
			      c->ident, c->tls_version, c->cipher);
	if (n < 0)
		return n;
	c->c2b.head = 0;
	c->c2b.tail = n;
	c->proxy_hdr_left = n;
	return 0;
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
	gw_conn_close_notify(c);
	gw_conn_close(c, expired ? "expired" : "max_lifetime", false);
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

static void upstream_connected(struct gw_conn *c)
{
	int one = 1, err;

	gw_conn_timer_stop(c);
	if (c->lc->upstream.proxy_protocol == GW_PROXY_V2) {
		err = proxy_header(c);
		if (err) {
			pr_err("listener \"%s\": conn %llu: cannot build the PROXY header: %s",
			       c->lc->name, (unsigned long long)c->id, strerror(-err));
			gw_conn_close(c, "internal_error", true);
			return;
		}
	}
	setsockopt(c->bev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->cev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = GW_CONN_FORWARDING;
	lifetime_start(c);
	if (c->dp == GW_DP_SPLICE) {
		/* No userspace buffer on this path: the header goes out first, whole. */
		if (c->c2b.data) {
			ssize_t n = send(c->bev.fd, c->c2b.data, c->c2b.tail, MSG_NOSIGNAL);

			if (n != (ssize_t)c->c2b.tail) {
				gw_conn_close(c, "backend_reset", true);
				return;
			}
			gw_dp_userspace_free(c);
			c->proxy_hdr_left = 0;
		}
		err = gw_dp_splice_start(c);
		if (err) {
			pr_err("listener \"%s\": conn %llu: cannot start splicing: %s",
			       c->lc->name, (unsigned long long)c->id, strerror(-err));
			gw_conn_close(c, "internal_error", true);
		}
		return;
	}
	gw_dp_userspace_start(c);
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
	if (!connect(fd, (const struct sockaddr *)&up->addr, up->addr_len)) {
		upstream_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		upstream_fail(c, errno);
		return;
	}
	gw_conn_timer_start(c, c->lc->upstream.connect_timeout_ms, gw_upstream_timeout);
	gw_conn_set_events(c, &c->bev, EPOLLOUT);
}

void gw_upstream_timeout(struct gw_conn *c)
{
	upstream_fail(c, 0);
}
