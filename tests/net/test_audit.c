// SPDX-License-Identifier: GPL-2.0-only
/*
 * The audit log as a SIEM and an operator depend on it: every line valid
 * UTF-8 JSON whatever a client's certificate holds, the claims of a
 * certificate that failed verification kept apart from verified identity
 * fields, and a log that cannot be written (/dev/full, a full disk)
 * counted, logged without flooding, and with log.audit_failure: refuse
 * no connection let through until it can be written again.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/pem.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/jsoncheck.h"
#include "lib/pkigen.h"

#define ERRORS "mtlsgw_audit_write_errors_total"
#define REFUSED "mtlsgw_handshakes_total{listener=\"test\",result=\"fail\",reason=\"audit_unavailable\"}"

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

/* ------------------------------------------------------------------ */
/* An audit log on /dev/full: every write fails with ENOSPC.           */

FIXTURE(full_continue) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

FIXTURE(full_refuse) {
	struct gwt_backend be;
	struct gwt_gw gw;
};

static void full_start(HARNESS_CTX, struct gwt_backend *be, struct gwt_gw *gw,
		       const char *log_extra)
{
	struct gwt_gw_opts go = { .log_extra = log_extra };

	ASSERT_EQ(0, gwt_env_start(be, gw, &go, false));
	ASSERT_EQ(0, symlink("/dev/full", gw->audit));
	ASSERT_EQ(0, gwt_gw_start(gw));
}

FIXTURE_SETUP(full_continue)
{
	full_start(_ctx, &self->be, &self->gw, NULL);
}

FIXTURE_TEARDOWN(full_continue)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

FIXTURE_SETUP(full_refuse)
{
	full_start(_ctx, &self->be, &self->gw, "  audit_failure: refuse\n");
}

FIXTURE_TEARDOWN(full_refuse)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
}

/*
 * The operator fixes the cause (here: the path is a file again) and sends
 * SIGUSR1: the reopen tries at once, and the first line says how many
 * were lost.
 */
static void expect_resumed(HARNESS_CTX, struct gwt_gw *g, unsigned int lost)
{
	char want[64], *line;

	ASSERT_EQ(0, unlink(g->audit));
	ASSERT_EQ(0, gwt_gw_signal(g, SIGUSR1));
	snprintf(want, sizeof(want), "\"lost\":%u}", lost);
	line = gwt_audit_wait(g, 5000, "\"event\":\"audit_resumed\"", want, NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	ASSERT_TRUE(gwt_echo_ok(g->port, "client-ecdsa", "after"));
	line = gwt_audit_wait(g, 5000, "\"event\":\"conn_close\"", "\"bytes_in\":5", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	/* The audit_resumed line comes first, and once. */
	ASSERT_EQ(3, audit_lines_valid(_ctx, g));
	ASSERT_EQ(1, gwt_audit_count(g, "audit_resumed"));
}

#define N_CONNS 40

/*
 * continue: traffic flows, every line lost is counted (conn_open and
 * conn_close per connection), and the daemon log says so once or twice,
 * not once per line.
 */
TEST_F(full_continue, traffic_flows_and_every_lost_line_counts)
{
	char msg[32];
	int i, errs;

	ASSERT_EQ(0, gwt_metric_value(&self->gw, ERRORS));
	for (i = 0; i < N_CONNS; i++) {
		snprintf(msg, sizeof(msg), "conn %d", i);
		ASSERT_TRUE(gwt_echo_ok(self->gw.port, "client-ecdsa", msg));
	}
	ASSERT_EQ(2 * N_CONNS, gwt_metric_wait(&self->gw, ERRORS, 2 * N_CONNS, 5000));
	errs = gwt_log_count(&self->gw, "cannot write: No space left on device");
	TH_LOG("%d connections, %d lines lost, %d error lines in the daemon log",
	       N_CONNS, 2 * N_CONNS, errs);
	ASSERT_GE(errs, 1);
	ASSERT_LE(errs, 2);
	ASSERT_EQ(N_CONNS, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
	expect_resumed(_ctx, &self->gw, 2 * N_CONNS);
	ASSERT_EQ(2 * N_CONNS, gwt_metric_value(&self->gw, ERRORS));
}

/*
 * refuse: the first connection's conn_open cannot be written, so it is
 * closed before its backend connection; later ones are closed right after
 * accept. Nothing reaches the backend until the log works again.
 */
TEST_F(full_refuse, nothing_flows_until_the_log_is_writable)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	int i;

	for (i = 0; i < 5; i++) {
		gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
		ASSERT_EQ(0, out.rx);
	}
	/* The first was refused after its handshake, four before theirs. */
	ASSERT_EQ(4, gwt_metric_wait(&self->gw, REFUSED, 4, 2000));
	ASSERT_EQ(1, gwt_metric_value(&self->gw,
		"mtlsgw_handshakes_total{listener=\"test\",result=\"ok\",reason=\"none\"}"));
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->rx_total, __ATOMIC_SEQ_CST));
	/* conn_open and conn_close of the first */
	ASSERT_EQ(2, gwt_metric_value(&self->gw, ERRORS));
	ASSERT_LE(gwt_log_count(&self->gw, "connection refused: the audit log cannot be written"), 2);
	expect_resumed(_ctx, &self->gw, 2);
	ASSERT_EQ(1, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));
}

/* ------------------------------------------------------------------ */
/* A full disk (a small tmpfs) that gets space back: no signal needed. */

FIXTURE(disk) {
	struct gwt_backend be;
	struct gwt_gw gw;
	char mnt[64];			/* a 64 KiB tmpfs, full */
	char filler[96];
};

FIXTURE_SETUP(disk)
{
	struct gwt_gw_opts go = { .log_extra = "  audit_failure: refuse\n" };
	char target[128], block[4096];
	int fd;

	/* Our own mount namespace: the mount dies with this test's processes. */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		SKIP("no private mount namespace: %s", strerror(errno));
	ASSERT_EQ(0, gwt_mkdtemp(self->mnt, sizeof(self->mnt)));
	if (mount("tmpfs", self->mnt, "tmpfs", 0, "size=64k")) {
		rmdir(self->mnt);
		SKIP("cannot mount a tmpfs: %s", strerror(errno));
	}
	snprintf(self->filler, sizeof(self->filler), "%s/filler", self->mnt);
	fd = open(self->filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	memset(block, 'x', sizeof(block));
	while (fd >= 0 && write(fd, block, sizeof(block)) > 0)
		;
	if (fd >= 0)
		close(fd);
	ASSERT_EQ(0, gwt_env_start(&self->be, &self->gw, &go, false));
	snprintf(target, sizeof(target), "%s/audit.jsonl", self->mnt);
	ASSERT_EQ(0, symlink(target, self->gw.audit));
	ASSERT_EQ(0, gwt_gw_start(&self->gw));
}

FIXTURE_TEARDOWN(disk)
{
	EXPECT_EQ(0, gwt_env_stop(&self->be, &self->gw));
	umount2(self->mnt, MNT_DETACH);
	rmdir(self->mnt);
}

/*
 * Refused while the disk is full; once space comes back, the next try
 * (at most a second later) writes audit_resumed and clients go through.
 */
TEST_F(disk, refused_while_full_then_resumes_by_itself)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	uint64_t t0, end;
	char *line;
	bool ok = false;
	int i;

	for (i = 0; i < 3; i++) {
		gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
		ASSERT_EQ(0, out.rx);
	}
	ASSERT_EQ(2, gwt_metric_wait(&self->gw, REFUSED, 2, 2000));
	ASSERT_EQ(0, __atomic_load_n(&self->be.st->accepted, __ATOMIC_SEQ_CST));

	ASSERT_EQ(0, unlink(self->filler));
	t0 = gwt_now_ms();
	end = t0 + 5000;
	while (!ok && gwt_now_ms() < end) {
		ok = gwt_echo_ok(self->gw.port, "client-ecdsa", "space");
		if (!ok)
			usleep(50 * 1000);
	}
	ASSERT_TRUE(ok);
	TH_LOG("clients accepted again %llu ms after the space came back",
	       (unsigned long long)(gwt_now_ms() - t0));
	line = gwt_audit_wait(&self->gw, 2000, "\"event\":\"audit_resumed\"", "\"lost\":2}", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	line = gwt_audit_wait(&self->gw, 2000, "\"event\":\"conn_open\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
	audit_lines_valid(_ctx, &self->gw);
}

TEST_HARNESS_MAIN
