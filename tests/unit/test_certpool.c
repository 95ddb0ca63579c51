// SPDX-License-Identifier: GPL-2.0-only
/*
 * certpool.c: d2i_X509 as libssl calls it, with a pool active. The same
 * DER again is the same object; certificates that land in the same set
 * both stay; the certificate every client sends (an intermediate) stays
 * while leaves seen once come and go through its set; anything that is
 * not one whole certificate is parsed and never pooled.
 *
 * Where a certificate lands is computed here as certpool.c does (the
 * last four bytes of the DER xor its length, modulo the sets), so that
 * the tests can pick certificates that collide.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certpool.h"
#include "harness.h"
#include "lib/pkigen.h"

#define SLOTS	16		/* the smallest pool: 8 sets of 2 */
#define SETS	(SLOTS / 2)
#define NCERTS	48		/* enough for 4 in one set, 8 sets */

struct der {
	unsigned char *b;
	int len;
};

FIXTURE(cp) {
	EVP_PKEY *key;
	struct der d[NCERTS];
	struct gw_certpool *p;
};

static unsigned int set_of(const struct der *d)
{
	uint32_t h;

	memcpy(&h, d->b + d->len - sizeof(h), sizeof(h));
	return (h ^ (uint32_t)d->len) % SETS;
}

FIXTURE_SETUP(cp)
{
	int i;

	memset(self, 0, sizeof(*self));
	self->key = gwt_ec_key();
	ASSERT_NOT_NULL(self->key);
	for (i = 0; i < NCERTS; i++) {
		X509 *x = gwt_make_cert("leaf", self->key, NULL, self->key, false, -60, 86400,
					i + 1);

		ASSERT_NOT_NULL(x);
		self->d[i].b = NULL;
		self->d[i].len = i2d_X509(x, &self->d[i].b);
		X509_free(x);
		ASSERT_GT(self->d[i].len, 4);
	}
	self->p = gw_certpool_new(SLOTS);
	ASSERT_NOT_NULL(self->p);
}

FIXTURE_TEARDOWN(cp)
{
	int i;

	gw_certpool_leave();
	gw_certpool_free(self->p);
	for (i = 0; i < NCERTS; i++)
		OPENSSL_free(self->d[i].b);
	EVP_PKEY_free(self->key);
}

/* libssl's call: a fresh X509 to fill, the whole DER. NULL on failure. */
static X509 *read_cert(const struct der *d)
{
	const unsigned char *in = d->b;
	X509 *x = X509_new();

	if (!x)
		return NULL;
	if (!d2i_X509(&x, &in, d->len))
		return NULL;
	if (in != d->b + d->len) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Read d in the pool: 1 if it was served from the pool, 0 if parsed, -1. */
static int served(struct gw_certpool *p, const struct der *d)
{
	struct gw_certpool_stats st;
	X509 *x;

	gw_certpool_take_stats(p);
	gw_certpool_enter(p);
	x = read_cert(d);
	gw_certpool_leave();
	st = gw_certpool_take_stats(p);
	X509_free(x);
	if (!x || st.reused + st.parsed > 1)
		return -1;
	return st.reused ? 1 : st.parsed ? 0 : -1;
}

/* n indexes of certificates in one set, in out[]; false if there are none. */
static bool same_set(FIXTURE_DATA(cp) *self, int n, int *out)
{
	unsigned int s;
	int i, k;

	for (s = 0; s < SETS; s++) {
		for (i = 0, k = 0; i < NCERTS && k < n; i++)
			if (set_of(&self->d[i]) == s)
				out[k++] = i;
		if (k == n)
			return true;
	}
	return false;
}

TEST_F(cp, same_der_is_the_same_object)
{
	X509 *a, *b;

	gw_certpool_enter(self->p);
	a = read_cert(&self->d[0]);
	b = read_cert(&self->d[0]);
	gw_certpool_leave();
	ASSERT_NOT_NULL(a);
	ASSERT_TRUE(a == b);
	X509_free(a);
	X509_free(b);
	ASSERT_EQ(1, served(self->p, &self->d[0]));
}

/* The collision that once failed a loopback test: leaf and intermediate in one set. */
TEST_F(cp, two_certificates_in_one_set_both_stay)
{
	int ix[2];

	ASSERT_TRUE(same_set(self, 2, ix));
	ASSERT_EQ(0, served(self->p, &self->d[ix[0]]));
	ASSERT_EQ(0, served(self->p, &self->d[ix[1]]));
	ASSERT_EQ(1, served(self->p, &self->d[ix[0]]));
	ASSERT_EQ(1, served(self->p, &self->d[ix[1]]));
}

TEST_F(cp, reused_certificate_outlives_leaves_seen_once)
{
	int ix[4];

	ASSERT_TRUE(same_set(self, 4, ix));
	ASSERT_EQ(0, served(self->p, &self->d[ix[0]]));
	ASSERT_EQ(1, served(self->p, &self->d[ix[0]]));
	ASSERT_EQ(1, served(self->p, &self->d[ix[0]]));
	/* Three leaves, one after another, each once: they replace each other. */
	ASSERT_EQ(0, served(self->p, &self->d[ix[1]]));
	ASSERT_EQ(0, served(self->p, &self->d[ix[2]]));
	ASSERT_EQ(0, served(self->p, &self->d[ix[3]]));
	ASSERT_EQ(1, served(self->p, &self->d[ix[0]]));
	ASSERT_EQ(1, served(self->p, &self->d[ix[3]]));
	ASSERT_EQ(0, served(self->p, &self->d[ix[2]]));
}

TEST_F(cp, unused_entry_gives_way_in_the_end)
{
	int ix[4];

	ASSERT_TRUE(same_set(self, 4, ix));
	ASSERT_EQ(0, served(self->p, &self->d[ix[0]]));
	ASSERT_EQ(1, served(self->p, &self->d[ix[0]]));
	ASSERT_EQ(1, served(self->p, &self->d[ix[0]]));
	/* Each new leaf halves what ix[0] was worth; it is never read again. */
	ASSERT_EQ(0, served(self->p, &self->d[ix[1]]));
	ASSERT_EQ(0, served(self->p, &self->d[ix[2]]));
	ASSERT_EQ(0, served(self->p, &self->d[ix[3]]));
	ASSERT_EQ(0, served(self->p, &self->d[ix[1]]));
	ASSERT_EQ(0, served(self->p, &self->d[ix[0]]));
}

TEST_F(cp, trailing_bytes_are_parsed_never_pooled)
{
	struct gw_certpool_stats st;
	const unsigned char *in;
	unsigned char *buf;
	X509 *x;
	int i;

	buf = malloc((size_t)self->d[0].len + 1);
	ASSERT_NOT_NULL(buf);
	memcpy(buf, self->d[0].b, (size_t)self->d[0].len);
	buf[self->d[0].len] = 0;
	gw_certpool_enter(self->p);
	for (i = 0; i < 2; i++) {
		in = buf;
		x = X509_new();
		EXPECT_NOT_NULL(d2i_X509(&x, &in, self->d[0].len + 1));
		EXPECT_TRUE(in == buf + self->d[0].len);
		X509_free(x);
	}
	gw_certpool_leave();
	free(buf);
	st = gw_certpool_take_stats(self->p);
	ASSERT_EQ(0, st.reused);
	ASSERT_EQ(0, st.parsed);
}

TEST_F(cp, refused_until_leave_then_parsed_again)
{
	const unsigned char *in = self->d[0].b;
	X509 *x = X509_new();

	ASSERT_EQ(0, served(self->p, &self->d[0]));
	gw_certpool_enter(self->p);
	gw_certpool_refuse();
	ASSERT_NULL(d2i_X509(&x, &in, self->d[0].len));
	ASSERT_NULL(x);
	ASSERT_TRUE(in == self->d[0].b);
	gw_certpool_leave();
	ASSERT_EQ(1, served(self->p, &self->d[0]));
}

TEST_F(cp, without_a_pool_every_call_parses)
{
	X509 *a = read_cert(&self->d[1]), *b = read_cert(&self->d[1]);

	ASSERT_NOT_NULL(a);
	ASSERT_NOT_NULL(b);
	ASSERT_TRUE(a != b);
	X509_free(a);
	X509_free(b);
	ASSERT_EQ(0, self->p ? gw_certpool_take_stats(self->p).parsed : 1);
}

TEST_HARNESS_MAIN
