// SPDX-License-Identifier: GPL-2.0-only
/*
 * listeners[].limits.per_identity: concurrent connections and new
 * connections per second per client identity, per daemon (one and two
 * workers), exact at the boundary, one identity's limit not another's, a
 * refusal an alert and an audit line with reason identity_limit, counted;
 * in audit mode logged as would_deny and let through; mtlsgwctl top.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lib/gwtest.h"

#define ATTEMPTS 6

FIXTURE(il) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	char listener[256];
};

FIXTURE_VARIANT(il) {
	const char *workers;
};

FIXTURE_VARIANT_ADD(il, one_worker) {
	.workers = "workers: 1\n",
};

FIXTURE_VARIANT_ADD(il, two_workers) {
	.workers = "workers: 2\n",
};

FIXTURE_SETUP(il)
{
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	self->be.pid = -1;
	self->go.top_extra = variant->workers;
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, false));
}

FIXTURE_TEARDOWN(il)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/* Start the gateway with limits (YAML flow map) on its listener, in mode. */
static int start_with(FIXTURE_DATA(il) *self, const char *limits, const char *mode)
{
	snprintf(self->listener, sizeof(self->listener),
		 "    limits:\n      per_identity: %s\n", limits);
	self->go.listener_extra = self->listener;
	self->go.mode = mode;
	if (gwt_gw_rewrite(&self->gw, &self->go))
		return -1;
	return gwt_gw_start(&self->gw);
}

/* A connection of cert that completes a round trip (kept in c), or refused (-1). */
static int hold(int port, const char *cert, struct gwt_client *c)
{
	struct gwt_client_opts co = { .cert = cert };

	if (gwt_client_connect(c, port, &co) || !gwt_roundtrip(c, "held")) {
		gwt_client_close(c);
		return -1;
	}
	return 0;
}

/*
 * The audit lines with reason identity_limit, once there are want of them
 * (5 s at most): a client can see its alert before the gateway's line is
 * written. The count last seen.
 */
static int refusals(struct gwt_gw *g, int want)
{
	int n, i;

	for (i = 0; i < 250; i++) {
		n = gwt_audit_count(g, "\"reason\":\"identity_limit\"");
		if (n >= want)
			return n;
		usleep(20000);
	}
	return n;
}

TEST_F(il, connections_exact_per_daemon_and_per_identity)
{
	struct gwt_client c[ATTEMPTS], other;
	int i, held = 0, refused = 0;
	char *line;

	ASSERT_EQ(0, start_with(self, "{ connections: 2 }", NULL));
	/* Whatever workers they land on: two held, the rest refused. */
	for (i = 0; i < ATTEMPTS; i++) {
		if (!hold(self->gw.port, "client-ecdsa", &c[held]))
			held++;
		else
			refused++;
	}
	ASSERT_EQ(2, held);
	ASSERT_EQ(ATTEMPTS - 2, refused);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"reason\":\"identity_limit\"", "spiffe://corp.test/prod/payments", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* Another identity has its own count. */
	ASSERT_EQ(0, hold(self->gw.port, "client-rsa", &other));
	gwt_client_close(&other);
	/* One of the two goes: one more gets in, then none again. */
	gwt_client_close(&c[0]);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"", "prod/payments", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	for (i = 0; i < 50 && hold(self->gw.port, "client-ecdsa", &c[0]); i++)
		usleep(20000);
	ASSERT_GT(50, i);
	ASSERT_EQ(-1, hold(self->gw.port, "client-ecdsa", &other));
	EXPECT_EQ(ATTEMPTS - 2 + i + 1, refusals(&self->gw, ATTEMPTS - 2 + i + 1));
	EXPECT_EQ(ATTEMPTS - 2 + i + 1, gwt_metric_wait(&self->gw,
		  "mtlsgw_identity_limited_total{listener=\"test\",limit=\"connections\"}",
		  ATTEMPTS - 2 + i + 1, 2000));
	EXPECT_EQ(2, gwt_metric_value(&self->gw,
		  "mtlsgw_identities_tracked{listener=\"test\"}"));
	gwt_client_close(&c[0]);
	gwt_client_close(&c[1]);
}

TEST_F(il, rate_with_a_burst)
{
	struct gwt_client c;
	int i, ok = 0;

	/* One a minute: the burst of 3, then refusals for the rest of the test. */
	ASSERT_EQ(0, start_with(self, "{ rate: 0.0167, burst: 3 }", NULL));
	for (i = 0; i < 5; i++)
		if (!hold(self->gw.port, "client-ecdsa", &c)) {
			ok++;
			gwt_client_close(&c);
		}
	ASSERT_EQ(3, ok);
	ASSERT_EQ(2, refusals(&self->gw, 2));
	ASSERT_EQ(2, gwt_metric_wait(&self->gw,
		  "mtlsgw_identity_limited_total{listener=\"test\",limit=\"rate\"}", 2, 2000));
	/* Another identity: its own bucket. */
	ASSERT_EQ(0, hold(self->gw.port, "client-rsa", &c));
	gwt_client_close(&c);
}

TEST_F(il, audit_mode_logs_and_lets_through)
{
	struct gwt_client c[3];
	char *line;
	int i;

	ASSERT_EQ(0, start_with(self, "{ connections: 1 }", "audit"));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, hold(self->gw.port, "client-ecdsa", &c[i]));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"authz_deny\"",
			      "\"decision\":\"would_deny\"", "\"reason\":\"identity_limit\"",
			      "\"detail\":\"connections\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	for (i = 0; i < 3; i++)
		gwt_client_close(&c[i]);
}

TEST_F(il, top_lists_identities_by_live_connections)
{
	struct gwt_client c[3];
	char *out = NULL, *p, *q;

	ASSERT_EQ(0, start_with(self, "{ connections: 5 }", NULL));
	ASSERT_EQ(0, hold(self->gw.port, "client-ecdsa", &c[0]));
	ASSERT_EQ(0, hold(self->gw.port, "client-ecdsa", &c[1]));
	ASSERT_EQ(0, hold(self->gw.port, "client-rsa", &c[2]));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "top"));
	TH_LOG("%s", out);
	ASSERT_NOT_NULL(strstr(out, "listener test: 2 identities tracked"));
	p = strstr(out, "spiffe://corp.test/prod/payments");
	q = strstr(out, "spiffe://corp.test/prod/rsa-client");
	ASSERT_NOT_NULL(p);
	ASSERT_NOT_NULL(q);
	ASSERT_LT(p, q);
	ASSERT_NOT_NULL(strstr(p, "conns 2 "));
	free(out);
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "top --json"));
	ASSERT_NOT_NULL(strstr(out, "{\"listener\":\"test\",\"identity\":\"spiffe://corp.test/prod/payments\",\"connections\":2,"));
	free(out);
	gwt_client_close(&c[0]);
	gwt_client_close(&c[1]);
	gwt_client_close(&c[2]);
}

TEST_HARNESS_MAIN
