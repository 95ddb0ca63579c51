// SPDX-License-Identifier: GPL-2.0-only
/*
 * sesscache.c with real server-side sessions: a mutual TLS 1.2 handshake
 * in memory (BIO pair) gives a session that carries the client's
 * certificate, as the gateway's do. What comes back from the cache must
 * be that session without the certificate, the leaf beside it, and
 * nothing past its timeout or beyond the size limit. The table grows with
 * the sessions: a cache that holds none costs next to nothing.
 */
#include <malloc.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "lib/pkigen.h"
#include "sesscache.h"

FIXTURE(sc) {
	EVP_PKEY *ca_key, *srv_key, *cli_key;
	X509 *ca, *srv, *cli;
	SSL_SESSION *sess;		/* the server's, with the client's certificate */
	struct gw_sesscache *sc;
};

/* Drive both ends until each has finished its handshake. */
static bool handshake(SSL *c, SSL *s)
{
	int i, rc = 0, rs = 0;

	for (i = 0; i < 100 && (rc != 1 || rs != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
	}
	return rc == 1 && rs == 1;
}

FIXTURE_SETUP(sc)
{
	SSL_CTX *sctx, *cctx;
	BIO *cb, *sb;
	SSL *c, *s;

	memset(self, 0, sizeof(*self));
	self->ca_key = gwt_ec_key();
	self->srv_key = gwt_ec_key();
	self->cli_key = gwt_ec_key();
	ASSERT_NOT_NULL(self->cli_key);
	self->ca = gwt_make_cert("ca", self->ca_key, NULL, self->ca_key, true, -60, 86400, 1);
	ASSERT_NOT_NULL(self->ca);
	self->srv = gwt_make_cert("server", self->srv_key, self->ca, self->ca_key, false,
				  -60, 86400, 2);
	self->cli = gwt_make_cert("client", self->cli_key, self->ca, self->ca_key, false,
				  -60, 86400, 3);
	ASSERT_NOT_NULL(self->cli);

	sctx = SSL_CTX_new(TLS_server_method());
	cctx = SSL_CTX_new(TLS_client_method());
	ASSERT_NOT_NULL(cctx);
	ASSERT_EQ(1, SSL_CTX_use_certificate(sctx, self->srv));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey(sctx, self->srv_key));
	ASSERT_EQ(1, X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx), self->ca));
	SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* As the gateway: TLS 1.2 resumes by session ID. */
	SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
	ASSERT_EQ(1, SSL_CTX_set_session_id_context(sctx, (const unsigned char *)"t", 1));
	ASSERT_EQ(1, SSL_CTX_use_certificate(cctx, self->cli));
	ASSERT_EQ(1, SSL_CTX_use_PrivateKey(cctx, self->cli_key));
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);

	c = SSL_new(cctx);
	s = SSL_new(sctx);
	ASSERT_NOT_NULL(s);
	ASSERT_EQ(1, BIO_new_bio_pair(&cb, 0, &sb, 0));
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	ASSERT_TRUE(handshake(c, s));
	self->sess = SSL_get1_session(s);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	ASSERT_NOT_NULL(self->sess);
	ASSERT_NOT_NULL(SSL_SESSION_get0_peer(self->sess));

	self->sc = gw_sesscache_new(4);
	ASSERT_NOT_NULL(self->sc);
}

FIXTURE_TEARDOWN(sc)
{
	gw_sesscache_free(self->sc);
	SSL_SESSION_free(self->sess);
	X509_free(self->cli);
	X509_free(self->srv);
	X509_free(self->ca);
	EVP_PKEY_free(self->ca_key);
	EVP_PKEY_free(self->srv_key);
	EVP_PKEY_free(self->cli_key);
}

/* A copy of the fixture's session under a new random ID, made at now + age. */
static SSL_SESSION *another(FIXTURE_DATA(sc) *self, long age, long timeout)
{
	unsigned char id[32];
	SSL_SESSION *s = SSL_SESSION_dup(self->sess);

	if (!s || RAND_bytes(id, sizeof(id)) != 1 || !SSL_SESSION_set1_id(s, id, sizeof(id))) {
		SSL_SESSION_free(s);
		return NULL;
	}
	gw_session_set_time(s, time(NULL) + age);
	SSL_SESSION_set_timeout(s, timeout);
	return s;
}

static SSL_SESSION *find(FIXTURE_DATA(sc) *self, SSL_SESSION *like, X509 **leaf)
{
	unsigned int len;
	const unsigned char *id = SSL_SESSION_get_id(like, &len);

	return gw_sesscache_find(self->sc, id, len, leaf);
}

/*
 * The session comes back as a new object: same ID, cipher, version and
 * master secret, no certificate in it (its encoding is shorter by at
 * least the certificate's), and the leaf beside it.
 */
TEST_F(sc, session_back_without_its_certificate)
{
	unsigned char k1[SSL_MAX_MASTER_KEY_LENGTH], k2[sizeof(k1)];
	unsigned int l1, l2;
	SSL_SESSION *got;
	X509 *leaf;
	size_t n1, n2;

	ASSERT_TRUE(gw_sesscache_add(self->sc, self->sess, self->cli));
	ASSERT_EQ(1, gw_sesscache_count(self->sc));
	got = find(self, self->sess, &leaf);
	ASSERT_NOT_NULL(got);
	ASSERT_TRUE(got != self->sess);
	ASSERT_TRUE(leaf == self->cli);
	ASSERT_NULL(SSL_SESSION_get0_peer(got));
	ASSERT_EQ(0, memcmp(SSL_SESSION_get_id(got, &l1), SSL_SESSION_get_id(self->sess, &l2), 32));
	ASSERT_EQ(l2, l1);
	ASSERT_TRUE(SSL_SESSION_get0_cipher(got) == SSL_SESSION_get0_cipher(self->sess));
	ASSERT_EQ(TLS1_2_VERSION, SSL_SESSION_get_protocol_version(got));
	n1 = SSL_SESSION_get_master_key(self->sess, k1, sizeof(k1));
	n2 = SSL_SESSION_get_master_key(got, k2, sizeof(k2));
	ASSERT_EQ(n1, n2);
	ASSERT_EQ(0, memcmp(k1, k2, n1));
	ASSERT_TRUE(SSL_SESSION_is_resumable(got));
	ASSERT_LE(i2d_SSL_SESSION(got, NULL) + i2d_X509(self->cli, NULL),
		  i2d_SSL_SESSION(self->sess, NULL));
	SSL_SESSION_free(got);
	X509_free(leaf);
	/* Still there for the next connection. */
	got = find(self, self->sess, &leaf);
	ASSERT_NOT_NULL(got);
	SSL_SESSION_free(got);
	X509_free(leaf);
}

/* A session past its timeout is not offered, and goes. */
TEST_F(sc, expired_session_is_gone)
{
	SSL_SESSION *old = another(self, -120, 60), *got;
	X509 *leaf = self->ca;

	ASSERT_NOT_NULL(old);
	ASSERT_TRUE(gw_sesscache_add(self->sc, old, self->cli));
	got = find(self, old, &leaf);
	ASSERT_NULL(got);
	ASSERT_NULL(leaf);
	ASSERT_EQ(0, gw_sesscache_count(self->sc));
	SSL_SESSION_free(old);
}

/* At most max sessions: the oldest goes first; the same ID replaces. */
TEST_F(sc, oldest_goes_when_full)
{
	SSL_SESSION *s[6], *got;
	X509 *leaf;
	int i;

	for (i = 0; i < 6; i++) {
		s[i] = another(self, 0, 300);
		ASSERT_NOT_NULL(s[i]);
		ASSERT_TRUE(gw_sesscache_add(self->sc, s[i], self->cli));
	}
	ASSERT_TRUE(gw_sesscache_add(self->sc, s[5], self->cli));
	ASSERT_EQ(4, gw_sesscache_count(self->sc));
	for (i = 0; i < 6; i++) {
		got = find(self, s[i], &leaf);
		if (i < 2) {
			ASSERT_NULL(got);
		} else {
			ASSERT_NOT_NULL(got);
			X509_free(leaf);
		}
		SSL_SESSION_free(got);
	}
	gw_sesscache_remove(self->sc, SSL_SESSION_get_id(s[3], NULL), 32);
	ASSERT_EQ(3, gw_sesscache_count(self->sc));
	ASSERT_NULL(find(self, s[3], &leaf));
	for (i = 0; i < 6; i++)
		SSL_SESSION_free(s[i]);
}

/* An unknown ID, or one a client made up of the wrong length, finds nothing. */
TEST_F(sc, unknown_ids_find_nothing)
{
	unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH] = { 0 };
	X509 *leaf;

	ASSERT_TRUE(gw_sesscache_add(self->sc, self->sess, self->cli));
	ASSERT_NULL(gw_sesscache_find(self->sc, id, sizeof(id), &leaf));
	ASSERT_NULL(gw_sesscache_find(self->sc, id, 1, &leaf));
	ASSERT_NULL(leaf);
}

/* Hundreds of sessions, the table doubled several times: each one found. */
TEST_F(sc, every_session_found_as_the_table_grows)
{
	enum { N = 300 };
	SSL_SESSION *s[N], *got;
	X509 *leaf;
	int i;

	gw_sesscache_free(self->sc);
	self->sc = gw_sesscache_new(20000);
	ASSERT_NOT_NULL(self->sc);
	for (i = 0; i < N; i++) {
		s[i] = another(self, 0, 300);
		ASSERT_NOT_NULL(s[i]);
		ASSERT_TRUE(gw_sesscache_add(self->sc, s[i], self->cli));
	}
	ASSERT_EQ(N, gw_sesscache_count(self->sc));
	for (i = 0; i < N; i++) {
		got = find(self, s[i], &leaf);
		ASSERT_NOT_NULL(got);
		ASSERT_TRUE(leaf == self->cli);
		X509_free(leaf);
		SSL_SESSION_free(got);
	}
	gw_sesscache_remove(self->sc, SSL_SESSION_get_id(s[7], NULL), 32);
	ASSERT_NULL(find(self, s[7], &leaf));
	ASSERT_EQ(N - 1, gw_sesscache_count(self->sc));
	for (i = 0; i < N; i++)
		SSL_SESSION_free(s[i]);
}

/*
 * A cache for 20,000 sessions that holds none costs well under a KiB (the
 * whole table was 256 KiB each, for every listener and worker, and under
 * --check), and an empty one finds nothing.
 */
TEST_F(sc, idle_cache_costs_little)
{
	enum { N = 100 };
	struct gw_sesscache *c[N];
	struct mallinfo2 m;
	size_t before, after;
	X509 *leaf;
	int i;

	/* In use: the heap's and what was mapped on its own (large blocks). */
	m = mallinfo2();
	before = m.uordblks + m.hblkhd;
	if (!m.arena && !m.hblkhd)
		SKIP("no malloc statistics (a sanitizer's allocator)");
	for (i = 0; i < N; i++) {
		c[i] = gw_sesscache_new(20000);
		ASSERT_NOT_NULL(c[i]);
	}
	m = mallinfo2();
	after = m.uordblks + m.hblkhd;
	TH_LOG("%d idle caches: %zu bytes each", N, (after - before) / N);
	EXPECT_LT(after - before, (size_t)N * 1024);
	ASSERT_NULL(gw_sesscache_find(c[0], (const unsigned char *)"0123", 4, &leaf));
	ASSERT_NULL(leaf);
	gw_sesscache_remove(c[0], (const unsigned char *)"0123", 4);
	EXPECT_EQ(0, gw_sesscache_count(c[0]));
	for (i = 0; i < N; i++)
		gw_sesscache_free(c[i]);
}

TEST_HARNESS_MAIN
