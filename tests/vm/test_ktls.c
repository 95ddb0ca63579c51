// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hand a live OpenSSL server session to kernel TLS (userspace/ktls.c) and
 * keep talking to an OpenSSL client that never notices: 256 KiB each way,
 * checksummed, for TLS 1.2 and 1.3 with every AEAD suite we offer. The
 * client sends its data right behind its Finished, so bytes already queued
 * before TLS_RX must decrypt too. Runs inside the QEMU kernels
 * (make vm-test); SKIPs where the kernel has no kTLS.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "kcaps.h"
#include "kcaps_text.h"
#include "ktls.h"

#define PAYLOAD (256 * 1024)

FIXTURE(kt) {
	int lfd, cfd, sfd;
	pid_t child;
};

FIXTURE_VARIANT(kt) {
	int version;
	const char *ciphers;	/* TLS 1.2 */
	const char *suites;	/* TLS 1.3 */
};

FIXTURE_VARIANT_ADD(kt, tls13_aes128gcm) { .version = TLS1_3_VERSION, .suites = "TLS_AES_128_GCM_SHA256" };
FIXTURE_VARIANT_ADD(kt, tls13_aes256gcm) { .version = TLS1_3_VERSION, .suites = "TLS_AES_256_GCM_SHA384" };
FIXTURE_VARIANT_ADD(kt, tls13_chacha20) { .version = TLS1_3_VERSION, .suites = "TLS_CHACHA20_POLY1305_SHA256" };
FIXTURE_VARIANT_ADD(kt, tls12_aes128gcm) { .version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256" };
FIXTURE_VARIANT_ADD(kt, tls12_aes256gcm) { .version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384" };
FIXTURE_VARIANT_ADD(kt, tls12_chacha20) { .version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305" };

FIXTURE_SETUP(kt)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char why[GW_KCAPS_SUMMARY_LEN];
	struct gw_kcaps k;

	self->lfd = self->cfd = self->sfd = -1;
	self->child = -1;
	if (gw_kcaps_probe(&k) || !k.ulp.ok) {
		gw_kcaps_format(&k, why, sizeof(why));
		SKIP("%s", why);
	}
	if (!getenv("PKI"))
		SKIP("PKI not set");
	self->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, self->lfd);
	ASSERT_EQ(0, bind(self->lfd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, listen(self->lfd, 1));
	ASSERT_EQ(0, getsockname(self->lfd, (struct sockaddr *)&sa, &len));
	self->cfd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_EQ(0, connect(self->cfd, (struct sockaddr *)&sa, sizeof(sa)));
	self->sfd = accept(self->lfd, NULL, NULL);
	ASSERT_LE(0, self->sfd);
}

FIXTURE_TEARDOWN(kt)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
	if (self->lfd >= 0)
		close(self->lfd);
	if (self->cfd >= 0)
		close(self->cfd);
	if (self->sfd >= 0)
		close(self->sfd);
}

static void pattern(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 131 + seed + (i >> 9));
}

/* The OpenSSL client: send right after the handshake, then read the answer. */
static int run_client(int fd, const FIXTURE_VARIANT_TYPE(kt) *variant)
{
	static unsigned char out[PAYLOAD], in[PAYLOAD], want[PAYLOAD];
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	size_t got = 0;
	SSL *ssl;
	int n;

	SSL_CTX_set_min_proto_version(ctx, variant->version);
	SSL_CTX_set_max_proto_version(ctx, variant->version);
	if (variant->ciphers)
		SSL_CTX_set_cipher_list(ctx, variant->ciphers);
	if (variant->suites)
		SSL_CTX_set_ciphersuites(ctx, variant->suites);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		return 10;
	pattern(out, sizeof(out), 1);
	if (SSL_write(ssl, out, sizeof(out)) != (int)sizeof(out))
		return 11;
	while (got < sizeof(in) && (n = SSL_read(ssl, in + got, sizeof(in) - got)) > 0)
		got += n;
	pattern(want, sizeof(want), 2);
	if (got != sizeof(in) || memcmp(in, want, sizeof(in)))
		return 12;
	return 0;
}

TEST_F_TIMEOUT(kt, handoff_both_directions, 120)
{
	static unsigned char buf[PAYLOAD], want[PAYLOAD];
	struct gw_ktls_dir tx, rx;
	char path[512];
	SSL_CTX *ctx;
	size_t got = 0;
	uint64_t seq;
	SSL *ssl;
	int status;
	ssize_t n;

	fflush(NULL);
	self->child = fork();
	ASSERT_LE(0, self->child);
	if (self->child == 0) {
		close(self->sfd);
		_exit(run_client(self->cfd, variant));
	}
	ctx = SSL_CTX_new(TLS_server_method());
	ASSERT_NOT_NULL(ctx);
	snprintf(path, sizeof(path), "%s/server-chain.pem", getenv("PKI"));
	ASSERT_EQ(1, SSL_CTX_use_certificate_chain_file(ctx, path));
	snprintf(path, sizeof(path), "%s/server.key", getenv("PKI"));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM));
	/* As the daemon: no tickets, so nothing is sent after the handshake. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	gw_ktls_enable_keylog(ctx);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, self->sfd);
	ASSERT_EQ(1, SSL_accept(ssl));
	/* read_ahead is off: OpenSSL holds nothing past the handshake. */
	ASSERT_EQ(0, SSL_has_pending(ssl));
	/* TLS 1.2: Finished was record 0 each way; TLS 1.3: fresh keys. */
	seq = variant->version == TLS1_2_VERSION ? 1 : 0;
	ASSERT_EQ(0, gw_ktls_derive(ssl, seq, seq, &tx, &rx));
	ASSERT_EQ(0, gw_ktls_ulp(self->sfd));
	ASSERT_EQ(0, gw_ktls_install(self->sfd, &tx, &rx));
	gw_ktls_forget(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);

	/* From here the kernel decrypts and encrypts: plain read/write. */
	while (got < sizeof(buf) && (n = read(self->sfd, buf + got, sizeof(buf) - got)) > 0)
		got += n;
	ASSERT_EQ(sizeof(buf), got);
	pattern(want, sizeof(want), 1);
	ASSERT_MEMEQ(want, buf, sizeof(buf));
	pattern(buf, sizeof(buf), 2);
	ASSERT_EQ((ssize_t)sizeof(buf), write(self->sfd, buf, sizeof(buf)));
	ASSERT_EQ(self->child, waitpid(self->child, &status, 0));
	self->child = -1;
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
