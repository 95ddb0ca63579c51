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
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/gwtest.h"
#include "lib/tls_backend.h"

#define MiB (1024 * 1024)
#define BULK (4 * MiB)

FIXTURE(bk) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_gw_opts go;
	struct gwt_tls_backend_opts bo;
	char upstream[1024];
};

FIXTURE_VARIANT(bk) {
	int max_version;		/* the backend's */
	const char *ciphers;		/* the backend's TLS 1.2 list */
	const char *ciphersuites;	/* the backend's TLS 1.3 list */
};

FIXTURE_VARIANT_ADD(bk, tls13) { .max_version = TLS1_3_VERSION };
FIXTURE_VARIANT_ADD(bk, tls13_chacha20) {
	.max_version = TLS1_3_VERSION, .ciphersuites = "TLS_CHACHA20_POLY1305_SHA256" };
FIXTURE_VARIANT_ADD(bk, tls12_aes256gcm) {
	.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384" };

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
	snprintf(self->upstream, sizeof(self->upstream),
		 "      tls:\n"
		 "        cert: %s\n"
		 "        key: %s\n"
		 "        ca: %s\n"
		 "        server_name: backend.corp.test\n"
		 "        verify_name: backend.corp.test\n",
		 gwt_pki_path("gateway-chain.pem"), gwt_pki_path("gateway.key"),
		 gwt_pki_path("ca-bundle.pem"));
	self->go.upstream_port = self->be.port;
	self->go.upstream_extra = self->upstream;
	self->go.top_extra = "workers: 1\n";
	if (gwt_gw_config(&self->gw, &self->go))
		return -1;
	return gwt_gw_start(&self->gw);
}

static void dump_audit(HARNESS_CTX, struct gwt_gw *gw)
{
	char *all = gwt_read_file(gw->audit);

	TH_LOG("audit log: %s", all ? all : "(none)");
	free(all);
}

/*
 * 4 MiB each way through both kTLS legs, byte-exact, with the backend's
 * TLS 1.3 tickets in the stream (OpenSSL sends two after the handshake);
 * the client's close_notify reaches the backend as close_notify.
 */
TEST_F(bk, bulk_both_legs_in_the_kernel)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
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
	ASSERT_EQ(0, gwt_client_bulk(&cl, BULK, 1, &rx, got, 120000));
	gwt_client_close(&cl);
	/* Echoed: what came back is what went. */
	ASSERT_EQ(BULK, rx);
	gwt_pattern_sha256(1, BULK, want);
	ASSERT_MEMEQ(want, got, 32);
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 10000));
	EXPECT_EQ(BULK, self->be.st->conn[0].rx_bytes);
	ASSERT_MEMEQ(want, self->be.st->conn[0].rx_sha256, 32);
	EXPECT_EQ(1, self->be.st->conn[0].fin_seen);	/* our close_notify */
	line = gwt_audit_wait(&self->gw, 10000, "\"event\":\"conn_close\"", "\"reason\":\"closed\"",
			      "\"datapath\":\"splice\"", NULL);
	if (!line)
		dump_audit(_ctx, &self->gw);
	ASSERT_NOT_NULL(line);
	free(line);
	/* The kernel moved the payload: the daemon's own reads and writes are small. */
	ASSERT_EQ(0, gwt_proc_io(self->gw.pid, &rchar[1], &wchar[1]));
	printf("# daemon read %llu, wrote %llu bytes itself for %d payload bytes each way\n",
	       (unsigned long long)(rchar[1] - rchar[0]),
	       (unsigned long long)(wchar[1] - wchar[0]), BULK);
	EXPECT_GT(MiB / 4, rchar[1] - rchar[0]);
	EXPECT_GT(MiB / 4, wchar[1] - wchar[0]);
}

/* The backend ends with close_notify: the client gets what was sent, then close_notify. */
TEST_F(bk, backend_close_notify_reaches_the_client)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_client cl;
	char *line;

	self->bo.close_after = 5;
	ASSERT_EQ(0, start(self));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	ASSERT_TRUE(gwt_roundtrip(&cl, "hello"));
	EXPECT_LE(0, gwt_wait_closed(&cl, 10000));
	EXPECT_TRUE(cl.got_close_notify);
	gwt_client_close(&cl);
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 10000));
	EXPECT_EQ(1, self->be.st->conn[0].fin_seen);
	line = gwt_audit_wait(&self->gw, 10000, "\"event\":\"conn_close\"", "\"reason\":\"closed\"",
			      "\"bytes_in\":5,\"bytes_out\":5", NULL);
	if (!line)
		dump_audit(_ctx, &self->gw);
	ASSERT_NOT_NULL(line);
	free(line);
}

/*
 * TLS 1.3: the backend updates its key and asks for ours midway. Where
 * the kernel can rekey, every byte still arrives; else a clean close
 * with key_update_unsupported.
 */
TEST_F(bk, backend_key_update)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	unsigned char got[32], want[32];
	struct gwt_client cl;
	uint64_t rx = 0;
	char *line;
	int r;

	if (variant->max_version != TLS1_3_VERSION)
		SKIP("KeyUpdate is TLS 1.3");
	self->bo.key_update_after = MiB;
	ASSERT_EQ(0, start(self));
	ASSERT_EQ(0, gwt_client_connect(&cl, self->gw.port, &co));
	r = gwt_client_bulk(&cl, BULK, 1, &rx, got, 120000);
	gwt_client_close(&cl);
	printf("# this kernel %s a kTLS socket\n",
	       gwt_expect_key_update_followed() ? "can rekey" : "cannot rekey");
	if (gwt_expect_key_update_followed()) {
		ASSERT_EQ(0, r);
		ASSERT_EQ(BULK, rx);
		gwt_pattern_sha256(1, BULK, want);
		ASSERT_MEMEQ(want, got, 32);
		line = gwt_audit_wait(&self->gw, 10000, "\"event\":\"conn_close\"",
				      "\"reason\":\"closed\"", NULL);
	} else {
		EXPECT_GT(BULK, rx);
		line = gwt_audit_wait(&self->gw, 10000, "\"event\":\"conn_close\"",
				      "\"reason\":\"key_update_unsupported\"", NULL);
	}
	if (!line)
		dump_audit(_ctx, &self->gw);
	ASSERT_NOT_NULL(line);
	free(line);
}

/*
 * A TLS 1.3 backend judges our certificate after our side of the
 * handshake ended, so its refusal arrives on the kTLS socket as an alert:
 * upstream_tls_error, and no client byte reaches it.
 */
TEST_F(bk, backend_refuses_the_gateway_certificate)
{
	struct gwt_client_opts co = { .cert = "client-ecdsa" };
	struct gwt_outcome out;
	char *line;

	if (variant->max_version != TLS1_3_VERSION)
		SKIP("in TLS 1.2 the refusal ends the handshake itself (test_upstream_tls)");
	self->bo.client_ca = "other-root-ca.crt";
	ASSERT_EQ(0, start(self));
	gwt_client_try(self->gw.port, &co, "must never reach the backend", 1, &out);
	EXPECT_TRUE(out.handshake_ok);
	EXPECT_EQ(0, out.rx);
	EXPECT_TRUE(out.closed);
	line = gwt_audit_wait(&self->gw, 10000, "\"event\":\"conn_close\"",
			      "\"reason\":\"upstream_tls_error\"", "alert", NULL);
	if (!line)
		dump_audit(_ctx, &self->gw);
	ASSERT_NOT_NULL(line);
	free(line);
	EXPECT_EQ(0, self->be.st->rx_total);
}

TEST_HARNESS_MAIN
