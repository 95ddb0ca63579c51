// SPDX-License-Identifier: GPL-2.0-only
/*
 * The audit log as a SIEM depends on it: every line valid UTF-8 JSON
 * whatever a client's certificate holds, and the claims of a certificate
 * that failed verification kept apart from verified identity fields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/jsoncheck.h"
#include "lib/pkigen.h"

/* Every line of the audit file is valid JSON (UTF-8 included); their number. */
static int audit_lines_valid(HARNESS_CTX, struct gwt_gw *g)
{
	char *text = gwt_read_file(g->audit), *line, *nl;
	int n = 0;

	ASSERT_NOT_NULL(text);
	for (line = text; *line; line = nl + 1, n++) {
		nl = strchr(line, '\n');
		ASSERT_NOT_NULL(nl);	/* every line ends */
		if (!gwt_json_valid(line, (size_t)(nl - line)))
			TH_LOG("not valid JSON: %.*s", (int)(nl - line), line);
		EXPECT_TRUE(gwt_json_valid(line, (size_t)(nl - line)));
	}
	free(text);
	return n;
}

/* ------------------------------------------------------------------ */
/* Identity claims of a certificate that failed verification.          */

FIXTURE(claims) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

FIXTURE_SETUP(claims)
{
	struct gwt_gw_opts go = { 0 };

	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &go, true));
}

FIXTURE_TEARDOWN(claims)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

static bool has_member(const char *line, const char *path)
{
	char *v = gwt_json_member(line, path);

	free(v);
	return v != NULL;
}

/* A self-signed client certificate claiming a SPIFFE ID the policy allows. */
static void write_forged_client(HARNESS_CTX, const char *dir)
{
	static const char *const uris[] = {
		"https://evil.test/\xff\xfe\"},\"spiffe_id\":\"x",
		"spiffe://corp.test/prod/payments",
	};
	EVP_PKEY *key = gwt_ec_key();
	X509 *x = key ? gwt_make_cert("payments", key, NULL, key, false, -60, 3600, 7) : NULL;
	char path[256];
	FILE *f;

	ASSERT_NOT_NULL(x);
	ASSERT_EQ(0, gwt_cert_set_uri_sans(x, uris, 2, key));
	snprintf(path, sizeof(path), "%s/forged-chain.pem", dir);
	f = fopen(path, "w");
	ASSERT_NOT_NULL(f);
	ASSERT_EQ(1, PEM_write_X509(f, x));
	fclose(f);
	snprintf(path, sizeof(path), "%s/forged.key", dir);
	f = fopen(path, "w");
	ASSERT_NOT_NULL(f);
	ASSERT_EQ(1, PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(key);
}

/*
 * The refusal's line is valid UTF-8 JSON; what the certificate claims is
 * under "unverified", so a query on spiffe_id (or on subject, san_uri)
 * never matches it; the bytes that are not UTF-8 are \ufffd.
 */
TEST_F(claims, self_signed_claims_are_nested_unverified)
{
	struct gwt_client_opts co = { .cert = "forged", .cert_dir = self->gw.dir };
	struct gwt_outcome out;
	char *line, *v;

	write_forged_client(_ctx, self->gw.dir);
	gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
	ASSERT_EQ(0, out.rx);
	ASSERT_EQ(SSL_AD_UNKNOWN_CA, out.alert);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"reason\":\"unknown_ca\"", NULL);
	ASSERT_NOT_NULL(line);
	TH_LOG("%s", line);
	ASSERT_TRUE(gwt_json_valid(line, strlen(line)));
	EXPECT_FALSE(has_member(line, "spiffe_id"));
	EXPECT_FALSE(has_member(line, "subject"));
	EXPECT_FALSE(has_member(line, "san_uri"));
	EXPECT_FALSE(has_member(line, "sha256"));
	v = gwt_json_member(line, "unverified.spiffe_id");
	EXPECT_STREQ("\"spiffe://corp.test/prod/payments\"", v ? v : "(none)");
	free(v);
	v = gwt_json_member(line, "unverified.san_uri");
	EXPECT_STREQ("[\"https://evil.test/\\ufffd\\ufffd\\\"},\\\"spiffe_id\\\":\\\"x\","
		     "\"spiffe://corp.test/prod/payments\"]", v ? v : "(none)");
	free(v);
	v = gwt_json_member(line, "unverified.subject");
	EXPECT_STREQ("\"CN=payments\"", v ? v : "(none)");
	free(v);
	EXPECT_TRUE(has_member(line, "unverified.sha256"));
	free(line);
	ASSERT_EQ(0, gwt_audit_count(&self->gw, "\"event\":\"conn_open\""));
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
	audit_lines_valid(_ctx, &self->gw);
}

TEST_HARNESS_MAIN
