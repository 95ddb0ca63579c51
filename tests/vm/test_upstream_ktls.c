// SPDX-License-Identifier: GPL-2.0-only
/*
 * upstream.tls on the splice tier: both legs in kernel TLS, so the kernel
 * decrypts what one peer sends and encrypts it again for the other, and
 * the daemon never reads or writes the payload itself. Runs inside the
 * QEMU kernels (make vm-test): a guest has no socat or Python, so the
 * backend is tests/lib/tls_backend.c (OpenSSL, demanding the gateway's
 * certificate). What a user checks: every byte both ways, the datapath in
 * the audit log, the daemon's own read/write counters (/proc/PID/io) far
 * below the payload, close_notify on each leg, a backend KeyUpdate, and
 * the reason when the backend refuses the gateway's certificate. SKIPs
 * where the kernel has no kTLS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/tls_backend.h"

#define MiB (1024 * 1024)

FIXTURE(bk) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	struct gwt_tls_backend_opts bo;
	char upstream[1024];
};

/* One TLS version and cipher on each leg. */
FIXTURE_VARIANT(bk) {
	int max_version;		/* the backend's */
	const char *ciphers;		/* the backend's TLS 1.2 list */
	const char *ciphersuites;	/* the backend's TLS 1.3 list */
	int c_version;			/* the client's */
	const char *c_ciphers;
	const char *c_suites;
	bool big;			/* the full-size bulk (64 MiB, GWT_BULK_MIB) */
};

FIXTURE_VARIANT_ADD(bk, c13aes128_b13aes256) {
	.max_version = TLS1_3_VERSION, .ciphersuites = "TLS_AES_256_GCM_SHA384",
	.c_version = TLS1_3_VERSION, .c_suites = "TLS_AES_128_GCM_SHA256", .big = true };
FIXTURE_VARIANT_ADD(bk, c12chacha20_b13chacha20) {
	.max_version = TLS1_3_VERSION, .ciphersuites = "TLS_CHACHA20_POLY1305_SHA256",
	.c_version = TLS1_2_VERSION, .c_ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305" };
FIXTURE_VARIANT_ADD(bk, c13chacha20_b12aes256) {
	.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384",
	.c_version = TLS1_3_VERSION, .c_suites = "TLS_CHACHA20_POLY1305_SHA256" };

FIXTURE_SETUP(bk)
{
	memset(self, 0, sizeof(*self));
	self->be.pid = -1;
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
	if (!strstr(gwt_expected_datapath(), "splice"))
		SKIP("no kTLS in this kernel: upstream.tls runs on the userspace tier (test_upstream_tls)");
	self->bo.max_version = variant->max_version;
	self->bo.ciphers = variant->ciphers;
	self->bo.ciphersuites = variant->ciphersuites;
}

FIXTURE_TEARDOWN(bk)
{
	gwt_backend_stop(&self->be);
	EXPECT_EQ(0, gwt_gw_cleanup(&self->gw));
}

/* The TLS backend with self->bo, and the gateway in front of it in mTLS. */
static int start(FIXTURE_DATA(bk) *self)
{
	if (gwt_tls_backend_start(&self->be, &self->bo))
		return -1;
	self->go.upstream_port = self->be.port;
	self->go.upstream_extra = gwt_upstream_tls(self->upstream, sizeof(self->upstream), NULL);
	self->go.top_extra = "workers: 1\n";
	if (gwt_gw_config(&self->gw, &self->go))
		return -1;
	return gwt_gw_start(&self->gw);
}

static struct gwt_client_opts client_opts(const FIXTURE_VARIANT_TYPE(bk) *variant)
{
	return (struct gwt_client_opts){
		.cert = "client-ecdsa", .min_version = variant->c_version,
		.max_version = variant->c_version, .ciphers = variant->c_ciphers,
		.ciphersuites = variant->c_suites,
	};
}

/* 64 MiB each way, or GWT_BULK_MIB, for the full-size variant; else 4 MiB. */
static uint64_t bulk_bytes(const FIXTURE_VARIANT_TYPE(bk) *variant)
{
	const char *e = getenv("GWT_BULK_MIB");
	uint64_t mib = e ? strtoull(e, NULL, 10) : 0;

	return variant->big ? (mib ? mib : 64) * MiB : 4 * MiB;
}

static void dump_audit(HARNESS_CTX, struct gwt_gw *gw)
{
	char *all = gwt_read_file(gw->audit);

	TH_LOG("audit log: %s", all ? all : "(none)");
	free(all);
}

/* An audit line with every needle within 10 s, else the whole log and a failure. */
#define ASSERT_AUDIT(gw, ...) do {						\
	char *line_ = gwt_audit_wait(gw, 10000, __VA_ARGS__, NULL);		\
	if (!line_)								\
		dump_audit(_ctx, gw);						\
	ASSERT_NOT_NULL(line_);							\
	free(line_);								\
} while (0)

/*
 * Bulk each way through both kTLS legs, byte-exact, with the backend's
 * TLS 1.3 tickets in the stream (OpenSSL sends two after the handshake);
 * the client's close_notify reaches the backend as close_notify.
 */
TEST_F_TIMEOUT(bk, bulk_both_legs_in_the_kernel, 900)
{
	struct gwt_client_opts co = client_opts(variant);
	const uint64_t size = bulk_bytes(variant);
	uint64_t rchar[2], wchar[2], rx = 0;
	unsigned char got[32], want[32];
	struct gwt_client cl;
	char *line;

	ASSERT_EQ(0, start(self));
	ASSERT_EQ(0, gwt_proc_io(self->gw.pid, &rchar[0], &wchar[0]));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	line = gwt_audit_wait(&self->gw, 10000, "\"event\":\"upstream_open\"", NULL);
	if (!line)
		dump_audit(_ctx, &self->gw);
	ASSERT_NOT_NULL(line);
	EXPECT_NOT_NULL(strstr(line, "\"datapath\":\"splice\""));
	EXPECT_NOT_NULL(strstr(line, variant->max_version == TLS1_2_VERSION ?
			       "\"tls_version\":\"TLSv1.2\"" : "\"tls_version\":\"TLSv1.3\""));
	free(line);
	ASSERT_EQ(0, gwt_client_bulk(&cl, size, 1, &rx, got, (int)(size / MiB) * 10000));
	gwt_client_close(&cl);
	/* Echoed: what came back is what went. */
	ASSERT_EQ(size, rx);
	gwt_pattern_sha256(1, size, want);
	ASSERT_MEMEQ(want, got, 32);
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 10000));
	EXPECT_EQ(size, self->be.st->conn[0].rx_bytes);
	ASSERT_MEMEQ(want, self->be.st->conn[0].rx_sha256, 32);
	EXPECT_EQ(1, self->be.st->conn[0].fin_seen);	/* our close_notify */
	ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"", "\"reason\":\"closed\"", "\"datapath\":\"splice\"");
	/* The kernel moved the payload: the daemon's own reads and writes are handshake-sized. */
	ASSERT_EQ(0, gwt_proc_io(self->gw.pid, &rchar[1], &wchar[1]));
	printf("# daemon read %llu, wrote %llu bytes itself for %llu payload bytes each way\n",
	       (unsigned long long)(rchar[1] - rchar[0]),
	       (unsigned long long)(wchar[1] - wchar[0]), (unsigned long long)size);
	EXPECT_GT(64 * 1024, rchar[1] - rchar[0]);
	EXPECT_GT(64 * 1024, wchar[1] - wchar[0]);
}

/*
 * Start, one round trip of "hello", then the connection ends by itself:
 * the client gets close_notify, and so does the backend once the client
 * has closed.
 */
static void hello_then_closed(HARNESS_CTX, FIXTURE_DATA(bk) *self,
			      const FIXTURE_VARIANT_TYPE(bk) *variant)
{
	struct gwt_client_opts co = client_opts(variant);
	struct gwt_client cl;

	ASSERT_EQ(0, start(self));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&cl, "hello"));
	EXPECT_LE(0, gwt_wait_closed(&cl, 10000));
	EXPECT_TRUE(cl.got_close_notify);
	gwt_client_close(&cl);
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 10000));
	EXPECT_EQ(1, self->be.st->conn[0].fin_seen);
}

/* The backend ends with close_notify: the client gets what was sent, then close_notify. */
TEST_F(bk, backend_close_notify_reaches_the_client)
{
	self->bo.close_after = 5;
	hello_then_closed(_ctx, self, variant);
	ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"", "\"reason\":\"closed\"", "\"bytes_in\":5,\"bytes_out\":5");
}

/* A KeyUpdate asking for one back, from the client (from_client) or the backend. */
static void key_update(HARNESS_CTX, FIXTURE_DATA(bk) *self,
		       const FIXTURE_VARIANT_TYPE(bk) *variant, bool from_client)
{
	struct gwt_client_opts co = client_opts(variant);
	unsigned char got[32], want[32];
	struct gwt_client cl;
	uint64_t rx = 0;
	int r;

	if (!from_client)
		self->bo.key_update_after = MiB;
	ASSERT_EQ(0, start(self));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&cl, "before any KeyUpdate"));
	if (from_client)
		ASSERT_EQ(1, SSL_key_update(cl.ssl, SSL_KEY_UPDATE_REQUESTED));
	r = gwt_client_bulk(&cl, 4 * MiB, 1, &rx, got, 120000);
	gwt_client_close(&cl);
	printf("# this kernel %s a kTLS socket\n",
	       gwt_expect_key_update_followed() ? "can rekey" : "cannot rekey");
	if (gwt_expect_key_update_followed()) {
		ASSERT_EQ(0, r);
		ASSERT_EQ(4 * MiB, rx);
		gwt_pattern_sha256(1, 4 * MiB, want);
		ASSERT_MEMEQ(want, got, 32);
		ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"", "\"reason\":\"closed\"");
	} else {
		EXPECT_GT(4 * MiB, rx);
		ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"",
			     "\"reason\":\"key_update_unsupported\"");
	}
}

/*
 * TLS 1.3 on the backend leg: it updates its key and asks for ours midway.
 * Where the kernel can rekey, every byte still arrives; else a clean
 * close with key_update_unsupported.
 */
TEST_F(bk, backend_key_update)
{
	if (variant->max_version != TLS1_3_VERSION)
		SKIP("KeyUpdate is TLS 1.3; this variant's backend leg is TLS 1.2");
	key_update(_ctx, self, variant, false);
}

/* The same from the client, with the backend leg in kTLS too. */
TEST_F(bk, client_key_update)
{
	if (variant->c_version != TLS1_3_VERSION)
		SKIP("KeyUpdate is TLS 1.3; this variant's client leg is TLS 1.2");
	key_update(_ctx, self, variant, true);
}

/* A backend reset resets the client; no close_notify pretends it was clean. */
TEST_F(bk, backend_reset_resets_the_client)
{
	struct gwt_client_opts co = client_opts(variant);
	struct gwt_client cl;
	char buf[64];
	int n;

	self->bo.rst_after = 1;
	ASSERT_EQ(0, start(self));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	ASSERT_EQ(5, SSL_write(cl.ssl, "hello", 5));
	n = SSL_read(cl.ssl, buf, sizeof(buf));
	EXPECT_GE(0, n);
	EXPECT_FALSE(cl.got_close_notify);
	gwt_client_close(&cl);
	ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"", "\"reason\":\"backend_reset\"");
}

/* A client reset resets the backend: it sees no close_notify. */
TEST_F(bk, client_reset_resets_the_backend)
{
	struct gwt_client_opts co = client_opts(variant);
	struct linger l = { 1, 0 };
	struct gwt_client cl;

	ASSERT_EQ(0, start(self));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&cl, "ping"));
	setsockopt(cl.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	gwt_client_close(&cl);
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 10000));
	EXPECT_EQ(0, self->be.st->conn[0].fin_seen);
	EXPECT_EQ(1, self->be.st->conn[0].rst_seen);
	ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"", "\"reason\":\"client_reset\"", "\"datapath\":\"splice\"");
}

/* The gateway ends the connection itself (max_connection_lifetime): close_notify both ways. */
TEST_F(bk, gateway_close_sends_close_notify_both_ways)
{
	self->go.listener_extra = "    max_connection_lifetime: 1s\n";
	hello_then_closed(_ctx, self, variant);
	ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"", "\"reason\":\"max_lifetime\"", "\"datapath\":\"splice\"");
}

/*
 * A TLS 1.3 backend judges our certificate after our side of the
 * handshake ended, so its refusal arrives on the kTLS socket as an alert:
 * upstream_tls_error, and no client byte reaches it.
 */
TEST_F(bk, backend_refuses_the_gateway_certificate)
{
	struct gwt_client_opts co = client_opts(variant);
	struct gwt_outcome out;

	if (variant->max_version != TLS1_3_VERSION)
		SKIP("in TLS 1.2 the refusal ends the handshake itself (test_upstream_tls)");
	self->bo.client_ca = "other-root-ca.crt";
	ASSERT_EQ(0, start(self));
	gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
	EXPECT_TRUE(out.handshake_ok);
	EXPECT_EQ(0, out.rx);
	EXPECT_TRUE(out.closed);
	ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"", "\"reason\":\"upstream_tls_error\"", "alert");
	EXPECT_EQ(0, self->be.st->rx_total);
}

/* A backend under another CA never gets a byte, in the guests too. */
TEST_F(bk, backend_under_another_ca)
{
	struct gwt_client_opts co = client_opts(variant);
	struct gwt_outcome out;

	self->bo.cert = "backend-wrongca";
	ASSERT_EQ(0, start(self));
	gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
	EXPECT_EQ(0, out.rx);
	EXPECT_TRUE(out.closed);
	ASSERT_AUDIT(&self->gw, "\"event\":\"conn_close\"", "\"reason\":\"upstream_cert_invalid\"");
	EXPECT_EQ(0, self->be.st->rx_total);
}

/*
 * The second connection resumes the backend session of the first, on the
 * splice tier. TLS 1.2: the session comes with the handshake. TLS 1.3: the
 * backend's tickets come after the handoff, through kTLS RX, and the
 * first record of them goes back to the backend leg's SSL object
 * (datapath_splice.c), or there would be nothing to resume.
 */
TEST_F(bk, backend_session_reused)
{
	struct gwt_client_opts co = client_opts(variant);
	int i;

	ASSERT_EQ(0, start(self));
	for (i = 0; i < 2; i++)
		ASSERT_TRUE(gwt_echo_ok(self->gw.port, co.cert, "resume me"));
	ASSERT_AUDIT(&self->gw, "\"event\":\"upstream_open\"", "\"resumed\":true", "\"datapath\":\"splice\"");
	EXPECT_EQ(1, gwt_metric_value(&self->gw, "mtlsgw_upstream_handshakes_total{listener=\"test\",result=\"ok\",reason=\"none\",session=\"resumed\"}"));
}

TEST_HARNESS_MAIN
