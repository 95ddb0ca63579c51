// SPDX-License-Identifier: GPL-2.0-only
/*
 * Operations: mtlsgwctl against a live daemon (status, conns, reload,
 * kill) and the metrics endpoint, parsed by the reference Prometheus
 * parser, with counters that must match what the test did.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"

FIXTURE(ops) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
};

FIXTURE_SETUP(ops)
{
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(ops)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

static bool echo_ok(int port, const char *cert)
{
	return gwt_echo_ok(port, cert, "ops");
}

TEST_F(ops, status)
{
	char *out;

	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "status"));
	ASSERT_NOT_NULL(strstr(out, "mtlsgw "));
	ASSERT_NOT_NULL(strstr(out, "kernel: kTLS"));
	ASSERT_NOT_NULL(strstr(out, "listener test: 127.0.0.1:"));
	ASSERT_NOT_NULL(strstr(out, "datapath userspace"));
	free(out);
}

TEST_F(ops, conns_and_kill_by_spiffe_id)
{
	struct gwt_client_opts a = { .cert = "client-ecdsa" }, b = { .cert = "client-rsa" };
	struct gwt_client ca, cb;
	char buf[8], *out, *line;

	ASSERT_EQ(0, gwt_client_connect(&ca, self->gw.port, &a));
	ASSERT_EQ(0, gwt_client_connect(&cb, self->gw.port, &b));
	ASSERT_EQ(2, SSL_write(ca.ssl, "a1", 2));
	ASSERT_EQ(2, SSL_read(ca.ssl, buf, sizeof(buf)));
	ASSERT_EQ(2, SSL_write(cb.ssl, "b1", 2));
	ASSERT_EQ(2, SSL_read(cb.ssl, buf, sizeof(buf)));

	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns"));
	ASSERT_NOT_NULL(strstr(out, "spiffe://corp.test/prod/payments"));
	ASSERT_NOT_NULL(strstr(out, "spiffe://corp.test/prod/rsa-client"));
	ASSERT_NOT_NULL(strstr(out, "TLSv1.3"));
	free(out);
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns --json"));
	ASSERT_NOT_NULL(strstr(out, "\"identity\":\"spiffe://corp.test/prod/payments\""));
	ASSERT_NOT_NULL(strstr(out, "\"bytes_in\":2"));
	/* The kernel's view of the client socket, through sock_diag. */
	ASSERT_NOT_NULL(strstr(out, "\"kernel\":{\"found\":true,\"tcp_state\":1,"));
	ASSERT_NOT_NULL(strstr(out, "\"ulp\":\"none\""));
	free(out);

	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "kill --spiffe-id spiffe://corp.test/prod/payments"));
	ASSERT_STREQ("killed 1\n", out);
	free(out);
	/* The killed client sees the end; the other one carries on. */
	ASSERT_GE(0, SSL_read(ca.ssl, buf, sizeof(buf)));
	ASSERT_EQ(2, SSL_write(cb.ssl, "b2", 2));
	ASSERT_EQ(2, SSL_read(cb.ssl, buf, sizeof(buf)));
	gwt_client_close(&ca);
	gwt_client_close(&cb);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"", "\"reason\":\"killed\"",
			      "\"spiffe_id\":\"spiffe://corp.test/prod/payments\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(1, gwt_audit_count(&self->gw, "\"reason\":\"killed\""));
}

TEST_F(ops, reload_through_ctl)
{
	char *out;

	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "reload"));
	ASSERT_STREQ("ok: generation 2\n", out);
	free(out);
	ASSERT_EQ(0, gwt_write_file(self->gw.cfg, "listeners: 3\n"));
	ASSERT_EQ(1, gwt_ctl(&self->gw, &out, "reload"));
	ASSERT_NOT_NULL(strstr(out, "error: reload refused"));
	ASSERT_NOT_NULL(strstr(out, "mtlsgw.yaml:1: listeners"));
	free(out);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
}

TEST_F(ops, bad_usage)
{
	char *out;

	ASSERT_EQ(2, gwt_ctl(&self->gw, &out, "kill"));
	free(out);
	ASSERT_EQ(2, gwt_ctl(&self->gw, &out, "frobnicate"));
	free(out);
	self->gw.ctl[0] = 'X';
	ASSERT_EQ(3, gwt_ctl(&self->gw, &out, "status"));
	ASSERT_NOT_NULL(strstr(out, "cannot reach mtlsgw"));
	free(out);
	self->gw.ctl[0] = '/';
}

/* Parse with the reference parser; the sample line for name{labels}, or NULL. */
static char *sample(const char *parsed, const char *series)
{
	const char *p = parsed;
	size_t n = strlen(series);

	while ((p = strstr(p, series))) {
		if ((p == parsed || p[-1] == '\n') && p[n] == ' ') {
			const char *end = strchr(p, '\n');

			return strndup(p, end ? (size_t)(end - p) : strlen(p));
		}
		p += n;
	}
	return NULL;
}

TEST_F(ops, metrics_parse_and_count)
{
	struct gwt_client_opts co = { .cert = "client-revoked" };
	struct gwt_outcome out;
	char path[128], *body, *parsed, *s;
	const char *srcdir = getenv("GWT_SRCDIR") ? getenv("GWT_SRCDIR") : ".";

	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	ASSERT_TRUE(echo_ok(self->gw.port, "client-rsa"));
	gwt_client_try(self->gw.port, &co, "x", 1, &out);
	ASSERT_FALSE(out.rx);
	/* The refusal is counted by whichever worker had it, maybe just now. */
	ASSERT_EQ(1, gwt_metric_wait(&self->gw,
		"mtlsgw_handshakes_total{listener=\"test\",result=\"fail\",reason=\"revoked\"}", 1, 2000));
	body = gwt_metrics(&self->gw);
	ASSERT_NOT_NULL(body);
	snprintf(path, sizeof(path), "%s/metrics.txt", self->gw.dir);
	ASSERT_EQ(0, gwt_write_file(path, body));
	free(body);
	ASSERT_EQ(0, gwt_sh_capture(&parsed, "/usr/bin/python3 '%s/tests/net/promcheck.py' '%s'",
				    srcdir, path));
	s = sample(parsed, "mtlsgw_handshakes_total{listener=\"test\",reason=\"none\",result=\"ok\"}");
	ASSERT_NOT_NULL(s);
	EXPECT_STREQ("mtlsgw_handshakes_total{listener=\"test\",reason=\"none\",result=\"ok\"} 2.0", s);
	free(s);
	s = sample(parsed, "mtlsgw_handshakes_total{listener=\"test\",reason=\"revoked\",result=\"fail\"}");
	ASSERT_NOT_NULL(s);
	EXPECT_STREQ("mtlsgw_handshakes_total{listener=\"test\",reason=\"revoked\",result=\"fail\"} 1.0", s);
	free(s);
	s = sample(parsed, "mtlsgw_authz_decisions_total{decision=\"allow\",listener=\"test\",rule=\"prod-callers\"}");
	ASSERT_NOT_NULL(s);
	EXPECT_NOT_NULL(strstr(s, " 2.0"));
	free(s);
	s = sample(parsed, "mtlsgw_bytes_total{direction=\"in\",listener=\"test\"}");
	ASSERT_NOT_NULL(s);
	EXPECT_NOT_NULL(strstr(s, " 6.0"));
	free(s);
	s = sample(parsed, "mtlsgw_handshake_duration_seconds_count{listener=\"test\"}");
	ASSERT_NOT_NULL(s);
	EXPECT_NOT_NULL(strstr(s, " 3.0"));
	free(s);
	ASSERT_NOT_NULL(strstr(parsed, "mtlsgw_cert_not_after_timestamp_seconds{kind=\"server\",listener=\"test\"}"));
	ASSERT_NOT_NULL(strstr(parsed, "mtlsgw_crl_next_update_timestamp_seconds{file="));
	ASSERT_NOT_NULL(strstr(parsed, "mtlsgw_connections_active{datapath=\"userspace\",listener=\"test\"} 0.0"));
	free(parsed);
}

TEST_HARNESS_MAIN
