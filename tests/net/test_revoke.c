// SPDX-License-Identifier: GPL-2.0-only
/*
 * Revocation of live connections: replacing a CRL file (watched with
 * inotify) closes the connections whose certificates it revokes within a
 * second and leaves the others alone; a rule change does the same for
 * connections the new rules no longer allow.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"

FIXTURE(rv) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	char crl[160];
	char crlpath[128];
};

FIXTURE_SETUP(rv)
{
	struct gwt_backend_opts bo = { .echo = true };

	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	ASSERT_EQ(0, gwt_backend_start(&self->be, &bo));
	/* issuing.crl, next to the config, starts without the revocation. */
	snprintf(self->crl, sizeof(self->crl), "[%s, %s, issuing.crl]",
		 gwt_pki_path("root-ca.crl"), gwt_pki_path("intermediate-ca.crl"));
	self->go.upstream_port = self->be.port;
	self->go.crl = self->crl;
	ASSERT_EQ(0, gwt_gw_config(&self->gw, &self->go));
	snprintf(self->crlpath, sizeof(self->crlpath), "%s/issuing.crl", self->gw.dir);
	ASSERT_EQ(0, gwt_replace_file(gwt_pki_path("issuing-ca-norevoke.crl"), self->crlpath));
	ASSERT_EQ(0, gwt_gw_start(&self->gw));
}

FIXTURE_TEARDOWN(rv)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}



/*
 * SPEC: closed "within one second of the CRL file changing". That second
 * is measured between the file's change time (the rename) and the audit
 * time stamp of the close, both taken by the kernel and the daemon: what a
 * loaded host adds before this test process gets to run again is not the
 * daemon's. The client must see the close too, within a deadline with
 * margin.
 */
TEST_F(rv, crl_replacement_closes_revoked_live_connection_within_1s)
{
	struct gwt_client_opts bad = { .cert = "client-revoked" }, good = { .cert = "client-ecdsa" };
	struct gwt_client cb, cg;
	uint64_t t_changed, t_closed;
	struct stat st;
	char *line, *out;
	long ms;

	/* Both are allowed while the CRL does not list client-revoked yet. */
	ASSERT_EQ(0, gwt_client_connect(&cb, self->gw.port, &bad));
	ASSERT_EQ(0, gwt_client_connect(&cg, self->gw.port, &good));
	ASSERT_TRUE(gwt_roundtrip(&cb, "before"));
	ASSERT_TRUE(gwt_roundtrip(&cg, "before"));

	ASSERT_EQ(0, gwt_replace_file(gwt_pki_path("issuing-ca.crl"), self->crlpath));
	ASSERT_EQ(0, stat(self->crlpath, &st));
	t_changed = (uint64_t)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
	ms = gwt_wait_closed(&cb, 10000);
	ASSERT_GE(ms, 0);
	line = gwt_audit_wait(&self->gw, 2000, "\"event\":\"revoked_close\"",
			      "\"reason\":\"revoked\"", "\"spiffe_id\":\"spiffe://corp.test/prod/revoked\"",
			      NULL);
	ASSERT_NOT_NULL(line);
	t_closed = gwt_audit_ts_ms(line);
	free(line);
	TH_LOG("revoked connection closed %lld ms after the CRL file changed (the client saw it after %ld ms)",
	       (long long)(t_closed - t_changed), ms);
	ASSERT_LE(t_changed, t_closed);
	ASSERT_LT(t_closed - t_changed, 1000);
	/*
	 * The reload's audit line comes once every worker runs the new
	 * generation; the primary closes its connections before it tells
	 * the others. Before this line a handshake may still meet the old
	 * generation (and its verification cache) in another worker.
	 */
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"ok\"",
			      "\"detail\":\"generation 2\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* The other client is untouched. */
	ASSERT_TRUE(gwt_roundtrip(&cg, "after"));
	gwt_client_close(&cb);
	gwt_client_close(&cg);
	ASSERT_EQ(1, gwt_audit_count(&self->gw, "\"event\":\"revoked_close\""));
	/*
	 * New handshakes with it are refused now, also when its issuer path
	 * is in the verification cache (a good client put it there under the
	 * new CRL): the reload started a new cache.
	 */
	{
		static const char series[] =
			"mtlsgw_verify_cache_total{listener=\"test\",path=\"cached\"}";
		struct gwt_outcome o;
		double cached;

		ASSERT_TRUE(gwt_echo_ok(self->gw.port, "client-ecdsa", "warm"));
		cached = gwt_metric_value(&self->gw, series);
		ASSERT_LE(1, cached);	/* cg, before the reload */
		gwt_client_try(self->gw.port, &bad, "x", 1, &o);
		ASSERT_EQ(0, o.rx);
		ASSERT_EQ(SSL_AD_CERTIFICATE_REVOKED, o.alert);
		ASSERT_EQ(cached + 1, gwt_metric_wait(&self->gw, series, cached + 1, 2000));
	}
	out = gwt_metrics(&self->gw);
	ASSERT_NOT_NULL(out);
	ASSERT_NOT_NULL(strstr(out, "mtlsgw_revoked_connections_closed_total 1\n"));
	free(out);
}

/*
 * A session ticket does not outlive a CRL change: the reload brings an
 * empty session cache, the client's ticket is not found, it is verified
 * in full and refused as revoked.
 */
TEST_F(rv, ticket_of_a_now_revoked_client_does_not_resume)
{
	struct gwt_client_opts bad = { .cert = "client-revoked" };
	static const char reloads[] = "mtlsgw_reloads_total{result=\"ok\"}";
	struct gwt_outcome o;
	struct gwt_client c;
	SSL_SESSION *sess;
	char *line;

	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &bad));
	sess = gwt_client_ticket(&c, "ticket");
	ASSERT_NOT_NULL(sess);
	/* The ticket works while the CRL does not list the client. */
	bad.session = sess;
	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &bad));
	ASSERT_EQ(1, SSL_session_reused(c.ssl));
	SSL_shutdown(c.ssl);
	gwt_client_close(&c);

	ASSERT_EQ(0, gwt_replace_file(gwt_pki_path("issuing-ca.crl"), self->crlpath));
	/* In force in every worker once the reload's audit line is written. */
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"reload\"", "\"decision\":\"ok\"",
			      "\"detail\":\"generation 2\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(1, gwt_metric_value(&self->gw, reloads));
	gwt_client_try(self->gw.port, &bad, "x", 1, &o);
	SSL_SESSION_free(sess);
	ASSERT_EQ(0, o.rx);
	ASSERT_EQ(SSL_AD_CERTIFICATE_REVOKED, o.alert);
	/* One resumption: the one before the CRL change. */
	ASSERT_EQ(1, gwt_metric_wait(&self->gw,
		"mtlsgw_verify_cache_total{listener=\"test\",path=\"resumed\"}", 1, 2000));
}

TEST_F(rv, corrupt_crl_keeps_running_set_and_connections)
{
	struct gwt_client_opts good = { .cert = "client-ecdsa" };
	struct gwt_client cg;
	char *line, *out;

	ASSERT_EQ(0, gwt_client_connect(&cg, self->gw.port, &good));
	ASSERT_TRUE(gwt_roundtrip(&cg, "before"));
	ASSERT_EQ(0, gwt_write_file(self->crlpath, "-----BEGIN X509 CRL-----\ngarbage\n-----END X509 CRL-----\n"));
	line = gwt_audit_wait(&self->gw, 3000, "\"event\":\"reload\"", "\"decision\":\"error\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_TRUE(gwt_roundtrip(&cg, "after"));
	gwt_client_close(&cg);
	out = gwt_metrics(&self->gw);
	ASSERT_NOT_NULL(out);
	ASSERT_NOT_NULL(strstr(out, "mtlsgw_reloads_total{result=\"error\"} "));
	free(out);
}

TEST_F(rv, rule_change_closes_no_longer_authorized)
{
	struct gwt_client_opts dns = { .cert = "client-dns" }, prod = { .cert = "client-ecdsa" };
	struct gwt_client cd, cp;
	char *out, *line;

	ASSERT_EQ(0, gwt_client_connect(&cd, self->gw.port, &dns));
	ASSERT_EQ(0, gwt_client_connect(&cp, self->gw.port, &prod));
	ASSERT_TRUE(gwt_roundtrip(&cd, "dns"));
	ASSERT_TRUE(gwt_roundtrip(&cp, "prod"));
	/* Drop the api-dns rule. */
	self->go.authorize = "      - name: prod-callers\n"
			     "        spiffe_id: [\"spiffe://corp.test/prod/*\"]\n";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &out, "reload"));
	free(out);
	ASSERT_LE(0, gwt_wait_closed(&cd, 2000));
	ASSERT_TRUE(gwt_roundtrip(&cp, "prod again"));
	gwt_client_close(&cd);
	gwt_client_close(&cp);
	line = gwt_audit_wait(&self->gw, 2000, "\"event\":\"revoked_close\"",
			      "\"reason\":\"not_authorized\"", "\"san_dns\":[\"api.corp.test\"]", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_HARNESS_MAIN
