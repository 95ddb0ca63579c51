// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel's view of our client sockets (sockdiag.h): a NETLINK_SOCK_DIAG
 * dump of TCP sockets with their TLS ULP info, matched by SO_COOKIE.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <linux/tls.h>
#include <libmnl/libmnl.h>

#include "sockdiag.h"

uint64_t gw_sock_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len))
		return 0;
	return cookie;
}

static void parse_ulp(const struct nlattr *nest, struct gw_sockdiag *d)
{
	const struct nlattr *a, *t;

	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case INET_ULP_INFO_NAME:
			strncpy(d->ulp, mnl_attr_get_str(a), sizeof(d->ulp) - 1);
			break;
		case INET_ULP_INFO_TLS:
			mnl_attr_for_each_nested(t, a) {
				switch (mnl_attr_get_type(t)) {
				case TLS_INFO_VERSION:
					d->tls_version = mnl_attr_get_u16(t);
					break;
				case TLS_INFO_CIPHER:
					d->tls_cipher = mnl_attr_get_u16(t);
					break;
				case TLS_INFO_TXCONF:
					d->tls_txconf = mnl_attr_get_u16(t);
					break;
				case TLS_INFO_RXCONF:
					d->tls_rxconf = mnl_attr_get_u16(t);
					break;
				}
			}
			break;
		}
	}
}

struct dump_ctx {
	gw_sockdiag_fn fn;
	void *ctx;
};

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct dump_ctx *dc = data;
	struct gw_sockdiag d = { 0 };
	const struct nlattr *a;

	d.cookie = (uint64_t)m->id.idiag_cookie[0] | (uint64_t)m->id.idiag_cookie[1] << 32;
	d.state = m->idiag_state;
	mnl_attr_for_each(a, nlh, sizeof(*m)) {
		switch (mnl_attr_get_type(a)) {
		case INET_DIAG_INFO: {
			const struct tcp_info *ti = mnl_attr_get_payload(a);
			size_t len = mnl_attr_get_payload_len(a);

			/* Older kernels send a shorter struct: read what is there. */
			if (len >= offsetof(struct tcp_info, tcpi_bytes_received) + 8) {
				d.bytes_acked = ti->tcpi_bytes_acked;
				d.bytes_received = ti->tcpi_bytes_received;
			}
			if (len >= offsetof(struct tcp_info, tcpi_rtt) + 4)
				d.rtt_us = ti->tcpi_rtt;
			break;
		}
		case INET_DIAG_ULP_INFO:
			parse_ulp(a, &d);
			break;
		}
	}
	dc->fn(&d, dc->ctx);
	return MNL_CB_OK;
}

static int dump_family(struct mnl_socket *nl, int family, struct dump_ctx *dc)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct inet_diag_req_v2 *req;
	struct nlmsghdr *nlh;
	unsigned int seq = (unsigned int)time(NULL), portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	/* All states but LISTEN (10), TIME_WAIT (6), CLOSE (7), SYN_* (2, 3). */
	req->idiag_states = 1 << 1 | 1 << 4 | 1 << 5 | 1 << 8 | 1 << 9 | 1 << 11;
	req->idiag_ext = 1 << (INET_DIAG_INFO - 1);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		ret = mnl_cb_run(buf, n, seq, portid, on_msg, dc);
		if (ret <= MNL_CB_STOP)
			return ret < 0 ? -errno : 0;
	}
	return n < 0 ? -errno : 0;
}

int gw_sockdiag_dump(gw_sockdiag_fn fn, void *ctx)
{
	struct dump_ctx dc = { .fn = fn, .ctx = ctx };
	struct mnl_socket *nl;
	int err;

	nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(nl);
		return err;
	}
	err = dump_family(nl, AF_INET, &dc);
	if (!err)
		err = dump_family(nl, AF_INET6, &dc);
	mnl_socket_close(nl);
	return err;
}

const char *gw_sockdiag_tls_version(uint16_t v)
{
	switch (v) {
	case TLS_1_2_VERSION:
		return "TLSv1.2";
	case TLS_1_3_VERSION:
		return "TLSv1.3";
	default:
		return "-";
	}
}

const char *gw_sockdiag_tls_cipher(uint16_t c)
{
	switch (c) {
	case TLS_CIPHER_AES_GCM_128:
		return "AES-GCM-128";
	case TLS_CIPHER_AES_GCM_256:
		return "AES-GCM-256";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "CHACHA20-POLY1305";
	default:
		return "-";
	}
}
