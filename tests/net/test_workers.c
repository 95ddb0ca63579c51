// SPDX-License-Identifier: GPL-2.0-only
/*
 * Several workers ("workers: 2"): connections spread over both, and
 * everything an operator does reaches every worker: conns, kill, status,
 * metrics, reload, limits, drain on SIGTERM, sessions resumed on either.
 * Runs on the host and in the guests (splice where the kernel has kTLS).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"

#define N_CLIENTS 8

FIXTURE(wk) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	struct gwt_client cl[N_CLIENTS];
	unsigned int n_cl;
};

FIXTURE_SETUP(wk)
{
	/*
	 * Reloads come from "mtlsgwctl reload" only: with reload_on_change
	 * a rewrite of the config would reload too, and the generation
	 * reload answers with would depend on which came first.
	 */
	self->go.top_extra = "workers: 2\nreload_on_change: false\n";
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(wk)
{
	unsigned int i;

	for (i = 0; i < self->n_cl; i++)
		gwt_client_close(&self->cl[i]);
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/* Open n clients one after the other, each with a round trip, and hold them. */
static int hold_clients(FIXTURE_DATA(wk) *self, unsigned int n, SSL_SESSION *session)
{
	struct gwt_client_opts o = { .cert = "client-ecdsa", .session = session };
	unsigned int i;

	for (i = 0; i < n; i++) {
		char msg[32];

		if (gwt_client_connect(&self->cl[self->n_cl], self->gw.port, &o))
			return -1;
		self->n_cl++;
		snprintf(msg, sizeof(msg), "client %u", i);
		if (!gwt_roundtrip(&self->cl[self->n_cl - 1], msg))
			return -1;
	}
	return 0;
}

/* Connections per worker in "conns json". */
static int conns_per_worker(struct gwt_gw *gw, unsigned int count[2])
{
	char *out, *p;

	count[0] = count[1] = 0;
	if (gwt_ctl(gw, &out, "conns --json"))
		return -1;
	for (p = out; (p = strstr(p, "\"worker\":")); p++) {
		unsigned int w = (unsigned int)strtoul(p + 9, NULL, 10);

		if (w > 1) {
			free(out);
			return -1;
		}
		count[w]++;
	}
	free(out);
	return 0;
}

TEST_F(wk, start_log_and_status_say_two_workers)
{
	char *out, *log;

	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "status"));
	ASSERT_NOT_NULL(strstr(out, "workers: 2\n"));
	free(out);
	log = gwt_read_file(self->gw.log);
	ASSERT_NOT_NULL(log);
	ASSERT_NOT_NULL(strstr(log, "workers: 2 event loops"));
	free(log);
}

/*
 * Clients that come one at a time find both workers idle; the kernel
 * would wake the first each time. They must still end up on both.
 */
TEST_F(wk, connections_spread_over_both_workers)
{
	unsigned int count[2], i;
	char *out;

	ASSERT_EQ(0, hold_clients(self, N_CLIENTS, NULL));
	ASSERT_EQ(0, conns_per_worker(&self->gw, count));
	TH_LOG("connections per worker: %u %u", count[0], count[1]);
	ASSERT_EQ(N_CLIENTS, count[0] + count[1]);
	ASSERT_EQ(N_CLIENTS / 2, count[0]);
	/* Every one of them still forwards, whichever worker holds it. */
	for (i = 0; i < self->n_cl; i++)
		ASSERT_TRUE(gwt_roundtrip(&self->cl[i], "again"));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "status"));
	ASSERT_NOT_NULL(strstr(out, "connections: 8\n"));
	ASSERT_NOT_NULL(strstr(out, " connections 8 handshakes 0 "));
	free(out);
}

TEST_F(wk, metrics_sum_every_worker)
{
	char series[128];
	double active = 0;

	ASSERT_EQ(0, hold_clients(self, N_CLIENTS, NULL));
	snprintf(series, sizeof(series),
		 "mtlsgw_connections_active{listener=\"test\",datapath=\"%s\"}",
		 strstr(gwt_expected_datapath(), "splice") ? "splice" : "userspace");
	active = gwt_metric_value(&self->gw, series);
	ASSERT_EQ(N_CLIENTS, (int)active);
	ASSERT_EQ(N_CLIENTS, (int)gwt_metric_value(&self->gw,
		"mtlsgw_handshakes_total{listener=\"test\",result=\"ok\",reason=\"none\"}"));
}

TEST_F(wk, kill_reaches_every_worker)
{
	unsigned int count[2], i;
	char *out;

	ASSERT_EQ(0, hold_clients(self, N_CLIENTS, NULL));
	ASSERT_EQ(0, conns_per_worker(&self->gw, count));
	ASSERT_LT(0, count[1]);
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "kill --spiffe-id spiffe://corp.test/prod/payments"));
	ASSERT_STREQ("killed 8\n", out);
	free(out);
	for (i = 0; i < self->n_cl; i++)
		ASSERT_LE(0, gwt_wait_closed(&self->cl[i], 2000));
	ASSERT_EQ(0, conns_per_worker(&self->gw, count));
	ASSERT_EQ(0, count[0] + count[1]);
}

/* A rule change on reload closes what it no longer allows, on both workers. */
TEST_F(wk, reload_revalidates_every_worker)
{
	unsigned int count[2], i;
	char *out;

	ASSERT_EQ(0, hold_clients(self, N_CLIENTS, NULL));
	ASSERT_EQ(0, conns_per_worker(&self->gw, count));
	ASSERT_LT(0, count[1]);
	self->go.authorize = "      - name: dev-only\n"
			     "        spiffe_id: [\"spiffe://corp.test/dev/*\"]\n";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "reload"));
	ASSERT_NOT_NULL(strstr(out, "ok: generation 2"));
	free(out);
	for (i = 0; i < self->n_cl; i++)
		ASSERT_LE(0, gwt_wait_closed(&self->cl[i], 2000));
	ASSERT_EQ(N_CLIENTS, gwt_audit_count(&self->gw, "\"event\":\"revoked_close\""));
	/* The new generation is in force on both: a prod client is refused. */
	ASSERT_FALSE(gwt_echo_ok(self->gw.port, "client-ecdsa", "after"));
	ASSERT_TRUE(gwt_echo_ok(self->gw.port, "client-dev", "after"));
}

/* A ticket made by either worker resumes on the other. */
TEST_F(wk, sessions_resume_on_either_worker)
{
	struct gwt_client_opts o = { .cert = "client-ecdsa" };
	unsigned int count[2], i;
	struct gwt_client c;
	SSL_SESSION *sess;

	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &o));
	sess = gwt_client_ticket(&c, "ticket");
	ASSERT_NOT_NULL(sess);
	ASSERT_EQ(0, hold_clients(self, N_CLIENTS, sess));
	SSL_SESSION_free(sess);
	for (i = 0; i < self->n_cl; i++)
		ASSERT_EQ(1, SSL_session_reused(self->cl[i].ssl));
	ASSERT_EQ(0, conns_per_worker(&self->gw, count));
	ASSERT_LT(0, count[0]);
	ASSERT_LT(0, count[1]);
	ASSERT_EQ(N_CLIENTS, (int)gwt_metric_value(&self->gw,
		"mtlsgw_verify_cache_total{listener=\"test\",path=\"resumed\"}"));
}

/* SIGTERM: both workers stop accepting and drain; the daemon exits when both are empty. */
TEST_F(wk, sigterm_drains_every_worker)
{
	unsigned int count[2], i;
	uint64_t t0;
	char *log;
	int status;

	ASSERT_EQ(0, hold_clients(self, 4, NULL));
	ASSERT_EQ(0, conns_per_worker(&self->gw, count));
	ASSERT_EQ(2, count[1]);
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGTERM));
	/* Both workers closed their listening sockets and drain what they hold. */
	ASSERT_TRUE(gwt_gw_wait_stopped_accepting(&self->gw, "SIGTERM", 10000));
	log = gwt_read_file(self->gw.log);
	ASSERT_NOT_NULL(log);
	EXPECT_NOT_NULL(strstr(log, "SIGTERM: worker 0: stopped accepting, draining 2 connections"));
	EXPECT_NOT_NULL(strstr(log, "SIGTERM: worker 1: stopped accepting, draining 2 connections"));
	free(log);
	/* Draining: the connections of both workers still forward. */
	for (i = 0; i < self->n_cl; i++)
		ASSERT_TRUE(gwt_roundtrip(&self->cl[i], "draining"));
	ASSERT_FALSE(gwt_echo_ok(self->gw.port, "client-ecdsa", "new"));
	t0 = gwt_now_ms();
	for (i = 0; i < self->n_cl; i++)
		gwt_client_close(&self->cl[i]);
	self->n_cl = 0;
	status = gwt_gw_wait_exit(&self->gw, 5000);
	ASSERT_EQ(0, status);
	TH_LOG("exited %llu ms after the last client closed",
	       (unsigned long long)(gwt_now_ms() - t0));
}

FIXTURE(wklim) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
};

FIXTURE_SETUP(wklim)
{
	self->go.top_extra = "workers: 2\n";
	self->go.listener_extra = "    max_connections: 3\n";
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(wklim)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/* max_connections is the listener's total over the workers, not per worker. */
TEST_F(wklim, max_connections_is_the_total)
{
	struct gwt_client_opts o = { .cert = "client-ecdsa" };
	struct gwt_client c[3];
	struct gwt_outcome out;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, gwt_client_connect(&c[i], self->gw.port, &o));
		ASSERT_TRUE(gwt_roundtrip(&c[i], "held"));
	}
	/* The fourth waits in the backlog: no handshake within a second. */
	{
		int fd = gwt_raw_connect(self->gw.port);
		struct timeval tv = { .tv_sec = 1 };
		char b;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
		ASSERT_EQ(1, write(fd, "\x16", 1));
		ASSERT_EQ(-1, read(fd, &b, 1));
		ASSERT_EQ(EAGAIN, errno);
		close(fd);
	}
	/* One leaves: the next client gets through. */
	gwt_client_close(&c[0]);
	gwt_client_try(self->gw.port, &o, "after", 5, &out);
	ASSERT_TRUE(out.handshake_ok);
	ASSERT_EQ(5, out.rx);
	gwt_client_close(&c[1]);
	gwt_client_close(&c[2]);
}

TEST_HARNESS_MAIN
