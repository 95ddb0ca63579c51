// SPDX-License-Identifier: GPL-2.0-only
/*
 * The real daemon on loopback, driven the way a user would: OpenSSL
 * clients with the test PKI's certificates, a backend that checksums what
 * reaches it, the audit log and exit codes as the evidence.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/jsoncheck.h"
#include "tls.h"

#define MiB (1024 * 1024ULL)


/* Read until EOF/RST; returns bytes read, or -1 on timeout. */
static ssize_t raw_read_to_end(int fd)
{
	char buf[4096];
	ssize_t n, total = 0;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			total += n;
			continue;
		}
		if (n == 0 || errno == ECONNRESET)
			return total;
		return -1;
	}
}

/* ------------------------------------------------------------------ */
/* A gateway in front of an echo backend, default policy.              */

FIXTURE(echo) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

FIXTURE_SETUP(echo)
{
	struct gwt_gw_opts go = { 0 };

	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &go, true));
}

FIXTURE_TEARDOWN(echo)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

static void expect_echo(HARNESS_CTX, int port,
			const char *cert, int max_version)
{
	struct gwt_client_opts co = { .cert = cert, .max_version = max_version };
	struct gwt_outcome out;

	gwt_client_try(port, &co, "hello gateway", 13, &out);
	ASSERT_TRUE(out.handshake_ok);
	ASSERT_EQ(13, out.rx);
	ASSERT_STREQ("hello gateway", out.data);
	ASSERT_EQ(-1, out.alert);
}

TEST_F(echo, ecdsa_client_spiffe_rule)
{
	char *line;

	expect_echo(_ctx, self->gw.port, "client-ecdsa", 0);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"spiffe_id\":\"spiffe://corp.test/prod/payments\"",
			      "\"rule\":\"prod-callers\"", "\"decision\":\"allow\"",
			      "\"tls_version\":\"TLSv1.3\"", gwt_expected_datapath(),
			      "\"src\":\"127.0.0.1:", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"",
			      "\"bytes_in\":13", "\"bytes_out\":13", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(13, __atomic_load_n(&self->be.st->rx_total, __ATOMIC_SEQ_CST));
}

/*
 * A session ticket resumes: no certificate is sent, yet the gateway knows
 * who it is (checked again under the cached issuer path, authorized
 * again) and forwards. TLS 1.3 and 1.2.
 */
static void expect_resumption(HARNESS_CTX, FIXTURE_DATA(echo) *self, int version)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .max_version = version,
				      .min_version = version };
	struct gwt_client c;
	SSL_SESSION *sess;
	char *line;

	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
	sess = gwt_client_ticket(&c, "first");
	ASSERT_NOT_NULL(sess);
	co.session = sess;
	ASSERT_EQ(0, gwt_client_connect(&c, self->gw.port, &co));
	SSL_SESSION_free(sess);
	ASSERT_EQ(1, SSL_session_reused(c.ssl));
	ASSERT_TRUE(gwt_roundtrip(&c, "resumed"));
	gwt_client_close(&c);
	ASSERT_EQ(1, gwt_metric_wait(&self->gw,
		"mtlsgw_verify_cache_total{listener=\"test\",path=\"resumed\"}", 1, 2000));
	/* Both connections, opened and closed, carry the client's identity. */
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"", "\"bytes_in\":7", NULL);
	free(line);
	ASSERT_EQ(2, gwt_audit_count(&self->gw, "\"event\":\"conn_open\""));
	ASSERT_EQ(4, gwt_audit_count(&self->gw, "\"spiffe_id\":\"spiffe://corp.test/prod/payments\""));
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"", "\"bytes_in\":7",
			      "\"bytes_out\":7", "\"rule\":\"prod-callers\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

/* ------------------------------------------------------------------ */
/* One worker, so that every connection meets the same certificate pool. */

FIXTURE(pool) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

FIXTURE_SETUP(pool)
{
	struct gwt_gw_opts go = { .top_extra = "workers: 1\n" };

	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &go, true));
}

FIXTURE_TEARDOWN(pool)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/* Audit lines with needle, once there are want of them or timeout_ms passed. */
static int audit_count_wait(struct gwt_gw *g, const char *needle, int want, int timeout_ms)
{
	uint64_t end = gwt_now_ms() + (uint64_t)timeout_ms;
	int n;

	while ((n = gwt_audit_count(g, needle)) < want && gwt_now_ms() < end)
		usleep(20 * 1000);
	return n;
}

#define PARSED "mtlsgw_client_certs_parsed_total{result=\"parsed\"}"
#define REUSED "mtlsgw_client_certs_parsed_total{result=\"reused\"}"

/*
 * The worker parses a certificate once (certpool.h): a client's second
 * connection parses none of the three it sends (leaf and two
 * intermediates), another client under the same intermediates only its
 * leaf. Each connection is still verified: a revoked leaf under the
 * pooled intermediates is refused, a pooled revoked leaf again.
 */
TEST_F(pool, client_certificates_parsed_once_and_still_verified)
{
	struct gwt_client_opts co = { .cert = "client-revoked" };
	struct gwt_outcome out;
	int i;

	expect_echo(_ctx, self->gw.port, "client-ecdsa", 0);
	ASSERT_EQ(3, gwt_metric_wait(&self->gw, PARSED, 3, 2000));
	expect_echo(_ctx, self->gw.port, "client-ecdsa", TLS1_2_VERSION);
	ASSERT_EQ(3, gwt_metric_wait(&self->gw, REUSED, 3, 2000));
	ASSERT_EQ(3, gwt_metric_value(&self->gw, PARSED));

	for (i = 0; i < 2; i++) {
		gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
		ASSERT_FALSE(out.handshake_ok && out.rx > 0);
		ASSERT_EQ(SSL_AD_CERTIFICATE_REVOKED, out.alert);
	}
	/* The client has its alert before the daemon counts and logs it. */
	ASSERT_EQ(8, gwt_metric_wait(&self->gw, REUSED, 8, 2000));
	ASSERT_EQ(4, gwt_metric_value(&self->gw, PARSED));
	ASSERT_EQ(2, audit_count_wait(&self->gw, "\"reason\":\"revoked\"", 2, 2000));
	ASSERT_EQ(26, __atomic_load_n(&self->be.st->rx_total, __ATOMIC_SEQ_CST));
}

TEST_F(echo, resumed_session_tls13)
{
	expect_resumption(_ctx, self, TLS1_3_VERSION);
}

TEST_F(echo, resumed_session_tls12)
{
	expect_resumption(_ctx, self, TLS1_2_VERSION);
}

TEST_F(echo, rsa_client_tls12)
{
	char *line;

	expect_echo(_ctx, self->gw.port, "client-rsa", TLS1_2_VERSION);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"tls_version\":\"TLSv1.2\"",
			      "\"rule\":\"prod-callers\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

/* A client's echo with only these groups offered; the conn_open line's group. */
static void expect_group(HARNESS_CTX, struct gwt_gw *gw, const char *offer, int max_version,
			 const char *want)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .groups = offer,
				      .max_version = max_version };
	struct gwt_outcome out;
	char needle[64], *line;

	gwt_client_try(gw->port, &co, "hello", 5, &out);
	ASSERT_TRUE(out.handshake_ok);
	ASSERT_EQ(5, out.rx);
	snprintf(needle, sizeof(needle), "\"group\":\"%s\"", want);
	line = gwt_audit_wait(gw, 5000, "\"event\":\"conn_open\"", needle, NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

/*
 * The default groups: X25519MLKEM768 first where OpenSSL has it (3.5, a
 * client of the same OpenSSL then uses it), then X25519, then P-256; the
 * group is in conn_open, conns and the metrics, and a client that offers
 * only a group outside the list gets an alert.
 */
TEST_F(echo, key_exchange_groups)
{
	const char *dflt = strncmp(gw_tls_default_groups(), "X25519MLKEM768", 14) ?
			   "x25519" : "X25519MLKEM768";
	struct gwt_client_opts co = { .cert = "client-ecdsa", .groups = "P-384" };
	struct gwt_outcome out;

	TH_LOG("default groups %s", gw_tls_default_groups());
	expect_group(_ctx, &self->gw, NULL, 0, dflt);
	expect_group(_ctx, &self->gw, "P-256", 0, "secp256r1");
	expect_group(_ctx, &self->gw, "P-256", TLS1_2_VERSION, "secp256r1");
	EXPECT_EQ(2, gwt_metric_value(&self->gw, "mtlsgw_tls_groups_total{listener=\"test\",group=\"secp256r1\"}"));
	gwt_client_try(self->gw.port, &co, "hello", 5, &out);
	EXPECT_FALSE(out.handshake_ok && out.rx);
	EXPECT_EQ(SSL_AD_HANDSHAKE_FAILURE, out.alert);
}

TEST_F(echo, dns_rule_second_match)
{
	char *line;

	expect_echo(_ctx, self->gw.port, "client-dns", 0);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_open\"",
			      "\"rule\":\"api-dns\"", "\"san_dns\":[\"api.corp.test\"]", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(echo, plain_tcp_garbage_is_not_tls)
{
	const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	char *line;
	int fd;

	fd = gwt_raw_connect(self->gw.port);
	ASSERT_GE(fd, 0);
	ASSERT_EQ((ssize_t)strlen(req), send(fd, req, strlen(req), 0));
	ASSERT_EQ(0, raw_read_to_end(fd));
	close(fd);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"reason\":\"not_tls\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
}

TEST_F(echo, binary_garbage_after_record_header)
{
	/* Looks like a TLS handshake record, then nonsense. */
	const unsigned char junk[] = { 0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad,
				       0xbe, 0xef, 0x00 };
	char *line;
	int fd;

	fd = gwt_raw_connect(self->gw.port);
	ASSERT_GE(fd, 0);
	ASSERT_EQ((ssize_t)sizeof(junk), send(fd, junk, sizeof(junk), 0));
	ASSERT_LE(0, raw_read_to_end(fd));
	close(fd);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
	/* The daemon is still serving. */
	expect_echo(_ctx, self->gw.port, "client-ecdsa", 0);
}

TEST_F(echo, tls11_client_refused)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa",
				      .min_version = TLS1_1_VERSION,
				      .max_version = TLS1_1_VERSION };
	struct gwt_outcome out;
	char *line;

	gwt_client_try(self->gw.port, &co, "x", 1, &out);
	ASSERT_FALSE(out.handshake_ok);
	ASSERT_EQ(SSL_AD_PROTOCOL_VERSION, out.alert);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"handshake_fail\"",
			      "\"reason\":\"protocol_version\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
}

TEST_F(echo, unsupported_cipher_refused)
{
	/* CBC is not an AEAD kTLS can carry: not offered. */
	struct gwt_client_opts co = { .cert = "client-ecdsa",
				      .max_version = TLS1_2_VERSION,
				      .ciphers = "ECDHE-ECDSA-AES128-SHA256" };
	struct gwt_outcome out;
	char *line;

	gwt_client_try(self->gw.port, &co, "x", 1, &out);
	ASSERT_FALSE(out.handshake_ok);
	ASSERT_EQ(SSL_AD_HANDSHAKE_FAILURE, out.alert);
	line = gwt_audit_wait(&self->gw, 5000, "\"reason\":\"no_shared_cipher\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(echo, sigterm_exits_zero)
{
	expect_echo(_ctx, self->gw.port, "client-ecdsa", 0);
	ASSERT_EQ(0, gwt_gw_stop(&self->gw));
}

/* ------------------------------------------------------------------ */
/* Every certificate that must be refused, on TLS 1.2 and TLS 1.3.     */

FIXTURE(refused) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

FIXTURE_VARIANT(refused) {
	const char *cert;	/* NULL = no certificate */
	const char *reason;	/* audit reason token */
	int alert13;		/* alert a TLS 1.3 client reads, -1 = any */
	int alert12;
	bool cached;		/* same issuer path as client-ecdsa: decided by the vcache */
};

FIXTURE_VARIANT_ADD(refused, no_cert) {
	.cert = NULL, .reason = "no_cert",
	.alert13 = SSL_AD_CERTIFICATE_REQUIRED, .alert12 = SSL_AD_HANDSHAKE_FAILURE,
};
FIXTURE_VARIANT_ADD(refused, expired) {
	.cert = "client-expired", .reason = "expired",
	.alert13 = SSL_AD_CERTIFICATE_EXPIRED, .alert12 = SSL_AD_CERTIFICATE_EXPIRED,
	.cached = true,
};
FIXTURE_VARIANT_ADD(refused, not_yet_valid) {
	.cert = "client-notyet", .reason = "not_yet_valid",
	.alert13 = SSL_AD_BAD_CERTIFICATE, .alert12 = SSL_AD_BAD_CERTIFICATE,
	.cached = true,
};
FIXTURE_VARIANT_ADD(refused, revoked) {
	.cert = "client-revoked", .reason = "revoked",
	.alert13 = SSL_AD_CERTIFICATE_REVOKED, .alert12 = SSL_AD_CERTIFICATE_REVOKED,
	.cached = true,
};
FIXTURE_VARIANT_ADD(refused, under_revoked_ca) {
	.cert = "client-under-revoked", .reason = "revoked",
	.alert13 = SSL_AD_CERTIFICATE_REVOKED, .alert12 = SSL_AD_CERTIFICATE_REVOKED,
};
FIXTURE_VARIANT_ADD(refused, wrong_ca) {
	.cert = "client-wrongca", .reason = "unknown_ca",
	.alert13 = SSL_AD_UNKNOWN_CA, .alert12 = SSL_AD_UNKNOWN_CA,
};
FIXTURE_VARIANT_ADD(refused, self_signed) {
	.cert = "client-selfsigned", .reason = "unknown_ca",
	.alert13 = SSL_AD_UNKNOWN_CA, .alert12 = SSL_AD_UNKNOWN_CA,
};
FIXTURE_VARIANT_ADD(refused, server_auth_only) {
	.cert = "client-serverauth", .reason = "bad_eku",
	.alert13 = SSL_AD_UNSUPPORTED_CERTIFICATE, .alert12 = SSL_AD_UNSUPPORTED_CERTIFICATE,
	.cached = true,
};
FIXTURE_VARIANT_ADD(refused, ca_as_client) {
	.cert = "client-ca", .reason = "ca_as_client", .alert13 = -1, .alert12 = -1,
};
FIXTURE_VARIANT_ADD(refused, rsa1024) {
	.cert = "client-rsa1024", .reason = "weak_key", .alert13 = -1, .alert12 = -1,
	.cached = true,
};
FIXTURE_VARIANT_ADD(refused, sha1_signed) {
	.cert = "client-sha1", .reason = "weak_signature", .alert13 = -1, .alert12 = -1,
	.cached = true,
};
FIXTURE_VARIANT_ADD(refused, too_deep) {
	.cert = "client-deep", .reason = "too_deep", .alert13 = -1, .alert12 = -1,
};
FIXTURE_VARIANT_ADD(refused, not_authorized) {
	.cert = "client-dev", .reason = "not_authorized",
	.alert13 = SSL_AD_HANDSHAKE_FAILURE, .alert12 = SSL_AD_HANDSHAKE_FAILURE,
	.cached = true,
};
FIXTURE_VARIANT_ADD(refused, two_spiffe_ids) {
	/* Two spiffe:// SANs mean no SPIFFE ID, so no rule matches. */
	.cert = "client-twospiffe", .reason = "not_authorized",
	.alert13 = SSL_AD_HANDSHAKE_FAILURE, .alert12 = SSL_AD_HANDSHAKE_FAILURE,
	.cached = true,
};

FIXTURE_SETUP(refused)
{
	struct gwt_gw_opts go = { 0 };

	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &go, true));
}

FIXTURE_TEARDOWN(refused)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/* Whether the audit line has the member at path (jsoncheck.h). */
static void expect_member(HARNESS_CTX, const char *line, const char *path, bool want)
{
	char *v = gwt_json_member(line, path);

	if (!v != !want)
		TH_LOG("%s: %s in %s", path, want ? "missing" : "present", line);
	EXPECT_EQ(want, v != NULL);
	free(v);
}

/*
 * warm: a good client (client-ecdsa) goes through first, so its issuer
 * path is in the verification cache and every variant that shares it is
 * decided by the cached leaf checks: the outcome must be the same.
 */
static void expect_refused(HARNESS_CTX,
			   FIXTURE_DATA(refused) *self,
			   const FIXTURE_VARIANT_TYPE(refused) *variant, int version, bool warm)
{
	char series[128];
	double cached = 0;

	struct gwt_client_opts co = { .cert = variant->cert, .max_version = version };
	int want = version == TLS1_3_VERSION ? variant->alert13 : variant->alert12;
	const char *event = strcmp(variant->reason, "not_authorized") ?
			    "\"event\":\"handshake_fail\"" : "\"event\":\"authz_deny\"";
	struct gwt_outcome out;
	char reason[64], *line;

	snprintf(series, sizeof(series),
		 "mtlsgw_verify_cache_total{listener=\"test\",path=\"cached\"}");
	if (warm) {
		ASSERT_TRUE(gwt_echo_ok(self->gw.port, "client-ecdsa", "warm"));
		cached = gwt_metric_value(&self->gw, series);
		if (cached < 0)
			cached = 0;	/* no cached verification yet */
	}
	gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
	ASSERT_EQ(0, out.rx);
	ASSERT_NE(-1, out.alert);
	if (want != -1)
		ASSERT_EQ(want, out.alert);
	snprintf(reason, sizeof(reason), "\"reason\":\"%s\"", variant->reason);
	line = gwt_audit_wait(&self->gw, 5000, event, reason, "\"decision\":\"deny\"", NULL);
	ASSERT_NOT_NULL(line);
	EXPECT_TRUE(gwt_json_valid(line, strlen(line)));
	/*
	 * A verified certificate that policy denies: its identity, top level.
	 * One that failed verification: its claims under "unverified" only.
	 */
	if (!strcmp(variant->reason, "not_authorized")) {
		expect_member(_ctx, line, "subject", true);
		expect_member(_ctx, line, "unverified", false);
	} else if (variant->cert && strcmp(variant->reason, "weak_key") &&
		   strcmp(variant->reason, "too_deep")) {
		expect_member(_ctx, line, "unverified.subject", true);
		expect_member(_ctx, line, "subject", false);
		expect_member(_ctx, line, "sha256", false);
	} else {
		expect_member(_ctx, line, "subject", false);
	}
	free(line);
	/* Not one byte, not even a connection, reached the backend. */
	ASSERT_EQ(warm ? 1 : 0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
	ASSERT_EQ(warm ? 4 : 0, __atomic_load_n(&self->be.st->rx_total, __ATOMIC_SEQ_CST));
	ASSERT_EQ(warm ? 1 : 0, gwt_audit_count(&self->gw, "\"event\":\"conn_open\""));
	/* And the cache decided it where the variant shares the warm path. */
	if (warm && variant->cached)
		ASSERT_EQ(cached + 1, gwt_metric_wait(&self->gw, series, cached + 1, 2000));
}

TEST_F(refused, tls13)
{
	expect_refused(_ctx, self, variant, TLS1_3_VERSION, false);
}

TEST_F(refused, tls12)
{
	expect_refused(_ctx, self, variant, TLS1_2_VERSION, false);
}

TEST_F(refused, tls13_after_a_good_client)
{
	expect_refused(_ctx, self, variant, TLS1_3_VERSION, true);
}

TEST_F(refused, tls12_after_a_good_client)
{
	expect_refused(_ctx, self, variant, TLS1_2_VERSION, true);
}

FIXTURE(grp) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

FIXTURE_SETUP(grp)
{
	struct gwt_gw_opts go = { .tls_extra = "      groups: [P-384, X25519]\n" };

	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &go, true));
}

FIXTURE_TEARDOWN(grp)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/* tls.groups replaces the default: P-384 is taken, P-256 no longer. */
TEST_F(grp, configured_groups_replace_the_default)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa", .groups = "P-256" };
	struct gwt_client_opts held = { .cert = "client-ecdsa", .groups = "P-384" };
	struct gwt_outcome out;
	struct gwt_client cl;
	char *text = NULL;

	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &held));
	ASSERT_TRUE(gwt_roundtrip(&cl, "held"));
	ASSERT_EQ(0, gwt_ctl(&self->gw, &text, "conns --json"));
	EXPECT_NOT_NULL(strstr(text, "\"group\":\"secp384r1\""));
	free(text);
	gwt_client_close(&cl);

	expect_group(_ctx, &self->gw, "P-384", 0, "secp384r1");
	expect_group(_ctx, &self->gw, "P-384:X25519", 0, "secp384r1");
	gwt_client_try(self->gw.port, &co, "hello", 5, &out);
	EXPECT_FALSE(out.handshake_ok && out.rx);
}

TEST_HARNESS_MAIN
