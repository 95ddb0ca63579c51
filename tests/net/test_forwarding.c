// SPDX-License-Identifier: GPL-2.0-only
/*
 * The userspace datapath under real load: 64 MiB each way byte-exact,
 * half-close in both orders, resets in both directions, a slow backend.
 * Variants cover TLS 1.2 and 1.3 and each AEAD suite we offer.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>

#include "harness.h"
#include "lib/gwtest.h"

#define MiB (1024 * 1024ULL)

FIXTURE(fwd) {
	struct gwt_backend be;
	struct gwt_gw gw;
	struct gwt_client cl;
	bool connected;
};

FIXTURE_VARIANT(fwd) {
	int version;
	const char *ciphers;		/* TLS 1.2 */
	const char *suites;		/* TLS 1.3 */
	const char *cert;
	const char *cipher_name;	/* as the audit log shows it */
};

FIXTURE_VARIANT_ADD(fwd, tls13_aes128gcm) {
	.version = TLS1_3_VERSION, .suites = "TLS_AES_128_GCM_SHA256",
	.cert = "client-ecdsa", .cipher_name = "TLS_AES_128_GCM_SHA256",
};
FIXTURE_VARIANT_ADD(fwd, tls13_aes256gcm) {
	.version = TLS1_3_VERSION, .suites = "TLS_AES_256_GCM_SHA384",
	.cert = "client-ecdsa", .cipher_name = "TLS_AES_256_GCM_SHA384",
};
FIXTURE_VARIANT_ADD(fwd, tls13_chacha20) {
	.version = TLS1_3_VERSION, .suites = "TLS_CHACHA20_POLY1305_SHA256",
	.cert = "client-rsa", .cipher_name = "TLS_CHACHA20_POLY1305_SHA256",
};
FIXTURE_VARIANT_ADD(fwd, tls12_ecdsa_aes128gcm) {
	.version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256",
	.cert = "client-ecdsa", .cipher_name = "ECDHE-ECDSA-AES128-GCM-SHA256",
};
FIXTURE_VARIANT_ADD(fwd, tls12_ecdsa_chacha20) {
	.version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305",
	.cert = "client-rsa", .cipher_name = "ECDHE-ECDSA-CHACHA20-POLY1305",
};

FIXTURE_SETUP(fwd)
{
	memset(self, 0, sizeof(*self));
	self->be.pid = -1;
	self->gw.pid = -1;
	self->gw.notify_fd = -1;
}

FIXTURE_TEARDOWN(fwd)
{
	if (self->connected)
		gwt_client_close(&self->cl);
	gwt_backend_stop(&self->be);
	EXPECT_EQ(0, gwt_gw_cleanup(&self->gw));
}

/* Backend with the given behaviour, gateway in front, client connected. */
static int fwd_start(FIXTURE_DATA(fwd) *self, const FIXTURE_VARIANT_TYPE(fwd) *variant,
		     const struct gwt_backend_opts *bo)
{
	struct gwt_client_opts co = {
		.cert = variant->cert, .max_version = variant->version,
		.min_version = variant->version, .ciphers = variant->ciphers,
		.ciphersuites = variant->suites,
	};
	struct gwt_gw_opts go = { 0 };

	if (gwt_backend_start(&self->be, bo))
		return -1;
	go.upstream_port = self->be.port;
	if (gwt_gw_config(&self->gw, &go) || gwt_gw_start(&self->gw))
		return -1;
	if (gwt_client_connect(&self->cl, self->gw.port, &co))
		return -1;
	self->connected = true;
	return 0;
}

TEST_F_TIMEOUT(fwd, bulk_64mib_each_way, 120)
{
	struct gwt_backend_opts bo = { .send_bytes = 64 * MiB, .send_seed = 2,
				       .fin_after_send = true };
	unsigned char want[32], got[32];
	char counts[128], cipher[128], *line;
	uint64_t rx;

	ASSERT_EQ(0, fwd_start(self, variant, &bo));
	ASSERT_EQ(0, gwt_client_bulk(&self->cl, 64 * MiB, 1, &rx, got, 100000));
	/* Backend -> client: every byte, in order. */
	ASSERT_EQ(64 * MiB, rx);
	gwt_pattern_sha256(2, 64 * MiB, want);
	ASSERT_MEMEQ(want, got, 32);
	/* Client -> backend: every byte, in order, then the FIN. */
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 10000));
	ASSERT_EQ(64 * MiB, self->be.st->conn[0].rx_bytes);
	gwt_pattern_sha256(1, 64 * MiB, want);
	ASSERT_MEMEQ(want, self->be.st->conn[0].rx_sha256, 32);
	ASSERT_TRUE(self->be.st->conn[0].fin_seen);
	ASSERT_TRUE(self->cl.got_close_notify);

	snprintf(counts, sizeof(counts), "\"bytes_in\":%llu,\"bytes_out\":%llu",
		 64 * MiB, 64 * MiB);
	snprintf(cipher, sizeof(cipher), "\"cipher\":\"%s\"", variant->cipher_name);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"", counts,
			      cipher, "\"reason\":\"closed\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(fwd, half_close_client_first)
{
	/* The backend answers only after it saw the client's end of data. */
	struct gwt_backend_opts bo = { .send_bytes = 1 * MiB, .send_seed = 4,
				       .send_when = GWT_SEND_AFTER_EOF,
				       .fin_after_send = true };
	unsigned char want[32], got[32];
	uint64_t rx;

	ASSERT_EQ(0, fwd_start(self, variant, &bo));
	/* Sends 1 MiB, then close_notify, then reads to the gateway's close_notify. */
	ASSERT_EQ(0, gwt_client_bulk(&self->cl, 1 * MiB, 3, &rx, got, 30000));
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 10000));
	ASSERT_TRUE(self->be.st->conn[0].fin_seen);
	ASSERT_EQ(1 * MiB, self->be.st->conn[0].rx_bytes);
	gwt_pattern_sha256(3, 1 * MiB, want);
	ASSERT_MEMEQ(want, self->be.st->conn[0].rx_sha256, 32);
	ASSERT_EQ(1 * MiB, rx);
	gwt_pattern_sha256(4, 1 * MiB, want);
	ASSERT_MEMEQ(want, got, 32);
	ASSERT_TRUE(self->cl.got_close_notify);
}

TEST_F(fwd, half_close_backend_first)
{
	/* The backend sends and closes its side at once; the client keeps sending. */
	struct gwt_backend_opts bo = { .send_bytes = 1 * MiB, .send_seed = 6,
				       .fin_after_send = true };
	unsigned char want[32], buf[16384];
	uint64_t rx = 0;
	int n;

	ASSERT_EQ(0, fwd_start(self, variant, &bo));
	while ((n = SSL_read(self->cl.ssl, buf, sizeof(buf))) > 0)
		rx += n;
	ASSERT_EQ(SSL_ERROR_ZERO_RETURN, SSL_get_error(self->cl.ssl, n));
	ASSERT_EQ(1 * MiB, rx);
	ASSERT_TRUE(self->cl.got_close_notify);
	/* Our direction is still open: 2 MiB more, then our close_notify. */
	ASSERT_EQ(0, gwt_client_bulk(&self->cl, 2 * MiB, 5, &rx, buf, 30000));
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 10000));
	ASSERT_EQ(2 * MiB, self->be.st->conn[0].rx_bytes);
	gwt_pattern_sha256(5, 2 * MiB, want);
	ASSERT_MEMEQ(want, self->be.st->conn[0].rx_sha256, 32);
	ASSERT_TRUE(self->be.st->conn[0].fin_seen);
}

TEST_F(fwd, backend_reset_resets_client)
{
	struct gwt_backend_opts bo = { .rst_after_bytes = 1 };
	char buf[64], *line;
	int n;

	ASSERT_EQ(0, fwd_start(self, variant, &bo));
	ASSERT_EQ(5, SSL_write(self->cl.ssl, "hello", 5));
	n = SSL_read(self->cl.ssl, buf, sizeof(buf));
	ASSERT_GE(0, n);
	/* A reset, not a graceful close_notify. */
	ASSERT_FALSE(self->cl.got_close_notify);
	ASSERT_EQ(SSL_ERROR_SYSCALL, SSL_get_error(self->cl.ssl, n));
	ERR_clear_error();
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"",
			      "\"reason\":\"backend_reset\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F(fwd, client_reset_resets_backend)
{
	struct gwt_backend_opts bo = { .echo = true };
	struct linger l = { 1, 0 };
	char buf[8], *line;

	ASSERT_EQ(0, fwd_start(self, variant, &bo));
	ASSERT_EQ(4, SSL_write(self->cl.ssl, "ping", 4));
	ASSERT_EQ(4, SSL_read(self->cl.ssl, buf, sizeof(buf)));
	setsockopt(self->cl.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	gwt_client_close(&self->cl);
	self->connected = false;
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 5000));
	ASSERT_TRUE(self->be.st->conn[0].rst_seen);
	line = gwt_audit_wait(&self->gw, 5000, "\"event\":\"conn_close\"",
			      "\"reason\":\"client_reset\"", NULL);
	ASSERT_NOT_NULL(line);
	free(line);
}

TEST_F_TIMEOUT(fwd, slow_backend_backpressure, 60)
{
	/* A backend reading 4 KiB every 2 ms: the client must simply wait. */
	struct gwt_backend_opts bo = { .read_delay_ms = 2 };
	unsigned char want[32], got[32];
	uint64_t rx;

	ASSERT_EQ(0, fwd_start(self, variant, &bo));
	ASSERT_EQ(0, gwt_client_bulk(&self->cl, 4 * MiB, 9, &rx, got, 50000));
	ASSERT_TRUE(gwt_backend_wait_done(&self->be, 0, 20000));
	ASSERT_EQ(4 * MiB, self->be.st->conn[0].rx_bytes);
	gwt_pattern_sha256(9, 4 * MiB, want);
	ASSERT_MEMEQ(want, self->be.st->conn[0].rx_sha256, 32);
}

TEST_HARNESS_MAIN
