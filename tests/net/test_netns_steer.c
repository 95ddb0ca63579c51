// SPDX-License-Identifier: GPL-2.0-only
/*
 * Connection steering with sk_lookup: one listening socket receives the
 * connections for a steered /24 of service addresses and a steered port
 * range, IPv4 and IPv6, with the same mTLS policy as its own address.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/netns.h"

FIXTURE(st) {
	struct gwt_topo topo;
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	char extra[1024];
	int port6;
};

FIXTURE_SETUP(st)
{
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	self->be.pid = -1;
	if (geteuid())
		SKIP("network namespaces and BPF need root");
	ASSERT_EQ(0, gwt_topo_env_start(&self->topo, &self->be));
	/* Service addresses the gateway answers for without configuring them. */
	ASSERT_EQ(0, gwt_sh("ip -n %s route add local 10.214.0.0/24 dev lo && "
			    "ip -n %s -6 route add local fd00:214::/64 dev lo && "
			    "ip -n %s route add 10.214.0.0/24 via %s && "
			    "ip -n %s -6 route add fd00:214::/64 via %s",
			    self->topo.gw_ns, self->topo.gw_ns, self->topo.cl_ns, GWT_GW_V4,
			    self->topo.cl_ns, GWT_GW_V6));

	self->port6 = gwt_free_port();
	snprintf(self->extra, sizeof(self->extra),
		 "  - name: six\n"
		 "    listen: \"[%s]:%d\"\n"
		 "    steer: [\"[fd00:214::]/64:443\"]\n"
		 "    tls:\n"
		 "      cert: %s\n      key: %s\n      client_ca: %s\n      crl_check: off\n"
		 "    authorize:\n      - name: any-prod\n        spiffe_id: [\"spiffe://corp.test/prod/*\"]\n"
		 "    upstream:\n      address: \"127.0.0.1:%d\"\n",
		 GWT_GW_V6, self->port6, gwt_pki_path("server-chain.pem"),
		 gwt_pki_path("server.key"), gwt_pki_path("ca-bundle.pem"), self->be.port);
	self->go.upstream_port = self->be.port;
	self->go.listen_host = GWT_GW_V4;
	self->go.listener_extra = "    steer: [\"10.214.0.0/24:443\", \"10.213.0.1/32:9000-9002\"]\n";
	self->go.extra_listeners = self->extra;
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &self->go));
}

FIXTURE_TEARDOWN(st)
{
	EXPECT_EQ(0, gwt_topo_env_stop(&self->topo, &self->be, &self->gw));
}

static int gw_start_in_ns(FIXTURE_DATA(st) *self)
{
	return gwt_gw_start_in(&self->gw, self->topo.gw_ns);
}

static int connect_to(FIXTURE_DATA(st) *self, const char *src, const char *dst, int port)
{
	return gwt_connect_in(self->topo.cl_ns, src, dst, port, 3000);
}

static bool echo_via(FIXTURE_DATA(st) *self, const char *src, const char *dst, int port,
		     const char *cert)
{
	struct gwt_client_opts co = { .cert = cert, .no_server_check = true };
	struct gwt_outcome out;
	int fd = connect_to(self, src, dst, port);

	if (fd < 0)
		return false;
	gwt_client_try_fd(fd, &co, "steer", 5, &out);
	return out.handshake_ok && out.rx == 5;
}

TEST_F(st, steered_prefix_and_port_range)
{
	char *line, *out;

	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(echo_via(self, GWT_CL_V4_ALLOWED, "10.214.0.7", 443, "client-ecdsa"));
	ASSERT_TRUE(echo_via(self, GWT_CL_V4_ALLOWED, "10.214.0.200", 443, "client-ecdsa"));
	ASSERT_TRUE(echo_via(self, GWT_CL_V4_ALLOWED, GWT_GW_V4, 9001, "client-ecdsa"));
	/* Its own address as usual. */
	ASSERT_TRUE(echo_via(self, GWT_CL_V4_ALLOWED, GWT_GW_V4, self->gw.port, "client-ecdsa"));
	/* The audit log shows the destination the client reached. */
	line = gwt_audit_wait(&self->gw, 3000, "\"event\":\"conn_open\"",
			      "\"dst\":\"10.214.0.7:443\"", "\"listener\":\"test\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	line = gwt_audit_wait(&self->gw, 3000, "\"dst\":\"10.213.0.1:9001\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* Not steered: the kernel refuses as usual. */
	ASSERT_EQ(-ECONNREFUSED, connect_to(self, GWT_CL_V4_ALLOWED, "10.214.0.7", 444));
	ASSERT_EQ(-ECONNREFUSED, connect_to(self, GWT_CL_V4_ALLOWED, GWT_GW_V4, 9003));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "status"));
	ASSERT_NOT_NULL(strstr(out, "steer 10.214.0.0/24:443-443"));
	ASSERT_NOT_NULL(strstr(out, "steer hits 3 "));
	free(out);
}

TEST_F(st, ipv6_steering)
{
	char *line;

	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(echo_via(self, GWT_CL_V6_ALLOWED, "fd00:214::55", 443, "client-ecdsa"));
	line = gwt_audit_wait(&self->gw, 3000, "\"listener\":\"six\"",
			      "\"dst\":\"[fd00:214::55]:443\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(st, policy_applies_to_steered_connections)
{
	struct gwt_client_opts co = { .cert = "client-revoked", .no_server_check = true };
	struct gwt_outcome out;
	char *line;
	int fd;

	ASSERT_EQ(0, gw_start_in_ns(self));
	fd = connect_to(self, GWT_CL_V4_ALLOWED, "10.214.0.9", 443);
	ASSERT_LE(0, fd);
	gwt_client_try_fd(fd, &co, "x", 1, &out);
	ASSERT_EQ(0, out.rx);
	ASSERT_NE(-1, out.alert);
	line = gwt_audit_wait(&self->gw, 3000, "\"reason\":\"revoked\"",
			      "\"dst\":\"10.214.0.9:443\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
}

TEST_F(st, restart_after_sigkill_steers_again)
{
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(echo_via(self, GWT_CL_V4_ALLOWED, "10.214.0.7", 443, "client-ecdsa"));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGKILL));
	ASSERT_EQ(128 + SIGKILL, gwt_gw_stop(&self->gw));
	/* The link died with the process: nothing answers for the prefix. */
	ASSERT_EQ(-ECONNREFUSED, connect_to(self, GWT_CL_V4_ALLOWED, "10.214.0.7", 443));
	ASSERT_EQ(0, gw_start_in_ns(self));
	ASSERT_TRUE(echo_via(self, GWT_CL_V4_ALLOWED, "10.214.0.7", 443, "client-ecdsa"));
}

TEST_F(st, overlapping_destinations_are_a_config_error)
{
	char extra[1200], *out;

	/* A second IPv4 listener also claims 10.214.0.128/25 for ports 400-500. */
	snprintf(extra, sizeof(extra),
		 "  - name: other\n"
		 "    listen: \"%s:%d\"\n"
		 "    steer: [\"10.214.0.128/25:400-500\"]\n"
		 "    tls:\n"
		 "      cert: %s\n      key: %s\n      client_ca: %s\n      crl_check: off\n"
		 "    authorize:\n      - name: r\n        spiffe_id: [\"spiffe://corp.test/prod/*\"]\n"
		 "    upstream:\n      address: \"127.0.0.1:%d\"\n",
		 GWT_GW_V4, gwt_free_port(), gwt_pki_path("server-chain.pem"),
		 gwt_pki_path("server.key"), gwt_pki_path("ca-bundle.pem"), self->be.port);
	self->go.extra_listeners = extra;
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(2, gwt_gw_check(self->gw.cfg, &out));
	TH_LOG("%s", out);
	ASSERT_NOT_NULL(strstr(out, "listeners[1].steer[0]"));
	ASSERT_NOT_NULL(strstr(out, "overlaps listeners[0].steer[0] of listener \"test\" (listener \"other\")"));
	free(out);
}

TEST_HARNESS_MAIN
