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
#include "datapath.h"
#include "log.h"
#include "proxy.h"
#include "upstream.h"

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

/* Both sockets ready: the PROXY header, if any, then the datapath. */
static void upstream_connected(struct gw_conn *c)
{
	char *hdr = NULL;
	int one = 1, n = 0, err;

	gw_conn_timer_stop(c);
	if (c->lc->upstream.proxy_protocol == GW_PROXY_V2) {
		/* As much as a userspace datapath buffer holds. */
		hdr = malloc(GW_BUF_SIZE);
		n = hdr ? gw_proxy_v2_build((unsigned char *)hdr, GW_BUF_SIZE,
					    (struct sockaddr *)&c->src,
					    (struct sockaddr *)&c->dst, c->ident,
					    c->tls_version, c->cipher) : -ENOMEM;
		if (n < 0) {
			free(hdr);
			pr_err("listener \"%s\": conn %llu: cannot build the PROXY header: %s",
			       c->lc->name, (unsigned long long)c->id, strerror(-n));
			gw_conn_close(c, "internal_error", true);
			return;
		}
	}
	setsockopt(c->bev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->cev.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = GW_CONN_FORWARDING;
	lifetime_start(c);
	gw_conn_idle_start(c);
	if (c->state == GW_CONN_DEAD) {
		free(hdr);
		return;
	}
	/* The datapath owns hdr now. */
	err = c->dp->start(c, hdr, (size_t)n);
	if (err == -ECONNRESET) {
		gw_conn_close(c, "backend_reset", true);
	} else if (err) {
		static struct gw_ratelimit rl;

		pr_err_rl(&rl, "listener \"%s\": conn %llu: cannot start the %s datapath: %s",
			  c->lc->name, (unsigned long long)c->id, c->dp->name, strerror(-err));
		gw_conn_close(c, "internal_error", true);
	}
}

static void upstream_timeout(struct gw_conn *c)
{
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
	if (!connect(fd, (const struct sockaddr *)&up->addr, up->addr_len)) {
		upstream_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		upstream_fail(c, errno);
		return;
	}
	gw_conn_timer_start(c, c->lc->upstream.connect_timeout_ms, upstream_timeout);
	gw_conn_set_events(c, &c->bev, EPOLLOUT);
}

