// SPDX-License-Identifier: GPL-2.0-only
/*
 * gw_ktls_seal13 (ktls.c) against OpenSSL's own records: a TLS 1.3
 * server's application record, sealed again from the client's captured
 * traffic secrets at the server's sequence number, is the same bytes, for
 * each cipher kTLS carries. The splice datapath relies on it to hand a
 * backend's NewSessionTicket, which the kernel decrypted, back to the
 * OpenSSL object that made the handshake.
 */
#include <string.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "ktls.h"
#include "lib/pkigen.h"

FIXTURE(seal) {
	EVP_PKEY *key;
	X509 *cert;
	SSL_CTX *sctx, *cctx;
	SSL *c, *s;
	BIO *c_in, *c_out, *s_in, *s_out;	/* memory BIOs: we carry the bytes */
};

FIXTURE_VARIANT(seal) {
	const char *suite;
};

FIXTURE_VARIANT_ADD(seal, aes128gcm) { .suite = "TLS_AES_128_GCM_SHA256" };
FIXTURE_VARIANT_ADD(seal, aes256gcm) { .suite = "TLS_AES_256_GCM_SHA384" };
FIXTURE_VARIANT_ADD(seal, chacha20) { .suite = "TLS_CHACHA20_POLY1305_SHA256" };

/* What one side wrote, to the other side's input. */
static void carry(BIO *from, BIO *to)
{
	char buf[4096];
	int n;

	while ((n = BIO_read(from, buf, sizeof(buf))) > 0)
		BIO_write(to, buf, n);
}

FIXTURE_SETUP(seal)
{
	int i, rc = 0, rs = 0;

	memset(self, 0, sizeof(*self));
	self->key = gwt_ec_key();
	ASSERT_NOT_NULL(self->key);
	self->cert = gwt_make_cert("server", self->key, NULL, self->key, false, -60, 86400, 1);
	ASSERT_NOT_NULL(self->cert);
	self->sctx = SSL_CTX_new(TLS_server_method());
	self->cctx = SSL_CTX_new(TLS_client_method());
	ASSERT_NOT_NULL(self->cctx);
	ASSERT_EQ(1, SSL_CTX_use_certificate(self->sctx, self->cert));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey(self->sctx, self->key));
	ASSERT_EQ(1, SSL_CTX_set_ciphersuites(self->sctx, variant->suite));
	ASSERT_EQ(1, SSL_CTX_set_ciphersuites(self->cctx, variant->suite));
	SSL_CTX_set_min_proto_version(self->cctx, TLS1_3_VERSION);
	gw_ktls_enable_keylog(self->cctx);
	self->c = SSL_new(self->cctx);
	self->s = SSL_new(self->sctx);
	ASSERT_NOT_NULL(self->s);
	self->c_in = BIO_new(BIO_s_mem());
	self->c_out = BIO_new(BIO_s_mem());
	self->s_in = BIO_new(BIO_s_mem());
	self->s_out = BIO_new(BIO_s_mem());
	ASSERT_NOT_NULL(self->s_out);
	BIO_set_mem_eof_return(self->c_in, -1);
	BIO_set_mem_eof_return(self->s_in, -1);
	SSL_set_bio(self->c, self->c_in, self->c_out);
	SSL_set_bio(self->s, self->s_in, self->s_out);
	SSL_set_connect_state(self->c);
	SSL_set_accept_state(self->s);
	for (i = 0; i < 20 && (rc != 1 || rs != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(self->c);
		carry(self->c_out, self->s_in);
		if (rs != 1)
			rs = SSL_do_handshake(self->s);
		carry(self->s_out, self->c_in);
	}
	ASSERT_EQ(1, rc);
	ASSERT_EQ(1, rs);
}

FIXTURE_TEARDOWN(seal)
{
	SSL_free(self->c);
	SSL_free(self->s);
	SSL_CTX_free(self->cctx);
	SSL_CTX_free(self->sctx);
	X509_free(self->cert);
	EVP_PKEY_free(self->key);
}

/*
 * The server sent its two tickets (sequence numbers 0 and 1) with the
 * handshake; its next application record is number 2.
 */
TEST_F(seal, same_bytes_as_openssl)
{
	static const char msg[] = "the kernel decrypted this";
	unsigned char want[512], got[512], x;
	struct gw_ktls_secrets *sec;
	ssize_t n;
	int wlen;

	/* The client takes the tickets, as it would before the handoff. */
	ASSERT_GE(0, SSL_read(self->c, &x, 1));
	ASSERT_EQ(SSL_ERROR_WANT_READ, SSL_get_error(self->c, -1));
	sec = gw_ktls_secrets_take(self->c);
	ASSERT_NOT_NULL(sec);
	ASSERT_EQ((int)sizeof(msg), SSL_write(self->s, msg, sizeof(msg)));
	wlen = BIO_read(self->s_out, want, sizeof(want));
	ASSERT_EQ(5 + (int)sizeof(msg) + 1 + 16, wlen);
	n = gw_ktls_seal13(sec, 2, 23, msg, sizeof(msg), got, sizeof(got));
	EXPECT_EQ((ssize_t)wlen, n);
	EXPECT_MEMEQ(want, got, (size_t)wlen);
	/* Another sequence number is another record. */
	n = gw_ktls_seal13(sec, 3, 23, msg, sizeof(msg), got, sizeof(got));
	EXPECT_EQ((ssize_t)wlen, n);
	EXPECT_TRUE(memcmp(want, got, (size_t)wlen) != 0);
	/* Too small a buffer is refused, not overrun. */
	EXPECT_EQ(-EINVAL, gw_ktls_seal13(sec, 2, 23, msg, sizeof(msg), got, (size_t)wlen - 1));
	gw_ktls_secrets_free(sec);
}

TEST_HARNESS_MAIN
