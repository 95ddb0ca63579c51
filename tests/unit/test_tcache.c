// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcache.c through its two users: a peer's identity (identity.c) and its
 * chain's issuer and serial numbers (gw_certrefs, tls_load.c). Within a
 * thread, what is built from equal bytes is one object; a different
 * certificate or chain is another; other threads build their own; and an
 * object outlives its table slot for as long as someone holds it.
 * AddressSanitizer (make SAN=1) checks the references add up.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "harness.h"
#include "identity.h"
#include "lib/pkigen.h"
#include "tcache.h"
#include "tls_load.h"

FIXTURE(tc) {
	EVP_PKEY *root_key, *int_key, *leaf_key;
	X509 *root, *inter, *leaf, *leaf2;
};

FIXTURE_SETUP(tc)
{
	memset(self, 0, sizeof(*self));
	self->root_key = gwt_ec_key();
	self->int_key = gwt_ec_key();
	self->leaf_key = gwt_ec_key();
	ASSERT_NOT_NULL(self->leaf_key);
	self->root = gwt_make_cert("root", self->root_key, NULL, self->root_key, true, -60, 86400, 1);
	self->inter = gwt_make_cert("intermediate", self->int_key, self->root, self->root_key,
				    true, -60, 86400, 2);
	self->leaf = gwt_make_cert("leaf", self->leaf_key, self->inter, self->int_key,
				   false, -60, 3600, 3);
	self->leaf2 = gwt_make_cert("leaf", self->leaf_key, self->inter, self->int_key,
				    false, -60, 3600, 4);
	ASSERT_NOT_NULL(self->root);
	ASSERT_NOT_NULL(self->inter);
	ASSERT_NOT_NULL(self->leaf);
	ASSERT_NOT_NULL(self->leaf2);
}

FIXTURE_TEARDOWN(tc)
{
	gw_tcache_flush();
	X509_free(self->leaf2);
	X509_free(self->leaf);
	X509_free(self->inter);
	X509_free(self->root);
	EVP_PKEY_free(self->root_key);
	EVP_PKEY_free(self->int_key);
	EVP_PKEY_free(self->leaf_key);
}

/* x through DER: a new object with the same bytes, as a peer's arrives. */
static X509 *reparse(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *y = NULL;
	int len = i2d_X509(x, &der);

	if (len > 0) {
		p = der;
		y = d2i_X509(NULL, &p, len);
	}
	OPENSSL_free(der);
	return y;
}

TEST_F(tc, identity_shared_by_certificate_bytes)
{
	struct gw_identity *a, *b, *c, *d;
	X509 *copy = reparse(self->leaf);

	ASSERT_NOT_NULL(copy);
	a = gw_identity_from_x509(self->leaf);
	b = gw_identity_from_x509(self->leaf);
	c = gw_identity_from_x509(copy);
	d = gw_identity_from_x509(self->leaf2);
	ASSERT_NOT_NULL(a);
	ASSERT_NOT_NULL(d);
	ASSERT_TRUE(a == b);
	ASSERT_TRUE(a == c);
	ASSERT_TRUE(a != d);
	ASSERT_STREQ("03", a->serial);
	ASSERT_STREQ("04", d->serial);
	gw_identity_free(b);
	gw_identity_free(c);
	/* The table lets go; the holders still hold. */
	gw_tcache_flush();
	ASSERT_STREQ("CN=leaf", a->subject);
	b = gw_identity_from_x509(self->leaf);
	ASSERT_TRUE(b != a);		/* built again, equal */
	ASSERT_STREQ(a->subject, b->subject);
	ASSERT_EQ(0, memcmp(a->sha256, b->sha256, sizeof(a->sha256)));
	gw_identity_free(a);
	gw_identity_free(b);
	gw_identity_free(d);
	X509_free(copy);
}

/* More certificates than slots: each identity right, whichever slot it had. */
TEST_F(tc, identity_slots_replaced_without_mixups)
{
	enum { N = 3 * GW_TCACHE_SLOTS };
	struct gw_identity *id[N];
	X509 *x;
	char want[32];
	int i;

	for (i = 0; i < N; i++) {
		x = gwt_make_cert("many", self->leaf_key, self->inter, self->int_key,
				  false, -60, 3600, 1000 + i);
		ASSERT_NOT_NULL(x);
		id[i] = gw_identity_from_x509(x);
		X509_free(x);
		ASSERT_NOT_NULL(id[i]);
	}
	for (i = 0; i < N; i++) {
		snprintf(want, sizeof(want), "%04X", 1000 + i);
		EXPECT_STREQ(want, id[i]->serial);
		gw_identity_free(id[i]);
	}
}

struct other_thread {
	X509 *leaf;
	struct gw_identity *id;
};

static void *build_elsewhere(void *arg)
{
	struct other_thread *t = arg;

	t->id = gw_identity_from_x509(t->leaf);
	return NULL;		/* the thread's table goes: its slot drops a reference */
}

TEST_F(tc, identity_per_thread_outlives_its_thread)
{
	struct other_thread t = { .leaf = self->leaf };
	struct gw_identity *mine = gw_identity_from_x509(self->leaf);
	pthread_t th;

	ASSERT_NOT_NULL(mine);
	ASSERT_EQ(0, pthread_create(&th, NULL, build_elsewhere, &t));
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_NOT_NULL(t.id);
	ASSERT_TRUE(t.id != mine);
	ASSERT_STREQ("CN=leaf", t.id->subject);
	gw_identity_free(t.id);
	gw_identity_free(mine);
}

TEST_F(tc, certrefs_shared_by_chain_bytes)
{
	STACK_OF(X509) *chain = sk_X509_new_null(), *chain2 = sk_X509_new_null();
	struct gw_certrefs *a, *b, *c;

	ASSERT_NOT_NULL(chain);
	ASSERT_NOT_NULL(chain2);
	/* leaf, intermediate, root: the root is a trust anchor, not kept. */
	ASSERT_LT(0, sk_X509_push(chain, self->leaf));
	ASSERT_LT(0, sk_X509_push(chain, self->inter));
	ASSERT_LT(0, sk_X509_push(chain, self->root));
	ASSERT_LT(0, sk_X509_push(chain2, self->leaf2));
	ASSERT_LT(0, sk_X509_push(chain2, self->inter));
	ASSERT_LT(0, sk_X509_push(chain2, self->root));
	a = gw_certrefs_from_chain(chain);
	b = gw_certrefs_from_chain(chain);
	c = gw_certrefs_from_chain(chain2);
	ASSERT_NOT_NULL(a);
	ASSERT_NOT_NULL(c);
	ASSERT_TRUE(a == b);
	ASSERT_TRUE(a != c);
	ASSERT_EQ(2, a->n);
	ASSERT_EQ(2, c->n);
	gw_certrefs_free(b);
	gw_tcache_flush();
	ASSERT_EQ(2, a->n);
	gw_certrefs_free(a);
	gw_certrefs_free(c);
	sk_X509_free(chain);
	sk_X509_free(chain2);
}

TEST_HARNESS_MAIN
