// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reload (SIGHUP): a valid new configuration takes effect for new
 * connections at once and leaves established ones alone; an invalid one
 * is refused as a whole and the running configuration keeps serving.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"

FIXTURE(reload) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
};

FIXTURE_SETUP(reload)
{
	/*
	 * SIGHUP is the only reload: with reload_on_change a rewrite of the
	 * config may reload too (or not, when the SIGHUP reload renewed the
	 * watches first), and "generation N" would not name one reload.
	 */
	self->go.top_extra = "reload_on_change: false\n";
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &self->go, true));
}

FIXTURE_TEARDOWN(reload)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

static bool echo_ok(int port, const char *cert)
{
	return gwt_echo_ok(port, cert, "reload");
}

/* SIGHUP, then wait for the audit line of reload number n (generation n + 1). */
static char *sighup_and_wait(struct gwt_gw *g, int n, const char *decision)
{
	char gen[64], dec[64];

	snprintf(gen, sizeof(gen), "\"detail\":\"generation %d\"", n + 1);
	snprintf(dec, sizeof(dec), "\"decision\":\"%s\"", decision);
	if (gwt_gw_signal(g, SIGHUP))
		return NULL;
	if (!strcmp(decision, "ok"))
		return gwt_audit_wait(g, 5000, "\"event\":\"reload\"", dec, gen, NULL);
	return gwt_audit_wait(g, 5000, "\"event\":\"reload\"", dec, NULL);
}

TEST_F(reload, new_rules_apply_to_new_connections)
{
	char *line;

	ASSERT_FALSE(echo_ok(self->gw.port, "client-dev"));
	self->go.authorize = "      - name: dev-too\n"
			     "        spiffe_id: [\"spiffe://corp.test/dev/*\"]\n";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	line = sighup_and_wait(&self->gw, 1, "ok");
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-dev"));
	/* The old rule is gone. */
	ASSERT_FALSE(echo_ok(self->gw.port, "client-ecdsa"));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"rule\":\"dev-too\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(reload, invalid_config_keeps_running_set)
{
	char *line, *log;

	ASSERT_EQ(0, gwt_write_file(self->gw.cfg, "listeners:\n  - name: [broken\n"));
	line = sighup_and_wait(&self->gw, 1, "error");
	ASSERT_NOT_NULL(line);
	ASSERT_NOT_NULL(strstr(line, "\"reason\":\"invalid_config\""));
	free(line);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	log = gwt_read_file(self->gw.log);
	ASSERT_NOT_NULL(strstr(log, "keeping the running configuration"));
	ASSERT_NOT_NULL(strstr(log, "mtlsgw.yaml:3: YAML syntax error"));
	free(log);
}

TEST_F(reload, corrupt_crl_keeps_running_set)
{
	char crl[128], val[160], *line;

	snprintf(crl, sizeof(crl), "%s/issuing.crl", self->gw.dir);
	ASSERT_EQ(0, gwt_write_file(crl, "-----BEGIN X509 CRL-----\nnot base64!\n-----END X509 CRL-----\n"));
	snprintf(val, sizeof(val), "[%s/crls-all.pem, issuing.crl]", gwt_pki());
	self->go.crl = val;
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	line = sighup_and_wait(&self->gw, 1, "error");
	ASSERT_NOT_NULL(line);
	free(line);
	/* Still the old policy, still revocation-checked. */
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	ASSERT_FALSE(echo_ok(self->gw.port, "client-revoked"));
}

/* Point tls.cert (or key) at a bad file; reload must refuse and keep serving. */
static void bad_file_reload(HARNESS_CTX, FIXTURE_DATA(reload) *self,
			    bool truncate_cert, const char *expect)
{
	char cert[128], key[128], *pem, *line, *log;

	snprintf(cert, sizeof(cert), "%s/server-chain.pem", self->gw.dir);
	snprintf(key, sizeof(key), "%s/server.key", self->gw.dir);
	pem = gwt_read_file(gwt_pki_path("server-chain.pem"));
	ASSERT_NOT_NULL(pem);
	if (truncate_cert)
		pem[strlen(pem) / 5] = '\0';
	ASSERT_EQ(0, gwt_write_file(cert, pem));
	free(pem);
	/* A valid key that belongs to another certificate. */
	pem = gwt_read_file(gwt_pki_path(truncate_cert ? "server.key" : "server-rsa.key"));
	ASSERT_NOT_NULL(pem);
	ASSERT_EQ(0, gwt_write_file(key, pem));
	ASSERT_EQ(0, chmod(key, 0600));
	free(pem);
	self->go.tls_extra = NULL;
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	/* Swap the paths: tls.cert/key now relative, next to the config. */
	{
		char *cfg = gwt_read_file(self->gw.cfg), *out = NULL, *p;
		char oldc[160], oldk[160];

		snprintf(oldc, sizeof(oldc), "%s/server-chain.pem", gwt_pki());
		snprintf(oldk, sizeof(oldk), "%s/server.key", gwt_pki());
		p = strstr(cfg, oldc);
		ASSERT_NOT_NULL(p);
		*p = '\0';
		ASSERT_LT(0, asprintf(&out, "%sserver-chain.pem%s", cfg, p + strlen(oldc)));
		free(cfg);
		cfg = out;
		p = strstr(cfg, oldk);
		ASSERT_NOT_NULL(p);
		*p = '\0';
		ASSERT_LT(0, asprintf(&out, "%sserver.key%s", cfg, p + strlen(oldk)));
		free(cfg);
		ASSERT_EQ(0, gwt_write_file(self->gw.cfg, out));
		free(out);
	}
	line = sighup_and_wait(&self->gw, 1, "error");
	ASSERT_NOT_NULL(line);
	free(line);
	log = gwt_read_file(self->gw.log);
	ASSERT_NOT_NULL(strstr(log, expect));
	free(log);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
}

TEST_F(reload, truncated_certificate_keeps_running_set)
{
	bad_file_reload(_ctx, self, true, "listeners[0].tls.cert");
}

TEST_F(reload, key_not_matching_keeps_running_set)
{
	bad_file_reload(_ctx, self, false, "does not match the certificate");
}

TEST_F(reload, established_connection_survives)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client c;
	char buf[16], *line;

	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
	ASSERT_EQ(3, SSL_write(c.ssl, "one", 3));
	ASSERT_EQ(3, SSL_read(c.ssl, buf, sizeof(buf)));
	self->go.authorize = "      - name: renamed-rule\n"
			     "        spiffe_id: [\"spiffe://corp.test/prod/*\"]\n";
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	line = sighup_and_wait(&self->gw, 1, "ok");
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(3, SSL_write(c.ssl, "two", 3));
	ASSERT_EQ(3, SSL_read(c.ssl, buf, sizeof(buf)));
	ASSERT_MEMEQ("two", buf, 3);
	gwt_client_close(&c);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	line = gwt_audit_wait(&self->gw, 5000, "\"rule\":\"renamed-rule\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(reload, listener_moves_to_another_port)
{
	int old_port = self->gw.port;
	char *line;

	self->gw.port = gwt_free_port();
	ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
	line = sighup_and_wait(&self->gw, 1, "ok");
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	ASSERT_FALSE(echo_ok(old_port, "client-ecdsa"));
}

TEST_F(reload, repeated_reloads_under_traffic)
{
	int i;
	char *line;

	for (i = 1; i <= 10; i++) {
		ASSERT_EQ(0, gwt_gw_rewrite(&self->gw, &self->go));
		line = sighup_and_wait(&self->gw, i, "ok");
		ASSERT_NOT_NULL(line);
		free(line);
		ASSERT_TRUE(echo_ok(self->gw.port, "client-ecdsa"));
	}
	ASSERT_EQ(10, gwt_audit_count(&self->gw, "\"event\":\"reload\""));
	ASSERT_EQ(0, gwt_audit_count(&self->gw, "\"decision\":\"error\""));
}

TEST_HARNESS_MAIN
