// SPDX-License-Identifier: GPL-2.0-only
/*
 * A fleet: two gateways behind HAProxy (TCP mode, send-proxy-v2, round
 * robin, redispatch), as the README's "Running a fleet" sets it up. They
 * share the ticket key file and the CRL files, nothing else. A client
 * resumes on one gateway with the other's ticket; a CRL change closes a
 * revoked client's live connections on both; one gateway is killed and
 * every new connection goes through the other.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "harness.h"
#include "lib/gwtest.h"

#define N_GW 2

FIXTURE(fl) {
	struct gwt_backend be;
	struct gwt_gw gw[N_GW];
	char dir[64];			/* what the fleet shares */
	char crl_yaml[320], tls_extra[192];
	pid_t haproxy;
	int fe_port;
};

FIXTURE_SETUP(fl)
{
	struct gwt_backend_opts bo = { .echo = true };
	int ports[N_GW], i;
	unsigned char key[80];
	char path[128];
	FILE *f;

	self->haproxy = -1;
	for (i = 0; i < N_GW; i++) {
		self->gw[i].pid = -1;
		self->gw[i].notify_fd = -1;
	}
	if (system("command -v haproxy >/dev/null 2>&1"))
		SKIP("haproxy is not installed (make deps installs it)");
	ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
	/* The shared files: one ticket key, the issuing CA's CRL (no revocation yet). */
	snprintf(path, sizeof(path), "%s/tickets.key", self->dir);
	ASSERT_EQ(1, RAND_bytes(key, sizeof(key)));
	f = fopen(path, "wb");
	ASSERT_NOT_NULL(f);
	ASSERT_EQ(sizeof(key), fwrite(key, 1, sizeof(key), f));
	fclose(f);
	ASSERT_EQ(0, chmod(path, 0600));
	snprintf(self->tls_extra, sizeof(self->tls_extra),
		 "      session_tickets: { key_file: %s }\n", path);
	snprintf(path, sizeof(path), "%s/issuing.crl", self->dir);
	ASSERT_EQ(0, gwt_replace_file(gwt_pki_path("issuing-ca-norevoke.crl"), path));
	snprintf(self->crl_yaml, sizeof(self->crl_yaml), "[%s, %s, %s]",
		 gwt_pki_path("root-ca.crl"), gwt_pki_path("intermediate-ca.crl"), path);
	ASSERT_EQ(0, gwt_backend_start(&self->be, &bo));
	for (i = 0; i < N_GW; i++) {
		struct gwt_gw_opts go = {
			.upstream_port = self->be.port,
			.crl = self->crl_yaml,
			.tls_extra = self->tls_extra,
			.listener_extra = "    proxy_protocol: { accept: v2, from: [127.0.0.1/32] }\n",
			.allow_sources = "[127.0.0.0/8]",
		};

		ASSERT_EQ(0, gwt_gw_config(&self->gw[i], &go));
		ASSERT_EQ(0, gwt_gw_start(&self->gw[i]));
		ports[i] = self->gw[i].port;
	}
	self->fe_port = gwt_free_port();
	self->haproxy = gwt_haproxy_start(self->dir, self->fe_port, ports, N_GW);
	ASSERT_LT(0, self->haproxy);
}

FIXTURE_TEARDOWN(fl)
{
	int i;

	EXPECT_EQ(0, gwt_haproxy_stop(self->haproxy));
	gwt_backend_stop(&self->be);
	for (i = 0; i < N_GW; i++)
		gwt_gw_cleanup(&self->gw[i]);
	if (self->dir[0])
		gwt_rmtree(self->dir);
}

/* A client of cert through HAProxy, from src; 0 once the handshake is done. */
static int via_lb(FIXTURE_DATA(fl) *self, struct gwt_client *c, const char *cert,
		  const char *src, SSL_SESSION *sess)
{
	struct gwt_client_opts co = { .cert = cert, .session = sess,
				      .max_version = TLS1_3_VERSION };
	int fd = gwt_connect_from(src, self->fe_port);

	if (fd < 0)
		return -1;
	return gwt_client_handshake(c, fd, &co);
}

static int conn_opens(struct gwt_gw *g)
{
	return gwt_audit_count(g, "\"event\":\"conn_open\"");
}

/*
 * A round trip through HAProxy on a new client of cert; *gw: the gateway
 * it landed on (its conn_open count grew). HAProxy's round robin is
 * shared by its threads and its own probes: the tests never assume an
 * order. 0, or -1.
 */
static int connect_where(FIXTURE_DATA(fl) *self, struct gwt_client *c, const char *cert,
			 const char *src, SSL_SESSION *sess, int *gw)
{
	int before[N_GW], i;

	for (i = 0; i < N_GW; i++)
		before[i] = conn_opens(&self->gw[i]);
	if (via_lb(self, c, cert, src, sess) || !gwt_roundtrip(c, "where"))
		return -1;
	for (i = 0; i < N_GW; i++)
		if (self->gw[i].pid > 0 && conn_opens(&self->gw[i]) > before[i]) {
			*gw = i;
			return 0;
		}
	return -1;
}

/* Every conn_open line of g has needle (and the balancer as via). */
static bool opens_name_the_client(struct gwt_gw *g, const char *needle)
{
	char *log = gwt_read_file(g->audit), *line, *save = NULL;
	bool ok = log != NULL;

	for (line = log ? strtok_r(log, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		if (strstr(line, "\"event\":\"conn_open\"") &&
		    (!strstr(line, needle) || !strstr(line, "\"via\":\"127.0.0.1:")))
			ok = false;
	free(log);
	return ok;
}

/* Up to 16 connections of cert until one is on every gateway; each in c[gw]. */
static int one_on_each(FIXTURE_DATA(fl) *self, struct gwt_client *c, const char *cert,
		       const char *src)
{
	bool have[N_GW] = { false };
	int n = 0, tries, gw;

	for (tries = 0; tries < 16 && n < N_GW; tries++) {
		struct gwt_client t;

		if (connect_where(self, &t, cert, src, NULL, &gw))
			return -1;
		if (have[gw]) {
			gwt_client_close(&t);
			continue;
		}
		have[gw] = true;
		c[gw] = t;
		n++;
	}
	return n == N_GW ? 0 : -1;
}

TEST_F(fl, a_ticket_from_one_gateway_resumes_on_the_other)
{
	struct gwt_client c, warm[N_GW];
	bool resumed_on[N_GW] = { false };
	SSL_SESSION *s;
	int i, from, gw, tries;

	/* A full handshake on each, so each knows the client's issuer path. */
	ASSERT_EQ(0, one_on_each(self, warm, "client-ecdsa", "127.0.0.2"));
	for (i = 0; i < N_GW; i++)
		gwt_client_close(&warm[i]);
	ASSERT_EQ(0, connect_where(self, &c, "client-ecdsa", "127.0.0.2", NULL, &from));
	s = gwt_client_ticket(&c, "ticket");
	ASSERT_NOT_NULL(s);
	/* Offered until it reached the other gateway: resumed every time. */
	for (tries = 0; tries < 16 && !resumed_on[!from]; tries++) {
		ASSERT_EQ(0, connect_where(self, &c, "client-ecdsa", "127.0.0.2", s, &gw));
		ASSERT_EQ(1, SSL_session_reused(c.ssl));
		resumed_on[gw] = true;
		gwt_client_close(&c);
	}
	SSL_SESSION_free(s);
	ASSERT_TRUE(resumed_on[!from]);
	ASSERT_LE(1, gwt_metric_value(&self->gw[!from],
		"mtlsgw_verify_cache_total{listener=\"test\",path=\"resumed\"}"));
	/* Each saw the client, not HAProxy, as the source of every connection. */
	for (i = 0; i < N_GW; i++)
		ASSERT_TRUE(opens_name_the_client(&self->gw[i], "\"src\":\"127.0.0.2:"));
}

TEST_F(fl, a_crl_change_closes_the_revoked_client_on_both_gateways)
{
	struct gwt_client rev[N_GW], good[N_GW];
	char path[128], *line;
	int i;

	ASSERT_EQ(0, one_on_each(self, rev, "client-revoked", "127.0.0.3"));
	ASSERT_EQ(0, one_on_each(self, good, "client-ecdsa", "127.0.0.2"));
	/* The issuing CA publishes the revocation: one file, both gateways. */
	snprintf(path, sizeof(path), "%s/issuing.crl", self->dir);
	ASSERT_EQ(0, gwt_replace_file(gwt_pki_path("issuing-ca.crl"), path));
	for (i = 0; i < N_GW; i++) {
		line = gwt_audit_wait(&self->gw[i], 5000, "\"event\":\"revoked_close\"",
				      "\"src\":\"127.0.0.3:", "\"reason\":\"revoked\"", NULL);
		ASSERT_NOT_NULL(line);
		free(line);
		ASSERT_LE(0, gwt_wait_closed(&rev[i], 5000));
		gwt_client_close(&rev[i]);
	}
	for (i = 0; i < N_GW; i++) {
		ASSERT_TRUE(gwt_roundtrip(&good[i], "still here"));
		gwt_client_close(&good[i]);
		/* Only the revoked client's connection was closed there. */
		ASSERT_EQ(1, gwt_audit_count(&self->gw[i], "\"event\":\"revoked_close\""));
	}
}

TEST_F(fl, one_gateway_killed_the_other_takes_every_client)
{
	struct gwt_client c[N_GW];
	int i, gw, before, status;

	ASSERT_EQ(0, one_on_each(self, c, "client-ecdsa", "127.0.0.2"));
	before = conn_opens(&self->gw[1]);
	/* Gateway 0 dies: its client's connection ends, gateway 1's lives on. */
	ASSERT_EQ(0, kill(self->gw[0].pid, SIGKILL));
	ASSERT_EQ(self->gw[0].pid, waitpid(self->gw[0].pid, &status, 0));
	self->gw[0].pid = -1;
	ASSERT_LE(0, gwt_wait_closed(&c[0], 5000));
	gwt_client_close(&c[0]);
	ASSERT_TRUE(gwt_roundtrip(&c[1], "after"));
	gwt_client_close(&c[1]);
	/* Every reconnect goes through the survivor, none refused. */
	for (i = 0; i < 6; i++) {
		struct gwt_client r;

		ASSERT_EQ(0, connect_where(self, &r, "client-ecdsa", "127.0.0.2", NULL, &gw));
		ASSERT_EQ(1, gw);
		gwt_client_close(&r);
	}
	ASSERT_EQ(before + 6, conn_opens(&self->gw[1]));
}

TEST_HARNESS_MAIN
