// SPDX-License-Identifier: GPL-2.0-only
/*
 * listeners[].routes[]: one listener, several services chosen by the
 * ClientHello's server name, as a client sees them. Each route's
 * certificate is the one served, its CA names are the ones in the
 * CertificateRequest, its rules decide and its backend gets the bytes;
 * exact names before "*." patterns (one label), no or an unknown name to
 * the default route, or refused with unrecognized_name on a listener
 * without one; a session resumes only on its own route; the audit log,
 * conns and metrics name the route; routes change under load.
 *
 * The routes: the listener's own keys (server, Corp CA, backend "dflt"),
 * "api" (backend.corp.test and *.api.corp.test: the backend certificate,
 * Corp CA, its own backend) and "ledger" (ledger.corp.test: the
 * backend-other certificate, the Other root as its only CA, its own
 * backend), and a second listener "edge" with one route and no default.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/x509.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "util.h"

#define RELOADS 6

struct load {
	int port;
	bool stop;			/* atomic */
	unsigned int ok, failed;
};

FIXTURE(rt) {
	struct gwt_backend be, api, ledger;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	int edge_port;
	char routes[4096], edge[2048];
	char dir[64], tickets[256];
	/* routes_reloaded_under_load's clients, stopped by the teardown too */
	struct load load;
	pthread_t load_thread;
	bool loading;
};

/* Sessions in the listener's cache, or in tickets sealed with one key for every route. */
FIXTURE_VARIANT(rt) {
	bool ticket_keys;
};

FIXTURE_VARIANT_ADD(rt, session_cache) {
	.ticket_keys = false,
};

FIXTURE_VARIANT_ADD(rt, ticket_keys) {
	.ticket_keys = true,
};

/* api's and ledger's routes; api_names lets a reload change api's names. */
static void write_routes(FIXTURE_DATA(rt) *self, const char *api_names, bool with_ledger,
			 const char *api_extra)
{
	const char *pki = gwt_pki();
	int n;

	n = snprintf(self->routes, sizeof(self->routes),
		     "    routes:\n"
		     "      - name: api\n"
		     "        server_names: [%s]\n"
		     "        tls: { cert: %s/backend-chain.pem, key: %s/backend.key }\n"
		     "        authorize: [ { name: prod, spiffe_id: [\"spiffe://corp.test/prod/*\"] } ]\n"
		     "        upstream: { address: \"127.0.0.1:%d\" }\n"
		     "%s",
		     api_names, pki, pki, self->api.port, api_extra ? api_extra : "");
	if (with_ledger)
		snprintf(self->routes + n, sizeof(self->routes) - (size_t)n,
			 "      - name: ledger\n"
			 "        server_names: [Ledger.Corp.Test]\n"
			 "        tls:\n"
			 "          cert: %s/backend-other-chain.pem\n"
			 "          key: %s/backend-other.key\n"
			 "          client_ca: %s/other-root-ca.crt\n"
			 "          crl_check: \"off\"\n"
			 "        authorize: [ { name: other, spiffe_id: [\"spiffe://corp.test/prod/wrongca\"] } ]\n"
			 "        upstream: { address: \"127.0.0.1:%d\" }\n",
			 pki, pki, pki, self->ledger.port);
}

FIXTURE_SETUP(rt)
{
	const char *pki = gwt_pki();
	struct gwt_backend_opts bo = { .echo = true };

	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	self->be.pid = self->api.pid = self->ledger.pid = -1;
	ASSERT_EQ(0, gwt_backend_start(&self->api, &bo));
	ASSERT_EQ(0, gwt_backend_start(&self->ledger, &bo));
	self->edge_port = gwt_free_port();
	ASSERT_GT(self->edge_port, 0);
	write_routes(self, "backend.corp.test, \"*.api.corp.test\"", true, NULL);
	/* A listener of routes only: its tls keys are what they take. */
	snprintf(self->edge, sizeof(self->edge),
		 "  - name: edge\n"
		 "    listen: \"127.0.0.1:%d\"\n"
		 "    tls: { client_ca: %s/ca-bundle.pem, crl: %s/crls-all.pem }\n"
		 "    routes:\n"
		 "      - name: api\n"
		 "        server_names: [backend.corp.test]\n"
		 "        tls: { cert: %s/backend-chain.pem, key: %s/backend.key }\n"
		 "        authorize: [ { name: prod, spiffe_id: [\"spiffe://corp.test/prod/*\"] } ]\n"
		 "        upstream: { address: \"127.0.0.1:%d\" }\n",
		 self->edge_port, pki, pki, pki, pki, self->api.port);
	self->go.listener_extra = self->routes;
	self->go.extra_listeners = self->edge;
	/* Reloads when a test says so (SIGHUP), one each: not also on the file's change. */
	self->go.top_extra = "reload_on_change: false\n";
	if (variant->ticket_keys) {
		char key[96];

		ASSERT_EQ(0, gwt_mkdtemp(self->dir, sizeof(self->dir)));
		snprintf(key, sizeof(key), "%s/tickets.key", self->dir);
		ASSERT_EQ(0, gwt_write_ticket_keys(key, 1));
		snprintf(self->tickets, sizeof(self->tickets),
			 "      session_tickets: { key_file: %s }\n", key);
		self->go.tls_extra = self->tickets;
	}
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(rt)
{
	if (self->loading) {
		__atomic_store_n(&self->load.stop, true, __ATOMIC_RELAXED);
		pthread_join(self->load_thread, NULL);
	}
	gwt_backend_stop(&self->api);
	gwt_backend_stop(&self->ledger);
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
	if (self->dir[0])
		gwt_rmtree(self->dir);
}

static uint64_t rx(const struct gwt_backend *b)
{
	return __atomic_load_n(&b->st->rx_total, __ATOMIC_ACQUIRE);
}

/* The CN of the certificate the gateway served on c, in cn[64]. */
static void served_cn(struct gwt_client *c, char cn[64])
{
	X509 *peer = SSL_get1_peer_certificate(c->ssl);

	cn[0] = '\0';
	if (peer)
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, 64);
	X509_free(peer);
}

/*
 * A client of cert asking for name (NULL: "localhost", "": none): the CN
 * of the certificate served, a round trip, and which backend got it.
 * Returns the backend (&self->be, api or ledger), NULL when the
 * handshake or the round trip failed or no backend saw the bytes.
 */
static const struct gwt_backend *route_to(FIXTURE_DATA(rt) *self, int port, const char *cert,
					  const char *name, char cn[64], int *alert)
{
	struct gwt_client_opts co = { .cert = cert, .server_name = name, .no_server_check = true };
	const struct gwt_backend *bes[] = { &self->be, &self->api, &self->ledger };
	uint64_t before[3];
	struct gwt_client c;
	bool ok;
	int i;

	for (i = 0; i < 3; i++)
		before[i] = rx(bes[i]);
	cn[0] = '\0';
	ok = !gwt_client_connect(&c, port, &co);
	if (ok)
		served_cn(&c, cn);
	/* TLS 1.3: a refused client certificate's alert comes after the client's handshake. */
	ok = ok && gwt_roundtrip(&c, "which backend?");
	*alert = c.alert;
	gwt_client_close(&c);
	for (i = 0; ok && i < 3; i++)
		if (rx(bes[i]) != before[i])
			return bes[i];
	return NULL;
}

TEST_F(rt, server_name_picks_certificate_and_backend)
{
	static const struct {
		const char *name, *cn;
		int backend;		/* 0 default, 1 api, 2 ledger */
	} cases[] = {
		{ "backend.corp.test", "backend", 1 },
		{ "BACKEND.corp.TEST", "backend", 1 },
		{ "v2.api.corp.test", "backend", 1 },	/* the pattern's one label */
		{ "a.v2.api.corp.test", "localhost", 0 },	/* two labels: not the pattern's */
		{ "api.corp.test", "localhost", 0 },	/* the pattern's own suffix */
		{ "localhost", "localhost", 0 },
		{ "nowhere.test", "localhost", 0 },	/* unknown: the default route */
		{ "", "localhost", 0 },			/* none: the default route */
	};
	const struct gwt_backend *bes[] = { &self->be, &self->api, &self->ledger };
	char cn[64];
	unsigned int i;
	int alert;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct gwt_backend *b = route_to(self, self->gw.port, "client-ecdsa",
						       cases[i].name, cn, &alert);

		TH_LOG("\"%s\": served %s, alert %d", cases[i].name, cn, alert);
		EXPECT_STREQ(cases[i].cn, cn);
		EXPECT_TRUE(b == bes[cases[i].backend]);
	}
}

/* ledger trusts the Other root only: its client passes there and nowhere else. */
TEST_F(rt, each_route_its_own_trust_and_rules)
{
	char cn[64];
	int alert;
	char *line;

	EXPECT_TRUE(route_to(self, self->gw.port, "client-wrongca", "ledger.corp.test", cn,
			     &alert) == &self->ledger);
	EXPECT_STREQ("ledger", cn);
	/* Corp's clients are strangers there; ledger's client is one everywhere else. */
	EXPECT_NULL(route_to(self, self->gw.port, "client-ecdsa", "ledger.corp.test", cn, &alert));
	EXPECT_EQ(48, alert);	/* unknown_ca */
	EXPECT_NULL(route_to(self, self->gw.port, "client-wrongca", "backend.corp.test", cn,
			     &alert));
	EXPECT_EQ(48, alert);
	EXPECT_NULL(route_to(self, self->gw.port, "client-wrongca", NULL, cn, &alert));
	EXPECT_EQ(48, alert);
	/* Corp's dev client chains, but api's rules take prod only. */
	EXPECT_NULL(route_to(self, self->gw.port, "client-dev", "backend.corp.test", cn, &alert));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"authz_deny\"",
			      "\"route\":\"api\"", "\"reason\":\"not_authorized\"",
			      "\"sni\":\"backend.corp.test\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

/* The CA names a client is asked for: the route's client_ca. */
TEST_F(rt, certificate_request_names_the_routes_cas)
{
	static const struct {
		const char *name, *cert, *ca;
	} cases[] = {
		{ "ledger.corp.test", "client-wrongca", "Other Root CA" },
		{ "backend.corp.test", "client-ecdsa", "Corp Root CA" },
		{ "localhost", "client-ecdsa", "Corp Root CA" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct gwt_client_opts co = { .cert = cases[i].cert, .server_name = cases[i].name,
					      .no_server_check = true };
		STACK_OF(X509_NAME) *names;
		struct gwt_client c;
		char cn[64] = "";

		ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
		names = SSL_get_client_CA_list(c.ssl);
		ASSERT_EQ(1, sk_X509_NAME_num(names));
		X509_NAME_get_text_by_NID(sk_X509_NAME_value(names, 0), NID_commonName, cn,
					  sizeof(cn));
		EXPECT_STREQ(cases[i].ca, cn);
		gwt_client_close(&c);
	}
}

/*
 * A session of api's resumes on api (under any of its names), never on
 * another route of the same listener, though with ticket keys the one
 * key would open its ticket there.
 */
TEST_F(rt, session_resumes_on_its_route_only)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .server_name = "backend.corp.test",
				      .no_server_check = true };
	const char *names[] = { "backend.corp.test", "localhost", "v2.api.corp.test" };
	const bool resumes[] = { true, false, true };
	struct gwt_client c;
	SSL_SESSION *ss;
	unsigned int i;
	int version;

	/* A fresh session for each offer: an OpenSSL client offers a used TLS 1.3 ticket once. */
	for (version = TLS1_2_VERSION; version <= TLS1_3_VERSION; version++) {
		co.min_version = co.max_version = version;
		for (i = 0; i < ARRAY_SIZE(names); i++) {
			char cn[64];

			co.session = NULL;
			co.server_name = "backend.corp.test";
			ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
			ss = gwt_client_ticket(&c, "ticket");
			ASSERT_NOT_NULL(ss);
			co.session = ss;
			co.server_name = names[i];
			ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
			served_cn(&c, cn);
			TH_LOG("TLS 0x%x, session of api offered for \"%s\": %s, served %s", version,
			       names[i], SSL_session_reused(c.ssl) ? "resumed" : "full handshake", cn);
			EXPECT_EQ(resumes[i], SSL_session_reused(c.ssl) == 1);
			EXPECT_STREQ(i == 1 ? "localhost" : "backend", cn);
			EXPECT_TRUE(gwt_roundtrip(&c, "after"));
			gwt_client_close(&c);
			SSL_SESSION_free(ss);
		}
	}
}

TEST_F(rt, no_default_refuses_unknown_names)
{
	const char *names[] = { "nowhere.test", "" };
	char cn[64];
	unsigned int i;
	int alert;
	char *line;

	EXPECT_TRUE(route_to(self, self->edge_port, "client-ecdsa", "backend.corp.test", cn,
			     &alert) == &self->api);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		EXPECT_NULL(route_to(self, self->edge_port, "client-ecdsa", names[i], cn, &alert));
		EXPECT_EQ(112, alert);
		EXPECT_STREQ("", cn);
	}
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"listener\":\"edge\"", "\"sni\":\"nowhere.test\"",
			      "\"reason\":\"unknown_server_name\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	EXPECT_EQ(2, gwt_metric_wait(&self->gw,
		"mtlsgw_handshakes_total{listener=\"edge\",result=\"fail\",reason=\"unknown_server_name\"}",
		2, 5000));
}

/* The audit log, conns and the metrics say which route and name. */
TEST_F(rt, route_and_name_visible)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .server_name = "v2.api.corp.test",
				      .no_server_check = true };
	struct gwt_client c;
	char *out = NULL;
	char *line;

	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&c, "visible"));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"listener\":\"test\"", "\"route\":\"api\"",
			      "\"sni\":\"v2.api.corp.test\"",
			      gwt_expected_datapath(), NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns --json"));
	EXPECT_NOT_NULL(strstr(out, "\"route\":\"api\",\"sni\":\"v2.api.corp.test\""));
	free(out);
	out = NULL;
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "conns"));
	EXPECT_NOT_NULL(strstr(out, " route api sni v2.api.corp.test"));
	free(out);
	/* Live, on whichever datapath; its bytes both ways. */
	EXPECT_EQ(1, gwt_metric_value(&self->gw,
		"mtlsgw_connections_active{listener=\"test\",route=\"api\",datapath=\"userspace\"}") +
		     gwt_metric_value(&self->gw,
		"mtlsgw_connections_active{listener=\"test\",route=\"api\",datapath=\"splice\"}"));
	EXPECT_EQ(7, gwt_metric_wait(&self->gw,
		"mtlsgw_bytes_total{listener=\"test\",route=\"api\",direction=\"in\"}", 7, 5000));
	EXPECT_EQ(7, gwt_metric_wait(&self->gw,
		"mtlsgw_bytes_total{listener=\"test\",route=\"api\",direction=\"out\"}", 7, 5000));
	gwt_client_close(&c);
	EXPECT_EQ(1, gwt_metric_wait(&self->gw,
		"mtlsgw_handshakes_total{listener=\"test\",route=\"api\",result=\"ok\",reason=\"none\"}",
		1, 5000));
	EXPECT_EQ(1, gwt_metric_value(&self->gw,
		"mtlsgw_authz_decisions_total{listener=\"test\",route=\"api\",rule=\"prod\",decision=\"allow\"}"));
	EXPECT_LT(0, gwt_metric_value(&self->gw,
		"mtlsgw_cert_not_after_timestamp_seconds{listener=\"test\",route=\"ledger\",kind=\"server\"}"));
}

/* Clients of api, one after another, until told to stop. */
static void *load_loop(void *arg)
{
	struct load *l = arg;

	while (!__atomic_load_n(&l->stop, __ATOMIC_RELAXED)) {
		struct gwt_client_opts co = { .cert = "client-ecdsa",
					      .server_name = "backend.corp.test",
					      .no_server_check = true };
		struct gwt_client c;

		if (!gwt_client_connect(&c, l->port, &co) && gwt_roundtrip(&c, "load"))
			__atomic_fetch_add(&l->ok, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&l->failed, 1, __ATOMIC_RELAXED);
		gwt_client_close(&c);
	}
	return NULL;
}

/*
 * Routes change while clients come: api gains a name, ledger goes. api's
 * clients never notice; a connection of ledger's finishes; ledger's name
 * falls to the default route, where its client is a stranger.
 */
TEST_F(rt, routes_reloaded_under_load)
{
	struct gwt_client_opts co = { .cert = "client-wrongca", .server_name = "ledger.corp.test",
				      .no_server_check = true };
	struct load *l = &self->load;
	struct gwt_client held;
	char cn[64];
	int alert, i;

	ASSERT_EQ(0, gwt_client_connect(&held, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&held, "before"));
	l->port = self->gw.port;
	ASSERT_EQ(0, pthread_create(&self->load_thread, NULL, load_loop, l));
	self->loading = true;
	for (i = 0; i < RELOADS; i++) {
		unsigned int before = __atomic_load_n(&l->ok, __ATOMIC_RELAXED);
		uint64_t deadline = gwt_now_ms() + 10000;

		/* The last (odd) one keeps new.corp.test. */
		write_routes(self, i % 2 ? "backend.corp.test, \"*.api.corp.test\", new.corp.test" :
				   "backend.corp.test, \"*.api.corp.test\"", false, NULL);
		ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
		ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
		ASSERT_EQ(i + 1, gwt_metric_wait(&self->gw, "mtlsgw_reloads_total{result=\"ok\"}",
						 i + 1, 10000));
		/* A few clients between one reload and the next. */
		while (__atomic_load_n(&l->ok, __ATOMIC_RELAXED) < before + 5 && gwt_now_ms() < deadline)
			usleep(5000);
	}
	__atomic_store_n(&l->stop, true, __ATOMIC_RELAXED);
	pthread_join(self->load_thread, NULL);
	self->loading = false;
	TH_LOG("%u connections to api during %d reloads, %u failed", l->ok, RELOADS, l->failed);
	EXPECT_LE(5 * RELOADS, l->ok);
	EXPECT_EQ(0, l->failed);
	/* The last reload kept new.corp.test on api; ledger's name is the default's now. */
	EXPECT_TRUE(route_to(self, self->gw.port, "client-ecdsa", "new.corp.test", cn, &alert) ==
		    &self->api);
	EXPECT_NULL(route_to(self, self->gw.port, "client-wrongca", "ledger.corp.test", cn,
			     &alert));
	EXPECT_STREQ("localhost", cn);
	/* The held connection of the removed route finishes under its old policy. */
	EXPECT_TRUE(gwt_roundtrip(&held, "after"));
	gwt_client_close(&held);
}

/*
 * A connection of the default route is checked again when the listener's
 * routes go: the listener's own rules are its policy still, and now they
 * refuse it.
 */
TEST_F(rt, default_route_rechecked_when_routes_go)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client held;
	char *line;

	ASSERT_EQ(0, gwt_client_connect(&held, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&held, "before"));
	self->go.listener_extra = NULL;
	self->go.authorize = "      - name: dev-only\n"
			     "        spiffe_id: [\"spiffe://corp.test/dev/*\"]\n";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
	EXPECT_LE(0, gwt_wait_closed(&held, 5000));
	gwt_client_close(&held);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"revoked_close\"",
			      "\"reason\":\"not_authorized\"", "\"route\":\"default\"",
			      NULL);
	EXPECT_NOT_NULL(line);
	free(line);
}

/*
 * limits.per_identity on one route: counted there, not on the listener's
 * other routes, where the same identity still connects; top names the
 * route's table.
 */
TEST_F(rt, per_identity_limit_per_route)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .server_name = "backend.corp.test",
				      .no_server_check = true };
	struct gwt_client first, second;
	char cn[64], *out = NULL, *line;
	int alert;

	write_routes(self, "backend.corp.test", true,
		     "        limits: { per_identity: { connections: 1 } }\n");
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_gw_signal(&self->gw, SIGHUP));
	ASSERT_EQ(1, gwt_metric_wait(&self->gw, "mtlsgw_reloads_total{result=\"ok\"}", 1, 10000));
	ASSERT_EQ(0, gwt_client_connect(&first, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&first, "one"));
	/* The second on api is one too many; on the default route it is not. */
	ASSERT_EQ(0, gwt_client_connect(&second, self->gw.port, &co));
	EXPECT_FALSE(gwt_roundtrip(&second, "two"));
	gwt_client_close(&second);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"route\":\"api\"", "\"reason\":\"identity_limit\"", NULL);
	EXPECT_NOT_NULL(line);
	free(line);
	EXPECT_TRUE(route_to(self, self->gw.port, "client-ecdsa", "localhost", cn, &alert) ==
		    &self->be);
	EXPECT_EQ(1, gwt_metric_wait(&self->gw,
		"mtlsgw_identity_limited_total{listener=\"test\",route=\"api\",limit=\"connections\"}",
		1, 5000));
	EXPECT_EQ(1, gwt_metric_value(&self->gw,
		"mtlsgw_identities_tracked{listener=\"test\",route=\"api\"}"));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "top"));
	EXPECT_NOT_NULL(strstr(out, "route test/api: 1 identities tracked"));
	free(out);
	out = NULL;
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "top --json"));
	EXPECT_NOT_NULL(strstr(out, "\"listener\":\"test\",\"route\":\"api\",\"identity\":\"spiffe://corp.test/prod/payments\""));
	free(out);
	gwt_client_close(&first);
}

TEST_HARNESS_MAIN
