// SPDX-License-Identifier: GPL-2.0-only
/*
 * Where a connection comes from (source.h).
 *
 * Behind a balancer the client's address arrives in the first bytes of
 * the stream, before its ClientHello: the header is read with reads of
 * exactly the length still missing (gw_proxy_v2_want), so that the first
 * TLS byte stays in the socket for OpenSSL, and its TLVs (up to 64 KiB)
 * are read into a scratch buffer and dropped. The header is trusted only
 * from the listener's proxy_protocol.from; the handshake_timeout covers
 * it as part of the handshake.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "audit.h"
#include "conn.h"
#include "metrics.h"
#include "proxy.h"
#include "source.h"

bool gw_source_allowed(const struct gw_cfg_listener *lc, uint64_t conn_id,
		       const struct sockaddr *src, const struct sockaddr *dst,
		       const struct sockaddr *via)
{
	bool enforce = lc->mode == GW_MODE_ENFORCE;
	char labels[256];

	if (lc->allow_any || gw_cidr_match_any(lc->allow_sources, lc->n_allow_sources, src))
		return true;
	if (!gw_metric_labels(labels, sizeof(labels), "listener", lc->name, "?route", lc->route,
			      "rule", "allow_sources", "decision",
			      enforce ? "deny" : "would_deny", NULL))
		gw_metric_add("mtlsgw_authz_decisions_total", labels, 1);
	gw_audit_emit(&GW_AUDIT_EVENT(.event = "authz_deny", .conn_id = conn_id,
		.listener = lc->name, .src = src, .dst = dst, .via = via,
		.decision = enforce ? "deny" : "would_deny",
		.reason = "source_denied"));
	return !enforce;
}

bool gw_source_is_balancer(const struct gw_cfg_listener *lc, const struct sockaddr *src)
{
	return gw_cidr_match_any(lc->proxy_from, lc->n_proxy_from, src);
}

/* recv() into p: DONE when all n came, WAIT, or FAIL with the reason. */
static enum gw_source_result read_some(int fd, void *p, size_t n, size_t *got,
				       const char **reason, const char **detail)
{
	ssize_t r = recv(fd, p, n, 0);

	if (r > 0) {
		*got = (size_t)r;
		return (size_t)r == n ? GW_SOURCE_DONE : GW_SOURCE_WAIT;
	}
	*got = 0;
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return GW_SOURCE_WAIT;
	*reason = r ? "client_reset" : "client_closed";
	*detail = r ? strerror(errno) : "before the end of its PROXY v2 header";
	return GW_SOURCE_FAIL;
}

/* The header's first bytes, up to the end of the address block. */
static enum gw_source_result read_addresses(struct gw_conn *c, const char **reason,
					    const char **detail)
{
	struct gw_proxy_in *pp = &c->pp;
	struct gw_proxy_v2 hdr;
	int total;

	for (;;) {
		enum gw_source_result r;
		size_t want, got;

		total = gw_proxy_v2_parse(pp->buf, pp->have, &hdr, detail);
		if (total == -EINVAL) {
			*reason = "proxy_header_invalid";
			return GW_SOURCE_FAIL;
		}
		if (total > 0)
			break;
		want = gw_proxy_v2_want(pp->buf, pp->have);
		if (pp->have >= want) {		/* parse and want disagree: a bug */
			*reason = "internal_error";
			*detail = "PROXY v2 header parser needs more than it asked for";
			return GW_SOURCE_FAIL;
		}
		r = read_some(c->cev.fd, pp->buf + pp->have, want - pp->have, &got,
			      reason, detail);
		pp->have += got;
		if (r != GW_SOURCE_DONE && !got)
			return r;
	}
	pp->skip = (uint32_t)total - pp->have;
	if (!hdr.local) {
		c->via = c->src;
		gw_inaddr_set(&c->src, &hdr.src);
		gw_inaddr_set(&c->dst, &hdr.dst);
	}
	return GW_SOURCE_DONE;
}

enum gw_source_result gw_source_read_proxy(struct gw_conn *c, const char **reason,
					   const char **detail)
{
	struct gw_proxy_in *pp = &c->pp;
	unsigned char scratch[4096];

	*detail = NULL;
	if (!pp->skip && !pp->done) {
		enum gw_source_result r = read_addresses(c, reason, detail);

		if (r != GW_SOURCE_DONE)
			return r;
	}
	while (pp->skip) {
		size_t n = pp->skip < sizeof(scratch) ? pp->skip : sizeof(scratch), got;
		enum gw_source_result r = read_some(c->cev.fd, scratch, n, &got, reason, detail);

		pp->skip -= got;
		if (r != GW_SOURCE_DONE)
			return r;
	}
	pp->done = true;
	return GW_SOURCE_DONE;
}
