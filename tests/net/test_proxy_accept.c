// SPDX-License-Identifier: GPL-2.0-only
/*
 * A listener behind a load balancer (listeners[].proxy_protocol): the
 * balancer's PROXY v2 header names the client, and that name is what
 * allow_sources, the audit log, mtlsgwctl conns, a reload's re-check and
 * the PROXY header towards the backend use. From the attacker's side: a
 * client that skips the balancer, a header from a host that is not one,
 * a v1 header, a header sent in pieces or with 60 KB of TLVs, one that
 * never ends. And HAProxy (send-proxy-v2) in front, as in the field.
 *
 * The headers are built by gwtest byte by byte from the protocol's text,
 * not with the gateway's encoder.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "proxy.h"

#define MAX_HDR (16 + 36 + 65000)

static bool send_all(int fd, const void *p, size_t n)
{
	return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

FIXTURE(pa) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
};

FIXTURE_SETUP(pa)
{
	struct gwt_backend_opts bo = { .echo = true };

	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	ASSERT_EQ(0, gwt_backend_start(&self->be, &bo));
	self->go = (struct gwt_gw_opts){
		.upstream_port = self->be.port,
		.allow_sources = "[192.0.2.0/24, \"2001:db8::/32\"]",
		.listener_extra = "    proxy_protocol: { accept: v2, from: [127.0.0.0/8] }\n",
	};
}

FIXTURE_TEARDOWN(pa)
{
	gwt_backend_stop(&self->be);
	EXPECT_EQ(0, gwt_gw_cleanup(&self->gw));
}

static int pa_start(FIXTURE_DATA(pa) *self)
{
	if (gwt_gw_config(&self->gw, &self->go))
		return -1;
	return gwt_gw_start(&self->gw);
}

static uint64_t backend_accepted(FIXTURE_DATA(pa) *self)
{
	return __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST);
}

/* Connect, send the header (in pieces of piece bytes, 0 = whole), then handshake. */
static int pp_client(struct gwt_client *c, int port, const unsigned char *hdr, size_t len,
		     size_t piece)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	int fd = gwt_raw_connect(port);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		size_t n = piece && len - off > piece ? piece : len - off;

		if (!send_all(fd, hdr + off, n)) {
			close(fd);
			return -1;
		}
		off += n;
		if (piece)
			usleep(2000);
	}
	return gwt_client_handshake(c, fd, &co);
}

/* The header the backend received, parsed. */
static int backend_header(FIXTURE_DATA(pa) *self, struct gw_proxy_v2 *pp)
{
	const char *why = NULL;

	if (!gwt_backend_wait_done(&self->be, 0, 5000))
		return -ETIMEDOUT;
	return gw_proxy_v2_parse(self->be.st->conn[0].head, self->be.st->conn[0].head_len, pp,
				 &why);
}

TEST_F(pa, header_names_the_client_everywhere)
{
	unsigned char hdr[128];
	struct gwt_client c;
	struct gw_proxy_v2 pp;
	char *line, *out = NULL, want[64];
	size_t n = gwt_proxy_v2_header(hdr, "192.0.2.7", 40000, "198.51.100.1", 443, 40, false);
	struct sockaddr_in *s4;
	int hlen;

	self->go.upstream_extra = "      proxy_protocol: v2\n";
	ASSERT_EQ(0, pa_start(self));
	ASSERT_EQ(0, pp_client(&c, self->gw.port, hdr, n, 0));
	/* The echo comes back behind the gateway's own PROXY header. */
	ASSERT_EQ(17, SSL_write(c.ssl, "behind a balancer", 17));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"src\":\"192.0.2.7:40000\"", "\"dst\":\"198.51.100.1:443\"",
			      "\"via\":\"127.0.0.1:", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns --json"));
	ASSERT_NOT_NULL(strstr(out, "\"src\":\"192.0.2.7:40000\",\"via\":\"127.0.0.1:"));
	free(out);
	gwt_client_close(&c);
	/* The backend's PROXY header carries the client, not the balancer. */
	hlen = backend_header(self, &pp);
	ASSERT_LT(0, hlen);
	ASSERT_EQ(hlen + 17, self->be.st->conn[0].head_len);
	ASSERT_MEMEQ("behind a balancer", self->be.st->conn[0].head + hlen, 17);
	ASSERT_FALSE(pp.local);
	s4 = (struct sockaddr_in *)&pp.src;
	ASSERT_EQ(AF_INET, s4->sin_family);
	ASSERT_STREQ("192.0.2.7", inet_ntop(AF_INET, &s4->sin_addr, want, sizeof(want)));
	ASSERT_EQ(40000, ntohs(s4->sin_port));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"",
			      "\"src\":\"192.0.2.7:40000\"", "\"via\":\"127.0.0.1:", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(pa, ipv6_client_behind_an_ipv4_balancer)
{
	unsigned char hdr[128];
	struct gwt_client c;
	char *line;
	size_t n = gwt_proxy_v2_header(hdr, "2001:db8::7", 5555, "2001:db8::1", 443, 0, false);

	ASSERT_EQ(0, pa_start(self));
	ASSERT_EQ(0, pp_client(&c, self->gw.port, hdr, n, 0));
	ASSERT_TRUE(gwt_roundtrip(&c, "v6"));
	gwt_client_close(&c);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"src\":\"[2001:db8::7]:5555\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(pa, client_the_header_names_outside_allow_sources_is_denied)
{
	unsigned char hdr[128];
	struct gwt_client c;
	char *line;
	size_t n = gwt_proxy_v2_header(hdr, "203.0.113.9", 1234, "198.51.100.1", 443, 0, false);

	ASSERT_EQ(0, pa_start(self));
	ASSERT_NE(0, pp_client(&c, self->gw.port, hdr, n, 0));
	gwt_client_close(&c);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"authz_deny\"",
			      "\"src\":\"203.0.113.9:1234\"", "\"via\":\"127.0.0.1:",
			      "\"reason\":\"source_denied\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, backend_accepted(self));
}

TEST_F(pa, client_that_skips_the_balancer_is_refused)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	char *line;

	ASSERT_EQ(0, pa_start(self));
	gwt_client_try(self->gw.port, &co, "direct", 6, &out);
	ASSERT_FALSE(out.handshake_ok);
	ASSERT_EQ(0, out.rx);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"reason\":\"proxy_header_invalid\"",
			      "\"detail\":\"a TLS record where the PROXY v2 header belongs\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, backend_accepted(self));
	ASSERT_EQ(1, gwt_metric_value(&self->gw,
		"mtlsgw_handshakes_total{listener=\"test\",result=\"fail\",reason=\"proxy_header_invalid\"}"));
}

TEST_F(pa, header_from_a_host_that_is_no_balancer_is_refused)
{
	unsigned char hdr[128];
	struct gwt_client c;
	char *line;
	size_t n = gwt_proxy_v2_header(hdr, "192.0.2.7", 40000, "198.51.100.1", 443, 0, false);

	self->go.listener_extra = "    proxy_protocol: { accept: v2, from: [10.0.0.0/8] }\n";
	ASSERT_EQ(0, pa_start(self));
	/* A forged header: it must not make the gateway believe 192.0.2.7. */
	ASSERT_NE(0, pp_client(&c, self->gw.port, hdr, n, 0));
	gwt_client_close(&c);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"src\":\"127.0.0.1:", "\"reason\":\"proxy_source_untrusted\"", NULL);
	ASSERT_NOT_NULL(line);
	ASSERT_NULL(strstr(line, "192.0.2.7"));
	free(line);
	ASSERT_EQ(0, backend_accepted(self));
}

TEST_F(pa, v1_header_is_refused)
{
	static const char v1[] = "PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n";
	struct gwt_client c;
	char *line;

	ASSERT_EQ(0, pa_start(self));
	ASSERT_NE(0, pp_client(&c, self->gw.port, (const unsigned char *)v1, sizeof(v1) - 1, 0));
	gwt_client_close(&c);
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"proxy_header_invalid\"",
			      "\"detail\":\"a PROXY v1 (text) header; only v2 is accepted\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, backend_accepted(self));
}

TEST_F(pa, header_in_pieces_with_60k_of_tlvs)
{
	unsigned char *hdr = malloc(MAX_HDR);
	struct gwt_client c;
	char *line;
	size_t n;

	ASSERT_NOT_NULL(hdr);
	n = gwt_proxy_v2_header(hdr, "192.0.2.8", 7, "198.51.100.1", 443, 60000, false);
	ASSERT_EQ(0, pa_start(self));
	ASSERT_EQ(0, pp_client(&c, self->gw.port, hdr, n, 0));
	ASSERT_TRUE(gwt_roundtrip(&c, "whole"));
	gwt_client_close(&c);
	/* 7 bytes at a time for the first 70 (fixed part, addresses, TLV start). */
	{
		int fd = gwt_raw_connect(self->gw.port);
		struct gwt_client_opts co = { .cert = "client-ecdsa" };
		size_t off;

		ASSERT_LE(0, fd);
		for (off = 0; off < 70; off += 7) {
			ASSERT_TRUE(send_all(fd, hdr + off, 7));
			usleep(3000);
		}
		ASSERT_TRUE(send_all(fd, hdr + off, n - off));
		ASSERT_EQ(0, gwt_client_handshake(&c, fd, &co));
		ASSERT_TRUE(gwt_roundtrip(&c, "in pieces"));
		gwt_client_close(&c);
	}
	free(hdr);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"src\":\"192.0.2.8:7\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(2, gwt_audit_count(&self->gw, "\"event\":\"conn_open\""));
}

TEST_F(pa, local_command_keeps_the_connection_addresses)
{
	unsigned char hdr[128];
	struct gwt_client c;
	char *line;
	size_t n = gwt_proxy_v2_header(hdr, "192.0.2.7", 1, "198.51.100.1", 443, 0, true);

	self->go.allow_sources = "[127.0.0.0/8]";
	ASSERT_EQ(0, pa_start(self));
	ASSERT_EQ(0, pp_client(&c, self->gw.port, hdr, n, 0));
	ASSERT_TRUE(gwt_roundtrip(&c, "health check"));
	gwt_client_close(&c);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"src\":\"127.0.0.1:", NULL);
	ASSERT_NOT_NULL(line);
	ASSERT_NULL(strstr(line, "\"via\""));
	ASSERT_NULL(strstr(line, "192.0.2.7"));
	free(line);
}

TEST_F(pa, header_that_never_ends_times_out)
{
	unsigned char hdr[128];
	char *line, b;
	int fd;

	gwt_proxy_v2_header(hdr, "192.0.2.7", 1, "198.51.100.1", 443, 0, false);
	self->go.handshake_timeout = "1s";
	ASSERT_EQ(0, pa_start(self));
	fd = gwt_raw_connect(self->gw.port);
	ASSERT_LE(0, fd);
	ASSERT_TRUE(send_all(fd, hdr, 20));		/* the fixed part and 4 bytes */
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"handshake_timeout\"",
			      "\"detail\":\"before the end of the PROXY v2 header\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, recv(fd, &b, 1, 0));
	close(fd);
}

TEST_F(pa, balancer_that_closes_mid_header)
{
	unsigned char hdr[128];
	char *line;
	int fd;

	gwt_proxy_v2_header(hdr, "192.0.2.7", 1, "198.51.100.1", 443, 0, false);
	ASSERT_EQ(0, pa_start(self));
	fd = gwt_raw_connect(self->gw.port);
	ASSERT_LE(0, fd);
	ASSERT_TRUE(send_all(fd, hdr, 10));
	close(fd);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"reason\":\"client_closed\"",
			      "\"detail\":\"before the end of its PROXY v2 header\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(pa, reload_rechecks_the_client_the_header_named)
{
	unsigned char hdr[128];
	struct gwt_client c;
	char *line, *out = NULL;
	size_t n = gwt_proxy_v2_header(hdr, "192.0.2.7", 40000, "198.51.100.1", 443, 0, false);

	ASSERT_EQ(0, pa_start(self));
	ASSERT_EQ(0, pp_client(&c, self->gw.port, hdr, n, 0));
	ASSERT_TRUE(gwt_roundtrip(&c, "before"));
	/* The balancer stays trusted; its client's range does not. */
	self->go.allow_sources = "[198.51.100.0/24]";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "reload"));
	free(out);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"revoked_close\"",
			      "\"src\":\"192.0.2.7:40000\"", "\"reason\":\"source_denied\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_LE(0, gwt_wait_closed(&c, 5000));
	gwt_client_close(&c);
}

TEST_F(pa, behind_haproxy_send_proxy_v2)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out = { 0 };
	struct gwt_client c;
	int fe_port = gwt_free_port(), fd;
	pid_t hp;
	char *line;

	if (system("command -v haproxy >/dev/null 2>&1"))
		SKIP("haproxy is not installed (make deps installs it)");
	self->go.allow_sources = "[127.0.0.2/32]";
	self->go.listener_extra = "    proxy_protocol: { accept: v2, from: [127.0.0.1/32] }\n";
	ASSERT_EQ(0, pa_start(self));
	hp = gwt_haproxy_start(self->gw.dir, fe_port, &self->gw.port, 1);
	ASSERT_LT(0, hp);
	/* Through HAProxy from an allowed client address. */
	fd = gwt_connect_from("127.0.0.2", fe_port);
	EXPECT_LE(0, fd);
	EXPECT_EQ(0, fd < 0 ? -1 : gwt_client_handshake(&c, fd, &co));
	EXPECT_TRUE(gwt_roundtrip(&c, "through haproxy"));
	gwt_client_close(&c);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"src\":\"127.0.0.2:", "\"via\":\"127.0.0.1:", NULL);
	EXPECT_NOT_NULL(line);
	free(line);
	/* Through HAProxy from a client allow_sources does not have. */
	fd = gwt_connect_from("127.0.0.3", fe_port);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		gwt_client_try_fd(fd, &co, "x", 1, &out);
	EXPECT_FALSE(out.handshake_ok);
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"source_denied\"",
			      "\"src\":\"127.0.0.3:", NULL);
	EXPECT_NOT_NULL(line);
	free(line);
	/* The allowed client going around HAProxy: not a balancer. */
	fd = gwt_connect_from("127.0.0.2", self->gw.port);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		gwt_client_try_fd(fd, &co, "x", 1, &out);
	EXPECT_FALSE(out.handshake_ok);
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"proxy_source_untrusted\"",
			      "\"src\":\"127.0.0.2:", NULL);
	EXPECT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, gwt_haproxy_stop(hp));
	ASSERT_EQ(1, gwt_audit_count(&self->gw, "\"event\":\"conn_open\""));
}

TEST_F(pa, config_errors_name_the_key)
{
	static const struct {
		const char *extra, *want;
	} cases[] = {	/* line 14 of the generated file is the listener's proxy_protocol */
		{ "    proxy_protocol: { accept: v1, from: [10.0.0.0/8] }\n",
		  "yaml:14: listeners[0].proxy_protocol.accept: \"v1\" is not one of \"v2\"" },
		{ "    proxy_protocol: { accept: v2 }\n",
		  "yaml:14: listeners[0].proxy_protocol.from: list the load balancers' addresses" },
		{ "    proxy_protocol: { accept: v2, from: [10.0.0.1/8] }\n",
		  "yaml:14: listeners[0].proxy_protocol.from[0]: \"10.0.0.1/8\" is not a CIDR prefix" },
		/* upstream.proxy_protocol's form, one level too high */
		{ "    proxy_protocol: v2\n",
		  "yaml:14: listeners[0].proxy_protocol: expected a mapping" },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;

		self->go.listener_extra = cases[i].extra;
		ASSERT_EQ(0, gwt_gw_config(&self->gw, &self->go));
		ASSERT_NE(0, gwt_gw_check(self->gw.cfg, &out));
		if (!strstr(out, cases[i].want))
			TH_LOG("case %u: %s", i, out);
		ASSERT_NOT_NULL(strstr(out, cases[i].want));
		free(out);
		gwt_gw_cleanup(&self->gw);
	}
}

TEST_HARNESS_MAIN
